"""rearrange and einsum against their references: einops.rearrange (the reference
implementation of the pattern language; a test dependency only, generated code never imports
it) and torch.einsum, with FlopCounterMode for einsum's FLOPs.

Hypothesis makes random valid patterns and shapes (the rule's shape is einops', and the
generated plain-torch code gives einops' tensor), random strings of the pattern's characters
(netdsl refuses exactly what einops refuses), and random einsum equations (shapes, errors and
FLOPs as torch's). End to end: a ViT-style patch embedding and an attention score compiled,
run, and taken by torch.fx, TorchScript, torch.export and torch.compile(fullgraph=True); a
block whose patch size is a hyperparameter builds, for other values, what check describes."""

from __future__ import annotations

import re
import warnings
from typing import Any

import einops
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

import netdsl
from netdsl import einsum as einsum_rule
from netdsl import rearrange as rearrange_rule
from netdsl.cost import annotate, at_sizes
from netdsl.dims import Sym
from netdsl.lower.exprs import PLANNERS
from netdsl.shapes import TT, Call, ShapeError

NAMES = ["a", "b", "c", "h", "w", "p1", "p2", "k", "t", "d"]
FEW = settings(max_examples=25, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MANY = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def rule_call(pattern: Any, shape: tuple[Any, ...], lengths: dict[str, Any]) -> Call:
    return Call("rearrange", {"pattern": pattern, "axes_lengths": dict(lengths)}, [TT(shape)],
                {"pattern", "axes_lengths"})


def einops_result(x: torch.Tensor, pattern: str, lengths: dict[str, int]) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # einops warns of some axis names; it still works
        return einops.rearrange(x, pattern, **lengths)


def run_plan(x: torch.Tensor, call: Call) -> torch.Tensor:
    """The planned methods applied with torch, sizes as the keywords give them: what the
    generated forward does, without going through a class."""
    lengths = call.a["axes_lengths"]

    def value(item: Any) -> Any:
        if isinstance(item, tuple):
            return tuple(value(v) for v in item)
        return lengths[item.axis] if isinstance(item, rearrange_rule.Size) else item

    for step in PLANNERS["rearrange"](call):
        x = getattr(x, step.method)(*(value(a) for a in step.args))
    return x


# ---------------------------------------------------------------- random valid patterns


def _groups(draw: Any, axes: list[str], units: bool) -> list[list[str]]:
    """The axes split into consecutive groups, with unit axes (`1`, `()`) here and there."""
    out: list[list[str]] = []
    i = 0
    while i < len(axes):
        take = draw(st.integers(1, min(3, len(axes) - i)))
        out.append(axes[i:i + take])
        i += take
    if units:
        for _ in range(draw(st.integers(0, 2))):
            out.insert(draw(st.integers(0, len(out))), [])
    return out


def _side(groups: list[list[str]], draw: Any) -> str:
    parts = []
    for g in groups:
        if not g:
            parts.append(draw(st.sampled_from(["1", "()"])))
        elif g == ["..."]:
            parts.append("...")
        elif len(g) == 1 and draw(st.booleans()):
            parts.append(g[0])
        else:
            parts.append("(" + " ".join(g) + ")")
    return " ".join(parts)


@st.composite
def valid_patterns(draw: Any) -> tuple[str, tuple[int, ...], dict[str, int]]:
    count = draw(st.integers(0, 5))
    axes = draw(st.permutations(NAMES))[:count]
    sizes = {a: draw(st.integers(1, 4)) for a in axes}
    ellipsis = draw(st.booleans())
    left_axes = list(axes) + (["..."] if ellipsis else [])
    left_axes = draw(st.permutations(left_axes))
    left: list[list[str]] = []
    for g in _groups(draw, [a for a in left_axes if a != "..."], units=True):
        left.append(g)
    if ellipsis:  # on the left the ellipsis stands alone
        left.insert(draw(st.integers(0, len(left))), ["..."])
    ell_shape = tuple(draw(st.lists(st.integers(1, 3), max_size=3))) if ellipsis else ()
    shape: list[int] = []
    for g in left:
        if g == ["..."]:
            shape.extend(ell_shape)
        else:
            size = 1
            for a in g:
                size *= sizes[a]
            shape.append(size)
    right_axes = list(draw(st.permutations(list(axes))))
    right = [" ".join(g) if len(g) == 1 else "(" + " ".join(g) + ")"
             for g in _groups(draw, right_axes, units=False)]
    for _ in range(draw(st.integers(0, 2))):  # unit axes
        right.insert(draw(st.integers(0, len(right))), draw(st.sampled_from(["1", "()"])))
    if ellipsis:
        where = draw(st.integers(0, len(right)))
        if draw(st.booleans()):
            right.insert(where, "...")
        elif right and right[min(where, len(right) - 1)] not in ("1", "()"):
            i = min(where, len(right) - 1)  # inside a group: its dimensions merged
            right[i] = "(" + right[i].strip("()") + " ...)"
        else:
            right.insert(where, "(...)")
    pattern = f"{_side(left, draw)} -> {' '.join(right)}"
    lengths: dict[str, int] = {}
    for g in left:
        named = [a for a in g if a != "..."]
        if len(named) > 1:
            left_out = draw(st.sampled_from([*named, None]))  # None: every size given
            lengths.update({a: sizes[a] for a in named if a != left_out})
        elif named and draw(st.integers(0, 3)) == 0:
            lengths[named[0]] = sizes[named[0]]
    return pattern, tuple(shape), lengths


@MANY
@given(valid_patterns())
def test_rule_and_plan_agree_with_einops(case: tuple[str, tuple[int, ...], dict[str, int]]) -> None:
    pattern, shape, lengths = case
    x = torch.randn(shape)
    expected = einops_result(x, pattern, lengths)
    call = rule_call(pattern, shape, lengths)
    applied = rearrange_rule.rule(call)
    assert tuple(int(d) for d in applied.outputs.shape) == tuple(expected.shape), pattern
    assert torch.equal(run_plan(x, call), expected), pattern
    parsed = rearrange_rule.parse(pattern)
    if parsed.left.has_ellipsis and rearrange_rule.covered(parsed, len(shape)) > 0:
        # one spelling for every rank: the methods planned for this input rearrange an input
        # with one more dimension under the ellipsis as einops does (a block used twice)
        at = parsed.left.groups.index((rearrange_rule.ELLIPSIS,))
        wider = torch.randn((*shape[:at], 3, *shape[at:]))
        assert torch.equal(run_plan(wider, call), einops_result(wider, pattern, lengths))


# ---------------------------------------------------------------- anything, valid or not

@st.composite
def mutated_patterns(draw: Any) -> tuple[str, list[int], dict[str, int]]:
    """A valid case with a few characters of the pattern replaced, inserted or deleted, a
    size changed, a keyword dropped or added: valid or not, as it happens."""
    pattern, shape, lengths = draw(valid_patterns())
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(pattern)))
        char = draw(st.sampled_from(list("abh1 ()._->2")))
        edit = draw(st.sampled_from(["replace", "insert", "delete"]))
        if edit == "insert":
            pattern = pattern[:at] + char + pattern[at:]
        elif edit == "replace":
            pattern = pattern[:at] + char + pattern[at + 1:]
        else:
            pattern = pattern[:at] + pattern[at + 1:]
    shape_list = list(shape)
    if shape_list and draw(st.integers(0, 3)) == 0:
        shape_list[draw(st.integers(0, len(shape_list) - 1))] = draw(st.integers(1, 6))
    lengths = dict(lengths)
    if lengths and draw(st.integers(0, 3)) == 0:
        lengths.pop(draw(st.sampled_from(sorted(lengths))))
    if draw(st.integers(0, 3)) == 0:
        lengths[draw(st.sampled_from(NAMES))] = draw(st.integers(1, 4))
    return pattern, shape_list, lengths


@MANY
@given(st.one_of(mutated_patterns(), st.tuples(
    st.text(alphabet="abh1 ()._->2", max_size=24), st.lists(st.integers(1, 4), max_size=4),
    st.dictionaries(st.sampled_from(["a", "b", "h"]), st.integers(1, 4), max_size=2))))
def test_netdsl_refuses_what_einops_refuses(case: tuple[str, list[int], dict[str, int]]) -> None:
    pattern, shape, lengths = case
    x = torch.randn(shape)
    try:
        expected: torch.Tensor | None = einops_result(x, pattern, lengths)
    except Exception:  # EinopsError, or the ValueError of a pattern without one '->'
        expected = None
    call = rule_call(pattern, tuple(shape), lengths)
    if expected is None:
        with pytest.raises(ShapeError):
            rearrange_rule.rule(call)
        return
    applied = rearrange_rule.rule(call)
    assert tuple(int(d) for d in applied.outputs.shape) == tuple(expected.shape)
    assert torch.equal(run_plan(x, call), expected)


@pytest.mark.parametrize(("pattern", "shape", "lengths", "words"), [
    ("b (h w) -> b h w", (2, 12), {"h": 5}, ["dimension 1 (12)", "(h w)", "h=5"]),
    ("b (h w) -> b h w", (2, 12), {}, ["all but one of h, w"]),
    ("b h -> b h", (2, 12), {"h": 5}, ["dimension 1 is 12", "h=5"]),
    ("b (h w) -> b h w", (2, 12), {"h": 2, "w": 5}, ["(h w) is h=2 x w=5 = 10"]),
    ("b c -> b", (2, 3), {}, ["c only on the left"]),
    ("b c -> b c d", (2, 3), {}, ["d only on the right"]),
    ("b b -> b", (2, 3), {}, ["b appears twice"]),
    ("b c -> b c", (2, 3, 4), {}, ["2 dimensions", "has 3"]),
    ("b (h w) -> b h w", (2, 12), {"h": 0}, ["h=0", "positive"]),
    ("b (h w) -> b h w", (2, 12), {"q": 3}, ["q= names no axis"]),
    ("b (c ...) -> b c ...", (2, 12), {}, ["inside parentheses"]),
    ("b c", (2, 3), {}, ["one '->'"]),
    ("b 1 -> b", (2, 3), {}, ["dimension 1 is 3", "1 there"]),
    ("b 2 -> b", (2, 2), {}, ["no numbered axis but 1"]),
    ("_b c -> c _b", (2, 3), {}, ["start or end with '_'"]),
])
def test_errors_name_the_axis_and_the_sizes(pattern: str, shape: tuple[int, ...],
                                            lengths: dict[str, int], words: list[str]) -> None:
    with pytest.raises(Exception):  # noqa: B017 - einops refuses it too, in its own words
        einops_result(torch.randn(shape), pattern, lengths)
    with pytest.raises(ShapeError) as caught:
        rearrange_rule.rule(rule_call(pattern, shape, lengths))
    for word in words:
        assert word in caught.value.message, caught.value.message


def test_symbolic_sizes_flow_through() -> None:
    B, T = Sym.named("B"), Sym.named("T")
    applied = rearrange_rule.rule(rule_call("b t (h d) -> b h t d", (B, T, 64), {"h": 4}))
    assert applied.outputs.shape == (B, 4, T, 16)
    applied = rearrange_rule.rule(rule_call("b (t c) -> (b t) c", (B, 64 * T), {"c": 64}))
    assert applied.outputs.shape == (B * T, 64)
    with pytest.raises(ShapeError, match="not a multiple"):  # T might be odd
        rearrange_rule.rule(rule_call("b (t c) -> b t c", (B, T), {"c": 2}))


# ---------------------------------------------------------------- in a program


VIT = """\
network PatchEmbed(x: [B, 3, 32, 32]):
    t = x -> rearrange("b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=8, p2=8) -> linear(64)
    q = t -> linear(64)
    k = t -> linear(64)
    scores = (q, k) -> einsum("bqd,bkd->bqk")
    return t, scores
"""


def build(source: str, name: str, **hyper: Any) -> tuple[Any, torch.nn.Module]:
    program = netdsl.check_source(source, "rearrange.net")
    torch.manual_seed(0)
    return program, netdsl.build(program, name)(**hyper).eval()


def test_errors_are_located_at_the_stage() -> None:
    source = ("network N(x: [B, 3, 30, 30]):\n"
              "    x -> rearrange(\"b c (h p) (w q) -> b (h w) (p q c)\", p=8, q=8)\n")
    with pytest.raises(netdsl.NetDSLError) as caught:
        netdsl.check_source(source, "bad.net")
    (diag,) = caught.value.diagnostics
    assert (diag.line, diag.column) == (2, 10)
    assert "dimension 2 (30)" in diag.message and "p=8" in diag.message, diag.message
    assert "input: [B, 3, 30, 30]" in diag.notes
    assert any(note.startswith("30 is the size declared for x") for note in diag.notes)


def test_patch_embedding_and_attention_scores_run_as_checked() -> None:
    program, model = build(VIT, "PatchEmbed")
    net = program.networks[0]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        tokens, scores = model(x)
    assert [tuple(int(d) if not isinstance(d, Sym) else 2 for d in tt.shape)
            for tt in net.outputs] == [tuple(tokens.shape), tuple(scores.shape)]
    assert net.params == sum(p.numel() for p in model.parameters())
    # the same computation by hand: einops for the patches, torch.einsum for the scores
    patches = einops.rearrange(x, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=8, p2=8)
    with torch.no_grad():
        t = model.fc1(patches)
        torch.testing.assert_close(tokens, t)
        torch.testing.assert_close(scores, torch.einsum("bqd,bkd->bqk", model.fc2(t),
                                                        model.fc3(t)))
    code = netdsl.to_pytorch(program)
    assert "einops" not in code and "rearrange" not in code.split('"""')[-1]
    assert 'torch.einsum("bqd,bkd->bqk", q, k)' in code


def _same(a: Any, b: Any) -> None:
    if isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b)
    else:
        for x, y in zip(a, b, strict=True):
            _same(x, y)


# every method a plan writes: unflatten, squeeze of several, movedim, flatten, unsqueeze
# counted from the end
ELLIPSES = """\
network Ellipses(x: [B, 3, 32, 32]):
    a = x -> rearrange("b c (h p) ... -> b h (... p) c", p=4)
    b = x -> rearrange("b ... (w q) -> q b (...) w 1", q=8) -> rearrange("q b n w () -> b n w q")
    return a, b
"""


# sizes that are dimensions: a symbolic one in a network, one a block reads from its input
DIMENSIONS = """\
block Heads(heads=4)(x: [B, T, D]):
    x -> rearrange("b t (h d) -> b h t d", d=D // heads)

network Dimensions(x: [B, T, 64]):
    y = x -> rearrange("b (t k) d -> b t (k d)", t=T)
    y -> Heads(8)
"""


@pytest.mark.parametrize(("source", "name", "shape"), [
    (VIT, "PatchEmbed", (2, 3, 32, 32)), (ELLIPSES, "Ellipses", (2, 3, 32, 32)),
    (DIMENSIONS, "Dimensions", (2, 5, 64))])
def test_generated_code_works_with_pytorchs_tools(source: str, name: str,
                                                  shape: tuple[int, ...]) -> None:
    _, model = build(source, name)
    x = torch.randn(shape)
    with torch.no_grad():
        expected = model(x)
        _same(torch.fx.symbolic_trace(model)(x), expected)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript's deprecation notice
            _same(torch.jit.script(model)(x), expected)
        _same(torch.export.export(model, (x,)).module()(x), expected)
        _same(torch.compile(model, backend="eager", fullgraph=True)(x), expected)
    torch._dynamo.reset()


def test_sizes_that_are_dimensions_run_as_einops() -> None:
    program, model = build(DIMENSIONS, "Dimensions")
    x = torch.randn(2, 5, 64)
    with torch.no_grad():
        out = model(x)
    assert torch.equal(out, einops.rearrange(x, "b t (h d) -> b h t d", h=8))
    (tt,) = program.networks[0].outputs
    assert [str(d) for d in tt.shape] == ["B", "8", "T", "8"]


def test_ellipses_run_as_einops() -> None:
    program, model = build(ELLIPSES, "Ellipses")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        a, b = model(x)
    torch.testing.assert_close(a, einops.rearrange(x, "b c (h p) ... -> b h (... p) c", p=4))
    expected = einops.rearrange(einops.rearrange(x, "b ... (w q) -> q b (...) w 1", q=8),
                                "q b n w () -> b n w q")
    torch.testing.assert_close(b, expected)
    shapes = [tuple(2 if isinstance(d, Sym) else int(d) for d in tt.shape)
              for tt in program.networks[0].outputs]
    assert shapes == [tuple(a.shape), tuple(b.shape)]


PATCHIFY = """\
block Patchify(p=8)(x: [B, C, H, W]):
    x -> rearrange("b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=p, p2=p) -> linear(32)

network Net(p={p}, heads=4)(x: [B, 3, 32, 32]):
    t = x -> Patchify(p)
    t -> rearrange("b n (k d) -> b k n d", k=heads)
"""


@FEW
@given(st.sampled_from([1, 2, 4, 8, 16, 32]), st.sampled_from([1, 2, 4, 8]))
def test_a_hyperparameter_patch_size_is_honoured(p: int, heads: int) -> None:
    """Built with other values, the class is what check describes for them."""
    program = netdsl.check_source(PATCHIFY.format(p=8), "patchify.net")
    generated = netdsl.to_pytorch(program)
    assert "self.p)" in generated and "(-1, 8)" not in generated
    torch.manual_seed(0)
    model = netdsl.build(program, "Net")(p=p, heads=heads).eval()
    expected = netdsl.check_source(PATCHIFY.format(p=p).replace("heads=4", f"heads={heads}"),
                                   "patchify.net").networks[0]
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert tuple(out.shape) == tuple(2 if isinstance(d, Sym) else int(d)
                                     for d in expected.outputs[0].shape)
    assert sum(q.numel() for q in model.parameters()) == expected.params


def test_generated_chain_is_formatted_as_ruff_formats_it(tmp_path: Any) -> None:
    import shutil
    import subprocess
    import sys

    ruff = [shutil.which("ruff")] if shutil.which("ruff") else [sys.executable, "-m", "ruff"]
    program = netdsl.check_source(VIT + "\n" + PATCHIFY.format(p=8), "fmt.net")
    target = tmp_path / "fmt.py"
    target.write_text(netdsl.to_pytorch(program))
    fmt = subprocess.run([*ruff, "format", "--isolated", "--diff", "--no-cache", str(target)],
                         capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    assert re.search(r"= \(\n +x\.unflatten\(3, \(-1, 8\)\)\n +\.unflatten", target.read_text())


# ---------------------------------------------------------------- einsum

LETTERS = "abcdijkB"


@st.composite
def einsum_cases(draw: Any) -> tuple[str, list[tuple[int, ...]]]:
    """Random equations: 1 to 3 operands over a few letters (sizes 1 to 4, so that some
    broadcast), a repeated letter now and then (a diagonal), an ellipsis, explicit or
    implicit output."""
    letters = draw(st.lists(st.sampled_from(LETTERS), min_size=1, max_size=5, unique=True))
    sizes = {a: draw(st.integers(1, 4)) for a in letters}
    ell_shape = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    terms, shapes = [], []
    for _ in range(draw(st.integers(1, 3))):
        term = draw(st.lists(st.sampled_from(letters), max_size=4))
        shape = [sizes[a] if draw(st.integers(0, 5)) else 1 for a in term]
        for i, a in enumerate(term):  # a repeated letter takes a diagonal: equal sizes
            shape[i] = shape[term.index(a)]
        text = "".join(term)
        if draw(st.booleans()):
            at = draw(st.integers(0, len(term)))
            ell = ell_shape[draw(st.integers(0, len(ell_shape))):]
            text = text[:at] + "..." + text[at:]
            shape = shape[:at] + list(ell) + shape[at:]
        terms.append(text)
        shapes.append(tuple(shape))
    if draw(st.integers(0, 3)) == 0:  # a size or a dimension that may not fit any more
        i = draw(st.integers(0, len(shapes) - 1))
        changed = list(shapes[i])
        if changed and draw(st.booleans()):
            changed[draw(st.integers(0, len(changed) - 1))] = draw(st.integers(1, 5))
        else:
            changed.append(draw(st.integers(1, 3)))
        shapes[i] = tuple(changed)
    equation = ",".join(terms)
    if draw(st.booleans()):
        used = sorted({a for t in terms for a in t if a.isalpha()})
        out = draw(st.permutations(used))[:draw(st.integers(0, len(used)))]
        ellipsis = "..." if any("..." in t for t in terms) and draw(st.booleans()) else ""
        equation += "->" + ellipsis + "".join(out)
    return equation, shapes


def torch_einsum(equation: str, shapes: list[tuple[int, ...]]) -> tuple[Any, int | None]:
    tensors = [torch.randn(s) for s in shapes]
    try:
        with FlopCounterMode(display=False) as counter:
            out = torch.einsum(equation, *tensors)
    except RuntimeError:
        return None, None
    return tuple(out.shape), counter.get_total_flops()


def einsum_call(equation: Any, shapes: list[tuple[Any, ...]]) -> Call:
    return Call("einsum", {"equation": equation}, [TT(s) for s in shapes], {"equation"})


@MANY
@given(einsum_cases())
def test_einsum_shapes_errors_and_flops_are_torchs(case: tuple[str, list[tuple[int, ...]]]) -> None:
    equation, shapes = case
    assume(len(shapes) <= 2 or not torch.backends.opt_einsum.is_available())
    shape, flops = torch_einsum(equation, shapes)
    call = einsum_call(equation, shapes)
    if shape is None:
        with pytest.raises(ShapeError):
            einsum_rule.rule(call)
        return
    assert tuple(einsum_rule.rule(call).outputs.shape) == shape, equation
    assert einsum_rule.flops(equation, shapes) == flops, equation


@MANY
@given(st.sampled_from(["bij,bjk->bik", "bhqd,bhkd->bhqk", "bhqk,bhkd->bhqd", "i,j->ij",
                        "bi,bj->bij", "ij,jk", "...ij,...jk->...ik", "bqd,kd->bqk"]),
       st.lists(st.integers(1, 6), min_size=6, max_size=6))
def test_einsum_flops_of_the_common_kinds(equation: str, sizes: list[int]) -> None:
    """Batched matrix products, attention scores and weighted values, outer products."""
    size = dict(zip("bhijkq", sizes, strict=True)) | {"d": sizes[0] + 1}
    terms = equation.split("->")[0].split(",")
    shapes = [tuple(size[a] for a in t.replace("...", "")) for t in terms]
    if "..." in equation:
        shapes = [(2, *s) for s in shapes]
    shape, flops = torch_einsum(equation, shapes)
    assert tuple(einsum_rule.rule(einsum_call(equation, shapes)).outputs.shape) == shape
    assert einsum_rule.flops(equation, shapes) == flops


def test_einsum_flops_in_the_check_are_flopcountermodes() -> None:
    program, model = build(VIT, "PatchEmbed")
    annotate(program.networks[0])
    node = next(n for n in program.networks[0].nodes if n.op == "einsum")
    x = torch.randn(2, 3, 32, 32)
    q, k = torch.randn(2, 16, 64), torch.randn(2, 16, 64)
    with FlopCounterMode(display=False) as counter:
        torch.einsum("bqd,bkd->bqk", q, k)
    assert at_sizes(node.meta["flops"], {"B": 2}) == counter.get_total_flops()
    with FlopCounterMode(display=False) as whole:
        model(x)
    rearrange_node = next(n for n in program.networks[0].nodes if n.op == "rearrange")
    assert rearrange_node.meta["flops"] == 0
    total = sum(at_sizes(n.meta.get("flops") or 0, {"B": 2}) for n in program.networks[0].nodes
                if n.kind in ("layer", "op"))
    assert total == whole.get_total_flops()


@pytest.mark.parametrize(("equation", "shapes", "words"), [
    ("ij,jk->ik", [(2, 3), (4, 5)], ["subscript j is 3", "4 in operand 2"]),
    ("ij,jk->ik", [(2, 3)], ["2 operands", "1 tensor"]),
    ("ii->i", [(2, 3)], ["i is repeated in operand 1", "2 and 3"]),
    ("ij->iz", [(2, 3)], ["z is in no operand"]),
    ("ij->ii", [(2, 3)], ["i appears twice in the output"]),
    ("i1->i", [(2, 3)], ["'1'", "not a subscript"]),
    ("ij.->i", [(2, 3)], ["not part of '...'"]),
    ("ijk->i", [(2, 3)], ["3 subscripts for its 2 dimensions"]),
])
def test_einsum_errors_are_torchs_in_short(equation: str, shapes: list[tuple[int, ...]],
                                          words: list[str]) -> None:
    with pytest.raises(RuntimeError):
        torch.einsum(equation, *[torch.randn(s) for s in shapes])
    with pytest.raises(ShapeError) as caught:
        einsum_rule.rule(einsum_call(equation, shapes))
    for word in words:
        assert word in caught.value.message, caught.value.message


def test_einsum_generated_code_writes_the_equation_as_a_literal() -> None:
    source = ('network N(a: [B, 4, 8], b: [B, 4, 8]):\n'
              '    (a, b) -> einsum("bid, bjd -> bij")\n')
    code = netdsl.to_pytorch(netdsl.check_source(source))
    assert 'torch.einsum("bid, bjd -> bij", a, b)' in code
    hostile = ('network N(a: [B, 4, 8]):\n'
               '    a -> einsum("bid\\"); import os; (\\"")\n')
    with pytest.raises(netdsl.NetDSLError, match="not a subscript"):
        netdsl.check_source(hostile)


@pytest.mark.parametrize(("pattern", "x_dims", "y_dims", "spelling"), [
    ("b ... c -> c b (...)", [3, 4], [3, 4, 5], "x.movedim((-1, 0), (0, 1)).flatten(2, -1)"),
    ("b ... -> b (...)", [], [3, 4], "x.unsqueeze(1).flatten(1, -1)"),  # empty at one use
], ids=["two-ranks", "ellipsis-empty-at-one-use"])
def test_a_block_used_at_two_ranks_has_one_spelling(pattern: str, x_dims: list[int],
                                                    y_dims: list[int], spelling: str) -> None:
    header = ", ".join(["B", *map(str, x_dims)]), ", ".join(["B", *map(str, y_dims)])
    source = (f"block Flat(x):\n    x -> rearrange(\"{pattern}\")\n\n"
              f"network N(x: [{header[0]}], y: [{header[1]}]):\n"
              "    return x -> Flat, y -> Flat\n")
    program, model = build(source, "N")
    x, y = torch.randn(2, *x_dims), torch.randn(2, *y_dims)
    with torch.no_grad():
        a, b = model(x, y)
    assert torch.equal(a, einops.rearrange(x, pattern))
    assert torch.equal(b, einops.rearrange(y, pattern))
    assert spelling in netdsl.to_pytorch(program)


def test_a_pattern_from_a_hyperparameter_specialises_the_class() -> None:
    """The pattern decides the methods, so a class cannot follow another pattern: it does
    not offer that hyperparameter (never accepted and ignored); a size still is one."""
    source = ('network N(pat="b c -> c b", k=2)(x: [8, 4]):\n'
              '    x -> rearrange(pat) -> rearrange("c (b k) -> c b k", k=k)\n')
    program, _ = build(source, "N")
    assert "Specialised for pat=" in netdsl.to_pytorch(program)
    with pytest.raises(TypeError):
        netdsl.build(program, "N")(pat="b c -> b c")
    x = torch.randn(8, 4)
    with torch.no_grad():
        out = netdsl.build(program, "N")(k=4)(x)
    assert torch.equal(out, einops.rearrange(x, "b c -> c b").unflatten(1, (-1, 4)))
