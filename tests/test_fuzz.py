"""Fuzzing: no input may make netdsl raise anything but NetDSLError, lose an error's
position, or hang. Programs that check must compile to valid Python and DOT.

For longer runs by hand, tests/fuzz/atheris_harness.py drives the same property with
coverage guidance (see benchmarks/README.md for what it found).
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import example_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netdsl

HANG_GUARD_SECONDS = 30  # a hang detector, not a speed target (see benchmarks/)
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@contextmanager
def hang_guard():
    def alarm(signum, frame):
        raise TimeoutError(f"netdsl took more than {HANG_GUARD_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(HANG_GUARD_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def survives(text: str) -> None:
    """The property: a Program, or a NetDSLError whose every diagnostic is located."""
    with hang_guard():
        try:
            program = netdsl.check_source(text, "fuzz.net")
        except netdsl.NetDSLError as err:
            assert err.diagnostics
            for d in err.diagnostics:
                assert d.line >= 1 and d.column >= 1, d.message
                assert d.message
            err.render()
            return
        source = netdsl.to_pytorch(program) if program.networks else ""
        compile(source, "<generated>", "exec")
        netdsl.to_dot(program)


# ---------------------------------------------------------------- programs from the grammar

NAMES = st.sampled_from(["x", "y", "z", "B", "C", "H", "conv", "relu", "linear", "maxpool",
                         "flatten", "cat", "Blk", "lstm", "nn", "self", "class", "__x", "T"])
NUMBERS = st.sampled_from(["0", "1", "2", "3", "16", "-1", "1_000", "0.5", "1e-5", "99999999",
                           "1" + "0" * 60])


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:
    if depth > 3:
        return draw(st.one_of(NAMES, NUMBERS))
    choice = draw(st.integers(0, 8))
    sub = lambda: draw(expressions(depth + 1))  # noqa: E731
    if choice == 0:
        return f"{draw(NAMES)}({', '.join(sub() for _ in range(draw(st.integers(0, 3))))})"
    if choice == 1:
        return f"{sub()} -> {draw(NAMES)}" + (f"({sub()})" if draw(st.booleans()) else "")
    if choice == 2:
        return f"{sub()} {draw(st.sampled_from(['+', '-', '*', '//', '@', '%', '/']))} {sub()}"
    if choice == 3:
        return f"({sub()}, {sub()})"
    if choice == 4:
        return f"{sub()}[{draw(st.sampled_from([':', '-1', ':, 0', '..., 1:', 'none']))}]"
    if choice == 5:
        return f"{sub()} : [{', '.join(draw(st.lists(st.one_of(NAMES, NUMBERS), max_size=4)))}]"
    if choice == 6:
        return f"{sub()} if {sub()} else {sub()}"
    if choice == 7:
        return f'{draw(NAMES)}({draw(NAMES)}={sub()}, mode="bilinear")'
    return draw(st.one_of(NAMES, NUMBERS))


@st.composite
def programs(draw: st.DrawFn) -> str:
    lines: list[str] = []
    if draw(st.booleans()):
        lines += ["block Blk(c=4)(x: [B, C, H, W]):",
                  *[f"    {draw(expressions())}" for _ in range(draw(st.integers(1, 3)))]]
    dims = ", ".join(draw(st.lists(st.one_of(NAMES, NUMBERS), min_size=1, max_size=5)))
    lines.append(f"network N(x: {draw(st.sampled_from(['', 'long']))}[{dims}]):")
    for _ in range(draw(st.integers(1, 4))):
        stmt = draw(expressions())
        kind = draw(st.integers(0, 3))
        if kind == 0:
            stmt = f"{draw(NAMES)} = {stmt}"
        elif kind == 1:
            stmt = f"return {stmt}"
        elif kind == 2:
            stmt = f"if {draw(expressions())}:\n        {stmt}\n    else:\n        {stmt}"
        lines.append(f"    {stmt}")
    return "\n".join(lines) + "\n"


@FUZZ
@given(programs())
def test_generated_programs(text: str) -> None:
    survives(text)


# ---------------------------------------------------------------- mutated examples

EXAMPLES_TEXT = [p.read_text() for p in example_files()]
TOKENS = ["->", "(", ")", "[", "]", ":", ",", "=", "*", "\n", "    ", "\t", "#", '"', "'", "if",
          "else", "return", "as", "nn.", "0", "-1", "99999999999999999999", "1e308", "1e999",
          "é", "😀", "\x00", "\r", "\ufeff", "\u200b", "λ", "..."]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(EXAMPLES_TEXT))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 5))
        pos = draw(st.integers(0, max(0, len(text) - 1)))
        if kind == 0:  # delete a span
            text = text[:pos] + text[pos + draw(st.integers(1, 12)):]
        elif kind == 1:  # insert a token
            text = text[:pos] + draw(st.sampled_from(TOKENS)) + text[pos:]
        elif kind == 2:  # swap two lines
            lines = text.split("\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif kind == 3:  # an extreme number where a number was
            digits = [k for k, ch in enumerate(text) if ch.isdigit()]
            if digits:
                k = draw(st.sampled_from(digits))
                text = text[:k] + draw(st.sampled_from(["0", "999999999", "-5", "1" * 45,
                                                        "2**64", "0.0"])) + text[k + 1:]
        elif kind == 4:
            text = text.replace("\n", "\r\n")
        else:
            text = "\ufeff" + text
    return text


@FUZZ
@given(mutated())
def test_mutated_examples(text: str) -> None:
    survives(text)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    survives(text)


# ---------------------------------------------------------------- the extremes


@pytest.mark.parametrize("text", [
    "network N(x: [B, 3]):\n    y = " + "(" * 10_000 + "x" + ")" * 10_000 + "\n    y\n",
    "network N(x: [B, 3]):\n    y = " + "[" * 10_000 + "\n",
    "network N(x: [B, 3]):\n    y = " + "- " * 10_000 + "x\n    y\n",
    "network N(x: [B, 3]):\n    " + " + ".join(["x"] * 10_000) + "\n",
    "network N(x: [B, 3]):\n    x" + " -> (" * 5_000 + "\n",
    "network N(x: [B, " + "9" * 5000 + "]):\n    x\n",
    "network N(x: [B, 99999999999999999999999999999999999999]):\n    x -> flatten\n",
    "network N(x: [B, 4611686018427387904, 4611686018427387904]):\n    x -> flatten\n",
    "network N(x: [B, 3]):\n    x -> linear(99999999999999999999)\n",
    "network N(x: [B, 3]):\n    x -> linear(4) * 1000000\n",
    "network N(x: [B, 1e999]):\n    x\n",
    "block A(x):\n    x -> A\nnetwork N(x: [B, 3]):\n    x -> A\n",
    "\x00" * 1000,
    "network N(x: [B, 3]):\n\x00   x\n",
    "\ufeff\ufeffnetwork N(x: [B, 3]):\n    x\n",
    "network N(x: [B, 3]):\r    x\r",
    "network N(x: [B, 3]):\n    x -> relu\n" + "# " + "ü" * 100_000 + "\n",
], ids=lambda t: repr(t[:30]))
def test_extreme_inputs(text: str) -> None:
    survives(text)


FOUND = sorted((Path(__file__).parent / "fuzz" / "found").glob("*.net"))


@pytest.mark.parametrize("path", FOUND, ids=lambda p: p.stem)
def test_what_atheris_found_stays_fixed(path: Path) -> None:
    """Its inputs, as it saw them: code after `return` reached the code generator; a
    repeated stage too long for one line made invalid Python (benchmarks/README.md)."""
    survives(path.read_bytes().decode("utf-8", errors="replace"))


def test_long_chain_checks() -> None:
    survives("network Chain(x: [B, 16]):\n    x" + " -> relu" * 100_000 + "\n")


def test_ten_megabyte_files_are_refused_with_a_location() -> None:
    text = "network N(x: [B, 3]):\n    x" + " -> relu" * (10 * (1 << 20) // 8) + "\n"
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.check_source(text, "big.net")
    assert "at most 4 MB" in info.value.diagnostics[0].message
    survives("# " + "x" * (10 << 20) + "\n")


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.net"
    path.write_bytes("# caf\xe9\nnetwork N(x: [B, 3]):\n    x\n".encode("latin-1"))
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.check_file(path)
    assert "not UTF-8" in info.value.diagnostics[0].message
    assert info.value.diagnostics[0].line == 1
