"""Attention against PyTorch itself: scaled_dot_product_attention, and the masks and forward
flags of nn.MultiheadAttention and the Transformer layers.

For random shapes, dtypes, masks and flags, netdsl's checker and torch must agree: the same
output shapes (the attention weights included, or none of them) and parameter count where
torch runs, a located netdsl error where torch raises, and netdsl's warning where torch
warns. The layers run in training mode, which netdsl checks (see docs/language.md). Then
FLOPs against FlopCounterMode, and small networks compiled, built and run, and put through
torch.fx, TorchScript, torch.export and torch.compile.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import netdsl
from netdsl.cost import annotate

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
TORCH_DTYPES = {"float": torch.float32, "double": torch.float64, "half": torch.float16,
                "bool": torch.bool, "long": torch.int64}

Spec = tuple[str, str, tuple[int, ...]]  # an input: name, dtype, shape


def lit(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "none" if value is None else repr(value)


def make(dtype: str, shape: tuple[int, ...]) -> torch.Tensor:
    if dtype == "bool":
        return torch.rand(shape) > 0.5
    if dtype == "long":
        return torch.randint(0, 2, shape)
    return torch.randn(shape).to(TORCH_DTYPES[dtype])


def netdsl_result(inputs: list[Spec], head: list[str], stage: str) -> tuple[Any, ...]:
    """Check a one-stage network: ("ok", output shapes, parameters, warned about masks) or
    ("error", message)."""
    params = ", ".join(f"{name}: {'' if dtype == 'float' else dtype}[{', '.join(map(str, s))}]"
                       for name, dtype, s in inputs)
    written = head[0] if len(head) == 1 else f"({', '.join(head)})"
    source = f"network T({params}):\n    {written} -> {stage}\n"
    try:
        program = netdsl.check_source(source, "t.net")
    except netdsl.NetDSLError as err:
        for d in err.diagnostics:
            assert d.line >= 1 and d.column >= 1, f"unlocated error: {d.message}"
        return ("error", err.diagnostics[0].message, source)
    net = program.networks[0]
    warned = any("different types" in w.message for w in program.warnings)
    return ("ok", [tuple(int(d) for d in tt.shape) for tt in net.outputs], net.params, warned,
            source)


def torch_result(run: Callable[[], Any], module: nn.Module | None = None) -> tuple[Any, ...]:
    """Run torch: ("ok", output shapes (None outputs left out), parameters, warned) or
    ("error", message)."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = run()
    except Exception as exc:  # torch raises RuntimeError, AssertionError, IndexError ...
        return ("error", f"{type(exc).__name__}: {exc}")
    outs = [out] if isinstance(out, torch.Tensor) else [t for t in out if t is not None]
    params = sum(p.numel() for p in module.parameters()) if module is not None else 0
    warned = any("mismatched" in str(w.message) for w in caught)
    return ("ok", [tuple(t.shape) for t in outs], params, warned)


def agree(got: tuple[Any, ...], want: tuple[Any, ...]) -> None:
    if want[0] == "ok":
        assert got[0] == "ok", f"torch runs it, netdsl says: {got[1]}\n{got[-1]}"
        assert got[1:4] == want[1:4], got[-1]  # shapes, parameters, the warning
    else:
        assert got[0] == "error", f"torch raises {want[1]}, netdsl accepts:\n{got[-1]}"


def head_of(names: list[str | None]) -> list[str]:
    """The input tuple as written: `none` for a mask not given, trailing ones left out."""
    while names and names[-1] is None:
        names.pop()
    return [name or "none" for name in names]


# ---------------------------------------------------------------- scaled dot product


def vary(d: Any, batch: list[int]) -> list[int]:
    """Batch dimensions for the key or value: the query's, some broadcast (1), some
    different, or fewer of them."""
    out = [d(st.sampled_from([b, b, b, 1, 2])) for b in batch]
    return out[d(st.integers(0, len(out))):] if d(st.integers(0, 3)) == 0 else out


def mask_shape(d: Any, weights: list[int]) -> tuple[int, ...]:
    """A mask shape near the attention weights' [..., L, S]: a suffix of them, with some
    dimensions 1 or wrong, sometimes one dimension more."""
    shape = weights[len(weights) - d(st.integers(1, len(weights))):]
    shape = [d(st.sampled_from([s, s, s, 1, s + 1])) for s in shape]
    if d(st.integers(0, 5)) == 0:
        shape = [d(st.sampled_from([1, 2])), *shape]
    return tuple(shape)


@SETTINGS
@given(st.data())
def test_scaled_dot_product_attention(data: Any) -> None:
    d = data.draw
    batch = [d(st.integers(1, 3)) for _ in range(d(st.integers(0, 3)))]
    length, source, e, ev = (d(st.integers(1, 4)) for _ in range(4))
    gqa = d(st.booleans()) and len(batch) >= 1
    kb, vb = vary(d, batch), vary(d, batch)
    if gqa and d(st.booleans()):  # fewer key and value heads, dividing the query's or not
        kb[-1:] = vb[-1:] = [d(st.sampled_from([1, 2, 3]))] if kb and vb else []
    dtype = d(st.sampled_from(["float", "float", "float", "double"]))
    q = ("q", dtype, (*batch, length, e))
    k = ("k", d(st.sampled_from([dtype] * 5 + ["half"])), (*kb, source,
                                                           d(st.sampled_from([e] * 4 + [e + 1]))))
    v = ("v", dtype, (*vb, d(st.sampled_from([source] * 4 + [source + 1])), ev))
    mask_kind = d(st.sampled_from([None, "bool", "bool", "float", "double", "long", "half"]))
    inputs = [q, k, v]
    if mask_kind is not None:
        inputs.append(("m", mask_kind, mask_shape(d, [*batch, length, source])))
    p = d(st.sampled_from([0.0, 0.0, 0.3, 1.0, 1.5]))
    causal, scale = d(st.booleans()), d(st.sampled_from([None, 0.5]))
    stage = (f"scaled_dot_product_attention(dropout_p={p}, is_causal={lit(causal)}, "
             f"scale={lit(scale)}, enable_gqa={lit(gqa)})")
    got = netdsl_result(inputs, [name for name, _, _ in inputs], stage)
    tensors = [make(dtype, shape) for _, dtype, shape in inputs]
    want = torch_result(lambda: F.scaled_dot_product_attention(
        *tensors[:3], attn_mask=tensors[3] if len(tensors) > 3 else None, dropout_p=p,
        is_causal=causal, scale=scale, enable_gqa=gqa))
    agree(got, want)


# ---------------------------------------------------------------- multi-head attention


def mask_input(d: Any, name: str, right: tuple[int, ...],
               wrong: list[tuple[int, ...]]) -> Spec | None:
    """No mask, or a mask of the right shape, or of a wrong one, of a random dtype."""
    kind = d(st.sampled_from([None, "right", "right", "right", "wrong"]))
    if kind is None:
        return None
    dtype = d(st.sampled_from(["bool", "bool", "float", "float", "double", "long"]))
    return (name, dtype, right if kind == "right" else d(st.sampled_from(wrong)))


def sequence(batched: bool, batch_first: bool, n: int, length: int, e: int) -> tuple[int, ...]:
    if not batched:
        return (length, e)
    return (n, length, e) if batch_first else (length, n, e)


def attention_masks(d: Any, names: tuple[str, str], batched: bool, n: int, heads: int,
                    length: int, source: int) -> tuple[Spec | None, Spec | None]:
    """A key padding mask ([N, S], or [S] unbatched) and an attention mask ([L, S] or
    [N * heads, L, S]; [heads, L, S] unbatched), each right, wrong or not given."""
    padding = mask_input(d, names[0], (n, source) if batched else (source,),
                         [(source,), (n, length + 1), (n + 1, source), (n, source, 1), (1, source)])
    attn_right = d(st.sampled_from([(length, source), (n * heads, length, source)]))
    attn = mask_input(d, names[1], attn_right,
                      [(1, length, source), (heads + 1, length, source), (length, source + 1),
                       (source,), (1, n * heads, length, source)])
    return padding, attn


@SETTINGS
@given(st.data())
def test_multihead_attention_masks_and_flags(data: Any) -> None:
    d = data.draw
    heads, head_dim = d(st.integers(1, 3)), d(st.integers(1, 3))
    e = heads * head_dim
    batched, batch_first = d(st.booleans()), d(st.booleans())
    n, length = d(st.integers(1, 3)), d(st.integers(1, 4))
    cross = d(st.booleans())
    source = d(st.integers(1, 4)) if cross else length
    flags = {name: d(st.booleans()) for name in ("need_weights", "average_attn_weights",
                                                  "is_causal", "add_bias_kv", "add_zero_attn")}
    padding, attn = attention_masks(d, ("kpm", "am"), batched, n, heads, length, source)
    q = ("q", "float", sequence(batched, batch_first, n, length, e))
    k = ("k", "float", sequence(batched, batch_first, n, source, e))
    inputs = [q, k, *[m for m in (padding, attn) if m is not None]]
    names = ["q", "k" if cross else "q", "k" if cross else "q",
             padding and padding[0], attn and attn[0]]
    head = head_of(names)
    if head == ["q", "q", "q"] and d(st.booleans()):
        head = ["q"]  # self-attention written with one input
    args = ", ".join(f"{name}={lit(value)}" for name, value in flags.items())
    got = netdsl_result(inputs if cross else [i for i in inputs if i[0] != "k"], head,
                        f"multihead_attention({heads}, batch_first={lit(batch_first)}, {args})")
    layer = nn.MultiheadAttention(e, heads, batch_first=batch_first,
                                  add_bias_kv=flags["add_bias_kv"],
                                  add_zero_attn=flags["add_zero_attn"]).train()
    tensors = {name: make(dtype, shape) for name, dtype, shape in inputs}
    query = tensors["q"]
    key = tensors["k"] if cross else query
    want = torch_result(lambda: layer(
        query, key, key, key_padding_mask=tensors.get("kpm"), attn_mask=tensors.get("am"),
        need_weights=flags["need_weights"], average_attn_weights=flags["average_attn_weights"],
        is_causal=flags["is_causal"]), layer)
    agree(got, want)


@SETTINGS
@given(st.data())
def test_transformer_layers_masks(data: Any) -> None:
    d = data.draw
    heads, head_dim = d(st.integers(1, 3)), d(st.integers(1, 2))
    dm = heads * head_dim
    batched, batch_first = d(st.booleans()), d(st.booleans())
    n, length, source = d(st.integers(1, 3)), d(st.integers(1, 4)), d(st.integers(1, 4))
    decoder = d(st.booleans())
    args = f"{heads}, dim_feedforward=8, batch_first={lit(batch_first)}"
    cls = nn.TransformerDecoderLayer if decoder else nn.TransformerEncoderLayer
    layer = cls(dm, heads, dim_feedforward=8, batch_first=batch_first).train()
    x = ("x", "float", sequence(batched, batch_first, n, length, dm))
    if decoder:
        mem_batch = d(st.sampled_from([n, n, n, n + 1]))
        memory = ("mem", "float", sequence(batched, batch_first, mem_batch, source, dm))
        tgt_padding, tgt_mask = attention_masks(d, ("tkpm", "tm"), batched, n, heads, length,
                                                length)
        mem_padding, mem_mask = attention_masks(d, ("mkpm", "mm"), batched, n, heads, length,
                                                source)
        flags = {"tgt_is_causal": d(st.booleans()), "memory_is_causal": d(st.booleans())}
        masks = [tgt_mask, mem_mask, tgt_padding, mem_padding]
        inputs = [x, memory, *[m for m in masks if m is not None]]
        head = head_of(["x", "mem", *[m and m[0] for m in masks]])
    else:
        padding, attn = attention_masks(d, ("kpm", "am"), batched, n, heads, length, length)
        flags = {"is_causal": d(st.booleans())}
        inputs = [x, *[m for m in (attn, padding) if m is not None]]
        head = head_of(["x", attn and attn[0], padding and padding[0]])
    stage = (f"transformer_{'decoder' if decoder else 'encoder'}_layer({args}, "
             + ", ".join(f"{k}={lit(v)}" for k, v in flags.items()) + ")")
    got = netdsl_result(inputs, head, stage)
    t = {name: make(dtype, shape) for name, dtype, shape in inputs}
    if decoder:
        want = torch_result(lambda: layer(
            t["x"], t["mem"], tgt_mask=t.get("tm"), memory_mask=t.get("mm"),
            tgt_key_padding_mask=t.get("tkpm"), memory_key_padding_mask=t.get("mkpm"),
            **flags), layer)
    else:
        want = torch_result(lambda: layer(t["x"], src_mask=t.get("am"),
                                          src_key_padding_mask=t.get("kpm"), **flags), layer)
    agree(got, want)


# ---------------------------------------------------------------- FLOPs


META = torch.device("meta")


def netdsl_flops(inputs: list[Spec], head: list[str], stage: str) -> int:
    result = netdsl_result(inputs, head, stage)
    assert result[0] == "ok", result
    program = netdsl.check_source(result[-1])
    return int(annotate(program.networks[0]).flops)  # type: ignore[arg-type]


def meta_flops(run: Callable[..., Any], inputs: list[Spec]) -> int:
    tensors = [torch.zeros(shape, dtype=TORCH_DTYPES[dtype], device=META)
               for _, dtype, shape in inputs]
    with FlopCounterMode(display=False) as counter:
        run(*tensors)
    return counter.get_total_flops()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.data())
def test_sdpa_flops(data: Any) -> None:
    """FLOPs as FlopCounterMode counts them on the meta device, for shapes torch runs."""
    d = data.draw
    batch = [d(st.integers(1, 3)) for _ in range(d(st.integers(0, 3)))]
    length, source, e, ev = (d(st.integers(1, 5)) for _ in range(4))
    gqa = bool(batch) and d(st.booleans())
    kb = [d(st.sampled_from([b, 1])) for b in batch]
    kb = kb[d(st.integers(0, len(kb) - gqa)):]  # grouped heads need a heads dimension
    if gqa:
        kb[-1] = d(st.sampled_from([h for h in (1, batch[-1]) if batch[-1] % h == 0]))
    inputs = [("q", "float", (*batch, length, e)), ("k", "float", (*kb, source, e)),
              ("v", "float", (*kb, source, ev))]
    if d(st.booleans()):
        inputs.append(("m", d(st.sampled_from(["bool", "float"])), (length, source)))
    got = netdsl_flops(inputs, [i[0] for i in inputs],
                       f"scaled_dot_product_attention(enable_gqa={lit(gqa)})")
    want = meta_flops(lambda q, k, v, *m: F.scaled_dot_product_attention(
        q, k, v, attn_mask=m[0] if m else None, enable_gqa=gqa), inputs)
    assert got == want


@settings(max_examples=30, deadline=None, derandomize=True)
@given(heads=st.integers(1, 3), head_dim=st.integers(1, 3), length=st.integers(1, 4),
       source=st.integers(1, 4), n=st.integers(1, 3), need_weights=st.booleans(),
       padding=st.booleans(), attn=st.booleans())
def test_multihead_attention_flops_with_masks(heads: int, head_dim: int, length: int,
                                              source: int, n: int, need_weights: bool,
                                              padding: bool, attn: bool) -> None:
    """Masks and need_weights leave nn.MultiheadAttention's FLOPs as they are."""
    e = heads * head_dim
    inputs = [("q", "float", (n, length, e)), ("k", "float", (n, source, e))]
    if padding:
        inputs.append(("kpm", "bool", (n, source)))
    if attn:
        inputs.append(("am", "float", (length, source)))
    head = head_of(["q", "k", "k", "kpm" if padding else None, "am" if attn else None])
    got = netdsl_flops(inputs, head, f"multihead_attention({heads}, batch_first=true, "
                                     f"need_weights={lit(need_weights)})")
    layer = nn.MultiheadAttention(e, heads, batch_first=True).to(META)
    want = meta_flops(lambda q, k, *masks: layer(
        q, k, k, key_padding_mask=masks[0] if padding else None,
        attn_mask=masks[-1] if attn else None, need_weights=need_weights), inputs)
    assert got == want


# ---------------------------------------------------------------- networks, compiled and run


NETWORK = """\
network Masked(x: [B, T, 32], padding: bool[B, T], future: bool[T, T], keep: bool[T, T]):
    h = (x, none, padding) -> transformer_encoder_layer(4, dim_feedforward=64, batch_first=true)
    a, weights = (h, h, h, padding, future) -> multihead_attention(4, batch_first=true,
                                                                   need_weights=false)
    q = a -> linear(32) -> reshape(B, T, 4, 8) -> transpose(1, 2)
    o = (q, q, q, keep) -> scaled_dot_product_attention(dropout_p=0.0)
    return o -> transpose(1, 2) -> reshape(B, T, 32)
"""
SIZES = {"B": 2, "T": 5}


def masked_inputs() -> list[torch.Tensor]:
    """Masks no row of which leaves every key out (that would give NaN): the last position
    padded in each sequence, a causal mask (true: left out, for nn.MultiheadAttention) and
    its opposite (true: attended, for scaled_dot_product_attention)."""
    b, t = SIZES["B"], SIZES["T"]
    torch.manual_seed(0)
    padding = torch.zeros(b, t, dtype=torch.bool)
    padding[:, -1] = True
    future = torch.ones(t, t, dtype=torch.bool).triu(1)
    return [torch.randn(b, t, 32), padding, future, ~future]


def built() -> tuple[nn.Module, list[torch.Tensor], Any]:
    program = netdsl.check_source(NETWORK, "masked.net")
    torch.manual_seed(0)
    return netdsl.build(program, "Masked")().eval(), masked_inputs(), program.networks[0]


def test_masked_network_runs_with_checks_shapes() -> None:
    model, inputs, net = built()
    with torch.no_grad():
        out = model(*inputs)
    assert tuple(out.shape) == tuple(int(d) if isinstance(d, int) else SIZES[str(d)]
                                     for d in net.outputs[0].shape)
    assert net.params == sum(p.numel() for p in model.parameters())
    assert not torch.isnan(out).any()


def test_forward_flags_are_passed_in_forward_never_to_the_constructor() -> None:
    code = netdsl.to_pytorch(netdsl.check_source(NETWORK, "masked.net"))
    assert "nn.MultiheadAttention(32, 4, batch_first=True)" in code
    assert "key_padding_mask=padding, attn_mask=future, need_weights=False" in code
    assert "src_key_padding_mask=padding" in code
    assert "F.scaled_dot_product_attention(q, q, q, attn_mask=keep)" in code


def test_the_weights_without_need_weights_are_none() -> None:
    model, inputs, _ = built()
    seen: list[Any] = []
    model.attn1.register_forward_hook(lambda m, args, out: seen.append(out))
    with torch.no_grad():
        model(*inputs)
    assert seen[0][1] is None
    source = NETWORK.replace("return o -> transpose(1, 2) -> reshape(B, T, 32)",
                             "return weights -> relu")
    with pytest.raises(netdsl.NetDSLError, match="applied to tensors, got none"):
        netdsl.check_source(source)


def same(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("tool", ["fx", "torchscript", "export"])
def test_masked_network_with_pytorchs_tools(tool: str) -> None:
    model, inputs, _ = built()
    with torch.no_grad():
        expected = model(*inputs)
    if tool == "fx":
        converted: Any = torch.fx.symbolic_trace(model)
    elif tool == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript's deprecation notice
            converted = torch.jit.script(model)
    else:
        converted = torch.export.export(model, tuple(inputs)).module()
    with torch.no_grad():
        same(converted(*inputs), expected)


def test_masked_network_with_torch_compile_fullgraph() -> None:
    """In a process of its own: torch.compile adds an attribute to nn.Module for the rest of
    the process (dynamo's ___needs_generation_tag_patch), which tests/test_naming.py, holding
    netdsl's list to nn.Module's attributes, would then see."""
    script = ("import sys, torch\n"
              f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
              "from test_attention_torch import built, same\n"
              "model, inputs, _ = built()\n"
              "compiled = torch.compile(model, fullgraph=True, backend='eager')\n"
              "with torch.no_grad():\n"
              "    same(compiled(*inputs), model(*inputs))\n"
              "print('same')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("same")


# ---------------------------------------------------------------- located errors


@pytest.mark.parametrize(("stage", "message"), [
    ("(q, none, q) -> multihead_attention(4, batch_first=true)",
     "layers and blocks are applied to tensors, got none"),
    ("(q, q, q) -> multihead_attention(4, batch_first=true, is_causal=true)",
     "is_causal=true needs attn_mask"),
    ("(q, q, q, none, wrong) -> multihead_attention(4, batch_first=true)",
     "attn_mask must be [L, S] = [5, 5]"),
    ("(q, q, q, m) -> scaled_dot_product_attention(is_causal=true)",
     "a mask or is_causal=true, not both"),
    ("(q, pad) -> transformer_encoder_layer(4, batch_first=true)",
     "src_mask must be [L, S] = [5, 5], but it is bool[B, 5]"),
])
def test_attention_errors_are_located(stage: str, message: str) -> None:
    source = ("network E(q: [B, 5, 8], pad: bool[B, 5], wrong: bool[5, 4], m: bool[5, 5]):\n"
              f"    {stage}\n")
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.check_source(source)
    diag = info.value.diagnostics[0]
    assert message in diag.message
    assert (diag.line, diag.column) == (2, 5 + stage.index("->") + 3)
