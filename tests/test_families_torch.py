"""Differential tests by layer family, rejections included: hypothesis generates the
arguments, torch runs them, and netdsl must agree (test_layers_torch.py covers each layer's
plain use; these go after the options and the inputs that used to disagree).

Symbolic sizes are compared by running torch at several values of the symbol: where torch's
answer does not depend on the value, netdsl must give it; where it does, netdsl must refuse
(the shape is unknown before run time).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from test_layers_torch import SETTINGS, agree, call, shape_of
from torch import nn

import netdsl

BATCHES = (1, 2, 3, 4, 6)  # values tried for the symbolic B


def netdsl_symbolic(body: str, dims: list[str], dtype: str = "float") -> Any:
    """Check `x -> body` for an input [dims...] (names are symbolic): ('ok', shapes as
    functions of B) or ('error', message)."""
    prefix = "" if dtype == "float" else dtype
    source = f"network T(x: {prefix}[{', '.join(dims)}]):\n    x -> {body}\n"
    try:
        net = netdsl.check_source(source, "t.net").networks[0]
    except netdsl.NetDSLError as err:
        diag = err.diagnostics[0]
        assert diag.line >= 1 and diag.column >= 1, diag.message
        return ("error", diag.message)
    return ("ok", [tt.shape for tt in net.outputs], [tt.dtype for tt in net.outputs])


def evaluate(shape: Any, b: int) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else d.evaluate({"B": b}) for d in shape)


def torch_at(fn: Callable[[int], Any]) -> dict[int, Any]:
    """torch's output shapes at each batch size, or None where it raises."""
    out: dict[int, Any] = {}
    for b in BATCHES:
        try:
            result = fn(b)
        except (RuntimeError, ValueError, TypeError, IndexError, NotImplementedError):
            out[b] = None
            continue
        result = result if isinstance(result, tuple) else (result,)
        out[b] = [tuple(t.shape) for t in result]
    return out


def agree_symbolic(body: str, dims: list[str], fn: Callable[[int], Any]) -> None:
    got = netdsl_symbolic(body, dims)
    want = torch_at(fn)
    if all(v is not None for v in want.values()):
        assert got[0] == "ok", f"torch runs {body} on {dims} for every B; netdsl: {got[1]}"
        for b, shapes in want.items():
            assert [evaluate(s, b) for s in got[1]] == shapes, (body, dims, b, got[1])
    else:
        assert got[0] == "error", f"torch rejects {body} on {dims} for some B ({want}); " \
                                  f"netdsl gives {got[1]}"


# ---------------------------------------------------------------- reshape and view


@SETTINGS
@given(st.data())
def test_reshape_and_view_with_minus_one_and_symbols(data: Any) -> None:
    d = data.draw
    rest = shape_of(d, d(st.integers(1, 3)), 1, 6)
    op = d(st.sampled_from(["view", "reshape"]))
    total = 1
    for s in rest:
        total *= s
    sizes: list[Any] = [d(st.sampled_from([1, 2, 3, 4, 6, total, 2 * total]))
                        for _ in range(d(st.integers(0, 2)))]
    sizes.insert(d(st.integers(0, len(sizes))), -1)
    keep_batch = d(st.booleans())
    if keep_batch:
        sizes.insert(d(st.integers(0, len(sizes))), "B")
    body = f"{op}({', '.join(map(str, sizes))})"
    agree_symbolic(body, ["B", *map(str, rest)],
                   lambda b: getattr(torch.randn(b, *rest), op)(
                       *[b if s == "B" else s for s in sizes]))


@SETTINGS
@given(st.data())
def test_view_after_permute_transpose_chunk(data: Any) -> None:
    d = data.draw
    rest = shape_of(d, d(st.integers(2, 3)), 1, 4)
    rank = len(rest) + 1
    axes = [0, *d(st.permutations(range(1, rank)))]
    a, b_ = d(st.integers(1, rank - 1)), d(st.integers(1, rank - 1))
    first: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        f"permute({', '.join(map(str, axes))})": lambda x: x.permute(*axes),
        f"transpose({a}, {b_})": lambda x: x.transpose(a, b_),
        "transpose(1, -1) -> relu": lambda x: torch.relu(x.transpose(1, -1)),
        "transpose(1, -1) -> layernorm":
            lambda x: F.layer_norm(x.transpose(1, -1), (x.shape[1],)),
    }
    pre = d(st.sampled_from(sorted(first)))
    fn = first[pre]
    then = d(st.sampled_from(["flatten", "merge", "split", "same"]))
    if then == "flatten":
        post, sizes = "view(B, -1)", ("B", -1)
    elif then == "merge":
        post, sizes = "view(-1)", (-1,)
    elif then == "split":
        post, sizes = "view(B, -1, 1)", ("B", -1, 1)
    else:
        post, sizes = None, None
    body = pre if post is None else f"{pre} -> {post}"

    def run(b: int) -> Any:
        y = fn(torch.randn(b, *rest))
        return y if sizes is None else y.view(*[b if s == "B" else s for s in sizes])
    agree_symbolic(body, ["B", *map(str, rest)], run)


# ---------------------------------------------------------------- pools


@SETTINGS
@given(st.data())
def test_pools_with_dilation_padding_and_ceil_mode(data: Any) -> None:
    d = data.draw
    n = d(st.integers(1, 3))
    shape = (d(st.integers(1, 2)), d(st.integers(1, 3)), *shape_of(d, n, 1, 9 if n < 3 else 6))
    k = d(st.integers(1, 5))
    stride = d(st.one_of(st.none(), st.integers(1, 3)))
    padding = d(st.integers(0, 3))
    ceil = d(st.booleans())
    if d(st.booleans()):
        dilation = d(st.integers(1, 3))
        indices = d(st.booleans())
        stage = call("maxpool", k, stride=stride, padding=padding, dilation=dilation,
                     ceil_mode=ceil, return_indices=indices)
        cls = getattr(nn, f"MaxPool{n}d")
        agree(stage, lambda: cls(k, stride=stride, padding=padding, dilation=dilation,
                                 ceil_mode=ceil, return_indices=indices), [shape])
    else:
        include = d(st.booleans())
        divisor = d(st.sampled_from([None, 0, 1, 3, -2])) if n > 1 else None
        stage = call("avgpool", k, stride=stride, padding=padding, ceil_mode=ceil,
                     count_include_pad=include, divisor_override=divisor)
        cls = getattr(nn, f"AvgPool{n}d")
        extra = {"divisor_override": divisor} if n > 1 else {}
        agree(stage, lambda: cls(k, stride=stride, padding=padding, ceil_mode=ceil,
                                 count_include_pad=include, **extra), [shape])


# ---------------------------------------------------------------- attention


class Attention(nn.Module):
    """nn.MultiheadAttention as netdsl applies it: (x, x, x) for one input."""

    def __init__(self, attention: nn.MultiheadAttention) -> None:
        super().__init__()
        self.attention = attention

    def forward(self, *inputs: torch.Tensor) -> Any:
        q, k, v = inputs if len(inputs) == 3 else inputs * 3
        return self.attention(q, k, v)


@SETTINGS
@given(st.data())
def test_attention_options(data: Any) -> None:
    d = data.draw
    e = d(st.sampled_from([2, 4, 6, 8]))
    heads = d(st.integers(1, 4))
    options = {"bias": d(st.booleans()), "add_bias_kv": d(st.booleans()),
               "add_zero_attn": d(st.booleans()), "batch_first": d(st.booleans())}
    batched = d(st.booleans())
    lead = shape_of(d, 2 if batched else 1, 1, 4)
    if d(st.booleans()):  # query, key and value, with their own widths
        kdim, vdim = d(st.sampled_from([e, 3, 5])), d(st.sampled_from([e, 3, 7]))
        src = d(st.integers(1, 4))
        klead = (lead[0], src) if batched and options["batch_first"] else (
            (src, lead[1]) if batched else (src,))
        shapes = [(*lead, e), (*klead, kdim), (*klead, vdim)]
        kw = {"kdim": kdim, "vdim": vdim} if (kdim, vdim) != (e, e) else {}
    else:
        shapes, kw = [(*lead, e)], {}
    agree(call("multihead_attention", heads, **options, **kw),
          lambda: Attention(nn.MultiheadAttention(e, heads, **options, **kw)), shapes)


# ---------------------------------------------------------------- reductions


@SETTINGS
@given(st.data())
def test_reductions(data: Any) -> None:
    d = data.draw
    shape = shape_of(d, d(st.integers(1, 4)), 1, 4)
    rank = len(shape)
    name = d(st.sampled_from(["mean", "sum", "amax"]))
    dim = d(st.one_of(st.none(), st.integers(-rank - 1, rank),
                      st.lists(st.integers(-rank, rank - 1), max_size=3).map(tuple)))
    keep = d(st.booleans())
    dtype = d(st.sampled_from(["float", "long"]))
    fn = getattr(torch, name)
    agree(call(name, dim=dim, keepdim=keep), lambda: (lambda x: fn(x, dim=dim, keepdim=keep)),
          [shape], dtype)


# ---------------------------------------------------------------- padding modes


@SETTINGS
@given(st.data())
def test_padding_modes(data: Any) -> None:
    d = data.draw
    shape = shape_of(d, d(st.integers(1, 5)), 1, 5)
    mode = d(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    pads = tuple(d(st.lists(st.integers(-2, 5), min_size=1, max_size=3)
                   .map(lambda v: [p for x in v for p in (x, x - 1 if x > 0 else x)])))
    agree(call("pad", pads, mode=mode), lambda: (lambda x: F.pad(x, pads, mode=mode)), [shape])


# ---------------------------------------------------------------- dtypes


LONG_FAMILIES: dict[str, tuple[Callable[[], Any], tuple[int, ...]]] = {
    "linear(3)": (lambda: nn.Linear(4, 3), (2, 4)),
    "conv(2, 1)": (lambda: nn.Conv1d(4, 2, 1), (2, 4, 5)),
    "batchnorm": (lambda: nn.BatchNorm1d(4), (2, 4, 5)),
    "layernorm": (lambda: nn.LayerNorm(5), (2, 4, 5)),
    "groupnorm(2)": (lambda: nn.GroupNorm(2, 4), (2, 4, 5)),
    "maxpool(2)": (lambda: nn.MaxPool1d(2), (2, 4, 6)),
    "avgpool(2)": (lambda: nn.AvgPool1d(2), (2, 4, 6)),
    "adaptive_avgpool(2)": (lambda: nn.AdaptiveAvgPool1d(2), (2, 4, 6)),
    "adaptive_maxpool(2)": (lambda: nn.AdaptiveMaxPool1d(2), (2, 4, 6)),
    "softmax(-1)": (lambda: nn.Softmax(-1), (2, 4)),
    "softmin(-1)": (lambda: nn.Softmin(-1), (2, 4)),
    "glu": (lambda: nn.GLU(), (2, 4)),
    "relu": (lambda: nn.ReLU(), (2, 4)),
    "relu6": (lambda: nn.ReLU6(), (2, 4)),
    "silu": (lambda: nn.SiLU(), (2, 4)),
    "mish": (lambda: nn.Mish(), (2, 4)),
    "softplus": (lambda: nn.Softplus(), (2, 4)),
    "softsign": (lambda: nn.Softsign(), (2, 4)),
    "tanhshrink": (lambda: nn.Tanhshrink(), (2, 4)),
    "threshold(0.5, 0.0)": (lambda: nn.Threshold(0.5, 0.0), (2, 4)),
    "hardswish": (lambda: nn.Hardswish(), (2, 4)),
    "leaky_relu": (lambda: nn.LeakyReLU(), (2, 4)),
    "dropout1d": (lambda: nn.Dropout1d(), (2, 4, 5)),
    "gru(3)": (lambda: nn.GRU(4, 3), (5, 2, 4)),
    "grucell(3)": (lambda: nn.GRUCell(4, 3), (2, 4)),
    "unfold(2)": (lambda: nn.Unfold(2), (2, 3, 4, 4)),
    "pixel_shuffle(2)": (lambda: nn.PixelShuffle(2), (2, 4, 3, 3)),
    "upsample(scale_factor=2)": (lambda: nn.Upsample(scale_factor=2), (2, 3, 4)),
    "zeropad(1)": (lambda: nn.ZeroPad1d(1), (2, 3, 4)),
    "flatten": (lambda: nn.Flatten(), (2, 3, 4)),
    "tanh": (lambda: nn.Tanh(), (2, 4)),
    "sigmoid": (lambda: nn.Sigmoid(), (2, 4)),
    "identity": (lambda: nn.Identity(), (2, 4)),
    "hardtanh": (lambda: nn.Hardtanh(), (2, 4)),
    "reflectionpad(1)": (lambda: nn.ReflectionPad1d(1), (2, 3, 4)),
    "replicationpad(1)": (lambda: nn.ReplicationPad1d(1), (2, 3, 4)),
    "mean(1)": (lambda: (lambda x: torch.mean(x, 1)), (2, 3, 4)),
    "sum(1)": (lambda: (lambda x: torch.sum(x, 1)), (2, 3, 4)),
    "amax(1)": (lambda: (lambda x: torch.amax(x, 1)), (2, 3, 4)),
}


@SETTINGS
@given(st.data())
def test_integer_inputs_per_family(data: Any) -> None:
    """A freshly built layer is in training mode, as a generated module is before eval()."""
    stage = data.draw(st.sampled_from(sorted(LONG_FAMILIES)))
    dtype = data.draw(st.sampled_from(["long", "int32", "bool", "float"]))
    build, shape = LONG_FAMILIES[stage]
    torch_dtype = {"long": torch.int64, "int32": torch.int32, "bool": torch.bool,
                   "float": torch.float32}[dtype]
    try:
        x = torch.randint(0, 2, shape).to(torch_dtype) if dtype != "float" else (
            torch.randn(shape))
        out = build()(x)
        out = out[0] if isinstance(out, tuple) else out
        want: Any = "float" if out.dtype.is_floating_point else "integer"
    except (RuntimeError, NotImplementedError, ValueError, TypeError):
        want = None
    got = netdsl_symbolic(stage, [str(s) for s in shape], dtype)
    if want is None:
        assert got[0] == "error", f"torch rejects {stage} on {dtype}; netdsl gives {got}"
    else:
        assert got[0] == "ok", f"torch runs {stage} on {dtype}; netdsl: {got[1]}"
        kind = "float" if got[2][0] in ("float", "float32", "double", "half") else "integer"
        assert kind == want, f"{stage} on {dtype}: netdsl {got[2][0]}, torch {out.dtype}"
