"""Property tests: each catalogue layer against PyTorch itself.

For random arguments and input shapes, netdsl's checker and the real torch layer must
agree: the same output shapes and parameter count where torch succeeds, and a located
netdsl error where torch raises.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import netdsl

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
warnings.filterwarnings("ignore")


def lit(value: Any) -> str:
    """A Python value as netdsl source."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        inner = ", ".join(lit(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def call(name: str, *args: Any, **kwargs: Any) -> str:
    parts = [lit(a) for a in args] + [f"{k}={lit(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def netdsl_run(stage: str, shapes: list[tuple[int, ...]], dtype: str = "float"):
    prefix = "" if dtype == "float" else dtype
    params = ", ".join(f"x{i}: {prefix}[{', '.join(map(str, s))}]" for i, s in enumerate(shapes))
    head = "x0" if len(shapes) == 1 else "(" + ", ".join(f"x{i}" for i in range(len(shapes))) + ")"
    source = f"network T({params}):\n    {head} -> {stage}\n"
    try:
        program = netdsl.check_source(source, "t.net")
    except netdsl.NetDSLError as err:
        for d in err.diagnostics:
            assert d.line >= 1 and d.column >= 1, f"unlocated error: {d.message}"
        return ("error", err.diagnostics[0].message, source)
    net = program.networks[0]
    return ("ok", [tuple(int(d) for d in tt.shape) for tt in net.outputs], net.params, source)


def flatten(output: Any) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    return [t for item in output for t in flatten(item)]


def torch_run(build: Callable[[], Any], shapes: list[tuple[int, ...]], dtype: str = "float"):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = build()
            if dtype == "long":
                inputs = [torch.randint(0, 3, s) for s in shapes]
            else:
                inputs = [torch.randn(s) for s in shapes]
            if isinstance(module, nn.Module):
                module.eval()
                with torch.no_grad():
                    out = module(*inputs)
                params = sum(p.numel() for p in module.parameters())
            else:
                out = module(*inputs)
                params = 0
    except Exception as exc:  # torch rejects the call: netdsl must reject it too
        return ("error", f"{type(exc).__name__}: {exc}")
    return ("ok", [tuple(t.shape) for t in flatten(out)], params)


def agree(stage: str, build: Callable[[], Any], shapes: list[tuple[int, ...]],
          dtype: str = "float") -> None:
    got = netdsl_run(stage, shapes, dtype)
    want = torch_run(build, shapes, dtype)
    if want[0] == "ok" and any(0 in shape for shape in want[1]):
        # torch returns an empty tensor; the contract rejects sizes that reach zero
        assert got[0] == "error", f"{stage} on {shapes} reaches size 0 in torch; netdsl: {got}"
        return
    if want[0] == "ok":
        assert got[0] == "ok", f"torch accepts {stage} on {shapes}; netdsl: {got[1]}"
        assert got[1] == want[1], f"{stage} on {shapes}: netdsl {got[1]}, torch {want[1]}"
        assert got[2] == want[2], f"{stage}: netdsl counts {got[2]} parameters, torch {want[2]}"
    else:
        assert got[0] == "error", f"torch rejects {stage} on {shapes} ({want[1]}); " \
                                  f"netdsl gives {got[1]}"


small = st.integers(1, 6)


def shape_of(draw: Any, rank: int, low: int = 1, high: int = 10) -> tuple[int, ...]:
    return tuple(draw(st.integers(low, high)) for _ in range(rank))


# ---------------------------------------------------------------- convolution


@SETTINGS
@given(st.data())
def test_conv(data: Any) -> None:
    d = data.draw
    n = d(st.integers(1, 3))
    cin = d(st.sampled_from([1, 2, 3, 4, 6]))
    shape = (d(st.integers(1, 2)), cin, *shape_of(d, n, 1, 9 if n < 3 else 5))
    out = d(st.sampled_from([1, 2, 3, 4, 6]))
    k = d(st.integers(1, 4))
    stride = d(st.integers(1, 3))
    padding = d(st.one_of(st.integers(0, 3), st.sampled_from(["same", "valid"])))
    dilation = d(st.integers(1, 2))
    groups = d(st.sampled_from([1, 2, 3]))
    bias = d(st.booleans())
    mode = d(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    stage = call("conv", out, k, stride=stride, padding=padding, dilation=dilation,
                 groups=groups, bias=bias, padding_mode=mode)
    cls = getattr(nn, f"Conv{n}d")
    agree(stage, lambda: cls(cin, out, k, stride=stride, padding=padding, dilation=dilation,
                             groups=groups, bias=bias, padding_mode=mode), [shape])


@SETTINGS
@given(st.data())
def test_convtranspose(data: Any) -> None:
    d = data.draw
    n = d(st.integers(1, 3))
    cin = d(st.sampled_from([1, 2, 4]))
    shape = (d(st.integers(1, 2)), cin, *shape_of(d, n, 1, 7 if n < 3 else 4))
    out = d(st.sampled_from([1, 2, 3, 4]))
    k, stride = d(st.integers(1, 4)), d(st.integers(1, 3))
    padding, output_padding = d(st.integers(0, 3)), d(st.integers(0, 2))
    dilation, groups = d(st.integers(1, 2)), d(st.sampled_from([1, 2]))
    stage = call("convtranspose", out, k, stride=stride, padding=padding,
                 output_padding=output_padding, groups=groups, dilation=dilation)
    cls = getattr(nn, f"ConvTranspose{n}d")
    agree(stage, lambda: cls(cin, out, k, stride=stride, padding=padding,
                             output_padding=output_padding, groups=groups, dilation=dilation),
          [shape])


# ---------------------------------------------------------------- pooling


@SETTINGS
@given(st.data())
def test_pools(data: Any) -> None:
    d = data.draw
    n = d(st.integers(1, 3))
    shape = (d(st.integers(1, 2)), d(small), *shape_of(d, n, 1, 9 if n < 3 else 5))
    k = d(st.integers(1, 4))
    stride = d(st.one_of(st.none(), st.integers(1, 3)))
    padding = d(st.integers(0, 2))
    ceil = d(st.booleans())
    if d(st.booleans()):
        dilation = d(st.integers(1, 2))
        stage = call("maxpool", k, stride=stride, padding=padding, dilation=dilation,
                     ceil_mode=ceil)
        cls = getattr(nn, f"MaxPool{n}d")
        agree(stage, lambda: cls(k, stride=stride, padding=padding, dilation=dilation,
                                 ceil_mode=ceil), [shape])
    else:
        stage = call("avgpool", k, stride=stride, padding=padding, ceil_mode=ceil)
        cls = getattr(nn, f"AvgPool{n}d")
        agree(stage, lambda: cls(k, stride=stride, padding=padding, ceil_mode=ceil), [shape])


@SETTINGS
@given(st.data())
def test_adaptive_pools(data: Any) -> None:
    d = data.draw
    n = d(st.integers(1, 3))
    shape = (d(st.integers(1, 2)), d(small), *shape_of(d, n, 1, 8))
    size = d(st.one_of(st.integers(1, 5), st.tuples(*[st.one_of(st.none(), st.integers(1, 5))
                                                      for _ in range(n)])))
    kind = d(st.sampled_from(["avg", "max"]))
    cls = getattr(nn, f"Adaptive{kind.capitalize()}Pool{n}d")
    agree(call(f"adaptive_{kind}pool", size), lambda: cls(size), [shape])


# ---------------------------------------------------------------- normalization


@SETTINGS
@given(st.data())
def test_norms(data: Any) -> None:
    d = data.draw
    kind = d(st.sampled_from(["batchnorm", "instancenorm", "groupnorm", "layernorm"]))
    rank = d(st.integers(2, 5))
    shape = (d(st.integers(2, 3)), *shape_of(d, rank - 1, 1, 6))
    c = shape[1]
    affine, bias = d(st.booleans()), d(st.booleans())  # bias: PyTorch's keyword-only bias=
    if kind == "batchnorm":
        n = {2: 1, 3: 1, 4: 2, 5: 3}[rank]
        agree(call("batchnorm", affine=affine, bias=bias),
              lambda: getattr(nn, f"BatchNorm{n}d")(c, affine=affine, bias=bias), [shape])
    elif kind == "instancenorm":
        n = {2: 1, 3: 1, 4: 2, 5: 3}[rank]
        if rank == 2:  # netdsl: rank 3/4/5 pick 1d/2d/3d; a [N, C] input is rejected
            got = netdsl_run(call("instancenorm", affine=affine), [shape])
            assert got[0] == "error"
            return
        agree(call("instancenorm", affine=affine, bias=bias),
              lambda: getattr(nn, f"InstanceNorm{n}d")(c, affine=affine, bias=bias), [shape])
    elif kind == "groupnorm":
        groups = d(st.integers(1, 4))
        agree(call("groupnorm", groups, affine=affine, bias=bias),
              lambda: nn.GroupNorm(groups, c, affine=affine, bias=bias), [shape])
    else:
        count = d(st.integers(1, min(2, rank)))
        ns = shape[-count:]
        given_shape = d(st.booleans())
        stage = call("layernorm", ns if given_shape else None) if count > 1 or given_shape \
            else "layernorm"
        if count > 1 and not given_shape:
            ns = shape[-1:]
        agree(stage, lambda: nn.LayerNorm(list(ns)), [shape])


# ---------------------------------------------------------------- linear, embedding, dropout


@SETTINGS
@given(st.data())
def test_linear(data: Any) -> None:
    d = data.draw
    shape = shape_of(d, d(st.integers(1, 4)), 1, 7)
    out, bias = d(small), d(st.booleans())
    check_in = d(st.one_of(st.none(), st.integers(1, 7)))
    kwargs = {"bias": bias} if check_in is None else {"bias": bias, "in_features": check_in}
    agree(call("linear", out, **kwargs),
          lambda: nn.Linear(shape[-1] if check_in is None else check_in, out, bias=bias),
          [shape])


@SETTINGS
@given(st.data())
def test_embedding(data: Any) -> None:
    d = data.draw
    shape = shape_of(d, d(st.integers(1, 3)), 1, 5)
    num, dim = d(st.integers(3, 20)), d(small)
    dtype = d(st.sampled_from(["long", "float"]))
    pad = d(st.one_of(st.none(), st.integers(-25, 25)))
    agree(call("embedding", num, dim, padding_idx=pad),
          lambda: nn.Embedding(num, dim, padding_idx=pad), [shape], dtype)


@SETTINGS
@given(st.data())
def test_dropouts(data: Any) -> None:
    d = data.draw
    shape = shape_of(d, d(st.integers(1, 5)), 1, 4)
    name = d(st.sampled_from(["dropout", "dropout1d", "dropout2d", "dropout3d"]))
    p = d(st.sampled_from([0.0, 0.5, 1.0, 1.5]))
    cls = {"dropout": nn.Dropout, "dropout1d": nn.Dropout1d, "dropout2d": nn.Dropout2d,
           "dropout3d": nn.Dropout3d}[name]
    if name != "dropout" and len(shape) not in {"dropout1d": (2, 3), "dropout2d": (3, 4),
                                                 "dropout3d": (4, 5)}[name]:
        # torch only warns here and drops whole channels of a mis-shaped input;
        # netdsl rejects the rank, as the contract asks
        assert netdsl_run(call(name, p=p), [shape])[0] == "error"
        return
    agree(call(name, p=p), lambda: cls(p=p), [shape])


# ---------------------------------------------------------------- recurrent


@SETTINGS
@given(st.data())
def test_recurrent(data: Any) -> None:
    d = data.draw
    name = d(st.sampled_from(["rnn", "lstm", "gru"]))
    shape = shape_of(d, d(st.integers(2, 3)), 1, 5)
    hidden, layers = d(st.integers(1, 5)), d(st.integers(1, 3))
    bidirectional, batch_first, bias = d(st.booleans()), d(st.booleans()), d(st.booleans())
    kwargs: dict[str, Any] = {"num_layers": layers, "bias": bias, "batch_first": batch_first,
                              "bidirectional": bidirectional}
    if name == "lstm":
        kwargs["proj_size"] = d(st.integers(0, 5))
    cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[name]
    agree(call(name, hidden, **kwargs), lambda: cls(shape[-1], hidden, **kwargs), [shape])


@SETTINGS
@given(st.data())
def test_cells(data: Any) -> None:
    d = data.draw
    name = d(st.sampled_from(["rnncell", "lstmcell", "grucell"]))
    shape = shape_of(d, d(st.integers(1, 2)), 1, 5)
    hidden, bias = d(st.integers(1, 5)), d(st.booleans())
    cls = {"rnncell": nn.RNNCell, "lstmcell": nn.LSTMCell, "grucell": nn.GRUCell}[name]
    agree(call(name, hidden, bias=bias), lambda: cls(shape[-1], hidden, bias=bias), [shape])


# ---------------------------------------------------------------- attention


@SETTINGS
@given(st.data())
def test_multihead_attention(data: Any) -> None:
    d = data.draw
    e = d(st.sampled_from([2, 3, 4, 6, 8]))
    heads = d(st.integers(1, 4))
    batch_first = d(st.booleans())
    shape = (*shape_of(d, d(st.integers(1, 2)), 1, 4), e)
    bias = d(st.booleans())

    got = netdsl_run(call("multihead_attention", heads, bias=bias, batch_first=batch_first),
                     [shape])
    try:
        mha = nn.MultiheadAttention(e, heads, bias=bias, batch_first=batch_first)
        mha.eval()
        x = torch.randn(shape)
        out = mha(x, x, x)
        want = ("ok", [tuple(t.shape) for t in out], sum(p.numel() for p in mha.parameters()))
    except Exception as exc:
        want = ("error", str(exc))
    if want[0] == "ok":
        assert got[0] == "ok", got[1]
        assert (got[1], got[2]) == (want[1], want[2])  # output shapes, parameter count
    else:
        assert got[0] == "error"


@SETTINGS
@given(st.data())
def test_transformer_layers(data: Any) -> None:
    d = data.draw
    dm = d(st.sampled_from([2, 4, 6, 8]))
    nhead, ff = d(st.integers(1, 4)), d(st.integers(1, 16))
    batch_first = d(st.booleans())
    shape = (*shape_of(d, d(st.integers(1, 2)), 1, 4), dm)
    if d(st.booleans()):
        agree(call("transformer_encoder_layer", nhead, dim_feedforward=ff,
                   batch_first=batch_first),
              lambda: nn.TransformerEncoderLayer(dm, nhead, dim_feedforward=ff,
                                                 batch_first=batch_first), [shape])
    else:
        mem = (*shape[:-1], dm)
        agree(call("transformer_decoder_layer", nhead, dim_feedforward=ff,
                   batch_first=batch_first),
              lambda: nn.TransformerDecoderLayer(dm, nhead, dim_feedforward=ff,
                                                 batch_first=batch_first), [shape, mem])


# ---------------------------------------------------------------- resampling and padding


@SETTINGS
@given(st.data())
def test_upsample(data: Any) -> None:
    d = data.draw
    rank = d(st.integers(3, 5))
    shape = (d(st.integers(1, 2)), d(small), *shape_of(d, rank - 2, 1, 6))
    mode = d(st.sampled_from(["nearest", "linear", "bilinear", "bicubic", "trilinear"]))
    align = d(st.one_of(st.none(), st.booleans()))
    if d(st.booleans()):
        kwargs: dict[str, Any] = {"scale_factor": d(st.sampled_from([1, 2, 3, 0.5, 1.5, 2.0]))}
    else:
        kwargs = {"size": d(st.integers(1, 8))}
    agree(call("upsample", mode=mode, align_corners=align, **kwargs),
          lambda: nn.Upsample(mode=mode, align_corners=align, **kwargs), [shape])


@SETTINGS
@given(st.data())
def test_padding_layers(data: Any) -> None:
    d = data.draw
    rank = d(st.integers(3, 5))
    n = rank - 2
    shape = (d(st.integers(1, 2)), d(small), *shape_of(d, n, 1, 6))
    kind = d(st.sampled_from(["zero", "constant", "reflection", "replication"]))
    pad = d(st.one_of(st.integers(0, 4), st.tuples(*[st.integers(-1, 4) for _ in range(2 * n)])))
    cls = getattr(nn, f"{kind.capitalize()}Pad{n}d")
    if kind == "constant":
        agree(call("constantpad", pad, 0.5), lambda: cls(pad, 0.5), [shape])
    else:
        agree(call(f"{kind}pad", pad), lambda: cls(pad), [shape])


@SETTINGS
@given(st.data())
def test_functional_pad(data: Any) -> None:
    d = data.draw
    shape = shape_of(d, d(st.integers(2, 4)), 1, 5)
    pads = d(st.lists(st.integers(0, 3), min_size=2, max_size=6).filter(lambda v: len(v) % 2 == 0))
    agree(call("pad", tuple(pads)), lambda: (lambda x: F.pad(x, tuple(pads))), [shape])


@SETTINGS
@given(st.data())
def test_pixel_shuffle_and_unfold(data: Any) -> None:
    d = data.draw
    shape = (d(st.integers(1, 2)), d(st.sampled_from([1, 2, 4, 8, 9])), *shape_of(d, 2, 1, 8))
    which = d(st.sampled_from(["shuffle", "unshuffle", "unfold"]))
    if which == "shuffle":
        r = d(st.integers(1, 3))
        agree(call("pixel_shuffle", r), lambda: nn.PixelShuffle(r), [shape])
    elif which == "unshuffle":
        r = d(st.integers(1, 3))
        agree(call("pixel_unshuffle", r), lambda: nn.PixelUnshuffle(r), [shape])
    else:
        k, s, p = d(st.integers(1, 3)), d(st.integers(1, 2)), d(st.integers(0, 1))
        agree(call("unfold", k, stride=s, padding=p), lambda: nn.Unfold(k, stride=s, padding=p),
              [shape])


@SETTINGS
@given(st.data())
def test_fold(data: Any) -> None:
    d = data.draw
    k, size = d(st.integers(1, 3)), d(st.integers(2, 6))
    blocks = (size - k + 1) ** 2 if size >= k else 1
    shape = (d(st.integers(1, 2)), d(st.integers(1, 3)) * k * k + d(st.sampled_from([0, 0, 1])),
             blocks + d(st.sampled_from([0, 0, 1])))
    agree(call("fold", size, k), lambda: nn.Fold(size, k), [shape])


# ---------------------------------------------------------------- reshaping


@SETTINGS
@given(st.data())
def test_flatten_and_unflatten(data: Any) -> None:
    d = data.draw
    shape = shape_of(d, d(st.integers(1, 4)), 1, 5)
    rank = len(shape)
    if d(st.booleans()):
        start, end = d(st.integers(-rank - 1, rank)), d(st.integers(-rank - 1, rank))
        agree(call("flatten", start_dim=start, end_dim=end),
              lambda: nn.Flatten(start, end), [shape])
    else:
        dim = d(st.integers(-rank, rank - 1))
        size = shape[dim]
        sizes = d(st.sampled_from([(size,), (1, size), (size, 1), (-1, 1), (2, -1), (size, 2)]))
        agree(call("unflatten", dim, sizes), lambda: nn.Unflatten(dim, sizes), [shape])


@SETTINGS
@given(st.data())
def test_reshape_permute_transpose(data: Any) -> None:
    d = data.draw
    shape = shape_of(d, d(st.integers(1, 4)), 1, 4)
    rank = len(shape)
    which = d(st.sampled_from(["reshape", "permute", "transpose", "squeeze", "unsqueeze"]))
    if which == "reshape":
        total = 1
        for s in shape:
            total *= s
        target = d(st.sampled_from([(total,), (-1,), (1, -1), (total, 1), (2, -1), (-1, -1),
                                    (3, total)]))
        agree(f"reshape({', '.join(map(str, target))})",
              lambda: (lambda x: x.reshape(*target)), [shape])
    elif which == "permute":
        dims = tuple(d(st.permutations(range(rank))))
        if d(st.booleans()):
            dims = dims[:-1] + (dims[0],)
        agree(f"permute({', '.join(map(str, dims))})", lambda: (lambda x: x.permute(*dims)),
              [shape])
    elif which == "transpose":
        a, b = d(st.integers(-rank - 1, rank)), d(st.integers(-rank, rank - 1))
        agree(call("transpose", a, b), lambda: (lambda x: x.transpose(a, b)), [shape])
    elif which == "squeeze":
        dim = d(st.one_of(st.none(), st.integers(-rank - 1, rank)))
        agree(call("squeeze", dim), lambda: (lambda x: x.squeeze() if dim is None
                                              else x.squeeze(dim)), [shape])
    else:
        dim = d(st.integers(-rank - 2, rank + 1))
        agree(call("unsqueeze", dim), lambda: (lambda x: x.unsqueeze(dim)), [shape])


# ---------------------------------------------------------------- combining and splitting


@SETTINGS
@given(st.data())
def test_cat_stack_add(data: Any) -> None:
    d = data.draw
    rank = d(st.integers(1, 4))
    a = shape_of(d, rank, 1, 4)
    b = tuple(v if d(st.integers(0, 3)) else d(st.integers(1, 4)) for v in a)
    which = d(st.sampled_from(["cat", "stack", "add", "mul"]))
    dim = d(st.integers(-rank - 1, rank))
    if which == "cat":
        agree(call("cat", dim=dim), lambda: (lambda x, y: torch.cat([x, y], dim=dim)), [a, b])
    elif which == "stack":
        agree(call("stack", dim=dim), lambda: (lambda x, y: torch.stack([x, y], dim=dim)),
              [a, b])
    elif which == "add":
        agree("add", lambda: (lambda x, y: x + y), [a, b])
    else:
        agree("mul", lambda: (lambda x, y: x * y), [a, b])


@SETTINGS
@given(st.data())
def test_chunk_split_reduce(data: Any) -> None:
    d = data.draw
    shape = shape_of(d, d(st.integers(1, 3)), 1, 7)
    rank = len(shape)
    dim = d(st.integers(-rank, rank - 1))
    which = d(st.sampled_from(["chunk", "split", "mean", "sum"]))
    if which == "chunk":
        k = d(st.integers(1, 4))
        agree(call("chunk", k, dim=dim), lambda: (lambda x: torch.chunk(x, k, dim=dim)), [shape])
    elif which == "split":
        size = d(st.integers(1, 4))
        agree(call("split", size, dim=dim), lambda: (lambda x: torch.split(x, size, dim=dim)),
              [shape])
    else:
        keep = d(st.booleans())
        agree(call(which, dim=dim, keepdim=keep),
              lambda: (lambda x: getattr(x, which)(dim=dim, keepdim=keep)), [shape])


# ---------------------------------------------------------------- activations


ACTIVATIONS = {
    "relu": nn.ReLU, "relu6": nn.ReLU6, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU,
    "selu": nn.SELU, "celu": nn.CELU, "gelu": nn.GELU, "silu": nn.SiLU, "mish": nn.Mish,
    "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "hardtanh": nn.Hardtanh, "hardswish": nn.Hardswish,
    "hardsigmoid": nn.Hardsigmoid, "softplus": nn.Softplus, "softsign": nn.Softsign,
    "identity": nn.Identity, "logsigmoid": nn.LogSigmoid, "tanhshrink": nn.Tanhshrink,
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_keep_shape(name: str) -> None:
    agree(name, ACTIVATIONS[name], [(2, 3, 4)])


@SETTINGS
@given(st.data())
def test_softmax_glu_prelu(data: Any) -> None:
    d = data.draw
    shape = shape_of(d, d(st.integers(1, 4)), 1, 6)
    rank = len(shape)
    which = d(st.sampled_from(["softmax", "log_softmax", "glu", "prelu"]))
    if which == "prelu":
        num = d(st.sampled_from([1, 2, 3, 4, "channels"]))
        count = shape[1] if num == "channels" and rank >= 2 else num
        if num == "channels" and rank < 2:
            assert netdsl_run(call("prelu", num), [shape])[0] == "error"
            return
        agree(call("prelu", num), lambda: nn.PReLU(count), [shape])
        return
    dim = d(st.integers(-rank - 1, rank))
    cls = {"softmax": nn.Softmax, "log_softmax": nn.LogSoftmax, "glu": nn.GLU}[which]
    agree(call(which, dim), lambda: cls(dim), [shape])


@pytest.mark.parametrize(("mode", "padding", "length"), [
    ("reflect", 2, 2), ("reflect", 2, 3), ("reflect", 1, 1), ("circular", 2, 2),
    ("circular", 3, 2), ("replicate", 3, 2)])
def test_conv_padding_modes_at_the_edge(mode: str, padding: int, length: int) -> None:
    agree(call("conv", 1, 1, padding=padding, padding_mode=mode),
          lambda: nn.Conv1d(1, 1, 1, padding=padding, padding_mode=mode), [(1, 1, length)])


def test_threshold_needs_its_arguments() -> None:
    agree("threshold(0.1, 20.0)", lambda: nn.Threshold(0.1, 20.0), [(2, 3)])
    assert netdsl_run("threshold", [(2, 3)])[0] == "error"


@pytest.mark.parametrize(("stage", "build"), [
    ("groupnorm(2, bias=false)", lambda: nn.GroupNorm(2, 4, bias=False)),
    ("batchnorm(bias=false)", lambda: nn.BatchNorm2d(4, bias=False)),
    ("instancenorm(affine=true, bias=false)",
     lambda: nn.InstanceNorm2d(4, affine=True, bias=False)),
])
def test_norms_take_pytorchs_keyword_only_bias(stage: str, build: Callable[[], Any]) -> None:
    agree(stage, build, [(2, 4, 3, 3)])
    # and the generated module builds the same layer
    program = netdsl.check_source(f"network T(x: [2, 4, 3, 3]):\n    x -> {stage}\n")
    generated = netdsl.build(program, "T")()
    assert [p.shape for p in generated.parameters()] == [p.shape for p in build().parameters()]
