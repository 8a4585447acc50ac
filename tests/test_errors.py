"""One test per kind of error: its message, its position, and the exit code of `netdsl check`."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import netdsl
from netdsl.cli import main

NET = "network N(x: [B, 3, 32, 32]):\n"

# (id, source, line, column, message fragment, more fragments that must appear in the text)
CASES = [
    # syntax
    ("tab", "network N(x: [B, 3]):\n\tx -> relu\n", 2, 1,
     "indentation contains a tab", ["replace the tab with spaces"]),
    ("unclosed-bracket", NET + "    x -> conv(16, 3\n    x -> relu\n", 2, 14, "unclosed '('",
     ["add the matching ')'"]),
    ("unclosed-at-eof", NET + "    x -> conv(16, 3\n", 2, 14, "unclosed '('", []),
    ("mismatched-bracket", NET + "    x -> conv(16, 3]\n", 2, 20,
     "']' does not close '(' opened at 2:14", []),
    ("missing-colon", "network N(x: [B, 3])\n    x -> relu\n", 1, 21, "a header ends with ':'",
     []),
    ("missing-comma", NET + "    x -> conv(16 3)\n", 2, 18, "missing ',' between arguments", []),
    ("fat-arrow", "network N(x: [B, 3]):\n    x => relu\n", 2, 7, "'=>' is not an arrow",
     ["write '->'"]),
    ("operator-after-stage", "network N(x: [B, 3]):\n    x -> relu + x\n", 2, 15,
     "`->` binds loosest", ["(x -> f) + y"]),
    ("single-quotes", NET + "    x -> upsample(scale_factor=2, mode='bilinear')\n", 2, 40,
     "strings are written in double quotes", []),
    ("bad-dedent", "network N(x: [B, 3]):\n    y = x -> relu\n  y\n", 3, 3,
     "indentation matches no enclosing block", ["4 or 0 spaces"]),
    ("unexpected-indent", "network N(x: [B, 3]):\n    y = x\n        y\n", 3, 9,
     "unexpected indentation", []),
    ("indented-first-line", "  network N(x: [B, 3]):\n    x\n", 1, 3,
     "unexpected indentation at the start of the file", []),
    ("nul-byte", "network N(x: [B, 3]):\n    x\x00\n", 2, 1, "NUL byte", []),
    ("invalid-escape", NET + '    x -> upsample(scale_factor=2, mode="bi\\qlinear")\n', 2, 40,
     "invalid escape in string", []),
    ("invalid-escape-in-import", 'import "\\N{no such character}"\n' + NET + "    x\n", 1, 8,
     "invalid escape in string", []),
    ("positional-after-keyword", NET + "    x -> conv(16, kernel_size=3, 1)\n", 2, 34,
     "positional argument cannot follow a keyword", []),
    # names
    ("unknown-layer", NET + "    x -> conv(16, 3) -> rellu\n", 2, 25,
     "unknown layer or block 'rellu'", ["did you mean 'relu'?"]),
    ("unknown-name", NET + "    y = x -> relu\n    y + q\n", 3, 9, "unknown name 'q'", []),
    ("unknown-argument", NET + "    x -> conv(16, 3, paddin=1)\n", 2, 22,
     "conv has no argument 'paddin'", ["did you mean 'padding'?"]),
    ("missing-argument", NET + "    x -> conv(16)\n", 2, 10, "conv needs kernel_size",
     ["signature: conv(out_channels, kernel_size"]),
    ("pytorch-order-conv", NET + "    x -> conv(3, 32, 5)\n", 2, 22,
     "conv takes 2 positional arguments (out_channels, kernel_size); the others go by name",
     ["Conv2d(in_channels, out_channels, kernel_size, ...)", "fix: write conv(32, 5)"]),
    ("pytorch-order-batchnorm", NET + "    x -> conv(16, 3) -> batchnorm(16)\n", 2, 35,
     "batchnorm takes its arguments by name",
     ["netdsl infers num_features", "batchnorm(num_features=...)"]),
    ("pytorch-order-linear", NET + "    x -> flatten -> linear(3072, 10)\n", 2, 34,
     "linear takes 1 positional argument (out_features)", ["fix: write linear(10)"]),
    ("lowercase-torch-class", NET + "    x -> nn.conv2d(3, 8, 3)\n", 2, 10,
     "nn.conv2d is not a torch.nn class name", ["did you mean nn.Conv2d?"]),
    ("functional-spelling", NET + "    y = F.max_pool2d(x, 2)\n    y\n", 2, 9,
     "F.max_pool2d is PyTorch's spelling", ["fix: write x -> maxpool(2)"]),
    ("torch-cat-spelling", NET + "    torch.cat((x, x), 1)\n", 2, 5,
     "torch.cat is PyTorch's spelling", ["fix: write (x, x) -> cat(dim=1)"]),
    ("tensor-method", NET + "    x.view(x.size(0), -1)\n", 2, 5,
     "tensors have no methods in netdsl", ["fix: e.g. x -> view(...)"]),
    ("too-many-arguments", NET + "    x -> relu(true, 1)\n", 2, 21,
     "relu takes at most 1 positional argument", []),
    ("tensor-in-layer-parens", NET + "    relu(x)\n", 2, 10,
     "the parentheses of relu hold its arguments, never tensors", ["write x -> relu"]),
    ("keyword-name", NET + "    class = x -> relu\n    class\n", 2, 5,
     "'class' is a Python keyword", []),
    ("dunder-name", NET + "    __x = x -> relu\n    __x\n", 2, 5, "names starting with '__'",
     []),
    ("self-name", NET + "    self = x -> relu\n    self\n", 2, 5, "'self' cannot name", []),
    ("alias-hijacks-module", NET + "    x -> relu as forward\n", 2, 18,
     "would replace nn.Module's own attribute 'forward'", []),
    ("unknown-dtype", "network N(x: lng[B, 3]):\n    x\n", 1, 14, "unknown dtype 'lng'",
     ["did you mean 'long'?"]),
    ("duplicate-block", "block A(x):\n    x\nblock A(x):\n    x\nnetwork N(x: [B, 3]):\n"
                        "    x -> A\n", 3, 7, "block A is defined twice", ["first defined at"]),
    ("block-named-like-layer", "block conv(x):\n    x\n", 1, 7, "'conv' is the name of a layer",
     []),
    ("block-shadows-builtin", "block super(x):\n    x\n", 1, 7,
     "'super' would shadow a name the generated code relies on (a Python builtin)", []),
    ("not-a-torch-class", NET + "    x -> nn.__class__() : [B, 3, 32, 32]\n", 2, 10,
     "nn.__class__ is not a torch.nn class name", []),
    ("gelu-approximate", NET + '    x -> gelu(approximate="fast")\n', 2, 10,
     'approximate must be "none" or "tanh"', []),
    ("network-input-without-shape", "network N(x):\n    x -> relu\n", 1, 11,
     "network input 'x' needs a shape", []),
    ("network-hyperparameter-without-default", "network N(c)(x: [B, c]):\n    x\n", 1, 11,
     "network hyperparameter 'c' needs a default", []),
    ("no-output", NET + "    y = x -> relu\n", 1, 9, "network N has no output", []),
    ("missing-import", 'import "nothere.net"\nnetwork N(x: [B, 3]):\n    x\n', 1, 1,
     "cannot import 'nothere.net': not found", []),
    ("block-uses-itself", "block A(x):\n    x -> A\nnetwork N(x: [B, 3]):\n    x -> A\n", 2,
     10, "block A uses itself", []),
    # shapes
    ("in-features-mismatch", NET + "    x -> conv(16, 5, padding=2) -> maxpool(2) -> flatten\n"
                                   "      -> linear(10, in_features=512)\n", 3, 10,
     "linear expects 512 input features, but its input has 4096",
     ["4096 = 16 x 16 x 16: flatten at 2:50 of [B, 16, 16, 16]",
      "16 comes from maxpool(2) at 2:36 on 32", "in_features=4096"]),
    ("wrong-rank", "network N(x: [B, 3]):\n    x -> conv(16, 3)\n", 2, 10,
     "conv expects a 3, 4 or 5-dimensional input", ["[B, 3] (2 dimensions)"]),
    ("size-reaches-zero", "network N(x: [B, 3, 8, 8]):\n"
                          "    x -> conv(16, 5) -> maxpool(2) -> conv(16, 5)\n", 2, 39,
     "conv would produce an empty output", ["2 comes from maxpool(2) at 2:25 on 4"]),
    ("groups", "network N(x: [B, 3, 8, 8]):\n    x -> conv(16, 3, groups=2)\n", 2, 10,
     "in_channels 3 is not divisible by groups=2", []),
    ("add-mismatch", "network N(x: [B, 3, 8, 8]):\n    y = x -> conv(16, 3)\n    x + y\n", 3, 5,
     "'+' needs shapes that match or broadcast", ["16 comes from conv(16, 3) at 2:14"]),
    ("cat-mismatch", "network N(x: [B, 3, 8, 8]):\n    y = x -> conv(16, 3)\n"
                     "    (x, y) -> cat(dim=1)\n", 3, 15,
     "cat along dimension 1 needs the other dimensions to match", []),
    ("float-into-embedding", "network N(x: [B, 20]):\n    x -> embedding(100, 8)\n", 2, 10,
     "embedding expects integer indices", ["tokens: long[B, T]"]),
    ("symbolic-size", "network N(x: [B, T, 512]):\n    x -> flatten -> linear(10)\n", 2, 21,
     "linear needs a known number of input features", ["512*T"]),
    ("annotation-mismatch", NET + "    x -> conv(16, 3) : [B, 16, 32, 32] -> relu\n", 2, 24,
     "the annotation [B, 16, 32, 32] does not match the shape [B, 16, 30, 30]",
     ["fix: write [B, 16, 30, 30]"]),
    ("annotation-names-a-layer", NET + "    x -> conv(4, 3) -> flatten : [conv, 3600]\n", 2, 35,
     "a dimension must be an integer or a name, but conv is a layer", ["fix: write [B, 3600]"]),
    ("repeat-count-hyperparameter", "network N(n=0)(x: [B, 4]):\n    x -> relu * n\n", 2, 17,
     "a stage repeats a positive whole number of times, got 0", []),
    ("repeat-count-layer", "network N(x: [B, 4]):\n    x -> relu * conv\n", 2, 17,
     "a stage repeats a positive whole number of times, got a layer", []),
    ("shared-weights", "network N(a: [B, 3], b: [B, 4]):\n    enc = linear(8)\n"
                       "    (a -> enc) + (b -> enc)\n", 3, 24,
     "enc shares its weights, so every input must fit them", []),
    ("block-input-count", "block Up(out)(x1, x2):\n    (x1, x2) -> cat(dim=1)\n"
                          "network N(x: [B, 3]):\n    x -> Up(4)\n", 4, 10,
     "block Up takes 2 inputs (x1, x2), got 1", ["(x1, x2) -> Up"]),
    ("block-header-shape", "block A(x: [B, 3, H, W]):\n    x\n"
                           "network N(x: [B, 4, 8, 8]):\n    x -> A\n", 4, 10,
     "block A expects x of shape [B, 3, H, W], but dimension 1 is 4, not 3", []),
    ("tensor-condition", "network N(x: [B, 3]):\n    if x:\n        x\n    else:\n        x\n",
     2, 8, "`if` chooses at compile time", []),
    ("dropout-probability", "network N(x: [B, 3]):\n    x -> dropout(1.5)\n", 2, 10,
     "dropout probability has to be between 0 and 1", []),
    ("index-out-of-range", "network N(x: [B, 3]):\n    x[:, 3]\n", 2, 10,
     "index 3 is out of range for dimension 1 of size 3", []),
    ("error-inside-block", "block A(x):\n    x -> linear(4, in_features=5)\n"
                           "network N(x: [B, 3]):\n    x -> A\n", 2, 10,
     "linear expects 5 input features, but its input has 3", ["in block A used at"]),
]


@pytest.mark.parametrize(("source", "line", "column", "message", "more"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error(source: str, line: int, column: int, message: str, more: list[str],
               tmp_path) -> None:
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.check_source(source, "t.net")
    first = info.value.diagnostics[0]
    assert message in first.message, first.render()
    assert (first.line, first.column) == (line, column), first.render()
    text = info.value.render()
    for fragment in more:
        assert fragment in text
    assert "Traceback" not in text
    # the command line prints the same, with the caret, and exits 1
    path = tmp_path / "t.net"
    path.write_bytes(source.encode("utf-8"))
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1
    assert f"t.net:{line}:{column}: error: " in result.stderr
    assert "^" in result.stderr or first.pos is None


def test_independent_errors_are_all_reported() -> None:
    source = NET + ("    y = x -> conv(16, 3) -> lin(10)\n"
                    "    z = y + q\n"
                    "    x -> conv(8, 3, paddng=1)\n")
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.check_source(source, "t.net")
    found = [(d.line, d.message) for d in info.value.diagnostics]
    assert found == [(2, "unknown layer or block 'lin'"), (3, "unknown name 'q'"),
                     (4, "conv has no argument 'paddng'")]


def test_a_failed_value_does_not_cascade() -> None:
    source = NET + "    y = x -> lin(10)\n    z = y -> relu -> linear(3)\n    z + y\n"
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.check_source(source, "t.net")
    assert [d.line for d in info.value.diagnostics] == [2]


def test_an_error_in_a_block_is_reported_once() -> None:
    source = ("block A(x):\n    x -> linear(4, in_features=5)\n"
              "network N(x: [B, 3]):\n    x -> A -> A\n")
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.check_source(source, "t.net")
    assert len(info.value.diagnostics) == 1


def test_caret_spans_the_culprit() -> None:
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.check_source(NET + "    x -> conv(16, 3, paddin=1)\n", "t.net")
    lines = info.value.render().splitlines()
    assert lines[1] == "        x -> conv(16, 3, paddin=1)"
    assert lines[2] == "                         ^^^^^^"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_files(text: str) -> None:
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.check_source(text, "empty.net")
    assert "defines no network or block" in info.value.diagnostics[0].message


def test_no_warning_when_only_padding_is_dropped() -> None:
    program = netdsl.check_source("network N(x: [B, 3, 112, 112]):\n"
                                  "    x -> maxpool(3, stride=2, padding=1)\n", "t.net")
    assert program.warnings == []


def test_warnings_for_dropped_rows_and_unused_values() -> None:
    program = netdsl.check_source("network N(x: [B, 3, 7, 7]):\n    y = x -> relu\n"
                                  "    x -> maxpool(2)\n", "t.net")
    messages = [(w.line, w.message) for w in program.warnings]
    assert (3, "maxpool drops the last 1 of 7 rows and the last 1 of 7 columns (the window "
               "does not fit evenly); ceil_mode=true keeps them") in messages
    assert (2, "'y' is computed but never used") in messages
