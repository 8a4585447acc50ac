"""What a checked network costs before it is trained: FLOPs and bytes, without torch.

A pass over a network's nodes (torch.fx style) that writes into each node's ``meta``:

* ``meta["flops"]``: floating-point operations of one forward pass, counted exactly as
  ``torch.utils.flop_counter.FlopCounterMode`` counts them (2 per multiply-add of
  convolutions, transposed convolutions, matrix products and attention; 0 for what it does
  not count: norms, pooling, activations, embeddings, element-wise ops). ``None`` for an
  ``nn.`` class outside the catalogue, whose inside netdsl does not know.
* ``meta["output_bytes"]``: the bytes of every tensor the node returns.
* ``meta["buffer_bytes"]``: the bytes of the module's buffers (BatchNorm's running stats).

Every figure is a :data:`~netdsl.dims.Dim`: an int, or a polynomial in the symbolic sizes
(``B``, ``T``) when the shapes hold some. :func:`at_sizes` evaluates one with some symbols
given (``B = 1`` for figures per sample).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .dims import Dim, SInt, Sym
from .einsum import flops as einsum_flops
from .sources import buffers as constant_buffers

if TYPE_CHECKING:
    from .ir import Network
    from .values import Node

DTYPE_BYTES = {
    "float": 4, "float32": 4, "float64": 8, "double": 8, "half": 2, "float16": 2, "bfloat16": 2,
    "long": 8, "int64": 8, "int": 4, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1,
}
PARAM_BYTES = 4  # generated modules build their parameters in torch's default dtype, float32
INDEX_BYTES = 8  # BatchNorm's num_batches_tracked is an int64

# optimiser name -> state bytes per parameter byte (momentum buffer; Adam's two moments)
OPTIMISER_STATE = {"sgd": 0, "sgd-momentum": 1, "adam": 2, "adamw": 2}

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4, "RNNCell": 1, "GRUCell": 3, "LSTMCell": 4}


# ---------------------------------------------------------------- symbolic figures


def at_sizes(value: Dim, sizes: dict[str, int]) -> Dim:
    """`value` with the named symbols replaced by the given sizes (the others stay)."""
    if not isinstance(value, Sym):
        return value
    terms: dict[tuple[str, ...], int] = {}
    for monomial, coeff in value.terms:
        kept: list[str] = []
        for name in monomial:
            if name in sizes:
                coeff *= sizes[name]
            else:
                kept.append(name)
        key = tuple(kept)
        terms[key] = terms.get(key, 0) + coeff
    return Sym._make(terms)


def per_sample(value: Dim) -> Dim:
    """The figure for one sample: the batch symbol B set to 1."""
    return at_sizes(value, {"B": 1})


def total(values: list[Dim]) -> Dim:
    """The sum, gathered in one pass (adding polynomials pairwise would sort them each time)."""
    if len(values) == 1:
        return values[0]
    terms: dict[tuple[str, ...], int] = {}
    constant = 0
    for v in values:
        if isinstance(v, Sym):
            for monomial, coeff in v.terms:
                terms[monomial] = terms.get(monomial, 0) + coeff
        else:
            constant += v
    if not terms:
        return constant
    terms[()] = terms.get((), 0) + constant
    return Sym._make(terms)


def scaled(dims: tuple[Dim, ...] | list[Dim], factor: int) -> Dim:
    """factor x the product of `dims`: the integers multiplied first, so that a symbolic
    shape costs one polynomial product per symbol, not one per dimension."""
    coeff = int(factor)
    symbols: list[Sym] = []
    for d in dims:
        if isinstance(d, Sym):
            symbols.append(d)
        else:
            coeff *= int(d)  # a plain int: an SInt would build an expression for nothing
    if not symbols or coeff == 0:
        return coeff
    result: Dim = symbols[0]
    for sym in symbols[1:]:
        result = sym * result
    if not isinstance(result, Sym):
        return result * coeff
    return Sym(tuple((monomial, c * coeff) for monomial, c in result.terms))  # order kept


# ---------------------------------------------------------------- FLOPs per layer


def _tuple(value: Any, n: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


def conv_flops(cls: str, args: dict[str, Any], x: tuple[Dim, ...], out: tuple[Dim, ...]) -> Dim:
    """FlopCounterMode's conv_flop_count: 2 x batch x C_out x C_in/groups x kernel x the
    output positions (the input positions for a transposed convolution)."""
    n = int(cls[-2])
    batch = x[0]
    kernel = math.prod(_tuple(args["kernel_size"], n))
    c_in, c_out, groups = args["in_channels"], args["out_channels"], args["groups"]
    if cls.startswith("ConvTranspose"):
        return scaled((batch, *x[-n:]), 2 * kernel * c_in * (c_out // groups))
    return scaled((batch, *out[-n:]), 2 * kernel * c_out * (c_in // groups))


def attention_flops(q_len: Dim, k_len: Dim, batch: Dim, e: int, kdim: int, vdim: int,
                    extra_keys: int = 0) -> Dim:
    """nn.MultiheadAttention's forward: the q, k, v projections, the two batched products
    of the attention (scores and weighted values, over all heads: E in total) and the output
    projection. add_bias_kv and add_zero_attn each add a key after the projections."""
    proj = 2 * batch * (q_len * e * e + k_len * kdim * e + k_len * vdim * e)
    keys = k_len + extra_keys
    attend = 2 * 2 * batch * q_len * keys * e
    out = 2 * batch * q_len * e * e
    return proj + attend + out


def _sequence(t: tuple[Dim, ...], batch_first: bool) -> tuple[Dim, Dim]:
    """(batch, length) of a [N, L, E] / [L, N, E] / unbatched [L, E] tensor."""
    if len(t) == 2:
        return 1, t[0]
    return (t[0], t[1]) if batch_first else (t[1], t[0])


def recurrent_flops(cls: str, args: dict[str, Any], x: tuple[Dim, ...]) -> Dim:
    """nn.RNN/GRU/LSTM: per layer, direction and time step, the input-to-hidden and
    hidden-to-hidden matrix products of every gate (and LSTM's projection). On CPU the
    fused LSTM kernel hides them from FlopCounterMode; on the meta device it runs them as
    the addmm calls counted here."""
    batch, steps = _sequence(x, args["batch_first"]) if len(x) == 3 else (1, x[0])
    hidden, gates = args["hidden_size"], GATES[cls] * args["hidden_size"]
    proj = args.get("proj_size", 0) or 0
    h_out = proj or hidden
    dirs = 2 if args["bidirectional"] else 1
    per_step = 0
    for layer in range(args["num_layers"]):
        in_size = args["input_size"] if layer == 0 else h_out * dirs
        per_step += dirs * (in_size * gates + h_out * gates + (hidden * proj if proj else 0))
    return 2 * batch * steps * per_step


def cell_flops(cls: str, args: dict[str, Any], x: tuple[Dim, ...]) -> Dim:
    batch = x[0] if len(x) == 2 else 1
    gates = GATES[cls] * args["hidden_size"]
    return 2 * batch * gates * (args["input_size"] + args["hidden_size"])


def transformer_flops(cls: str, args: dict[str, Any], tgt: tuple[Dim, ...],
                      memory: tuple[Dim, ...] | None) -> Dim:
    d, ff = args["d_model"], args["dim_feedforward"]
    batch, length = _sequence(tgt, args["batch_first"])
    flops = attention_flops(length, length, batch, d, d, d)
    if memory is not None:  # the decoder's attention over the encoder's memory
        _, mem_len = _sequence(memory, args["batch_first"])
        flops = flops + attention_flops(length, mem_len, batch, d, d, d)
    return flops + 2 * 2 * batch * length * d * ff


def matmul_flops(a: tuple[Dim, ...], b: tuple[Dim, ...]) -> Dim:
    """torch.matmul as FlopCounterMode sees it: mm/bmm after broadcasting the batch; a
    product with a vector on the right runs as mv or dot, which it does not count. So does a
    vector times a batch of matrices when torch folds the batch into one matrix: it does when
    the inner size is 1 (or when the vector requires grad, which a shape does not tell)."""
    if len(b) < 2 or (len(a) == 1 and len(b) >= 3 and isinstance(b[-2], int) and b[-2] == 1):
        return 0
    m: Dim = a[-2] if len(a) >= 2 else 1
    batch_a, batch_b = a[:-2], b[:-2]
    batch: list[Dim] = []
    for i in range(max(len(batch_a), len(batch_b))):
        da = batch_a[len(batch_a) - 1 - i] if i < len(batch_a) else 1
        db = batch_b[len(batch_b) - 1 - i] if i < len(batch_b) else 1
        batch.append(db if isinstance(da, int) and da == 1 else da)
    return scaled((*batch, m, b[-2], b[-1]), 2)


def sdpa_flops(q: tuple[Dim, ...], k: tuple[Dim, ...], v: tuple[Dim, ...],
               grouped: bool) -> Dim:
    """F.scaled_dot_product_attention as FlopCounterMode counts it on the meta device, where
    torch runs its reference implementation: the scores q @ k^T and the weighted values
    scores @ v, two matrix products (enable_gqa repeats the key and value heads first). This
    is also what its sdpa formula counts for the fused GPU kernels; on CPU the fused flash
    kernel is not counted at all (0)."""
    if grouped:
        k = (*k[:-3], q[-3], *k[-2:])
        v = (*v[:-3], q[-3], *v[-2:])
    scores = matmul_flops(q, (*k[:-2], k[-1], k[-2]))
    batch = _broadcast_batch(q[:-2], k[:-2])
    return scores + matmul_flops((*batch, q[-2], k[-2]), v)


def _broadcast_batch(a: tuple[Dim, ...], b: tuple[Dim, ...]) -> tuple[Dim, ...]:
    """The batch dimensions two shapes broadcast to (the checker made sure they do)."""
    out: list[Dim] = []
    for i in range(max(len(a), len(b)), 0, -1):
        da = a[len(a) - i] if i <= len(a) else 1
        db = b[len(b) - i] if i <= len(b) else 1
        out.append(db if isinstance(da, int) and da == 1 else da)
    return tuple(out)


def node_flops(node: Node) -> Dim | None:
    """The FLOPs of one layer or tensor operation (blocks are the sum of their inside)."""
    if node.kind == "op":
        if node.op == "matmul":
            return matmul_flops(node.inputs[0].shape, node.inputs[1].shape)
        if node.op == "scaled_dot_product_attention":
            q, k, v = (t.shape for t in node.inputs[:3])
            return sdpa_flops(q, k, v, grouped=bool(node.meta["args"].get("enable_gqa")))
        if node.op == "einsum":  # its matrix products (bmm), as netdsl/einsum.py says
            return einsum_flops(node.meta["args"]["equation"], [t.shape for t in node.inputs])
        return 0  # rearrange and the other reshapes, cat, element-wise ops: nothing counted
    cls = node.meta.get("cls", "")
    if node.op.startswith("nn.") or not cls:
        return None  # outside the catalogue: its inside is unknown
    # plain ints: the sizes are SInts, whose arithmetic would build expressions for nothing
    args: dict[str, Any] = {k: int(v) if v.__class__ is SInt else v
                            for k, v in node.meta["args"].items()}
    x = node.inputs[0].shape if node.inputs else ()
    if cls.startswith(("Conv", "ConvTranspose")) and cls[-1] == "d":
        return conv_flops(cls, args, x, node.outputs[0].shape)
    if cls == "Linear":
        return scaled(x[:-1], 2 * args["in_features"] * args["out_features"])
    if cls in ("RNN", "GRU", "LSTM"):
        return recurrent_flops(cls, args, x)
    if cls in ("RNNCell", "GRUCell", "LSTMCell"):
        return cell_flops(cls, args, x)
    if cls == "MultiheadAttention":
        e = args["embed_dim"]
        kdim = args["kdim"] if args.get("kdim") is not None else e
        vdim = args["vdim"] if args.get("vdim") is not None else e
        key = node.inputs[1].shape if len(node.inputs) >= 3 else x  # (then masks)
        batch, q_len = _sequence(x, args["batch_first"])
        _, k_len = _sequence(key, args["batch_first"])
        extra = int(bool(args.get("add_bias_kv"))) + int(bool(args.get("add_zero_attn")))
        return attention_flops(q_len, k_len, batch, e, kdim, vdim, extra)
    if cls == "TransformerEncoderLayer":
        return transformer_flops(cls, args, x, None)
    if cls == "TransformerDecoderLayer":
        return transformer_flops(cls, args, x, node.inputs[1].shape)
    return 0  # norms, pooling, activations, embeddings, reshapes: no counted op


# ---------------------------------------------------------------- bytes


def tensor_bytes(shape: tuple[Dim, ...], dtype: str) -> Dim:
    return scaled(shape, DTYPE_BYTES.get(dtype, 4))


def activation_bytes(node: Node) -> Dim:
    """What forward hooks on the innermost modules that run see this layer return. A
    Transformer layer is not such a module: its attention blocks, linear layers, dropouts
    and norms are, each with its own output ([N, L, E], or [N, L, dim_feedforward] for the
    first linear layer and the dropout after it); its activation is a function."""
    cls = node.meta.get("cls", "")
    if cls in ("TransformerEncoderLayer", "TransformerDecoderLayer"):
        tt = node.outputs[0]
        wide = (*tt.shape[:-1], node.meta["args"]["dim_feedforward"])
        narrow = 6 if cls == "TransformerEncoderLayer" else 9
        return (narrow * tensor_bytes(tt.shape, tt.dtype)) + 2 * tensor_bytes(wide, tt.dtype)
    return node.meta["output_bytes"]  # type: ignore[no-any-return]


def buffer_bytes(node: Node) -> int | None:
    """Running mean and variance (float32) and num_batches_tracked (int64) of a norm that
    tracks running statistics; no other catalogue layer has buffers."""
    if node.op.startswith("nn."):
        return None
    cls = node.meta.get("cls", "")
    args = node.meta.get("args", {})
    if cls.startswith(("BatchNorm", "InstanceNorm")) and args.get("track_running_stats"):
        return 2 * int(args["num_features"]) * PARAM_BYTES + INDEX_BYTES
    return 0


# ---------------------------------------------------------------- the pass


@dataclass(slots=True)
class NetworkCost:
    flops: Dim  # one forward pass, layers outside the catalogue left out
    param_bytes: int
    buffer_bytes: int
    activation_bytes: Dim  # every layer's outputs, as forward hooks on them see them
    input_bytes: Dim
    params: int
    unknown: list[str] = field(default_factory=list)  # layers whose FLOPs are not known

    def training_bytes(self, optimiser: str) -> Dim:
        """An estimate (docs/cost.md says what it leaves out): parameters, their gradients,
        the optimiser's state, buffers, and the activations autograd keeps for the backward
        pass, taken as every layer's output plus the network's inputs."""
        state = OPTIMISER_STATE[optimiser] * self.param_bytes
        return (2 * self.param_bytes + state + self.buffer_bytes + self.activation_bytes
                + self.input_bytes)


def annotate(net: Network) -> NetworkCost:
    """Write flops, output_bytes and buffer_bytes into every node's meta; return totals."""
    flops: list[Dim] = []
    activations: list[Dim] = []
    inputs: list[Dim] = []
    buffers = 0
    unknown: list[str] = []
    blocks: list[Node] = []
    for node in net.nodes:
        out_bytes = total([tensor_bytes(tt.shape, tt.dtype) for tt in node.outputs])
        node.meta["output_bytes"] = out_bytes
        if node.kind == "input":
            inputs.append(out_bytes)
            continue
        if node.kind == "block":
            blocks.append(node)
            continue
        if node.kind == "parameter":  # a tensor of the module: no computation, no activation
            node.meta["flops"] = 0
            continue
        if node.kind not in ("layer", "op"):
            continue
        count = node_flops(node)
        node.meta["flops"] = count
        if count is None:
            unknown.append(node.name or node.label)
        else:
            flops.append(count)
        if node.kind == "layer":
            hooked = activation_bytes(node)
            node.meta["activation_bytes"] = hooked
            activations.append(hooked)
            if node.meta.get("shared_with") is None:
                own = buffer_bytes(node)
                node.meta["buffer_bytes"] = own
                buffers += own or 0
    for constant in constant_buffers(net.nodes):  # computed once, kept as non-persistent buffers
        tt = constant.outputs[0]
        size = int(tensor_bytes(tt.shape, tt.dtype))  # type: ignore[arg-type]  # sizes known
        constant.meta["buffer_bytes"] = size
        buffers += size
    inside: dict[int, list[Dim]] = {id(block): [] for block in blocks}
    for node in net.nodes:  # a block use costs what the layers inside it cost
        count = node.meta.get("flops") if node.kind != "block" else None
        if count is not None:
            for block in node.scope:
                inside[id(block)].append(count)
    for block in blocks:
        block.meta["flops"] = total(inside[id(block)])
    return NetworkCost(total(flops), net.params * PARAM_BYTES, buffers, total(activations),
                       total(inputs), net.params, unknown)
