"""The tensor operations of v2 against PyTorch itself: elementwise maths, operators and
comparisons, masks, selections, broadcasting and reordering.

For random shapes, dtypes and arguments, hypothesis writes a one-line network, netdsl checks
it, and torch runs the same operation on random tensors of those shapes and dtypes: the
shapes and dtypes must be torch's where torch runs, and a located netdsl error where torch
raises. The cost model's figures for the operation (FLOPs, output bytes) must be what
FlopCounterMode and the tensors themselves give. End to end, a network using every
operation is compiled, run, traced with torch.fx and scripted with TorchScript.
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from test_families_torch import agree_symbolic
from test_layers_torch import SETTINGS, lit, shape_of
from torch.utils.flop_counter import FlopCounterMode

import netdsl
from netdsl.cost import annotate
from netdsl.render import py_literal
from netdsl.tensor_rules import canonical

TORCH_DTYPES = {"float": torch.float32, "double": torch.float64, "half": torch.float16,
                "bfloat16": torch.bfloat16, "long": torch.int64, "int": torch.int32,
                "int16": torch.int16, "int8": torch.int8, "uint8": torch.uint8,
                "bool": torch.bool}
NAMES = {v: k for k, v in TORCH_DTYPES.items()}
dtypes = st.sampled_from(sorted(TORCH_DTYPES))
NUMERIC = sorted(set(TORCH_DTYPES) - {"bool"})

Input = tuple[tuple[int, ...], str]  # a shape and a dtype


def tensor(shape: tuple[int, ...], dtype: str) -> torch.Tensor:
    """Values that no operation here rejects for their values alone: integers from 1 to 3
    (no division by zero, no negative powers), floats around 1."""
    if dtype == "bool":
        return torch.rand(shape) > 0.5
    if dtype in ("float", "double", "half", "bfloat16"):
        return (torch.rand(shape) + 0.5).to(TORCH_DTYPES[dtype])
    return torch.randint(1, 4, shape, dtype=TORCH_DTYPES[dtype])


def header(inputs: list[Input]) -> str:
    return ", ".join(f"x{i}: {'' if dtype == 'float' else dtype}[{', '.join(map(str, shape))}]"
                     for i, (shape, dtype) in enumerate(inputs))


def netdsl_types(expression: str, inputs: list[Input]) -> Any:
    """('ok', [(shape, dtype)], the network) or ('error', message)."""
    source = f"network T({header(inputs)}):\n    return {expression}\n"
    try:
        program = netdsl.check_source(source, "t.net")
    except netdsl.NetDSLError as err:
        for d in err.diagnostics:
            assert d.line >= 1 and d.column >= 1, f"unlocated error: {d.message}"
        return ("error", err.diagnostics[0].message)
    net = program.networks[0]
    return ("ok", [(tuple(int(d) for d in tt.shape), canonical(tt.dtype))
                   for tt in net.outputs], net)


def flat(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    return [t for item in value for t in flat(item)]


def torch_types(fn: Callable[..., Any], inputs: list[Input]) -> Any:
    tensors = [tensor(shape, dtype) for shape, dtype in inputs]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # where's uint8 condition is deprecated
            with FlopCounterMode(display=False) as counter:
                out = flat(fn(*tensors))
    except Exception as exc:  # torch rejects the call: netdsl must reject it too
        return ("error", f"{type(exc).__name__}: {exc}")
    return ("ok", [(tuple(t.shape), NAMES[t.dtype]) for t in out],
            counter.get_total_flops(), sum(t.numel() * t.element_size() for t in out))


def agree(expression: str, fn: Callable[..., Any], inputs: list[Input]) -> Any:
    got = netdsl_types(expression, inputs)
    want = torch_types(fn, inputs)
    if want[0] == "ok" and any(0 in shape for shape, _ in want[1]):
        # torch returns an empty tensor; the contract rejects sizes that reach zero
        assert got[0] == "error", f"{expression} on {inputs} reaches size 0; netdsl: {got}"
        return got
    if want[0] == "error":
        assert got[0] == "error", f"torch rejects {expression} on {inputs} ({want[1]}); " \
                                  f"netdsl gives {got[1]}"
        return got
    assert got[0] == "ok", f"torch runs {expression} on {inputs}; netdsl: {got[1]}"
    assert got[1] == want[1], f"{expression} on {inputs}: netdsl {got[1]}, torch {want[1]}"
    cost = annotate(got[2])
    node = [n for n in got[2].nodes if n.kind == "op"][-1]
    assert cost.flops == node.meta["flops"] == want[2]
    assert node.meta["output_bytes"] == want[3]
    return got


def one(expression: str, fn: Callable[..., Any], shape: tuple[int, ...], dtype: str) -> Any:
    return agree(expression, fn, [(shape, dtype)])


def broadcastable(draw: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that mostly broadcasts with `shape` (some dimensions 1, some dropped in
    front), and sometimes does not."""
    out = [1 if draw(st.integers(0, 3)) == 0 else d for d in shape]
    if draw(st.integers(0, 5)) == 0 and out:
        out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(2, 4))
    return tuple(out[draw(st.integers(0, len(out))):])


# ---------------------------------------------------------------- elementwise stages

UNARY = ("exp", "log", "sqrt", "rsqrt", "sin", "cos", "reciprocal", "abs", "neg", "floor",
         "ceil", "round", "sign", "logical_not")


@SETTINGS
@given(st.data())
def test_elementwise_maths_keep_the_shape_and_take_torchs_dtype(data: Any) -> None:
    d = data.draw
    name = d(st.sampled_from(UNARY))
    one(f"x0 -> {name}", getattr(torch, name), shape_of(d, d(st.integers(1, 4)), 1, 4),
        d(dtypes))


bounds = st.one_of(st.none(), st.integers(-3, 3), st.floats(-3, 3).map(lambda v: round(v, 2)),
                   st.booleans())


@SETTINGS
@given(st.data())
def test_clamp(data: Any) -> None:
    d = data.draw
    low, high = d(bounds), d(bounds)
    given_args = {k: v for k, v in (("min", low), ("max", high)) if v is not None}
    args = ", ".join(f"{k}={lit(v)}" for k, v in given_args.items())
    one(f"x0 -> clamp({args})" if args else "x0 -> clamp",
        lambda x: torch.clamp(x, min=low, max=high), shape_of(d, d(st.integers(1, 3)), 1, 4),
        d(dtypes))


@SETTINGS
@given(st.data())
def test_pow_stage_and_operator(data: Any) -> None:
    d = data.draw
    exponent = d(st.one_of(st.integers(-2, 3), st.sampled_from([0.5, -1.5, 2.0])))
    shape, dtype = shape_of(d, d(st.integers(1, 3)), 1, 4), d(dtypes)
    one(f"x0 -> pow({lit(exponent)})", lambda x: torch.pow(x, exponent), shape, dtype)
    one(f"x0 ** {lit(exponent)}", lambda x: x ** exponent, shape, dtype)
    one(f"{lit(exponent)} ** x0", lambda x: exponent ** x, shape, dtype)


@SETTINGS
@given(st.data())
def test_tril_triu(data: Any) -> None:
    d = data.draw
    name = d(st.sampled_from(["tril", "triu"]))
    diagonal = d(st.integers(-3, 3))
    one(f"x0 -> {name}(diagonal={diagonal})", lambda x: getattr(torch, name)(x, diagonal),
        shape_of(d, d(st.integers(1, 4)), 1, 4), d(dtypes))


# ---------------------------------------------------------------- operators and comparisons

OPERATORS = ("+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=")
numbers = st.one_of(st.integers(1, 3), st.sampled_from([0.5, 2.5]), st.booleans())


def python_operator(symbol: str) -> Callable[[Any, Any], Any]:
    return {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
            "//": operator.floordiv, "%": operator.mod, "**": operator.pow, "==": operator.eq,
            "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
            ">=": operator.ge}[symbol]


@SETTINGS
@given(st.data())
def test_operators_between_tensors_and_numbers(data: Any) -> None:
    d = data.draw
    symbol = d(st.sampled_from(OPERATORS))
    apply = python_operator(symbol)
    a = shape_of(d, d(st.integers(1, 3)), 1, 4)
    left, right = d(dtypes), d(dtypes)
    form = d(st.sampled_from(["tensors", "number right", "number left"]))
    if form == "tensors":
        agree(f"x0 {symbol} x1", apply, [(a, left), (broadcastable(d, a), right)])
        return
    number = d(numbers)
    if isinstance(number, bool) and symbol not in ("==", "!=", "<", "<=", ">", ">="):
        number = int(number)  # netdsl takes true/false as a number only in a comparison
    if form == "number right":
        one(f"x0 {symbol} {lit(number)}", lambda x: apply(x, number), a, left)
    else:
        one(f"{lit(number)} {symbol} x0", lambda x: apply(number, x), a, left)


@SETTINGS
@given(dtypes, st.integers(1, 3))
def test_unary_minus(dtype: str, rank: int) -> None:
    one("-x0", lambda x: -x, (2,) * rank, dtype)


def test_a_chain_of_tensor_comparisons_is_an_error() -> None:
    got = netdsl_types("0 < x0 < 1", [((2, 3), "float")])
    assert got[0] == "error" and "one pair at a time" in got[1]


# ---------------------------------------------------------------- masks


@SETTINGS
@given(st.data())
def test_where(data: Any) -> None:
    d = data.draw
    shape = shape_of(d, d(st.integers(1, 3)), 1, 4)
    condition = d(st.sampled_from(["bool", "bool", "uint8", "float", "long"]))
    inputs = [(broadcastable(d, shape), condition), (shape, d(dtypes)),
              (broadcastable(d, shape), d(dtypes))]
    agree("(x0, x1, x2) -> where", torch.where, inputs)


fill_values = st.one_of(st.integers(-300, 300), st.sampled_from([0.5, -1e9, 1e30, -1e39, 70000.0]),
                        st.booleans())


@SETTINGS
@given(st.data())
def test_masked_fill(data: Any) -> None:
    d = data.draw
    shape = shape_of(d, d(st.integers(1, 3)), 1, 4)
    mask = d(st.sampled_from(["bool", "bool", "bool", "uint8", "float"]))
    value = d(fill_values)
    agree(f"(x0, x1) -> masked_fill({lit(value)})", lambda x, m: x.masked_fill(m, value),
          [(shape, d(dtypes)), (broadcastable(d, shape), mask)])


# ---------------------------------------------------------------- selections


@SETTINGS
@given(st.data())
def test_argmax_argmin(data: Any) -> None:
    d = data.draw
    shape = shape_of(d, d(st.integers(1, 3)), 1, 4)
    name = d(st.sampled_from(["argmax", "argmin"]))
    dim = d(st.one_of(st.none(), st.integers(-len(shape) - 1, len(shape))))
    keepdim = d(st.booleans())
    one(f"x0 -> {name}(dim={lit(dim)}, keepdim={lit(keepdim)})",
        lambda x: getattr(torch, name)(x, dim=dim, keepdim=keepdim), shape, d(dtypes))


@SETTINGS
@given(st.data())
def test_max_min_amin(data: Any) -> None:
    d = data.draw
    shape = shape_of(d, d(st.integers(1, 3)), 1, 4)
    name = d(st.sampled_from(["max", "min", "amin"]))
    dim = d(st.integers(-len(shape) - 1, len(shape)))
    keepdim = d(st.booleans())
    one(f"x0 -> {name}(dim={dim}, keepdim={lit(keepdim)})",
        lambda x: getattr(torch, name)(x, dim=dim, keepdim=keepdim), shape, d(dtypes))


def test_max_gives_values_and_indices_to_unpack() -> None:
    source = ("network T(x: [B, 5, 7]):\n    values, indices = x -> max(dim=1)\n"
              "    return values, indices\n")
    program = netdsl.check_source(source, "t.net")
    assert [str(tt) for tt in program.networks[0].outputs] == ["[B, 7]", "long[B, 7]"]
    values, indices = netdsl.build(program, "T")()(torch.randn(3, 5, 7))
    assert (values.dtype, indices.dtype) == (torch.float32, torch.int64)
    assert tuple(values.shape) == tuple(indices.shape) == (3, 7)


@SETTINGS
@given(st.data())
def test_topk(data: Any) -> None:
    d = data.draw
    shape = shape_of(d, d(st.integers(1, 3)), 1, 5)
    k = d(st.integers(-1, 6))
    dim = d(st.integers(-len(shape) - 1, len(shape)))
    largest, ordered = d(st.booleans()), d(st.booleans())
    one(f"x0 -> topk({k}, dim={dim}, largest={lit(largest)}, sorted={lit(ordered)})",
        lambda x: torch.topk(x, k, dim=dim, largest=largest, sorted=ordered), shape, d(dtypes))


# ---------------------------------------------------------------- broadcasting and reordering


@SETTINGS
@given(st.data())
def test_expand_and_view_after_it(data: Any) -> None:
    d = data.draw
    shape = tuple(d(st.sampled_from([1, 1, 2, 3])) for _ in range(d(st.integers(1, 3))))
    sizes: list[int] = [d(st.sampled_from([1, 2, 3, -1])) for _ in range(d(st.integers(0, 2)))]
    for size in shape:
        sizes.append(d(st.sampled_from([-1, size, size, 2, 3, 4, 0, -2])))
    as_tuple = d(st.booleans())
    written = lit(tuple(sizes)) if as_tuple else ", ".join(map(str, sizes))
    after = d(st.sampled_from(["", " -> view(-1)", " -> exp -> view(-1)"]))
    dtype = d(st.sampled_from(["float", "long", "bool"]))

    def run(x: torch.Tensor) -> torch.Tensor:
        y = x.expand(*sizes)
        if "exp" in after:
            y = torch.exp(y)
        return y.view(-1) if after else y
    one(f"x0 -> expand({written}){after}", run, shape, dtype)


@SETTINGS
@given(st.data())
def test_expand_as(data: Any) -> None:
    d = data.draw
    target = shape_of(d, d(st.integers(1, 3)), 1, 4)
    agree("(x0, x1) -> expand_as", lambda a, b: a.expand_as(b),
          [(broadcastable(d, target), d(dtypes)), (target, d(dtypes))])


@SETTINGS
@given(st.data())
def test_repeat(data: Any) -> None:
    d = data.draw
    shape = shape_of(d, d(st.integers(1, 3)), 1, 3)
    counts = [d(st.integers(-1, 3)) for _ in range(d(st.integers(max(len(shape) - 1, 0),
                                                                 len(shape) + 2)))]
    one(f"x0 -> repeat({', '.join(map(str, counts))})" if counts else "x0 -> repeat",
        lambda x: x.repeat(*counts), shape, d(dtypes))


@SETTINGS
@given(st.data())
def test_flip(data: Any) -> None:
    d = data.draw
    shape = shape_of(d, d(st.integers(1, 3)), 1, 4)
    dims = [d(st.integers(-len(shape) - 1, len(shape))) for _ in range(d(st.integers(1, 3)))]
    one(f"x0 -> flip({', '.join(map(str, dims))})", lambda x: x.flip(*dims), shape, d(dtypes))


@SETTINGS
@given(st.data())
def test_roll(data: Any) -> None:
    d = data.draw
    shape = shape_of(d, d(st.integers(1, 3)), 1, 4)
    shifts: Any = d(st.one_of(st.integers(-5, 5), st.lists(st.integers(-5, 5), min_size=1,
                                                           max_size=3).map(tuple)))
    dims: Any = d(st.one_of(st.none(), st.integers(-len(shape) - 1, len(shape)),
                            st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1,
                                     max_size=3).map(tuple)))
    written = f"roll({lit(shifts)})" if dims is None else f"roll({lit(shifts)}, dims={lit(dims)})"
    one(f"x0 -> {written}", lambda x: torch.roll(x, shifts, dims), shape, d(dtypes))


# ---------------------------------------------------------------- symbolic sizes


@pytest.mark.parametrize("batch", [1, 3])
def test_expand_to_a_symbolic_batch_compiles_and_runs(batch: int) -> None:
    source = ("network T(x: [B, 4, 8], c: [1, 1, 8]):\n    cls = c -> expand(B, -1, -1)\n"
              "    return (cls, x) -> cat(dim=1)\n")
    program = netdsl.check_source(source, "t.net")
    assert str(program.networks[0].outputs[0]) == "[B, 5, 8]"
    out = netdsl.build(program, "T")()(torch.randn(batch, 4, 8), torch.randn(1, 1, 8))
    assert tuple(out.shape) == (batch, 5, 8)


@pytest.mark.parametrize(("k", "ok"), [(1, True), (2, False)])
def test_topk_over_a_symbolic_dimension_needs_its_size(k: int, ok: bool) -> None:
    # torch's answer depends on T for k = 2 (it raises at T = 1), never for k = 1
    runs = []
    for t in (1, 2, 5):
        try:
            torch.topk(torch.randn(2, t), k, dim=1)
            runs.append(True)
        except RuntimeError:
            runs.append(False)
    assert all(runs) is ok
    source = f"network T(x: [B, T]):\n    return x -> topk({k}, dim=1)\n"
    if ok:
        netdsl.check_source(source, "t.net")
    else:
        with pytest.raises(netdsl.NetDSLError, match="known only at run time"):
            netdsl.check_source(source, "t.net")


# ---------------------------------------------------------------- end to end

EVERY_OP = """\
network Ops(x: [B, 4, 6], tokens: long[B, 6], c: [1, 1, 6], m: [6, 6]):
    a = x -> exp -> log -> abs -> sqrt -> rsqrt -> sin -> cos -> reciprocal
    b = x -> neg -> floor -> ceil -> round -> sign -> clamp(min=-0.5, max=0.5) -> pow(2)
    keep = (x > 0) -> logical_not
    picked = (keep, a, b) -> where
    filled = (x, (tokens -> unsqueeze(1)) == 0) -> masked_fill(-1e9)
    triangles = (m -> tril) + (m -> triu(diagonal=1))
    index = x -> argmax(dim=2)
    lowest = x -> argmin(dim=1, keepdim=true)
    values, indices = x -> max(dim=1)
    small, small_at = x -> min(dim=2, keepdim=true)
    top, top_at = x -> topk(2, dim=2)
    least = x -> amin(dim=(1, 2))
    cls = c -> expand(B, -1, -1)
    tiled = c -> repeat(2, 4, 1)
    turned = x -> flip(1) -> roll(1, dims=2)
    grown = (c, x) -> expand_as
    powers = x ** 2 + 2 ** -x - (x != 0) * 1.5 + (x >= 0.5) + -x ** 2
    return (picked, filled, triangles, index, lowest, values, indices, small, small_at, top,
            top_at, least, (cls, x) -> cat(dim=1), tiled, turned, grown, powers)
"""


def every_op_inputs(batch: int) -> list[torch.Tensor]:
    return [torch.randn(batch, 4, 6), torch.randint(0, 3, (batch, 6)), torch.randn(1, 1, 6),
            torch.randn(6, 6)]


def assert_same(a: Any, b: Any) -> None:
    for x, y in zip(flat(a), flat(b), strict=True):
        torch.testing.assert_close(x, y, equal_nan=True)


@pytest.mark.parametrize("batch", [1, 3])
def test_a_network_of_every_op_runs_with_the_shapes_and_dtypes_check_gives(batch: int) -> None:
    program = netdsl.check_source(EVERY_OP, "ops.net")
    net = program.networks[0]
    model = netdsl.build(program, "Ops")()
    inputs = every_op_inputs(batch)
    with FlopCounterMode(display=False) as counter:
        outputs = flat(model(*inputs))
    assert [(tuple(t.shape), NAMES[t.dtype]) for t in outputs] == [
        (tuple(d if isinstance(d, int) else d.evaluate({"B": batch}) for d in tt.shape),
         canonical(tt.dtype)) for tt in net.outputs]
    cost = annotate(net)
    assert cost.flops == counter.get_total_flops() == 0


def test_every_op_passes_fx_torchscript_and_export() -> None:
    program = netdsl.check_source(EVERY_OP, "ops.net")
    model = netdsl.build(program, "Ops")().eval()
    inputs = every_op_inputs(2)
    with torch.no_grad():
        expected = model(*inputs)
        assert_same(torch.fx.symbolic_trace(model)(*inputs), expected)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript's deprecation notice
            assert_same(torch.jit.script(model)(*inputs), expected)
        exported = torch.export.export(model, tuple(inputs))
        assert_same(exported.module()(*inputs), expected)


def test_generated_code_writes_operators_as_ruff_formats_them() -> None:
    code = netdsl.to_pytorch(netdsl.check_source(EVERY_OP, "ops.net"))
    assert "x**2 + 2**-x - (x != 0) * 1.5 + (x >= 0.5) + -(x**2)" in code
    assert "x.masked_fill(tokens.unsqueeze(1) == 0, -1000000000.0)" in code
    assert "c.expand(B, -1, -1)" in code


@SETTINGS
@given(st.data())
def test_symbolic_batch_where_torchs_answer_does_not_depend_on_it(data: Any) -> None:
    """With B symbolic: where torch gives the same shapes for every B, netdsl gives them as
    functions of B; where torch's answer depends on B, netdsl refuses."""
    d = data.draw
    rest = shape_of(d, d(st.integers(1, 2)), 1, 3)
    rank = len(rest) + 1
    which = d(st.sampled_from(["expand", "repeat", "topk", "max", "argmax", "flip", "roll"]))
    if which == "expand":
        sizes: list[Any] = [d(st.sampled_from(["B", -1, 1, 2]))]
        sizes += [d(st.sampled_from([-1, size, 2])) for size in rest]
        body = f"expand({', '.join(map(str, sizes))})"

        def fn(b: int) -> Any:
            return torch.randn(b, *rest).expand(*[b if s == "B" else s for s in sizes])
    elif which == "repeat":
        counts = [d(st.integers(1, 3)) for _ in range(rank)]
        body = f"repeat({', '.join(map(str, counts))})"

        def fn(b: int) -> Any:
            return torch.randn(b, *rest).repeat(*counts)
    elif which in ("topk", "max", "argmax"):
        dim = d(st.integers(-rank, rank - 1))
        k = d(st.integers(1, 3))
        body = f"topk({k}, dim={dim})" if which == "topk" else f"{which}(dim={dim})"

        def fn(b: int) -> Any:
            x = torch.randn(b, *rest)
            return torch.topk(x, k, dim=dim) if which == "topk" else getattr(torch, which)(
                x, dim=dim)
    else:
        dim = d(st.integers(-rank, rank - 1))
        body = f"flip({dim})" if which == "flip" else f"roll(2, dims={dim})"

        def fn(b: int) -> Any:
            x = torch.randn(b, *rest)
            return x.flip(dim) if which == "flip" else torch.roll(x, 2, dim)
    agree_symbolic(body, ["B", *map(str, rest)], fn)


# ---------------------------------------------------------------- literals and precedence


@pytest.mark.parametrize("value", [math.inf, -math.inf, -1e9])
def test_a_float_is_written_as_torch_only_code_that_scripts(value: float) -> None:
    code = py_literal(value)
    source = f"def fill(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:\n" \
             f"    return x.masked_fill(m, {code})\n"
    scope: dict[str, Any] = {"torch": torch}
    exec(source, scope)  # the generated files import torch and nothing else
    x, m = torch.zeros(3), torch.tensor([True, False, True])
    for fill in (scope["fill"], torch.jit.CompilationUnit(source).fill):
        want = torch.zeros(3).masked_fill(m, value)
        torch.testing.assert_close(fill(x, m), want, equal_nan=True)


@pytest.mark.parametrize("expression", ["2 ** 3 ** 2 // 64", "-2 ** 2 + 12", "(-2) ** 2 * 2",
                                        "2 ** -1 * 16", "0 * 3 ** 2 + 2 ** 2"])
def test_power_binds_as_in_python(expression: str) -> None:
    want = eval(expression)  # the same text, as Python reads it
    got = netdsl_types(f"x0 -> linear({expression})", [((2, 4), "float")])
    if isinstance(want, float):  # 2 ** -1 is 0.5: a size must be an integer
        assert got[0] == "error" and "must be an integer" in got[1]
    else:
        assert got[0] == "ok" and got[1] == [((2, want), "float")], got


def test_fmt_spaces_power_and_comparisons_like_the_other_operators() -> None:
    from netdsl.fmt import format_source

    source = "network T(x: [B, 4]):\n    y = x**2 + 2 ** -x\n    return (y, x==0)\n"
    assert format_source(source, "t.net") == (
        "network T(x: [B, 4]):\n    y = x ** 2 + 2 ** -x\n    return (y, x == 0)\n")


def test_a_uint8_condition_is_accepted_with_torchs_deprecation_warning() -> None:
    # torch warns once per process (TORCH_WARN_ONCE), so test_where may have seen it first
    program = netdsl.check_source("network T(m: uint8[2, 3], a: [2, 3]):\n"
                                  "    return (m, a, a) -> where\n", "t.net")
    assert any("deprecates" in w.message for w in program.warnings)


@SETTINGS
@given(st.data())
def test_elementwise_results_keep_a_permuted_layout_as_torch_does(data: Any) -> None:
    """`view` after an elementwise op of a permuted tensor fails in torch exactly when it
    fails on the permuted tensor itself: the op keeps the layout."""
    d = data.draw
    shape = shape_of(d, d(st.integers(2, 3)), 1, 4)
    order = d(st.permutations(range(len(shape))))
    op, fn = d(st.sampled_from([
        ("exp", torch.exp), ("logical_not", torch.logical_not), ("clamp(min=0.0)",
                                                                  lambda x: x.clamp(min=0.0)),
        ("pow(2)", lambda x: x.pow(2))]))
    form = d(st.sampled_from(["stage", "operator", "comparison"]))
    permute = f"x0 -> permute({', '.join(map(str, order))})"
    if form == "stage":
        expression, apply = f"{permute} -> {op} -> view(-1)", fn
    elif form == "operator":
        expression, apply = f"({permute}) * 2 -> view(-1)", (lambda x: x * 2)
    else:
        expression, apply = f"(({permute}) == 0) -> view(-1)", (lambda x: x == 0)
    one(expression, lambda x: apply(x.permute(*order)).view(-1), shape, "float")
