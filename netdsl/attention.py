"""Attention shape rules: nn.MultiheadAttention and the Transformer layers.

PyTorch's own formulas, as netdsl/shapes.py writes them for the other layer families (this
module keeps shapes.py to a readable size); a rule receives the inputs and bound arguments
and returns what PyTorch would produce, or raises ShapeError with the reason PyTorch would
reject the call.
"""

from __future__ import annotations

from .dims import dim_str
from .shapes import TT, Applied, Call, ShapeError, check_given, need_int, positive


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


def multihead_attention(call: Call) -> Applied:
    a = call.a
    ins = call.inputs
    if len(ins) not in (1, 3):
        raise ShapeError(f"multihead_attention takes one input (self-attention) or three "
                         f"(query, key, value), got {len(ins)}")
    q = ins[0]
    k, v = (ins[1], ins[2]) if len(ins) == 3 else (q, q)
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
                             explain=[(idx, t.rank - 1)] if len(ins) == 3 else [])
    if k.shape[:-1] != v.shape[:-1]:
        raise ShapeError(f"key {k} and value {v} must agree in all but the last dimension")
    # add_bias_kv appends a learned key and value, add_zero_attn a zero one: each is one
    # more key position the weights attend over
    extra = int(bool(a["add_bias_kv"])) + int(bool(a["add_zero_attn"]))
    if q.rank == 3:
        b_axis, l_axis = (0, 1) if a["batch_first"] else (1, 0)
        if q.shape[b_axis] != k.shape[b_axis]:
            raise ShapeError(f"query {q} and key {k} have different batch sizes")
        weights = TT((q.shape[b_axis], q.shape[l_axis], k.shape[l_axis] + extra), q.dtype)
    else:
        weights = TT((q.shape[0], k.shape[0] + extra), q.dtype)
    params = _attention_params(e, kdim, vdim, a["bias"], a["add_bias_kv"])
    return Applied((TT(q.shape, q.dtype), weights), "MultiheadAttention", {"embed_dim": e},
                   params)


def _transformer_params(d: int, ff: int, bias: bool, attn_blocks: int, norms: int) -> int:
    attn = _attention_params(d, d, d, bias, False)
    linears = d * ff + (ff if bias else 0) + ff * d + (d if bias else 0)
    return attn * attn_blocks + linears + norms * d * (2 if bias else 1)


def _transformer_common(call: Call, x: TT) -> tuple[int, int]:
    a = call.a
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


def transformer_encoder_layer(call: Call) -> Applied:
    x = call.inputs[0]
    d, ff = _transformer_common(call, x)
    params = _transformer_params(d, ff, call.a["bias"], 1, 2)
    return Applied(TT(x.shape, x.dtype), "TransformerEncoderLayer", {"d_model": d}, params)


def transformer_decoder_layer(call: Call) -> Applied:
    if len(call.inputs) != 2:
        raise ShapeError(f"transformer_decoder_layer takes (tgt, memory), got "
                         f"{len(call.inputs)} input(s)")
    tgt, memory = call.inputs
    d, ff = _transformer_common(call, tgt)
    if memory.rank != tgt.rank or memory.shape[-1] != d:
        raise ShapeError(f"memory {memory} must have {tgt.rank} dimensions and {d} features "
                         f"like tgt {tgt}", explain=[(1, memory.rank - 1)])
    params = _transformer_params(d, ff, call.a["bias"], 2, 3)
    return Applied(TT(tgt.shape, tgt.dtype), "TransformerDecoderLayer", {"d_model": d}, params)
