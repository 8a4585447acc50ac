"""The minimal programs of tests/compile_truth/ (from the program generator and from writing
today's architectures): each one `check` accepts compiles to a module that agrees with it,
built with its defaults and with other values of the hyperparameters it offers, and that
torch.fx and TorchScript accept (tests/differential.py). The programs torch runs are accepted
by `check`.

Those not fixed yet are strict xfails with the class of the failure: one that starts to pass
fails the run until it is moved out of KNOWN.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from differential import disagreements

import netdsl

CASES = sorted((Path(__file__).resolve().parent / "compile_truth").glob("*.net"))

# case -> what still goes wrong (see the comment at the top of each file)
KNOWN = {
    "f_cascade": "check refuses a loop over a symbolic size (issue 23, run-time loops)",
    "f_intstage": "check refuses int(x) on a tensor (issue 23, casts)",
}


def params() -> list:
    out = []
    for path in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN[path.stem])] \
            if path.stem in KNOWN else []
        out.append(pytest.param(path, marks=marks, id=path.stem))
    return out


def test_every_known_failure_is_a_case() -> None:
    assert set(KNOWN) <= {p.stem for p in CASES}


# programs torch refuses to run: check refuses them too, with a located error
TORCH_REFUSES = {
    "21_constant_index_out_of_range": "embedding has 4 rows (num_embeddings), but its indices, "
                                      "arange(8), go up to 7",
}


@pytest.mark.parametrize("name", sorted(TORCH_REFUSES))
def test_check_refuses_what_torch_refuses(name: str) -> None:
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.check_file(Path(__file__).resolve().parent / "compile_truth" / f"{name}.net")
    assert TORCH_REFUSES[name] in str(info.value)
    assert info.value.diagnostics[0].line > 0


@pytest.mark.parametrize("path", [p for p in params()
                                  if p.values[0].stem not in TORCH_REFUSES])  # type: ignore
def test_compiled_module_agrees_with_check(path: Path) -> None:
    source = path.read_text()
    try:
        netdsl.check_source(source, path.name)
    except netdsl.NetDSLError as err:
        pytest.fail(f"check rejects a program torch runs: {err}")
    findings = disagreements(source, tools=("fx", "jit"))
    assert not findings, "\n".join(map(str, findings))


def test_a_run_time_size_a_block_reads_as_a_hyperparameter_is_a_located_error() -> None:
    """compile cannot build `T` into a block: a located error whose fix, applied, compiles
    to a module that agrees with check."""
    source = ("block P(n)(x: [B, S, C]):\n    x -> reshape(B, n, -1)\n\n"
              "network N(x: [B, T, 8]):\n    x -> P(T)\n")
    program = netdsl.check_source(source)
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.to_pytorch(program)
    message = str(info.value)
    assert "known only at run time" in message and info.value.diagnostics[0].line == 5
    assert "give P's input a shape that names it, e.g. x: [B, T, ...]" in message
    fixed = ("block P(x: [B, T, C]):\n    x -> reshape(B, T, -1)\n\n"
             "network N(x: [B, T, 8]):\n    x -> P\n")
    assert not disagreements(fixed)


def test_a_size_written_as_a_hyperparameter_stays_offered() -> None:
    """`embedding(vocab, 64) -> linear(4)`: 64 is written, whatever vocab is, so the class
    offers vocab (it was specialised) and is honest for other values."""
    source = ("network E(vocab=5000)(ids: long[B, T]):\n"
              "    ids -> embedding(vocab, 64) -> linear(4)\n")
    namespace: dict[str, object] = {}
    exec(netdsl.to_pytorch(netdsl.check_source(source)), namespace)
    assert "vocab" in inspect.signature(namespace["E"].__init__).parameters  # type: ignore
    assert not disagreements(source)
