"""`netdsl fmt`: golden cases, and properties over every example and over generated programs:
formatting is idempotent, keeps every comment, never changes what `netdsl check --json`
says (positions aside), and gives one layout whatever the spacing and line breaks."""

from __future__ import annotations

import json
import re
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz import programs

import netdsl
from netdsl.cli import Exit, main
from netdsl.fmt import LINE_LENGTH, format_source
from netdsl.report import to_json

CASES = Path(__file__).resolve().parent / "fmt_cases"
CASE_FILES = sorted(p for p in CASES.glob("*.net") if not p.name.endswith(".formatted.net"))
ALL_EXAMPLES = sorted(EXAMPLES.glob("*.net"))
PROPERTY = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# a comment, or a string (skipped, so that a `#` inside one is not taken for a comment)
COMMENT_OR_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*')
POSITION = re.compile(r"\b\d+:\d+\b")
PARENTHESISED = re.compile(r"\([^()]*\)")


def comments(text: str) -> Counter[str]:
    return Counter(m.group().rstrip() for m in COMMENT_OR_STRING.finditer(text)
                   if m.group().startswith("#"))


def check_result(text: str, filename: str = "f.net") -> object:
    """What `netdsl check --json` prints, every line, column and `line:col` left out.
    Messages, notes and the `torch` column of tensor operations quote the source text
    (`h[-1]`, `the annotation [B, 16]`), which a new layout respaces, so strings are compared
    without white space; and a layer written over two lines is quoted by its name alone, so
    notes are compared without what stands in parentheses."""
    try:
        program = netdsl.check_source(text, filename)
        data = to_json(filename, program, [], program.warnings)
    except netdsl.NetDSLError as error:
        data = to_json(filename, None, error.diagnostics, error.warnings)
    return _without_positions(data)


def _without_positions(value: object, key: str = "") -> object:
    if isinstance(value, dict):
        return {k: _without_positions(v, k) for k, v in value.items()
                if k not in ("line", "column")}
    if isinstance(value, list):
        return [_without_positions(v, key) for v in value]
    if isinstance(value, str):
        value = POSITION.sub("L:C", value)
        while key == "notes" and PARENTHESISED.search(value):
            value = PARENTHESISED.sub("", value)
        return re.sub(r"\s+", "", value)
    return value


def parses(text: str) -> bool:
    from netdsl.errors import SourceError
    from netdsl.parser import parse

    try:
        parse(text, "f.net")
    except SourceError:
        return False
    return True


def assert_formatting_is_sound(text: str, filename: str = "f.net") -> str:
    """The properties every formatted text has; returns it."""
    formatted = format_source(text, filename)
    assert format_source(formatted, filename) == formatted, "not idempotent"
    assert comments(formatted) == comments(text)
    assert check_result(formatted, filename) == check_result(text, filename)
    assert "\t" not in formatted and not any(line != line.rstrip()
                                             for line in formatted.split("\n"))
    return formatted


# ---------------------------------------------------------------- golden cases


def test_there_are_golden_cases() -> None:
    assert len(CASE_FILES) >= 4


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
def test_golden_case(path: Path, update_golden: bool) -> None:
    """Each case beside its reviewed layout; refresh with `pytest --update-golden`."""
    expected = path.with_suffix(".formatted.net")
    formatted = assert_formatting_is_sound(path.read_text(), str(path))
    if update_golden:
        expected.write_text(formatted)
    assert expected.exists(), f"{expected.name} is missing"
    assert formatted == expected.read_text()
    assert format_source(expected.read_text(), str(expected)) == expected.read_text()


# ---------------------------------------------------------------- the examples


@pytest.mark.parametrize("path", ALL_EXAMPLES, ids=lambda p: p.name)
def test_examples_are_formatted_and_formatting_is_sound(path: Path) -> None:
    text = path.read_text()
    assert assert_formatting_is_sound(text, str(path)) == text, f"run netdsl fmt {path.name}"


@pytest.mark.parametrize("path", ALL_EXAMPLES, ids=lambda p: p.name)
def test_every_pipeline_of_the_examples_fits_or_is_split(path: Path) -> None:
    """Formatted, only a header (which fmt does not break) passes the line length: long
    pipelines are split, and a stage too long for its line has its arguments wrapped."""
    lines = path.read_text().split("\n")
    for number, line in enumerate(lines):
        if len(line) > LINE_LENGTH:
            assert line.lstrip().startswith(("network ", "block ")), f"{path.name}:{number + 1}"


# ---------------------------------------------------------------- generated programs


def _relay(draw: st.DrawFn, text: str, with_comments: bool) -> str:
    """The same program with other spacing and line breaks inside brackets and before `->`;
    with_comments, also blank lines and comments wherever the language allows them."""
    counter = iter(range(1, 10_000))
    comment = lambda: f"# c{next(counter)}"  # noqa: E731
    token = re.compile(r'"(?:[^"\\\n]|\\.)*"|[\d.]+(?:[eE][+-]?\d+)?[\d_]*|\w+|->|\*\*|//|==|!='
                       r"|<=|>=|\.\.\.|\S")
    out: list[str] = []
    for line in text.split("\n"):
        indent = line[: len(line) - len(line.lstrip(" "))]
        for _ in range(draw(st.integers(0, 2)) if with_comments else 0):
            if draw(st.booleans()):
                out.append(" " * draw(st.integers(0, 12)) + comment())
            else:
                out.append("")
        tokens = token.findall(line)
        pieces, depth = [indent], 0
        for i, tok in enumerate(tokens):
            if i:
                before = tokens[i - 1]
                words = re.match(r"[\w\"]", tok) and re.search(r"[\w\"]$", before)
                gap = draw(st.sampled_from([" ", "  "] if words else ["", " ", "  "]))
                breakable = (depth == 0 and tok == "->") or (depth > 0 and before == ",")
                if breakable and draw(st.integers(0, 3)) == 0:
                    eol = f"  {comment()}" if with_comments and draw(st.booleans()) else ""
                    own = [" " * draw(st.integers(0, 12)) + comment()
                           for _ in range(draw(st.integers(0, 1)) if with_comments else 0)]
                    gap = "\n".join([eol, *own, " " * draw(st.integers(0, 12))])
                pieces.append(gap)
            pieces.append(tok)
            depth += (tok in ("(", "[")) - (tok in (")", "]"))
        if with_comments and tokens and draw(st.booleans()):
            pieces.append(f"  {comment()}")
        out.append("".join(pieces))
    return "\n".join(out)


@st.composite
def relaid_programs(draw: st.DrawFn, with_comments: bool) -> tuple[str, str]:
    text = draw(programs())
    return text, _relay(draw, text, with_comments)


@PROPERTY
@given(relaid_programs(with_comments=True))
def test_generated_programs_format_soundly(texts: tuple[str, str]) -> None:
    original, relaid = texts
    if not parses(original):
        return
    assert parses(relaid), relaid
    assert_formatting_is_sound(relaid)


@PROPERTY
@given(relaid_programs(with_comments=False))
def test_one_layout_whatever_the_spacing(texts: tuple[str, str]) -> None:
    original, relaid = texts
    if not parses(original):
        return
    assert format_source(relaid, "f.net") == format_source(original, "f.net")


EXAMPLE_CODE = [re.sub(r"\s*#[^\n]*", "", p.read_text()) for p in ALL_EXAMPLES]


@st.composite
def relaid_examples(draw: st.DrawFn) -> tuple[str, str, str]:
    """An example without its comments; relaid; and relaid with comments."""
    text = draw(st.sampled_from(EXAMPLE_CODE))
    return text, _relay(draw, text, False), _relay(draw, text, True)


@settings(PROPERTY, max_examples=60)
@given(relaid_examples())
def test_relaid_examples_format_soundly_and_alike(texts: tuple[str, str, str]) -> None:
    """Real networks, which check: the same tables after formatting, whatever the layout."""
    original, relaid, commented = texts
    assert format_source(relaid, "f.net") == format_source(original, "f.net")
    assert_formatting_is_sound(commented)


STAGES = st.sampled_from(["relu", "conv(16, 3, padding=1)", "batchnorm", "dropout(0.5)",
                          "maxpool(2)", "flatten", "linear(10)", "Blk(4) * 2",
                          "conv(8, 3, stride=2, padding=1, dilation=1, groups=1, bias=false)"])
SHAPES = st.sampled_from(["", " : [B, 16, 8, 8]", " : [B, 10]", " : [B, C, H, W]"])


@st.composite
def long_pipelines(draw: st.DrawFn) -> str:
    stages = draw(st.lists(st.tuples(STAGES, SHAPES), min_size=1, max_size=14))
    chain = " -> ".join(stage + shape for stage, shape in stages)
    target = draw(st.sampled_from(["", "y = ", "a_rather_long_name_for_the_output = "]))
    return ("block Blk(c)(x):\n    x -> relu\n\nnetwork N(x: [B, 16, 8, 8]):\n"
            f"    {target}x -> {chain}\n" + ("    y\n" if target == "y = " else ""))


@PROPERTY
@given(long_pipelines())
def test_long_pipelines_are_split_one_stage_per_line(text: str) -> None:
    formatted = assert_formatting_is_sound(text)
    body = formatted.split("network N(x: [B, 16, 8, 8]):\n")[1].split("\n")
    pipeline = [line for line in body if line.strip() and line.strip() != "y"]
    assert sum(line.count("->") for line in pipeline) == text.count("->") - 1  # the block's
    if len(pipeline) == 1:
        assert len(pipeline[0]) <= LINE_LENGTH
        return
    assert len(" -> ".join(line.strip() for line in pipeline)) + 4 > LINE_LENGTH
    rest = [line for line in pipeline[1:] if "->" in line]
    assert all(line.lstrip().startswith("-> ") and line.count("->") == 1 for line in rest)
    assert len({line.index("->") for line in rest}) == 1  # every arrow in one column
    arrow = rest[0].index("->")
    for line in pipeline[1:]:  # the others continue a stage's arguments
        assert "->" in line or len(line) - len(line.lstrip()) > arrow + 3
    stages = [pipeline[0]] + [line for line in pipeline[1:] if "->" in line]
    for above, below in pairwise(pipeline):
        single = above in stages and below in stages  # not a stage's wrapped arguments
        if single and " : [" in above and " : [" in below:  # annotations in one column
            assert above.index(" : [") == below.index(" : [")


# ---------------------------------------------------------------- meaning is checked


def test_syntax_errors_are_reported_as_check_reports_them() -> None:
    with pytest.raises(netdsl.NetDSLError) as info:
        format_source("network N(x: [B]):\n    x -> conv(3\n", "bad.net")
    d = info.value.diagnostics[0]
    assert (d.file, d.line) == ("bad.net", 2) and d.column >= 1
    assert str(d.pos).startswith("bad.net:2:")


def test_an_output_that_would_parse_differently_is_refused(monkeypatch, tmp_path) -> None:
    """The safety nets behind the construction: a printer that changed a token or lost a
    comment (here, made to) is caught by comparing the syntax trees and the comments, and the
    command writes nothing."""
    from netdsl import fmt

    text = "network N(x: [B, 3]):\n    x -> relu\n"
    monkeypatch.setattr(fmt._Printer, "text", lambda self: text.replace("relu", "tanh"))
    with pytest.raises(RuntimeError, match="would change the meaning"):
        format_source(text, "f.net")
    monkeypatch.setattr(fmt._Printer, "text", lambda self: text.replace("relu", "relu("))
    with pytest.raises(RuntimeError, match="unparsable"):
        format_source(text, "f.net")
    monkeypatch.setattr(fmt._Printer, "text", lambda self: text)
    with pytest.raises(RuntimeError, match="lose or move a comment"):
        format_source(text.replace("relu", "relu  # c"), "f.net")
    monkeypatch.setattr(fmt._Printer, "text", lambda self: text.replace("relu", "tanh"))
    path = tmp_path / "model.net"
    path.write_text(text)
    result = run("fmt", str(path))
    assert result.exit_code == Exit.INTERNAL and "internal error" in result.stderr
    assert path.read_text() == text


def test_line_ends_and_byte_order_mark_are_normalised() -> None:
    text = "\ufeffnetwork N(x: [B, 3]):\r\n    x->relu\r\n"
    assert format_source(text) == "network N(x: [B, 3]):\n    x -> relu\n"


# ---------------------------------------------------------------- the command


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input)


MESSY = "network N(x:[B, 3]):\n    x->relu  # keep me\n"
TIDY = "network N(x: [B, 3]):\n    x -> relu  # keep me\n"


def test_fmt_rewrites_files_and_leaves_formatted_ones_alone(tmp_path: Path) -> None:
    messy, tidy = tmp_path / "messy.net", tmp_path / "tidy.net"
    messy.write_text(MESSY)
    tidy.write_text(TIDY)
    stamp = tidy.stat().st_mtime_ns
    result = run("fmt", str(messy), str(tidy))
    assert result.exit_code == 0, result.output
    assert messy.read_text() == TIDY
    assert tidy.stat().st_mtime_ns == stamp
    assert f"reformatted {messy}" in result.stderr and str(tidy) not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["messy.net", "tidy.net"]


def test_fmt_check_lists_files_that_would_change(tmp_path: Path) -> None:
    messy, tidy = tmp_path / "messy.net", tmp_path / "tidy.net"
    messy.write_text(MESSY)
    tidy.write_text(TIDY)
    result = run("fmt", "--check", str(messy), str(tidy))
    assert result.exit_code == Exit.SOURCE
    assert f"would reformat {messy}" in result.stderr and str(tidy) not in result.stderr
    assert messy.read_text() == MESSY
    assert run("fmt", "--check", str(tidy)).exit_code == 0


def test_fmt_diff_prints_a_unified_diff(tmp_path: Path) -> None:
    messy = tmp_path / "messy.net"
    messy.write_text(MESSY)
    result = run("fmt", "--diff", str(messy))
    assert result.exit_code == 0
    assert messy.read_text() == MESSY
    assert "-    x->relu  # keep me\n+network N(x: [B, 3]):\n" in result.stdout
    assert result.stdout.startswith(f"--- {messy} (original)\n+++ {messy} (formatted)\n")


def test_fmt_reads_standard_input() -> None:
    result = run("fmt", "-", input=MESSY)
    assert result.exit_code == 0 and result.stdout == TIDY
    result = run("fmt", "--check", "-", input=MESSY)
    assert result.exit_code == Exit.SOURCE and result.stdout == ""
    assert "would reformat <stdin>" in result.stderr


def test_fmt_reports_a_file_that_does_not_parse_and_never_rewrites_it(tmp_path: Path) -> None:
    bad, messy = tmp_path / "bad.net", tmp_path / "messy.net"
    bad.write_text("network N(x: [B, 3]):\n    x  ->  (relu)\n")
    messy.write_text(MESSY)
    result = run("fmt", str(bad), str(messy))
    assert result.exit_code == Exit.SOURCE
    check = run("check", str(bad))
    assert check.stderr.splitlines()[0] in result.stderr.splitlines()
    assert result.stderr.startswith(f"{bad}:2:")
    assert bad.read_text() == "network N(x: [B, 3]):\n    x  ->  (relu)\n"
    assert messy.read_text() == TIDY  # the other files are still formatted


def test_fmt_reports_missing_and_non_utf8_files(tmp_path: Path) -> None:
    latin = tmp_path / "latin.net"
    latin.write_bytes("# caf\xe9\n".encode("latin-1"))
    result = run("fmt", str(tmp_path / "missing.net"), str(latin))
    assert result.exit_code == Exit.SOURCE
    assert f"{tmp_path / 'missing.net'}:1:1: error: no such file" in result.stderr
    assert f"{latin}:1:1: error: the file is not UTF-8 text" in result.stderr


def test_fmt_check_json_is_unchanged_on_an_example(tmp_path: Path) -> None:
    """The command end to end: what `check --json` prints before and after `fmt`."""
    source = tmp_path / "model.net"
    source.write_text((EXAMPLES / "cifar10.net").read_text().replace(" -> ", "->"))
    before = json.loads(run("check", str(source), "--json").stdout)
    assert run("fmt", str(source)).exit_code == 0
    after = json.loads(run("check", str(source), "--json").stdout)
    assert _without_positions(before) == _without_positions(after)
    assert before != after  # the positions did move
