"""Regression tests: shapes, sizes and dtypes netdsl once got wrong, each judged by torch.

Every case builds the torch layer (or the generated module) and runs it; netdsl must give
the same shapes and parameter counts where torch runs, and a located error where it raises.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from test_layers_torch import agree, call, netdsl_run
from torch import nn

import netdsl


def check(source: str) -> Any:
    return netdsl.check_source(source, "t.net")


def error_of(source: str) -> netdsl.Diagnostic:
    with pytest.raises(netdsl.NetDSLError) as info:
        check(source)
    diag = info.value.diagnostics[0]
    assert diag.line >= 1 and diag.column >= 1
    return diag


def apply_fix(source: str, diag: netdsl.Diagnostic) -> str:
    """The source with the fix applied: `write NEW` replaces the innermost call `name(...)`
    of the error's line that contains the error's column."""
    assert diag.fix is not None and diag.fix.startswith("write "), diag.fix
    new = diag.fix[len("write "):]
    lines = source.split("\n")
    line, col = lines[diag.line - 1], diag.column - 1
    spans = []
    for match in re.finditer(r"[A-Za-z_]\w*\(", line):
        depth = 0
        for end in range(match.end() - 1, len(line)):
            depth += {"(": 1, ")": -1}.get(line[end], 0)
            if depth == 0:
                break
        if match.start() <= col <= end:
            spans.append((match.start(), end))
    start, end = max(spans)
    lines[diag.line - 1] = line[:start] + new + line[end + 1:]
    return "\n".join(lines)


def run_module(source: str, *inputs: torch.Tensor) -> tuple[list[tuple[int, ...]], int]:
    program = check(source)
    model = netdsl.build(program, program.networks[0].definition.name)()
    model.eval()
    with torch.no_grad():
        out = model(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    return [tuple(t.shape) for t in outs], sum(p.numel() for p in model.parameters())


class SelfAttention(nn.Module):
    """nn.MultiheadAttention applied as netdsl applies it to one input: (x, x, x)."""

    def __init__(self, attention: nn.MultiheadAttention) -> None:
        super().__init__()
        self.attention = attention

    def forward(self, x: torch.Tensor) -> Any:
        return self.attention(x, x, x)


def concrete(shape: Any, sizes: dict[str, int]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else d.evaluate(sizes) for d in shape)


# ---------------------------------------------------------------- view / reshape with -1


@pytest.mark.parametrize("op", ["view", "reshape"])
def test_minus_one_cancels_the_symbolic_batch(op: str) -> None:
    source = f"network T(x: [B, 16, 7, 7]):\n    x -> {op}(B, -1) -> linear(10)\n"
    net = check(source).networks[0]
    x = torch.randn(3, 16, 7, 7)
    flat = getattr(x, op)(3, -1)
    assert concrete(net.nodes[1].outputs[0].shape, {"B": 3}) == tuple(flat.shape)
    shapes, params = run_module(source, x)
    assert [concrete(net.outputs[0].shape, {"B": 3})] == shapes
    assert net.params == params == sum(p.numel() for p in nn.Linear(784, 10).parameters())


def test_minus_one_divides_polynomials_exactly() -> None:
    net = check("network T(x: [B, 24, 6]):\n    x -> reshape(B, -1, 4)\n").networks[0]
    for b in (1, 2, 5):
        want = tuple(torch.randn(b, 24, 6).reshape(b, -1, 4).shape)
        assert concrete(net.outputs[0].shape, {"B": b}) == want


def test_inexact_minus_one_is_an_error() -> None:
    # 10*B elements never split into (B, -1, 3) for any B > 0: 10 is not a multiple of 3
    for b in (1, 2, 3, 6):
        with pytest.raises(RuntimeError):
            torch.randn(b, 10).view(b, -1, 3)
    diag = error_of("network T(x: [B, 10]):\n    x -> view(B, -1, 3)\n")
    assert "not a multiple" in diag.message


# ---------------------------------------------------------------- prelu("channels")


def test_prelu_channels_record_holds_the_number() -> None:
    net = check('network T(x: [B, 6, 8, 8]):\n    x -> prelu("channels")\n').networks[0]
    node = net.nodes[1]
    want = sum(p.numel() for p in nn.PReLU(num_parameters=6).parameters())
    assert node.meta["args"]["num_parameters"] == want == net.params
    assert node.torch == "nn.PReLU(num_parameters=6)"


def test_prelu_channels_generated_module() -> None:
    shapes, params = run_module('network T(x: [B, 6, 8, 8]):\n    x -> prelu("channels")\n',
                                torch.randn(2, 6, 8, 8))
    assert (shapes, params) == ([(2, 6, 8, 8)], 6)


# ---------------------------------------------------------------- integer sizes


INTEGER_CASES = [
    # (stage, input shape, torch layer with the float, torch layer with //)
    ("conv(16 / 4, 1)", (2, 3, 8, 8), lambda: nn.Conv2d(3, 16 / 4, 1),
     lambda: nn.Conv2d(3, 16 // 4, 1)),
    ("conv(8, 6 / 2)", (2, 3, 8, 8), lambda: nn.Conv2d(3, 8, 6 / 2),
     lambda: nn.Conv2d(3, 8, 6 // 2)),
    ("linear(32 / 2)", (2, 5), lambda: nn.Linear(5, 32 / 2), lambda: nn.Linear(5, 32 // 2)),
    ("lstm(16 / 2)", (4, 2, 5), lambda: nn.LSTM(5, 16 / 2), lambda: nn.LSTM(5, 16 // 2)),
    ("multihead_attention(4 / 2)", (4, 2, 8),
     lambda: SelfAttention(nn.MultiheadAttention(8, 4 / 2)),
     lambda: SelfAttention(nn.MultiheadAttention(8, 4 // 2))),
    ("maxpool(4 / 2)", (2, 3, 8, 8), lambda: nn.MaxPool2d(4 / 2), lambda: nn.MaxPool2d(4 // 2)),
    ("embedding(10, 8 / 2)", None, lambda: nn.Embedding(10, 8 / 2),
     lambda: nn.Embedding(10, 8 // 2)),
    ("view(-1, 12 / 2)", (2, 3, 4), lambda: (lambda x: x.view(-1, 12 / 2)),
     lambda: (lambda x: x.view(-1, 12 // 2))),
]


@pytest.mark.parametrize(("stage", "shape", "with_float", "with_floordiv"), INTEGER_CASES,
                         ids=[c[0] for c in INTEGER_CASES])
def test_a_size_that_is_not_an_integer(stage: str, shape: Any, with_float: Any,
                                       with_floordiv: Any) -> None:
    dtype = "long" if shape is None else "float"
    shape = shape or (2, 7)
    x = torch.randint(0, 10, shape) if dtype == "long" else torch.randn(shape)
    with pytest.raises((TypeError, RuntimeError)):  # torch refuses the float size
        out = with_float()(x)
    prefix = "long" if dtype == "long" else ""
    source = (f"network T(x: {prefix}[{', '.join(map(str, shape))}]):\n"
              f"    x -> {stage}\n")
    diag = error_of(source)
    expr = re.search(r"\d+ / \d+", stage).group(0)  # type: ignore[union-attr]
    value = eval(expr)  # the number the user's division gives
    assert expr in diag.message and repr(value) in diag.message
    assert diag.fix == "write " + stage.replace(" / ", " // ")
    fixed = apply_fix(source, diag)
    out = with_floordiv()(x)
    net = check(fixed).networks[0]
    outs = out if isinstance(out, tuple) else (out,)
    flat = [t for item in outs for t in (item if isinstance(item, tuple) else (item,))]
    assert [tuple(int(d) for d in tt.shape) for tt in net.outputs] == [
        tuple(t.shape) for t in flat][:len(net.outputs)]


# ---------------------------------------------------------------- attention


@pytest.mark.parametrize("bias_kv", [False, True])
@pytest.mark.parametrize("zero_attn", [False, True])
def test_attention_extra_keys(bias_kv: bool, zero_attn: bool) -> None:
    agree(call("multihead_attention", 2, add_bias_kv=bias_kv, add_zero_attn=zero_attn,
               batch_first=True),
          lambda: SelfAttention(nn.MultiheadAttention(8, 2, add_bias_kv=bias_kv,
                                                      add_zero_attn=zero_attn,
                                                      batch_first=True)), [(3, 5, 8)])


# ---------------------------------------------------------------- return_indices


@pytest.mark.parametrize(("stage", "build"), [
    ("maxpool(2, return_indices=true)", lambda: nn.MaxPool2d(2, return_indices=True)),
    ("adaptive_maxpool(3, return_indices=true)",
     lambda: nn.AdaptiveMaxPool2d(3, return_indices=True)),
])
def test_return_indices_gives_values_and_long_indices(stage: str, build: Any) -> None:
    values, indices = build()(torch.randn(2, 3, 8, 8))
    net = check(f"network T(x: [B, 3, 8, 8]):\n    v, i = x -> {stage}\n    return (v, i)\n"
                ).networks[0]
    assert [concrete(t.shape, {"B": 2}) for t in net.outputs] == [tuple(values.shape),
                                                                   tuple(indices.shape)]
    assert indices.dtype == torch.int64 and net.outputs[1].dtype == "long"
    assert net.outputs[0].dtype == "float" and values.dtype == torch.float32
    # a pipeline passes on the values, as torch's tuple[0]
    piped = check(f"network T(x: [B, 3, 8, 8]):\n    x -> {stage} -> relu\n").networks[0]
    assert concrete(piped.outputs[0].shape, {"B": 2}) == tuple(torch.relu(values).shape)


# ---------------------------------------------------------------- reductions


@pytest.mark.parametrize("name", ["mean", "sum", "amax"])
@pytest.mark.parametrize("dim", [(1, 1), (), (0,), (-1, 0), (2, -1)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_reduction_dims(name: str, dim: tuple[int, ...], keepdim: bool) -> None:
    fn = getattr(torch, name)
    agree(call(name, dim=dim, keepdim=keepdim), lambda: (lambda x: fn(x, dim=dim,
                                                                      keepdim=keepdim)),
          [(2, 3, 4)])


# ---------------------------------------------------------------- rejections torch makes


@pytest.mark.parametrize(("stage", "build", "shape"), [
    ("upsample(scale_factor=0.1)", lambda: nn.Upsample(scale_factor=0.1), (2, 3, 8, 8)),
    ("upsample(size=(0, 4))", lambda: nn.Upsample(size=(0, 4)), (2, 3, 8, 8)),
    ('pad((1, 1), mode="reflect")', lambda: (lambda x: F.pad(x, (1, 1), mode="reflect")),
     (2, 3, 8, 8)),
    ('pad((1, 1, 1, 1, 1, 1), mode="replicate")',
     lambda: (lambda x: F.pad(x, (1, 1, 1, 1, 1, 1), mode="replicate")), (3, 8, 8)),
    ('pad((6, 0), mode="circular")', lambda: (lambda x: F.pad(x, (6, 0), mode="circular")),
     (2, 3, 5)),
    ("avgpool(2, divisor_override=0)", lambda: nn.AvgPool2d(2, divisor_override=0),
     (2, 3, 8, 8)),
    ("maxpool(3, stride=2, padding=2, dilation=2, ceil_mode=true)",
     lambda: nn.MaxPool2d(3, stride=2, padding=2, dilation=2, ceil_mode=True), (2, 3, 8, 8)),
    ("transformer_decoder_layer(2)", lambda: nn.TransformerDecoderLayer(8, 2), None),
])
def test_torch_rejects_and_so_does_netdsl(stage: str, build: Any, shape: Any) -> None:
    shapes = [shape] if shape is not None else [(5, 2, 8), (6, 2, 16)]
    agree(stage, build, shapes)
    assert netdsl_run(stage, shapes)[0] == "error"


# ---------------------------------------------------------------- dtypes


def layer_on_long(build: Any, shape: tuple[int, ...]) -> str | None:
    """torch's dtype of the output of a freshly built (training-mode) layer on a long tensor,
    or None when torch raises."""
    try:
        out = build()(torch.randint(0, 3, shape))
    except (RuntimeError, NotImplementedError, ValueError, TypeError):
        return None
    out = out[0] if isinstance(out, tuple) else out
    return "long" if out.dtype == torch.int64 else "float"


LONG_CASES = [
    ("linear(4)", lambda: nn.Linear(8, 4), (2, 8)),
    ("softmax(1)", lambda: nn.Softmax(1), (2, 8)),
    ("log_softmax(1)", lambda: nn.LogSoftmax(1), (2, 8)),
    ("conv(4, 1)", lambda: nn.Conv2d(3, 4, 1), (2, 3, 8, 8)),
    ("convtranspose(4, 1)", lambda: nn.ConvTranspose2d(3, 4, 1), (2, 3, 8, 8)),
    ("batchnorm", lambda: nn.BatchNorm2d(3), (2, 3, 8, 8)),
    ("layernorm", lambda: nn.LayerNorm(8), (2, 3, 8)),
    ("groupnorm(1)", lambda: nn.GroupNorm(1, 3), (2, 3, 8)),
    ("instancenorm", lambda: nn.InstanceNorm2d(3), (2, 3, 8, 8)),
    ("maxpool(2)", lambda: nn.MaxPool2d(2), (2, 3, 8, 8)),
    ("avgpool(2)", lambda: nn.AvgPool2d(2), (2, 3, 8, 8)),
    ("adaptive_avgpool(2)", lambda: nn.AdaptiveAvgPool2d(2), (2, 3, 8, 8)),
    ("adaptive_maxpool(2)", lambda: nn.AdaptiveMaxPool2d(2), (2, 3, 8, 8)),
    ("dropout", lambda: nn.Dropout(), (2, 8)),
    ("relu", lambda: nn.ReLU(), (2, 8)),
    ("gelu", lambda: nn.GELU(), (2, 8)),
    ("sigmoid", lambda: nn.Sigmoid(), (2, 8)),
    ("tanh", lambda: nn.Tanh(), (2, 8)),
    ("elu", lambda: nn.ELU(), (2, 8)),
    ("prelu", lambda: nn.PReLU(), (2, 8)),
    ("hardtanh", lambda: nn.Hardtanh(), (2, 8)),
    ("upsample(scale_factor=2)", lambda: nn.Upsample(scale_factor=2), (2, 3, 8, 8)),
    ("lstm(4)", lambda: nn.LSTM(8, 4), (5, 2, 8)),
    ("transformer_encoder_layer(2)", lambda: nn.TransformerEncoderLayer(8, 2), (5, 2, 8)),
    ("flatten", lambda: nn.Flatten(), (2, 3, 4)),
]


@pytest.mark.parametrize(("stage", "build", "shape"), LONG_CASES, ids=[c[0] for c in LONG_CASES])
def test_long_inputs_as_torch(stage: str, build: Any, shape: tuple[int, ...]) -> None:
    want = layer_on_long(build, shape)
    dims = ", ".join(map(str, shape))
    source = f"network T(x: long[{dims}]):\n    x -> {stage}\n"
    if want is None:
        diag = error_of(source)
        if stage.startswith(("linear", "softmax")):
            assert "embedding" in diag.message and "float" in diag.message
    else:
        assert check(source).networks[0].outputs[0].dtype == want


# ---------------------------------------------------------------- nn names that are no layers


def test_nn_classes_that_are_not_layers() -> None:
    names = [name for name in dir(nn) if name[:1].isupper() and (
        not (inspect.isclass(getattr(nn, name)) and issubclass(getattr(nn, name), nn.Module))
        or getattr(nn, name).forward is nn.Module.forward)]
    assert "Parameter" in names
    for name in names:
        diag = error_of(f"network T(x: [B, 16, 8, 8]):\n    x -> nn.{name}(16, 1, 1) : "
                        f"[B, 16, 8, 8]\n")
        assert f"nn.{name}" in diag.message


# ---------------------------------------------------------------- squeeze


def test_squeezing_a_symbolic_dimension() -> None:
    # torch's result depends on T: the rank after squeeze(1) is not known before run time
    assert torch.randn(2, 1, 4).squeeze(1).dim() != torch.randn(2, 3, 4).squeeze(1).dim()
    diag = error_of("network T(x: [B, T, 4]):\n    x -> squeeze(1)\n")
    assert "T" in diag.message and "1" in diag.message
    agree("squeeze(1)", lambda: (lambda x: x.squeeze(1)), [(2, 3, 4)])  # a size != 1 stays


def test_squeeze_without_dim_warns_about_symbols() -> None:
    # torch removes the batch too when it is 1: the rank depends on B
    assert torch.randn(1, 1, 4).squeeze().dim() != torch.randn(2, 1, 4).squeeze().dim()
    program = check("network T(x: [B, 1, 4]):\n    x -> squeeze\n")
    assert [w.message for w in program.warnings if "squeeze(1)" in w.message]
    assert concrete(program.networks[0].outputs[0].shape, {"B": 2}) == tuple(
        torch.randn(2, 1, 4).squeeze().shape)


# ---------------------------------------------------------------- contiguity


@pytest.mark.parametrize(("body", "in_torch"), [
    ("x -> permute(0, 2, 1) -> view(B, 12)", lambda x: x.permute(0, 2, 1).view(2, 12)),
    ("x -> transpose(1, 2) -> view(B, -1)", lambda x: x.transpose(1, 2).view(2, -1)),
    ("x -> permute(0, 2, 1) -> relu -> view(B, 12)",
     lambda x: torch.relu(x.permute(0, 2, 1)).view(2, 12)),
    ("x -> transpose(1, 2) -> unsqueeze(1) -> view(B, 12)",
     lambda x: x.transpose(1, 2).unsqueeze(1).view(2, 12)),
    ("a, b = x -> chunk(2, dim=-1)\n    return a -> view(B, 6)",
     lambda x: x.chunk(2, dim=-1)[0].view(2, 6)),
])
def test_view_of_a_non_contiguous_tensor(body: str, in_torch: Any) -> None:
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        in_torch(torch.randn(2, 3, 4))
    source = f"network T(x: [B, 3, 4]):\n    {body}\n"
    diag = error_of(source)
    assert "reshape" in diag.message
    fixed = apply_fix(source, diag)
    view = re.search(r"view\([^)]*\)", body).group(0)  # type: ignore[union-attr]
    assert fixed == source.replace(view, "re" + view.replace("view", "shape"))
    shapes, _ = run_module(fixed, torch.randn(2, 3, 4))
    assert [concrete(check(fixed).networks[0].outputs[0].shape, {"B": 2})] == shapes


def test_view_that_torch_allows_on_a_permuted_tensor() -> None:
    # splitting the last dimension keeps the memory order: torch's view works
    source = "network T(x: [B, 3, 4]):\n    x -> permute(0, 2, 1) -> view(B, 2, 2, 3)\n"
    shapes, _ = run_module(source, torch.randn(2, 3, 4))
    assert [concrete(check(source).networks[0].outputs[0].shape, {"B": 2})] == shapes


def test_norms_give_contiguous_tensors() -> None:
    source = "network T(x: [B, 3, 4]):\n    x -> permute(0, 2, 1) -> layernorm -> view(B, 12)\n"
    shapes, _ = run_module(source, torch.randn(2, 3, 4))
    assert shapes == [(2, 12)]


# ---------------------------------------------------------------- rebinding a size


REBIND = ("block K(w)(x: [B, C, H, W]):\n    w = w // 4\n    y = x -> conv(w, 1)\n"
          "    w = w // 4\n    return y -> conv(w, 1)\n\n"
          "network T(x: [B, 3, 8, 8]):\n    x -> K(32)\n")


def test_rebinding_a_size_twice() -> None:
    net = check(REBIND).networks[0]
    w1 = 32 // 4
    w2 = w1 // 4
    first, second = nn.Conv2d(3, w1, 1), nn.Conv2d(w1, w2, 1)
    out = second(first(torch.randn(2, 3, 8, 8)))
    assert concrete(net.outputs[0].shape, {"B": 2}) == tuple(out.shape)
    assert net.params == sum(p.numel() for m in (first, second) for p in m.parameters())


def test_rebinding_a_size_generated_module() -> None:
    shapes, params = run_module(REBIND, torch.randn(2, 3, 8, 8))
    assert (shapes, params) == ([(2, 2, 8, 8)], check(REBIND).networks[0].params)


# ---------------------------------------------------------------- code generation still to fix


def test_return_indices_generated_module() -> None:
    values, _ = nn.MaxPool2d(2, return_indices=True)(torch.randn(2, 3, 8, 8))
    shapes, _ = run_module("network T(x: [B, 3, 8, 8]):\n"
                           "    x -> maxpool(2, return_indices=true) -> relu\n",
                           torch.randn(2, 3, 8, 8))
    assert shapes == [tuple(values.shape)]


def test_reduction_keepdim_without_dim_generated_module() -> None:
    want = torch.mean(torch.randn(2, 3), dim=None, keepdim=True)
    shapes, _ = run_module("network T(x: [B, 3]):\n    x -> mean(keepdim=true)\n",
                           torch.randn(2, 3))
    assert shapes == [tuple(want.shape)]
