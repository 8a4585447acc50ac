"""Every `fix:` the checker suggests is applied and the result re-checked: a rewrite must make
its error go away and keep the user's names; a fix that is advice must say so."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_errors import CASES

import netdsl
from netdsl.catalogue import LAYERS
from netdsl.errors import Diagnostic, Pos

NET = "network N(x: [B, 3, 32, 32]):\n"
TWO = "network N(a: [B, 3, 8], b: [B, 3, 8]):\n"

# (id, source, the fix expected for the first error, or None to only apply what is suggested)
MISLEADING = [
    ("conv-stride-padding", NET + "    x -> conv(32, 3, 1, 1)\n",
     "write conv(32, 3, stride=1, padding=1)"),
    ("conv-stride-one-channel", "network N(x: [B, 1, 28, 28]):\n    x -> conv(32, 3, 1)\n",
     "write conv(32, 3, stride=1)"),
    ("conv-pytorch-order", NET + "    x -> conv(3, 32, 5)\n", "write conv(32, 5)"),
    ("conv-pytorch-order-stride", NET + "    x -> conv(3, 32, 5, 2)\n",
     "write conv(32, 5, stride=2)"),
    ("conv-keyword-kept", NET + "    x -> conv(32, 3, 2, bias=false)\n",
     "write conv(32, 3, stride=2, bias=false)"),
    ("lstm-layers-dropout", "network N(x: [B, 10, 16]):\n    x -> lstm(128, 2, 0.1)\n",
     "write lstm(128, num_layers=2, dropout=0.1)"),
    ("encoder-feedforward", "network N(x: [B, 10, 64]):\n"
                            "    x -> transformer_encoder_layer(8, 1024)\n",
     "write transformer_encoder_layer(8, dim_feedforward=1024)"),
    ("encoder-pytorch-order", "network N(x: [B, 10, 64]):\n"
                              "    x -> transformer_encoder_layer(64, 8)\n",
     "write transformer_encoder_layer(8)"),
    ("batchnorm-extra", NET + "    x -> conv(16, 3) -> batchnorm(16, 0.001)\n",
     "write batchnorm(eps=0.001)"),
    ("cat-in-parentheses", "network N(u: [B, 3, 8, 8], skip: [B, 3, 8, 8]):\n"
                           "    cat(u, skip)\n", "write (u, skip) -> cat"),
    ("cat-keeps-dim", TWO + "    cat((a, b), dim=2)\n", "write (a, b) -> cat(dim=2)"),
    ("torch-cat", TWO + "    torch.cat((a, b), 1)\n", "write (a, b) -> cat(dim=1)"),
    ("functional-relu", NET + "    h = x -> conv(8, 3)\n    F.relu(h)\n", "write h -> relu"),
    ("functional-in-expression", NET + "    h = x -> conv(8, 3)\n    y = F.max_pool2d(h, 2)\n"
                                       "    y\n", "write h -> maxpool(2)"),
    ("layer-call-with-arguments", NET + "    conv(x, 16, 3)\n", "write x -> conv(16, 3)"),
    ("tensor-method-call", NET + "    h = x -> conv(8, 3)\n    h.relu()\n",
     "write h -> relu"),
    ("torch-class-name", NET + "    x -> ReLU\n", "did you mean 'relu'?"),
    ("case-only", NET + "    x -> Relu\n", "did you mean 'relu'?"),
    ("torch-class-unknown-name", NET + "    y = ReLU\n    x -> y\n", "did you mean 'relu'?"),
    ("four-mistakes", NET + "    x -> conv(32, 5, 1, 1) -> maxpool(2, paddng=1)"
                            " -> relu(inplace=1.5) -> linear(10, bais=false)\n",
     "write conv(32, 5, stride=1, padding=1)"),
    ("bound-layer-unknown-input", "network N(x: [B, 1, 28, 28]):\n    c = conv(32, 3, 1)\n"
                                  "    x -> c\n",
     "e.g. conv(32, 3, stride=1); or conv(3, 1) if 32 is in_channels"),
]

# errors with fixes that tests/test_errors.py does not make
MORE = [
    ("integer-division", NET + "    x -> conv(16 / 4, 1)\n"),
    ("network-in-network", "network A(x: [B, 3]):\n    x\nnetwork N(x: [B, 3]):\n    x -> A\n"),
    ("block-without-hyperparameters", "block A(x):\n    x -> relu\nnetwork N(x: [B, 3]):\n"
                                      "    x -> A(4)\n"),
    ("kind-bound", NET + "    l = linear\n    x -> l\n"),
    ("two-names-one-layer", NET + "    a = relu\n    b = a\n    x -> a -> b\n"),
    ("two-names-one-built-layer", NET + "    a = relu()\n    b = a\n    x -> a -> b\n"),
    ("header-dimension-rebound", "block A(x: [B, C]):\n    C = 3\n    x\n"
                                 "network N(x: [B, 3]):\n    x -> A\n"),
    ("torch-class-outside-catalogue", NET + "    x -> nn.ChannelShuffle(3)\n"),
    ("one-input-for-two", NET + "    x -> flatten -> transformer_decoder_layer(4)\n"),
    ("unknown-dtype-far", "network N(x: zzz[B, 3]):\n    x\n"),
    ("header-input-count", "block Up(x1, x2):\n    (x1, x2) -> cat(dim=1)\n"
                           "network N(x: [B, 3]):\n    x -> Up\n"),
]

CORPUS = [(case_id, source) for case_id, source, _ in MISLEADING] + [
    (case_id, source) for case_id, source, *_ in CASES] + MORE

# Fixes that are advice, not a rewrite of the marked text, and why they cannot be one.
ADVICE = {
    "e.g. ": "an example to adapt: the right values are the user's to choose",
    "choose another name": "any new name works; the user picks it",
    "rename it": "any new name works; the user picks it",
    "declare it as `block": "a change to another definition than the one marked",
    "leave out ": "says what to delete",
    "add the matching": "where the closing bracket goes is the user's choice",
    "replace the tab with spaces": "the indentation width is the user's choice",
    "indent it by": "names the widths that fit",
    "write \"...\" instead of": "says what to change in the marked string",
    "pass several tensors as a tuple": "which tensors is the user's choice",
    "pass them as a tuple": "which tensors is the user's choice",
    "annotate the stage": "the output shape is the user's to give",
    "close it with": "where the closing bracket goes is the user's choice",
    "indent only the body": "says what to change; the layout is the user's choice",
    "start the first line in column 1": "says what to change (remove the indentation)",
    "give it a shape, e.g.": "the shape is the user's to give",
    "give it a default, e.g.": "the value is the user's to give",
    "declare the input as long": "a change to the network's header, not the marked stage",
    "flatten only dimensions of known size": "the sizes are the user's to give",
    "apply it with `->": "says what to change (the block takes no arguments)",
    "use '": "names the binding to use instead of the second name",
    "use float or long": "names the dtypes there are",
}

WRITE = "write "
RENAME = re.compile(r"did you mean '?([A-Za-z_][A-Za-z0-9_.]*)'?\?")


def diagnostics_of(source: str) -> list[Diagnostic]:
    try:
        netdsl.check_source(source, "t.net")
    except netdsl.NetDSLError as err:
        return err.diagnostics
    return []


def offset(lines: list[str], line: int, column: int) -> int:
    return sum(len(text) for text in lines[:line - 1]) + column - 1


def span_of(source: str, pos: Pos) -> tuple[int, int]:
    lines = source.splitlines(keepends=True)
    start = offset(lines, pos.line, pos.column)
    end = offset(lines, pos.end_line, pos.end_column) if pos.end_line else start
    return start, end


def is_rewrite(fix: str) -> bool:
    return fix.startswith(WRITE) and "..." not in fix


def apply(source: str, diag: Diagnostic) -> tuple[str, str, str]:
    """The source with the diagnostic's fix applied: (new source, old text, new text)."""
    assert diag.fix is not None
    pos = diag.fix_pos or diag.pos
    assert pos is not None
    start, end = span_of(source, pos)
    old = source[start:end]
    renamed = RENAME.fullmatch(diag.fix)
    if renamed:  # the misspelt name is the first name in the marked text
        name = re.match(r"[A-Za-z_][A-Za-z0-9_.]*", old)
        assert name, (diag.fix, old)
        new = renamed.group(1) + old[name.end():]
    else:
        new = diag.fix[len(WRITE):].strip("`'")
    return source[:start] + new + source[end:], old, new


def user_names(text: str) -> set[str]:
    """The names of values in a piece of source (not layers, functions or attributes)."""
    return {m.group(1) for m in re.finditer(r"(?<![.\w])([A-Za-z_]\w*)(?![\w.(])", text)
            if m.group(1) not in ("true", "false") and m.group(1) not in LAYERS}


def fixes() -> list[tuple[str, str, Diagnostic]]:
    found = []
    for case_id, source in CORPUS:
        for diag in diagnostics_of(source):
            if diag.fix:
                found.append((case_id, source, diag))
    return found


FOUND = fixes()


def test_the_corpus_has_fixes_of_every_kind() -> None:
    kinds = {"rewrite" if is_rewrite(d.fix or "") else "rename" if RENAME.fullmatch(
        d.fix or "") else "advice" for _, _, d in FOUND}
    assert kinds == {"rewrite", "rename", "advice"}
    assert len(FOUND) > 30


@pytest.mark.parametrize(("source", "diag"), [(src, d) for _, src, d in FOUND],
                         ids=[f"{case_id}:{d.line}:{d.column}" for case_id, _, d in FOUND])
def test_every_fix_is_applied_or_is_advice(source: str, diag: Diagnostic) -> None:
    fix = diag.fix or ""
    if not (is_rewrite(fix) or RENAME.fullmatch(fix)):
        assert any(fix.startswith(prefix) for prefix in ADVICE), (
            f"the fix {fix!r} is neither a rewrite nor listed as advice")
        return
    fixed, old, new = apply(source, diag)
    after = diagnostics_of(fixed)
    assert not [d for d in after if d.message == diag.message and d.line == diag.line], (
        fixed, [d.render() for d in after])
    # and the rewritten text is itself right: no error points into it (an error after it,
    # in a stage its mistake hid, may appear)
    start = diag.fix_pos or diag.pos
    assert start is not None and "\n" not in new
    inside = [d for d in after if d.line == start.line
              and start.column <= d.column < start.column + len(new)]
    assert inside == [], (fixed, [d.render() for d in inside])
    if is_rewrite(fix):
        assert user_names(old) <= user_names(new), (old, new)


def test_every_advice_listed_is_given() -> None:
    given = {d.fix for _, _, d in FOUND if d.fix}
    assert [p for p in ADVICE if not any(f.startswith(p) for f in given)] == []


@pytest.mark.parametrize(("source", "expected"), [c[1:] for c in MISLEADING],
                         ids=[c[0] for c in MISLEADING])
def test_the_fix_for_each_misleading_case(source: str, expected: str) -> None:
    first = diagnostics_of(source)[0]
    assert first.fix == expected, first.render()


def test_batchnorm_note_names_no_empty_argument_list() -> None:
    source = NET + "    x -> conv(16, 3) -> batchnorm(16)\n"
    text = "\n".join(d.render() for d in diagnostics_of(source))
    assert "batchnorm(, ...)" not in text
    assert "BatchNorm2d(num_features, ...) is batchnorm here" in text


def test_four_independent_mistakes_of_one_pipeline_in_one_run() -> None:
    source = next(src for case_id, src, _ in MISLEADING if case_id == "four-mistakes")
    found = [(d.line, d.column, d.message) for d in diagnostics_of(source)]
    line = source.splitlines()[1]
    assert found == [
        (2, line.index("1, 1)") + 1, "conv takes 2 positional arguments (out_channels, "
                                     "kernel_size); the others go by name"),
        (2, line.index("paddng") + 1, "maxpool has no argument 'paddng'"),
        (2, line.index("1.5") + 1, "inplace is a flag: it is true or false, not a number"),
        (2, line.index("bais") + 1, "linear has no argument 'bais'"),
    ]


def test_the_mistakes_of_each_operand_and_tuple_item_in_one_run() -> None:
    source = NET + ("    y = (x -> conv(3, 32, 5) -> relu(inplace=2)) + (x -> lin(3))\n"
                    "    z = (x -> relu(inplace=3), x -> rellu) -> cat\n    y\n")
    found = [(d.line, d.message) for d in diagnostics_of(source)]
    assert found == [
        (2, "conv takes 2 positional arguments (out_channels, kernel_size); the others go by "
            "name"),
        (2, "inplace is a flag: it is true or false, not an integer"),
        (2, "unknown layer or block 'lin'"),
        (3, "inplace is a flag: it is true or false, not an integer"),
        (3, "unknown layer or block 'rellu'"),
    ]


def test_a_stage_after_a_failure_is_not_shape_checked() -> None:
    # the tutorial net: in_features=7 cannot be judged once conv failed, inplace=1.5 can
    source = NET + ("    x -> conv(32, 5, 1, 1) -> maxpool(2) -> linear(10, in_features=7)"
                    " -> relu(inplace=1.5)\n")
    messages = [d.message for d in diagnostics_of(source)]
    assert len(messages) == 2
    assert messages[1] == "inplace is a flag: it is true or false, not a number"


def test_applying_every_rewrite_in_turn_leaves_a_valid_program() -> None:
    source = next(src for case_id, src, _ in MISLEADING if case_id == "four-mistakes")
    for _ in range(10):
        diags = [d for d in diagnostics_of(source) if d.fix and (
            is_rewrite(d.fix) or RENAME.fullmatch(d.fix))]
        if not diags:
            break
        source = apply(source, diags[-1])[0]  # from the end, so earlier spans stay put
    remaining = diagnostics_of(source)
    # what is left has no fix: the flag's value is the user's to choose
    assert [d.message for d in remaining] == [
        "inplace is a flag: it is true or false, not a number"]
    assert "conv(32, 5, stride=1, padding=1) -> maxpool(2, padding=1)" in source
    assert "linear(10, bias=false)" in source


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(channels=st.integers(1, 4), out=st.integers(1, 4), kernel=st.integers(1, 3),
       extra=st.lists(st.integers(1, 2), min_size=1, max_size=2), torch_order=st.booleans())
def test_a_conv_fix_means_what_pytorch_reads(channels: int, out: int, kernel: int,
                                             extra: list[int], torch_order: bool) -> None:
    """conv(...) with too many positional numbers: the rewritten layer is the nn.Conv2d
    PyTorch builds from the same numbers, read in PyTorch's order when the first is the
    input's channels (the numbers then fit both readings, and PyTorch's is the one a user
    copying PyTorch code means), else with in_channels put in front."""
    import torch

    numbers = [channels, out, kernel, *extra] if torch_order else [out, kernel, *extra]
    source = (f"network N(x: [B, {channels}, 9, 9]):\n"
              f"    x -> conv({', '.join(map(str, numbers))})\n")
    first = diagnostics_of(source)[0]
    assert first.fix is not None and is_rewrite(first.fix), first.render()
    fixed = apply(source, first)[0]
    assert diagnostics_of(fixed) == [], fixed
    module = netdsl.build(netdsl.check_source(fixed, "t.net"), "N")()
    pytorch_order = numbers[0] == channels
    reference = torch.nn.Conv2d(*([] if pytorch_order else [channels]), *numbers)
    x = torch.randn(2, channels, 9, 9)
    with torch.no_grad():
        assert module(x).shape == reference(x).shape
    assert sum(p.numel() for p in module.parameters()) == sum(
        p.numel() for p in reference.parameters())
