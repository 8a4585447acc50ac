"""Attention shape rules: F.scaled_dot_product_attention, nn.MultiheadAttention and the
Transformer layers, their masks and forward flags included.

PyTorch's own formulas, as netdsl/shapes.py writes them for the other layer families (this
module keeps shapes.py to a readable size); a rule receives the inputs and bound arguments
and returns what PyTorch would produce, or raises ShapeError with the reason PyTorch would
reject the call.

Masks are further inputs, in the order of torch's `forward`; an input written `none` reaches
a rule as None. The layers are checked as they run in training mode: in evaluation mode
without gradients PyTorch takes fast paths that accept a little more (`is_causal` without a
mask, a float64 mask with float32 inputs), so what netdsl accepts runs in both modes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .dims import Dim, dim_str, shape_str
from .dtypes import canonical, promote_types
from .shapes import (
    FLOAT_DTYPES,
    TT,
    Applied,
    Call,
    ShapeError,
    broadcast,
    check_given,
    need_int,
    positive,
)

# ---------------------------------------------------------------- dtypes

def _dtype(t: TT) -> str:
    return canonical(t.dtype)


def _float_input(call: Call, t: TT, what: str) -> None:
    if t.dtype not in FLOAT_DTYPES:
        raise ShapeError(f"{call.name} needs a floating-point {what}, but its {what} is {t}; "
                         f"integer indices go through embedding(num_embeddings, embedding_dim) "
                         f"first, other values need a float input", explain=[])


def _mask_kind(mask: TT | None, name: str) -> None:
    """torch's _canonical_mask: a mask is bool (true: left out) or float (added to the
    scores); any other dtype is refused."""
    if mask is not None and mask.dtype != "bool" and mask.dtype not in FLOAT_DTYPES:
        raise ShapeError(f"{name} must be a bool or floating-point tensor, but it is {mask}",
                         fix="compare to make a bool mask, e.g. `mask == 0`")


def _mismatch_warning(padding: TT | None, attn: TT | None, names: tuple[str, str]) -> list[str]:
    if padding is None or attn is None or padding.dtype == attn.dtype:
        return []
    return [f"{names[0]} is {padding.dtype} but {names[1]} is {attn.dtype}: PyTorch warns that "
            f"masks of different types are deprecated; give both the same type"]


# ---------------------------------------------------------------- scaled dot product


def scaled_dot_product_attention(call: Call) -> Applied:
    """F.scaled_dot_product_attention: [..., L, E], [..., S, E], [..., S, Ev] -> [..., L, Ev],
    batch dimensions broadcast as torch.matmul broadcasts them (its reference
    implementation: scores = q @ k^T, the mask added in place, scores @ v)."""
    a = call.a
    ins = call.inputs
    q, k, v = ins[0], ins[1], ins[2]
    mask = ins[3] if len(ins) > 3 else None
    names = ("query", "key", "value")
    for i, t in enumerate((q, k, v)):
        if t.rank < 2:
            raise ShapeError(f"scaled_dot_product_attention needs a query, key and value of at "
                             f"least 2 dimensions ([..., L, E], [..., S, E], [..., S, Ev]), but "
                             f"the {names[i]} is {t}")
    _float_input(call, q, "query")
    if _dtype(k) != _dtype(q) or _dtype(v) != _dtype(q):
        raise ShapeError(f"scaled_dot_product_attention needs a query, key and value of one "
                         f"dtype, but they are {q}, {k} and {v}")
    if mask is not None and mask.dtype != "bool" and _dtype(mask) not in ("float", _dtype(q)):
        raise ShapeError(f"the mask must be bool, float or the query's dtype, but it is {mask} "
                         f"and the query {q}")
    p = a["dropout_p"]
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0 <= p <= 1:
        raise ShapeError(f"dropout_p must be a probability between 0 and 1, got {p!r}")
    scale = a["scale"]
    if scale is not None and (not isinstance(scale, (int, float)) or isinstance(scale, bool)):
        raise ShapeError(f"scale must be a number or none, got {scale!r}")
    if a["is_causal"] and mask is not None:
        raise ShapeError("scaled_dot_product_attention takes a mask or is_causal=true, not both "
                         "(is_causal applies the lower-triangular mask itself)",
                         fix="leave out the mask, or is_causal")
    if a["enable_gqa"]:
        k, v = _grouped_query(q, k, v)
    if k.shape[-1] != q.shape[-1]:
        raise ShapeError(f"the query has {dim_str(q.shape[-1])} features and the key "
                         f"{dim_str(k.shape[-1])}; they must agree ([..., L, E] and [..., S, E])",
                         explain=[(0, q.rank - 1), (1, k.rank - 1)])
    if v.shape[-2] != k.shape[-2]:
        raise ShapeError(f"the key has {dim_str(k.shape[-2])} positions and the value "
                         f"{dim_str(v.shape[-2])}; they must agree ([..., S, E] and [..., S, Ev])",
                         explain=[(1, k.rank - 2), (2, v.rank - 2)])
    batch = broadcast([q.shape[:-2], k.shape[:-2]], "the attention of query and key")
    weights = (*batch, q.shape[-2], k.shape[-2])
    if mask is not None:
        _fits_in_place(mask, weights)
    try:
        out_batch = broadcast([batch, v.shape[:-2]], "the attention weights and value")
    except ShapeError as err:
        raise ShapeError(err.message, explain=[(2, i) for i in range(v.rank - 2)]) from None
    out = TT((*out_batch, q.shape[-2], v.shape[-1]), q.dtype)
    return Applied(out, "F.scaled_dot_product_attention")


def _grouped_query(q: TT, k: TT, v: TT) -> tuple[TT, TT]:
    """enable_gqa: the key and value heads (dimension -3) repeated to the query's."""
    for name, t in (("query", q), ("key", k), ("value", v)):
        if t.rank < 3:
            raise ShapeError(f"enable_gqa needs heads in dimension -3 ([..., H, L, E]), but the "
                             f"{name} is {t}")
    heads = q.shape[-3]
    out = []
    for name, t in (("key", k), ("value", v)):
        if t.shape[-3] != heads:
            have = need_int(t.shape[-3], f"the {name}'s heads")
            want = need_int(heads, "the query's heads")
            if have <= 0 or want % have:
                raise ShapeError(f"enable_gqa needs the query's heads ({want}) to be a multiple "
                                 f"of the {name}'s ({have})")
        out.append(TT((*t.shape[:-3], heads, *t.shape[-2:]), t.dtype))
    return out[0], out[1]


def _fits_in_place(mask: TT, weights: tuple[Dim, ...]) -> None:
    """torch adds the mask to the attention weights in place: it must broadcast to their
    shape [..., L, S] without enlarging it."""
    shown = shape_str(list(weights))
    if mask.rank == 0 or mask.rank > len(weights):
        raise ShapeError(f"the mask {mask} must broadcast to the attention weights {shown} "
                         f"([..., L, S]), with at most {len(weights)} dimensions")
    for axis in range(1, mask.rank + 1):
        m, w = mask.shape[-axis], weights[-axis]
        if m != 1 and m != w:
            raise ShapeError(f"the mask {mask} does not broadcast to the attention weights "
                             f"{shown} ([..., L, S]): {dim_str(m)} against {dim_str(w)}",
                             explain=[(3, mask.rank - axis)])


# ---------------------------------------------------------------- multi-head attention


def _attention_params(e: int, kdim: int, vdim: int, bias: bool, bias_kv: bool) -> int:
    if kdim == e and vdim == e:
        params = 3 * e * e
    else:
        params = e * e + e * kdim + e * vdim
    if bias:
        params += 3 * e
    params += e * e + (e if bias else 0)
    if bias_kv:
        params += 2 * e
    return params


def _sequence_axes(x: TT, batch_first: bool, layer: str) -> None:
    if x.rank not in (2, 3):
        raise ShapeError(f"{layer} expects a 3-dimensional input "
                         f"{'[N, L, E]' if batch_first else '[L, N, E]'} (or 2-dimensional "
                         f"unbatched), got {x}")


@dataclass(frozen=True, slots=True)
class Attention:
    """One call of nn.MultiheadAttention's forward, as far as its masks go: the query and
    key, the masks (None: not given), the flags, and how the source names each mask (and
    where it is among the layer's inputs, for the derivation of its sizes)."""

    query: TT
    key: TT
    heads: int
    batch_first: bool
    padding: TT | None
    attn: TT | None
    need_weights: bool
    is_causal: bool
    names: tuple[str, str, str]  # key_padding_mask, attn_mask, is_causal
    at: tuple[int, int]  # the input positions of the two masks

    @property
    def batched(self) -> bool:
        return self.query.rank == 3

    def sizes(self) -> tuple[Dim, Dim, Dim]:
        """N (1 unbatched), L and S."""
        if not self.batched:
            return 1, self.query.shape[0], self.key.shape[0]
        b, seq = (0, 1) if self.batch_first else (1, 0)
        return self.query.shape[b], self.query.shape[seq], self.key.shape[seq]


def _check_masks(att: Attention) -> None:
    """The checks of F.multi_head_attention_forward on the masks: their ranks, that
    is_causal comes with a mask, their exact shapes, and the dtype of the mask the scores
    are added to."""
    q, padding, attn = att.query, att.padding, att.attn
    padding_name, attn_name, causal_name = att.names
    n, length, source = att.sizes()
    if padding is not None and padding.rank != (2 if att.batched else 1):
        form = "[N, S]" if att.batched else "[S]"
        kind = "batched" if att.batched else "unbatched"
        raise ShapeError(f"{padding_name} must be {form} for the {kind} query {q}, but it is "
                         f"{padding}")
    if attn is not None and attn.rank not in (2, 3):
        raise ShapeError(f"{attn_name} must be [L, S] or [N * num_heads, L, S], but it is {attn}")
    if attn is not None and not att.batched and attn.rank == 3 and attn.shape != (
            att.heads, length, source):
        raise ShapeError(f"{attn_name} must be [L, S] = [{dim_str(length)}, {dim_str(source)}] "
                         f"or [num_heads, L, S] = [{att.heads}, {dim_str(length)}, "
                         f"{dim_str(source)}] for an unbatched query, but it is {attn}",
                         explain=[(att.at[1], 0)])
    if att.is_causal and attn is None:
        raise ShapeError(f"{causal_name}=true needs {attn_name}: PyTorch takes is_causal as a "
                         f"hint that {attn_name} is the causal mask, and the mask itself is "
                         f"required", fix=f"give {attn_name} (e.g. a lower-triangular mask)")
    # with the hint, no key padding and no weights, torch drops the mask for its own causal one
    dropped = att.is_causal and padding is None and not att.need_weights
    if attn is not None and not dropped:
        exact: tuple[Dim, ...] = (length, source) if attn.rank == 2 else (
            n * att.heads, length, source)
        if attn.shape != exact:
            form = "[L, S]" if attn.rank == 2 else "[N * num_heads, L, S]"
            raise ShapeError(f"{attn_name} must be {form} = {shape_str(list(exact))}, but it is "
                             f"{attn}", explain=[(att.at[1], attn.rank - 2)])
    if padding is not None:
        exact = (n, source) if att.batched else (source,)
        if padding.shape != exact:
            raise ShapeError(f"{padding_name} must be {'[N, S]' if att.batched else '[S]'} = "
                             f"{shape_str(list(exact))}, but it is {padding}",
                             explain=[(att.at[0], padding.rank - 1)])
    # the scores are added to one float mask: bool masks become the query's dtype
    added = [_dtype(q) if m.dtype == "bool" else _dtype(m)
             for m in (padding, None if dropped else attn) if m is not None]
    if added:
        merged = added[0] if len(added) == 1 else promote_types(added[0], added[1])
        allowed = (_dtype(q),) if att.need_weights else (_dtype(q), "float")
        if merged not in allowed:
            raise ShapeError(f"a float mask must have the query's dtype ({q.dtype}), but the "
                             f"masks add up to {merged}")


def _weights(att: Attention, extra: int, average: bool) -> TT | None:
    """The attention weights nn.MultiheadAttention returns: None without need_weights, else
    averaged over the heads or one per head, over S keys and the extra ones."""
    if not att.need_weights:
        return None
    n, length, source = att.sizes()
    keys = source + extra
    heads: tuple[Dim, ...] = () if average else (att.heads,)
    shape = (n, *heads, length, keys) if att.batched else (*heads, length, keys)
    return TT(shape, att.query.dtype)


def _flag(call: Call, name: str) -> bool:
    """A forward flag (False when the layer was written as nn.X(...), which takes none)."""
    return bool(call.a.get(name, name in ("need_weights", "average_attn_weights")))


def multihead_attention(call: Call) -> Applied:
    a = call.a
    ins = call.inputs
    if len(ins) == 2:
        raise ShapeError("multihead_attention takes one input (self-attention) or three "
                         "(query, key, value), and then key_padding_mask and attn_mask, got 2")
    q = ins[0]
    k, v = (ins[1], ins[2]) if len(ins) >= 3 else (q, q)
    padding = ins[3] if len(ins) > 3 else None
    attn = ins[4] if len(ins) > 4 else None
    for i, (name, t) in enumerate((("query", q), ("key", k), ("value", v))):
        _float_input(call, t, "input" if i == 0 else name)
    _sequence_axes(q, a["batch_first"], call.name)
    e = need_int(q.shape[-1], "embed_dim", " (the last dimension)")
    check_given(call, "embed_dim", e, q.rank - 1, "embedding features")
    heads = a["num_heads"]
    positive(heads, "num_heads")
    if e % heads:
        raise ShapeError(f"embed_dim {e} is not divisible by num_heads={heads}",
                         explain=[(0, q.rank - 1)])
    kdim = a["kdim"] if a["kdim"] is not None else e
    vdim = a["vdim"] if a["vdim"] is not None else e
    for name, t, want, idx in (("key", k, kdim, 1), ("value", v, vdim, 2)):
        if t.rank != q.rank:
            raise ShapeError(f"the {name} {t} must have as many dimensions as the query {q}")
        if t.shape[-1] != want:
            raise ShapeError(f"the {name} has {dim_str(t.shape[-1])} features, but "
                             f"{'kdim' if name == 'key' else 'vdim'} is {want}",
                             explain=[(idx, t.rank - 1)] if len(ins) >= 3 else [])
    if k.shape[:-1] != v.shape[:-1]:
        raise ShapeError(f"key {k} and value {v} must agree in all but the last dimension")
    if q.rank == 3:
        b_axis = 0 if a["batch_first"] else 1
        if q.shape[b_axis] != k.shape[b_axis]:
            raise ShapeError(f"query {q} and key {k} have different batch sizes")
    _mask_kind(padding, "key_padding_mask")
    _mask_kind(attn, "attn_mask")
    att = Attention(q, k, heads, a["batch_first"], padding, attn, _flag(call, "need_weights"),
                    _flag(call, "is_causal"), ("key_padding_mask", "attn_mask", "is_causal"),
                    (3, 4))
    _check_masks(att)
    # add_bias_kv appends a learned key and value, add_zero_attn a zero one: each is one
    # more key position the weights attend over
    extra = int(bool(a["add_bias_kv"])) + int(bool(a["add_zero_attn"]))
    weights = _weights(att, extra, _flag(call, "average_attn_weights"))
    params = _attention_params(e, kdim, vdim, a["bias"], a["add_bias_kv"])
    return Applied((TT(q.shape, q.dtype), weights), "MultiheadAttention", {"embed_dim": e},
                   params, warnings=_mismatch_warning(padding, attn, att.names[:2]))


# ---------------------------------------------------------------- Transformer layers


def _transformer_params(d: int, ff: int, bias: bool, attn_blocks: int, norms: int) -> int:
    attn = _attention_params(d, d, d, bias, False)
    linears = d * ff + (ff if bias else 0) + ff * d + (d if bias else 0)
    return attn * attn_blocks + linears + norms * d * (2 if bias else 1)


def _transformer_common(call: Call, x: TT) -> tuple[int, int]:
    a = call.a
    _float_input(call, x, "input")
    _sequence_axes(x, a["batch_first"], call.name)
    d = need_int(x.shape[-1], "d_model", " (the last dimension)")
    check_given(call, "d_model", d, x.rank - 1, "model features")
    positive(a["nhead"], "nhead")
    positive(a["dim_feedforward"], "dim_feedforward")
    if d % a["nhead"]:
        raise ShapeError(f"d_model {d} is not divisible by nhead={a['nhead']}",
                         explain=[(0, x.rank - 1)])
    if a["activation"] not in ("relu", "gelu"):
        raise ShapeError(f"activation must be \"relu\" or \"gelu\", got {a['activation']!r}")
    return d, a["dim_feedforward"]


def _masks(inputs: list[Any], first: int, count: int) -> list[TT | None]:
    """The `count` mask inputs from position `first`, None for one not given."""
    given = inputs[first:first + count]
    return [*given, *[None] * (count - len(given))]


def _attention_block(call: Call, x: TT, key: TT, padding: TT | None, attn: TT | None,
                     causal: str, names: tuple[str, str], at: tuple[int, int]) -> list[str]:
    """A Transformer layer's attention block: nn.MultiheadAttention without weights."""
    _mask_kind(padding, names[0])
    _mask_kind(attn, names[1])
    _check_masks(Attention(x, key, call.a["nhead"], call.a["batch_first"], padding, attn,
                           False, _flag(call, causal), (*names, causal), at))
    return _mismatch_warning(padding, attn, names)


def transformer_encoder_layer(call: Call) -> Applied:
    x = call.inputs[0]
    d, ff = _transformer_common(call, x)
    attn, padding = _masks(call.inputs, 1, 2)
    warnings = _attention_block(call, x, x, padding, attn, "is_causal",
                                ("src_key_padding_mask", "src_mask"), (2, 1))
    params = _transformer_params(d, ff, call.a["bias"], 1, 2)
    return Applied(TT(x.shape, x.dtype), "TransformerEncoderLayer", {"d_model": d}, params,
                   warnings=warnings)


def transformer_decoder_layer(call: Call) -> Applied:
    if len(call.inputs) < 2:
        raise ShapeError(f"transformer_decoder_layer takes (tgt, memory), got "
                         f"{len(call.inputs)} input(s)")
    tgt, memory = call.inputs[0], call.inputs[1]
    d, ff = _transformer_common(call, tgt)
    _float_input(call, memory, "memory")
    if memory.rank != tgt.rank or memory.shape[-1] != d:
        raise ShapeError(f"memory {memory} must have {tgt.rank} dimensions and {d} features "
                         f"like tgt {tgt}", explain=[(1, memory.rank - 1)])
    if tgt.rank == 3:
        b_axis = 0 if call.a["batch_first"] else 1
        if tgt.shape[b_axis] != memory.shape[b_axis]:
            raise ShapeError(f"tgt {tgt} and memory {memory} have different batch sizes",
                             explain=[(0, b_axis), (1, b_axis)])
    tgt_mask, memory_mask, tgt_padding, memory_padding = _masks(call.inputs, 2, 4)
    warnings = _attention_block(call, tgt, tgt, tgt_padding, tgt_mask, "tgt_is_causal",
                                ("tgt_key_padding_mask", "tgt_mask"), (4, 2))
    warnings += _attention_block(call, tgt, memory, memory_padding, memory_mask,
                                 "memory_is_causal", ("memory_key_padding_mask", "memory_mask"),
                                 (5, 3))
    params = _transformer_params(d, ff, call.a["bias"], 2, 3)
    return Applied(TT(tgt.shape, tgt.dtype), "TransformerDecoderLayer", {"d_model": d}, params,
                   warnings=warnings)
