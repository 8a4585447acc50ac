"""Shape rules: PyTorch's own formulas, one function per layer family.

A rule receives the input tensor types and the layer's bound arguments and returns
what PyTorch would produce (output types, the torch class, the sizes it inferred,
the parameter count), or raises :class:`ShapeError` with the reason PyTorch would
reject the call at run time. Rules never see source positions: the checker adds
those, with the derivation of the sizes involved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from . import strides
from .dims import Dim, SInt, Sym, dim_str, exact_div, make_op, product, shape_str
from .dtypes import DTYPES, FLOAT_DTYPES, INT_DTYPES, canonical, result_type


@dataclass(frozen=True, slots=True)
class TT:
    """A tensor type: shape and dtype."""

    shape: tuple[Dim, ...]
    dtype: str = "float"
    # None: row-major (contiguous); else the strides of a view such as a permute's, which
    # `view` may not be able to reshape (see strides.py). Not part of a type's identity.
    strides: tuple[Dim, ...] | None = field(default=None, compare=False)

    @property
    def rank(self) -> int:
        return len(self.shape)

    def __str__(self) -> str:
        text = shape_str(self.shape)
        return text if self.dtype == "float" else f"{self.dtype}{text}"


class ShapeError(Exception):
    """Why PyTorch would reject this call. ``explain`` lists (input index, axis) pairs
    whose derivation the checker should print. ``rename``: the fix is the same call
    under another layer name (`view(...)` -> `reshape(...)`), which only the checker,
    holding the source text, can write out."""

    def __init__(self, message: str, *, fix: str | None = None,
                 explain: Sequence[tuple[int, int]] = (), rename: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.explain = list(explain)
        self.rename = rename


@dataclass(slots=True)
class Applied:
    outputs: Any  # a TT, or a (nested) tuple of TT for multi-output layers
    cls: str  # "Conv2d" (an nn class) or "torch.cat" (a function)
    inferred: dict[str, Any] = field(default_factory=dict)
    params: int = 0
    warnings: list[str] = field(default_factory=list)
    parents: dict[int, list[int]] | None = None  # output axis -> input-0 axes it came from
    # multi-output for these arguments only (maxpool(return_indices=true)): a pipeline
    # passes on the first output, as for a catalogue entry marked primary
    primary: bool = False


@dataclass(slots=True)
class Call:
    """What a rule sees: the layer's name, its arguments (defaults filled) and inputs."""

    name: str
    a: dict[str, Any]
    inputs: list[TT]
    given: AbstractSet[str]  # the argument names the user wrote


Rule = Callable[[Call], Applied]

# ---------------------------------------------------------------- helpers


def need_int(d: Dim, what: str, axis_word: str = "") -> int:
    if isinstance(d, Sym):
        raise ShapeError(f"{what} would be the symbolic dimension {d}, but it must be a known "
                         f"size{axis_word}",
                         fix=f"give {d} a size in the input shape, or use --input")
    return d


# Arguments that are counts, sizes or dimension indices in every layer that has them: a
# float there (`16 / 4` is 4.0) would be written into the generated code and fail in torch.
INTEGER_ARGS = frozenset("""
in_channels out_channels kernel_size stride padding dilation groups output_padding in_features
out_features num_features num_channels num_groups normalized_shape output_size num_embeddings
embedding_dim padding_idx input_size hidden_size num_layers proj_size embed_dim num_heads kdim vdim
d_model nhead dim_feedforward size dim dims dim0 dim1 start_dim end_dim unflattened_size shape pad
upscale_factor downscale_factor chunks split_size_or_sections divisor_override num_parameters
sizes repeats shifts diagonal k
""".split())


def first_float(value: Any) -> float | None:
    """The first non-integer number in an argument (looking inside tuples), or None."""
    if isinstance(value, float):
        return value
    if isinstance(value, tuple):
        for item in value:
            found = first_float(item)
            if found is not None:
                return found
    return None


def ntuple(value: Any, n: int, name: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * n
    if isinstance(value, tuple) and len(value) == n and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return value
    raise ShapeError(f"{name} must be an integer or a tuple of {n} integers, got {value!r}")


def rank_dims(call: Call, ranks: dict[int, int], what: str) -> tuple[TT, int]:
    """The input and the number of spatial dims its rank selects (3 -> 1d, ...)."""
    x = call.inputs[0]
    if x.rank not in ranks:
        allowed = sorted(ranks)
        words = ", ".join(str(r) for r in allowed[:-1]) + f" or {allowed[-1]}"
        raise ShapeError(f"{call.name} expects a {words}-dimensional input {what}, "
                         f"but its input is {x} ({x.rank} dimensions)", explain=[])
    return x, ranks[x.rank]


CONV_RANKS = {3: 1, 4: 2, 5: 3}
WHAT_CONV = "[N, C, *spatial]"


def check_given(call: Call, name: str, actual: Any, axis: int, noun: str) -> None:
    if name in call.given and call.a[name] != actual:
        raise ShapeError(
            f"{call.name} expects {call.a[name]} {noun}, but its input has {dim_str(actual)}",
            fix=f"leave out {name}= and netdsl infers it, or write {name}={dim_str(actual)}",
            explain=[(0, axis)])


def positive(value: Any, name: str, allow_zero: bool = False) -> None:
    if isinstance(value, tuple):
        for v in value:
            positive(v, name, allow_zero)
        return
    if isinstance(value, int) and (value < 0 or (value == 0 and not allow_zero)):
        bound = "non-negative" if allow_zero else "positive"
        raise ShapeError(f"{name} must be {bound}, got {value}")


def window_out(size: Dim, k: int, s: int, p: int, d: int, ceil: bool, axis_name: str,
               layer: str, axis: int = -1) -> Dim:
    """PyTorch's sliding-window size: floor((H + 2p - d(k-1) - 1) / s) + 1, or with ceil_mode
    ceil(...) + 1 less a last window that would start in the padding."""
    if size.__class__ is SInt and not ceil:  # inside a block: the value from plain ints
        # (k, s, p and d passed ntuple, so they are ints; SInt arithmetic would build
        # expressions only to drop them), the expression as below
        span_value = int(d) * (int(k) - 1) + 1
        out_value = (int(size) + 2 * int(p) - span_value) // int(s) + 1
        if out_value >= 1:
            span = d * (k - 1) + 1
            expr = make_op("+", make_op("//", make_op("+", size.expr, 2 * p - span), s), 1)
            if expr.__class__ is not int:
                return SInt(out_value, expr)
    span = d * (k - 1) + 1
    if isinstance(size, Sym):
        if not ceil:
            return (size + 2 * p - span) // s + 1
        # ceil_mode rounds up, less a last window that would start in the padding; that
        # never happens when the stride is at most the window less the padding, so the
        # rounding up is the whole formula there (torch's pooling_output_shape)
        if s <= span - p:
            return (size + 2 * p - span + s - 1) // s + 1
        raise ShapeError(
            f"{layer} with ceil_mode=true on the symbolic {axis_name} {size}: torch drops a "
            f"last window that would start in the padding, so the size is no formula here "
            f"(stride {s} is more than the window {span} less the padding {p})",
            explain=[(0, axis)] if axis >= 0 else [],
            fix="give the size a value (--input), or use ceil_mode=false")
    value = int(size)
    room = value + 2 * p - span
    out = (room + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= value + p:
        out -= 1
    if out < 1:
        raise ShapeError(
            f"{layer} would produce an empty output: the input {axis_name} {size} plus padding "
            f"{2 * p} is smaller than the window {span}", explain=[(0, axis)] if axis >= 0 else [])
    if size.__class__ is SInt and not ceil:  # the formula, for generated code in blocks
        expr = make_op("+", make_op("//", make_op("+", size.expr, 2 * p - span), s), 1)
        return out if expr.__class__ is int else SInt(out, expr)
    return out


def axis_names(n: int) -> list[str]:
    return {1: ["length"], 2: ["height", "width"], 3: ["depth", "height", "width"]}[n]


def norm_axis(axis: int, rank: int, name: str = "dim") -> int:
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise ShapeError(f"{name} must be an integer, got {axis!r}")
    if not -rank <= axis < rank:
        raise ShapeError(f"{name}={axis} is out of range for a {rank}-dimensional input "
                         f"(expected {-rank} to {rank - 1})")
    return axis % rank


def same_shape(call: Call, **extra: Any) -> Applied:
    """The input's type, layout included: element-wise layers keep a permuted layout."""
    return Applied(call.inputs[0], extra.pop("cls"), **extra)


def fresh_same_shape(call: Call, **extra: Any) -> Applied:
    """The input's shape in a new, contiguous tensor (norms, softmax)."""
    x = call.inputs[0]
    return Applied(TT(x.shape, x.dtype), extra.pop("cls"), **extra)


# ---------------------------------------------------------------- dtypes


def float_only(rule: Rule) -> Rule:
    """A layer torch computes in floating point only (weights, norms, most activations):
    an integer or boolean input is rejected as torch rejects it at run time."""
    def checked(call: Call) -> Applied:
        for t in call.inputs:
            if t.dtype not in FLOAT_DTYPES:
                raise ShapeError(
                    f"{call.name} needs a floating-point input, but its input is {t}; integer "
                    f"indices go through embedding(num_embeddings, embedding_dim) first, other "
                    f"values need a float input", explain=[])
        return rule(call)
    return checked


def no_bool(rule: Rule) -> Rule:
    """A layer torch computes for numbers but not for booleans (relu, reflection padding)."""
    def checked(call: Call) -> Applied:
        for t in call.inputs:
            if t.dtype == "bool":
                raise ShapeError(f"{call.name} does not take a bool tensor in torch, but its "
                                 f"input is {t}")
        return rule(call)
    return checked


def float_result(rule: Rule) -> Rule:
    """A layer torch computes for integer inputs too, with a float result (sigmoid, tanh)."""
    def promoted(call: Call) -> Applied:
        applied = rule(call)
        if isinstance(applied.outputs, TT) and applied.outputs.dtype not in FLOAT_DTYPES:
            applied.outputs = TT(applied.outputs.shape, "float")
        return applied
    return promoted


# ---------------------------------------------------------------- convolution


def _convolution(call: Call) -> tuple[TT, int, int, int, int, tuple[int, ...], tuple[int, ...],
                                       tuple[int, ...]]:
    """What convolution and transposed convolution check alike: rank, channels, groups,
    kernel, stride and dilation."""
    x, n = rank_dims(call, CONV_RANKS, WHAT_CONV)
    a = call.a
    in_ch = need_int(x.shape[1], "in_channels", " (dimension 1)")
    check_given(call, "in_channels", in_ch, 1, "input channels")
    out_ch, groups = a["out_channels"], a["groups"]
    positive(out_ch, "out_channels")
    positive(groups, "groups")
    if in_ch % groups:
        raise ShapeError(f"in_channels {in_ch} is not divisible by groups={groups}",
                         explain=[(0, 1)])
    if out_ch % groups:
        raise ShapeError(f"out_channels {out_ch} is not divisible by groups={groups}")
    k = ntuple(a["kernel_size"], n, "kernel_size")
    s = ntuple(a["stride"], n, "stride")
    d = ntuple(a["dilation"], n, "dilation")
    positive(k, "kernel_size")
    positive(s, "stride")
    positive(d, "dilation")
    return x, n, in_ch, out_ch, groups, k, s, d


def conv(call: Call) -> Applied:
    x, n, in_ch, out_ch, groups, k, s, d = _convolution(call)
    a = call.a
    if a["padding_mode"] not in ("zeros", "reflect", "replicate", "circular"):
        raise ShapeError("padding_mode must be \"zeros\", \"reflect\", \"replicate\" or "
                         f"\"circular\", got {a['padding_mode']!r}")
    padding = a["padding"]
    names = axis_names(n)
    spatial: list[Dim] = []
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ShapeError(f"padding must be an integer, a tuple, \"same\" or \"valid\", "
                             f"got {padding!r}")
        if padding == "same" and any(v != 1 for v in s):
            raise ShapeError("padding=\"same\" is not supported for strided convolutions",
                             fix="use stride=1 or give the padding as a number")
        p = (0,) * n
    else:
        p = ntuple(padding, n, "padding")
        positive(p, "padding", allow_zero=True)
    mode = a["padding_mode"]
    for i in range(n):
        size = x.shape[2 + i]
        if mode in ("reflect", "circular") and isinstance(size, int) and (
                p[i] >= size if mode == "reflect" else p[i] > size):
            limit = "smaller than" if mode == "reflect" else "at most"
            raise ShapeError(f"padding_mode=\"{mode}\" needs padding {p[i]} {limit} the input "
                             f"{names[i]} {size}", explain=[(0, 2 + i)])
        if padding == "same":
            spatial.append(size)
        else:
            spatial.append(window_out(size, k[i], s[i], p[i], d[i], False, names[i], call.name,
                                      2 + i))
    weight = int(out_ch) * (int(in_ch) // groups) * math.prod(k)
    params = weight + (int(out_ch) if a["bias"] else 0)
    return Applied(TT((x.shape[0], out_ch, *spatial), x.dtype), f"Conv{n}d",
                   {"in_channels": in_ch}, params, parents={1: []})


def conv_transpose(call: Call) -> Applied:
    x, n, in_ch, out_ch, groups, k, s, d = _convolution(call)
    a = call.a
    p = ntuple(a["padding"], n, "padding")
    op = ntuple(a["output_padding"], n, "output_padding")
    positive(p, "padding", allow_zero=True)
    positive(op, "output_padding", allow_zero=True)
    spatial: list[Dim] = []
    for i in range(n):
        if op[i] >= s[i] and op[i] >= d[i]:
            raise ShapeError(f"output_padding {op[i]} must be smaller than either stride {s[i]} "
                             f"or dilation {d[i]}")
        size = x.shape[2 + i]
        out = (size - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1
        if isinstance(out, int) and out < 1:
            raise ShapeError(f"{call.name} would produce an empty output ({axis_names(n)[i]} "
                             f"{out}) from input {axis_names(n)[i]} {size}")
        spatial.append(out)
    params = int(in_ch) * (int(out_ch) // groups) * math.prod(k) + (int(out_ch) if a["bias"]
                                                                      else 0)
    return Applied(TT((x.shape[0], out_ch, *spatial), x.dtype), f"ConvTranspose{n}d",
                   {"in_channels": in_ch}, params, parents={1: []})


# ---------------------------------------------------------------- pooling


def _pool(call: Call, kind: str) -> Applied:
    x, n = rank_dims(call, CONV_RANKS, WHAT_CONV)
    a = call.a
    _pool_dtype(call, x, n, kind)
    k = ntuple(a["kernel_size"], n, "kernel_size")
    s = ntuple(a["stride"] if a["stride"] is not None else a["kernel_size"], n, "stride")
    p = ntuple(a["padding"], n, "padding")
    d = ntuple(a.get("dilation", 1), n, "dilation")
    positive(k, "kernel_size")
    positive(s, "stride")
    positive(d, "dilation")
    positive(p, "padding", allow_zero=True)
    names = axis_names(n)
    for i in range(n):  # torch: half the kernel size itself, whatever the dilation
        if p[i] * 2 > k[i]:
            raise ShapeError(f"padding {p[i]} must be at most half of the kernel size {k[i]}",
                             fix=f"use padding={k[i] // 2} or less")
    if kind == "Avg" and n == 3:  # avg_pool3d compares the input before padding
        for i in range(n):
            size = x.shape[2 + i]
            if isinstance(size, int) and size < k[i]:
                raise ShapeError(f"{call.name} on a 5-dimensional input needs each spatial size "
                                 f"at least the kernel size (torch does not count the padding "
                                 f"here), but the {names[i]} is {size} and the kernel {k[i]}",
                                 explain=[(0, 2 + i)])
    spatial: list[Dim] = []
    dropped = []
    words = {1: ["positions"], 2: ["rows", "columns"], 3: ["slices", "rows", "columns"]}[n]
    for i in range(n):
        size = x.shape[2 + i]
        out = window_out(size, k[i], s[i], p[i], d[i], a["ceil_mode"], names[i], call.name,
                         2 + i)
        spatial.append(out)
        if isinstance(size, int) and not a["ceil_mode"]:
            # what the last window does not reach, less the padding on that side
            lost = (int(size) + 2 * p[i] - d[i] * (k[i] - 1) - 1) % s[i] - p[i]
            if lost > 0:
                dropped.append(f"the last {lost} of {size} {words[i]}")
    warnings = []
    if dropped:
        warnings.append(f"{call.name} drops {' and '.join(dropped)} (the window does not fit "
                        f"evenly); ceil_mode=true keeps them")
    return _with_indices(call, Applied(TT((*x.shape[:2], *spatial), x.dtype), f"{kind}Pool{n}d",
                                       warnings=warnings))


def _with_indices(call: Call, applied: Applied) -> Applied:
    """return_indices=true: (values, indices), the indices `long`; a pipeline passes on the
    values."""
    if not call.a.get("return_indices"):
        return applied
    values = applied.outputs
    applied.outputs = (values, TT(values.shape, "long"))
    applied.primary = True
    return applied


def _pool_dtype(call: Call, x: TT, n: int, kind: str) -> None:
    """torch's integer kernels, found by running each pool on each dtype: avg pooling has
    one for int64 only; max pooling for every integer type, except in 1d without
    return_indices; neither takes bool."""
    if x.dtype in FLOAT_DTYPES:
        return
    if kind == "Avg":
        ok = x.dtype in ("long", "int64")
    else:
        ok = x.dtype != "bool" and (n > 1 or bool(call.a.get("return_indices")))
    if not ok:
        raise ShapeError(f"{call.name} has no {x.dtype} kernel in torch for a "
                         f"{x.rank}-dimensional input {x}; pool a float tensor")


def maxpool(call: Call) -> Applied:
    return _pool(call, "Max")


def avgpool(call: Call) -> Applied:
    if call.a.get("divisor_override") is not None and call.inputs[0].rank == 3:
        raise ShapeError("avgpool on a 3-dimensional input (AvgPool1d) has no divisor_override")
    if call.a.get("divisor_override") == 0:
        raise ShapeError("divisor_override must not be zero")
    return _pool(call, "Avg")


def _adaptive(call: Call, kind: str) -> Applied:
    x, n = rank_dims(call, CONV_RANKS, WHAT_CONV)
    size = call.a["output_size"]
    if isinstance(size, int) or size is None:
        size = (size,) * n
    if not isinstance(size, tuple) or len(size) != n:
        raise ShapeError(f"output_size must be an integer or a tuple of {n}, got {size!r}")
    out = []
    for i, v in enumerate(size):
        if v is None:
            if n == 1:
                raise ShapeError(f"{call.name} on a 3-dimensional input needs an integer "
                                 f"output_size")
            out.append(x.shape[2 + i])
        else:
            positive(v, "output_size")
            out.append(v)
    return _with_indices(call, Applied(TT((*x.shape[:2], *out), x.dtype),
                                       f"Adaptive{kind}Pool{n}d",
                                       parents={2 + i: [] for i in range(n)}))


def adaptive_avgpool(call: Call) -> Applied:
    return _adaptive(call, "Avg")


def adaptive_maxpool(call: Call) -> Applied:
    return _adaptive(call, "Max")


# ---------------------------------------------------------------- normalization


def _affine_params(call: Call, channels: int) -> int:
    """A norm's weight and bias per channel: affine=false has neither, bias=false no bias."""
    if not call.a["affine"]:
        return 0
    return channels * (2 if call.a["bias"] else 1)


def batchnorm(call: Call) -> Applied:
    x, n = rank_dims(call, {2: 1, 3: 1, 4: 2, 5: 3}, "[N, C, *spatial]")
    c = need_int(x.shape[1], "num_features", " (dimension 1)")
    check_given(call, "num_features", c, 1, "features")
    return fresh_same_shape(call, cls=f"BatchNorm{n}d", inferred={"num_features": c},
                            params=_affine_params(call, int(c)))


def instancenorm(call: Call) -> Applied:
    x, n = rank_dims(call, CONV_RANKS, WHAT_CONV)
    c = need_int(x.shape[1], "num_features", " (dimension 1)")
    check_given(call, "num_features", c, 1, "features")
    return fresh_same_shape(call, cls=f"InstanceNorm{n}d", inferred={"num_features": c},
                            params=_affine_params(call, int(c)))


def groupnorm(call: Call) -> Applied:
    x = call.inputs[0]
    if x.rank < 2:
        raise ShapeError(f"groupnorm expects an input [N, C, ...], got {x}")
    c = need_int(x.shape[1], "num_channels", " (dimension 1)")
    check_given(call, "num_channels", c, 1, "channels")
    g = call.a["num_groups"]
    positive(g, "num_groups")
    if c % g:
        raise ShapeError(f"{c} channels cannot be split into num_groups={g} groups",
                         explain=[(0, 1)])
    return fresh_same_shape(call, cls="GroupNorm", inferred={"num_channels": c},
                            params=_affine_params(call, int(c)))


def layernorm(call: Call) -> Applied:
    x = call.inputs[0]
    ns = call.a["normalized_shape"]
    if ns is None:
        if x.rank < 1:
            raise ShapeError("layernorm needs an input with at least one dimension")
        ns = (need_int(x.shape[-1], "normalized_shape", " (the last dimension)"),)
    elif isinstance(ns, int):
        ns = (ns,)
    if not isinstance(ns, tuple) or not ns:
        raise ShapeError(f"normalized_shape must be an integer or a tuple, got {ns!r}")
    tail = x.shape[-len(ns):] if len(ns) <= x.rank else None
    if tail is None or tuple(tail) != tuple(ns):
        raise ShapeError(f"layernorm normalizes over {shape_str(list(ns))}, but the input {x} "
                         f"does not end with it", explain=[(0, x.rank - 1)] if x.rank else [])
    count = math.prod(ns)
    params = 0
    if call.a["elementwise_affine"]:
        params = count * (2 if call.a["bias"] else 1)
    inferred = {"normalized_shape": ns[0] if len(ns) == 1 else tuple(ns)}
    return fresh_same_shape(call, cls="LayerNorm", inferred=inferred, params=params)


# ---------------------------------------------------------------- dropout and activations


def _check_p(call: Call) -> None:
    p = call.a["p"]
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0 <= p <= 1:
        raise ShapeError(f"dropout probability has to be between 0 and 1, but got {p!r}")


def dropout(call: Call) -> Applied:
    _check_p(call)
    return same_shape(call, cls="Dropout")


def _dropout_nd(n: int) -> Rule:
    def rule(call: Call) -> Applied:
        _check_p(call)
        rank_dims(call, {n + 1: n, n + 2: n}, f"[N, C, {'*spatial' if n > 1 else 'L'}]")
        return same_shape(call, cls=f"Dropout{n}d")
    return rule


def activation(cls: str) -> Rule:
    def rule(call: Call) -> Applied:
        return same_shape(call, cls=cls)
    return rule


def gelu(call: Call) -> Applied:
    if call.a["approximate"] not in ("none", "tanh"):
        raise ShapeError(f"approximate must be \"none\" or \"tanh\", got "
                         f"{call.a['approximate']!r}")
    return same_shape(call, cls="GELU")


def prelu(call: Call) -> Applied:
    x = call.inputs[0]
    num = call.a["num_parameters"]
    if num == "channels":
        if x.rank < 2:
            raise ShapeError(f"prelu(\"channels\") needs an input [N, C, ...], got {x}")
        num = need_int(x.shape[1], "num_parameters", " (dimension 1)")
        return same_shape(call, cls="PReLU", inferred={"num_parameters": num}, params=num)
    positive(num, "num_parameters")
    if num != 1:
        channels = x.shape[1] if x.rank >= 2 else None
        if channels != num:
            raise ShapeError(f"prelu has {num} parameters but the input has "
                             f"{dim_str(channels) if channels is not None else 'no'} channels",
                             explain=[(0, 1)] if x.rank >= 2 else [])
    return same_shape(call, cls="PReLU", params=num)


def softmax_like(cls: str) -> Rule:
    def rule(call: Call) -> Applied:
        norm_axis(call.a["dim"], call.inputs[0].rank)
        return fresh_same_shape(call, cls=cls)
    return rule


def glu(call: Call) -> Applied:
    x = call.inputs[0]
    axis = norm_axis(call.a["dim"], x.rank)
    size = need_int(x.shape[axis], "the gated dimension")
    if size % 2:
        raise ShapeError(f"glu halves dimension {axis}, but its size {size} is odd",
                         explain=[(0, axis)])
    shape = list(x.shape)
    shape[axis] = size // 2
    return Applied(TT(tuple(shape), x.dtype), "GLU")


# ---------------------------------------------------------------- linear and embedding


def linear(call: Call) -> Applied:
    x = call.inputs[0]
    if x.rank < 1:
        raise ShapeError("linear needs an input with at least one dimension")
    last = x.shape[-1]
    if isinstance(last, Sym):
        raise ShapeError(f"linear needs a known number of input features, but the last "
                         f"dimension of {x} is the symbolic {last}",
                         fix="flatten only dimensions of known size, or give the size in the "
                             "input shape", explain=[(0, x.rank - 1)])
    check_given(call, "in_features", last, x.rank - 1, "input features")
    out = call.a["out_features"]
    positive(out, "out_features")
    params = int(last) * int(out) + (int(out) if call.a["bias"] else 0)
    return Applied(TT((*x.shape[:-1], out), x.dtype), "Linear", {"in_features": last}, params,
                   parents={x.rank - 1: []})


def embedding(call: Call) -> Applied:
    x = call.inputs[0]
    if x.dtype not in INT_DTYPES:
        raise ShapeError(f"embedding expects integer indices, but its input is {x} "
                         f"({x.dtype})", fix="declare the input as long[...], e.g. "
                                             "tokens: long[B, T]")
    num, dim = call.a["num_embeddings"], call.a["embedding_dim"]
    positive(num, "num_embeddings")
    positive(dim, "embedding_dim")
    pad = call.a["padding_idx"]
    if pad is not None and not -num <= pad < num:
        raise ShapeError(f"padding_idx {pad} must be within num_embeddings ({num})")
    return Applied(TT((*x.shape, dim), "float"), "Embedding", params=num * dim,
                   parents={i: [i] for i in range(x.rank)})


# ---------------------------------------------------------------- recurrent


GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def recurrent(cls: str) -> Rule:
    def rule(call: Call) -> Applied:
        a = call.a
        x = call.inputs[0]
        if x.rank not in (2, 3):
            raise ShapeError(f"{call.name} expects a 3-dimensional input "
                             f"{'[N, T, features]' if a['batch_first'] else '[T, N, features]'} "
                             f"(or 2-dimensional unbatched), got {x}")
        size = need_int(x.shape[-1], "input_size", " (the last dimension)")
        check_given(call, "input_size", size, x.rank - 1, "input features")
        hidden, layers = a["hidden_size"], a["num_layers"]
        positive(hidden, "hidden_size")
        positive(layers, "num_layers")
        proj = a.get("proj_size", 0)
        if proj < 0 or (proj and proj >= hidden):
            raise ShapeError(f"proj_size {proj} must be between 0 and hidden_size {hidden}")
        dirs = 2 if a["bidirectional"] else 1
        h_out = proj or hidden
        if cls == "RNN" and a["nonlinearity"] not in ("tanh", "relu"):
            raise ShapeError(f"nonlinearity must be \"tanh\" or \"relu\", got "
                             f"{a['nonlinearity']!r}")
        gates = GATES[cls] * hidden
        params = 0
        for layer in range(layers):
            in_size = size if layer == 0 else h_out * dirs
            per_dir = gates * in_size + gates * h_out + (2 * gates if a["bias"] else 0)
            if proj:
                per_dir += proj * hidden
            params += per_dir * dirs
        if x.rank == 3:
            batch, time = (x.shape[0], x.shape[1]) if a["batch_first"] else (x.shape[1], x.shape[0])
            out_shape: tuple[Dim, ...] = ((batch, time, dirs * h_out) if a["batch_first"]
                                          else (time, batch, dirs * h_out))
            h = TT((dirs * layers, batch, h_out), x.dtype)
            c = TT((dirs * layers, batch, hidden), x.dtype)
        else:
            out_shape = (x.shape[0], dirs * h_out)
            h = TT((dirs * layers, h_out), x.dtype)
            c = TT((dirs * layers, hidden), x.dtype)
        out = TT(out_shape, x.dtype)
        if len(call.inputs) > 1:
            _check_initial_state(call, h if cls != "LSTM" else (h, c))
        outputs = (out, (h, c)) if cls == "LSTM" else (out, h)
        batch_axes = {0: [0], 1: [1]} if x.rank == 3 else {0: [0]}
        return Applied(outputs, cls, {"input_size": size}, params,
                       parents={**batch_axes, x.rank - 1: []})
    return rule


def _check_initial_state(call: Call, expected: Any) -> None:
    given = call.inputs[1:]
    flat_expected = list(expected) if isinstance(expected, tuple) else [expected]
    if len(given) != len(flat_expected):
        raise ShapeError(f"{call.name} takes its input and {len(flat_expected)} initial "
                         f"state tensor(s), got {len(given)}")
    for i, (g, e) in enumerate(zip(given, flat_expected, strict=True)):
        if tuple(g.shape) != tuple(e.shape):
            raise ShapeError(f"initial state {i + 1} of {call.name} must be {e}, got {g}",
                             explain=[(i + 1, 0)])


def cell(cls: str) -> Rule:
    def rule(call: Call) -> Applied:
        x = call.inputs[0]
        if x.rank not in (1, 2):
            raise ShapeError(f"{call.name} expects an input [N, features] or [features], got {x}")
        size = need_int(x.shape[-1], "input_size", " (the last dimension)")
        check_given(call, "input_size", size, x.rank - 1, "input features")
        hidden = call.a["hidden_size"]
        positive(hidden, "hidden_size")
        gates = GATES[cls.replace("Cell", "")] * hidden
        params = gates * size + gates * hidden + (2 * gates if call.a["bias"] else 0)
        h = TT((*x.shape[:-1], hidden), x.dtype)
        if len(call.inputs) > 1:
            _check_initial_state(call, (h, h) if cls == "LSTMCell" else h)
        outputs: Any = (h, h) if cls == "LSTMCell" else h
        return Applied(outputs, cls, {"input_size": size}, params, parents={x.rank - 1: []})
    return rule


# ---------------------------------------------------------------- resampling


UPSAMPLE_RANKS = {"linear": (3,), "bilinear": (4,), "bicubic": (4,), "trilinear": (5,),
                  "nearest": (3, 4, 5), "nearest-exact": (3, 4, 5), "area": (3, 4, 5)}


def upsample(call: Call) -> Applied:
    a = call.a
    x = call.inputs[0]
    mode = a["mode"]
    if mode not in UPSAMPLE_RANKS:
        raise ShapeError(f"unknown upsample mode {mode!r}; one of "
                         + ", ".join(f'"{m}"' for m in UPSAMPLE_RANKS))
    if x.rank not in UPSAMPLE_RANKS[mode]:
        want = " or ".join(str(r) for r in UPSAMPLE_RANKS[mode])
        raise ShapeError(f"upsample mode \"{mode}\" expects a {want}-dimensional input, got {x}")
    if a["align_corners"] is not None and mode not in ("linear", "bilinear", "bicubic",
                                                       "trilinear"):
        raise ShapeError("align_corners can only be set with the interpolating modes: "
                         "linear, bilinear, bicubic, trilinear")
    n = x.rank - 2
    size, scale = a["size"], a["scale_factor"]
    if (size is None) == (scale is None):
        raise ShapeError("upsample needs exactly one of size= and scale_factor=")
    if size is not None:
        # sizes may be symbolic (`size=(H, W)`, another tensor's): generated code then
        # interpolates with sizes read at run time (the catalogue's `dynamic` spelling)
        items = size if isinstance(size, tuple) else (size,) * n
        if len(items) != n or not all(isinstance(v, (int, Sym)) and not isinstance(v, bool)
                                      for v in items):
            raise ShapeError(f"size must be an integer or a tuple of {n} integers, "
                             f"got {size!r}")
        positive(tuple(v for v in items if not isinstance(v, Sym)), "size")
        spatial: list[Dim] = list(items)
    else:
        scales = scale if isinstance(scale, tuple) else (scale,) * n
        if len(scales) != n:
            raise ShapeError(f"scale_factor must be a number or a tuple of {n}")
        spatial = []
        for dim, f in zip(x.shape[2:], scales, strict=True):
            if not isinstance(f, (int, float)) or isinstance(f, bool) or f <= 0:
                raise ShapeError(f"scale_factor must be positive, got {f!r}")
            if isinstance(dim, Sym):
                spatial.append(dim * f if isinstance(f, int) else Sym.atom(f"{dim} * {f}"))
            else:
                spatial.append(math.floor(dim * f) if isinstance(f, float) else dim * f)
    for axis, out_size in enumerate(spatial, 2):
        if isinstance(out_size, int) and out_size < 1:
            raise ShapeError(f"upsample would make dimension {axis} of size {out_size} (from "
                             f"{dim_str(x.shape[axis])}); sizes must be at least 1",
                             explain=[(0, axis)])
    return Applied(TT((*x.shape[:2], *spatial), x.dtype), "Upsample")


def pixel_shuffle(call: Call) -> Applied:
    x = call.inputs[0]
    r = call.a["upscale_factor"]
    positive(r, "upscale_factor")
    if x.rank < 3:
        raise ShapeError(f"pixel_shuffle expects an input [*, C, H, W], got {x}")
    c = need_int(x.shape[-3], "the channel dimension")
    if c % (r * r):
        raise ShapeError(f"pixel_shuffle({r}) needs channels divisible by {r * r}, got {c}",
                         explain=[(0, x.rank - 3)])
    h, w = x.shape[-2:]
    return Applied(TT((*x.shape[:-3], c // (r * r), h * r, w * r), x.dtype), "PixelShuffle")


def pixel_unshuffle(call: Call) -> Applied:
    x = call.inputs[0]
    r = call.a["downscale_factor"]
    positive(r, "downscale_factor")
    if x.rank < 3:
        raise ShapeError(f"pixel_unshuffle expects an input [*, C, H, W], got {x}")
    c = x.shape[-3]
    h, w = (need_int(v, "a spatial size") for v in x.shape[-2:])
    if h % r or w % r:
        raise ShapeError(f"pixel_unshuffle({r}) needs height and width divisible by {r}, "
                         f"got {h} x {w}")
    return Applied(TT((*x.shape[:-3], c * r * r, h // r, w // r), x.dtype), "PixelUnshuffle")


def unfold(call: Call) -> Applied:
    x = call.inputs[0]
    if x.rank not in (3, 4):
        raise ShapeError(f"unfold expects an input [N, C, H, W], got {x}")
    if x.dtype in INT_DTYPES:  # torch's im2col has float and bool kernels only
        raise ShapeError(f"unfold has no {x.dtype} kernel in torch; its input is {x}")
    a = call.a
    k = ntuple(a["kernel_size"], 2, "kernel_size")
    d = ntuple(a["dilation"], 2, "dilation")
    p = ntuple(a["padding"], 2, "padding")
    s = ntuple(a["stride"], 2, "stride")
    blocks: Dim = 1
    for i in range(2):
        blocks = blocks * window_out(x.shape[-2 + i], k[i], s[i], p[i], d[i], False,
                                     axis_names(2)[i], call.name)
    c = x.shape[-3]
    return Applied(TT((*x.shape[:-3], c * math.prod(k), blocks), x.dtype), "Unfold")


def fold(call: Call) -> Applied:
    x = call.inputs[0]
    if x.rank not in (2, 3):
        raise ShapeError(f"fold expects an input [N, C * prod(kernel_size), L], got {x}")
    a = call.a
    size = ntuple(a["output_size"], 2, "output_size")
    k = ntuple(a["kernel_size"], 2, "kernel_size")
    d = ntuple(a["dilation"], 2, "dilation")
    p = ntuple(a["padding"], 2, "padding")
    s = ntuple(a["stride"], 2, "stride")
    ck = need_int(x.shape[-2], "the channel dimension")
    if ck % math.prod(k):
        raise ShapeError(f"fold needs dimension -2 ({ck}) divisible by the kernel size "
                         f"{math.prod(k)}", explain=[(0, x.rank - 2)])
    blocks: Dim = 1
    for i in range(2):
        blocks *= window_out(size[i], k[i], s[i], p[i], d[i], False, axis_names(2)[i], call.name)
    if x.shape[-1] != blocks:
        raise ShapeError(f"fold expects {blocks} blocks in the last dimension for output_size "
                         f"{size}, got {dim_str(x.shape[-1])}", explain=[(0, x.rank - 1)])
    return Applied(TT((*x.shape[:-2], ck // math.prod(k), *size), x.dtype), "Fold")


# ---------------------------------------------------------------- padding


def _pad_amounts(pad: Any, n: int, name: str) -> tuple[int, ...]:
    if isinstance(pad, int) and not isinstance(pad, bool):
        return (pad,) * (2 * n)
    if isinstance(pad, tuple) and len(pad) == 2 * n and all(isinstance(v, int) for v in pad):
        return pad
    raise ShapeError(f"{name} padding must be an integer or a tuple of {2 * n} integers "
                     f"(left, right{', top, bottom' if n > 1 else ''}"
                     f"{', front, back' if n > 2 else ''}), got {pad!r}")


def _apply_pad(x: TT, pads: tuple[int, ...], mode: str, layer: str) -> tuple[Dim, ...]:
    shape = list(x.shape)
    for i in range(len(pads) // 2):
        axis = x.rank - 1 - i
        before, after = pads[2 * i], pads[2 * i + 1]
        size = shape[axis]
        if mode == "reflect" and isinstance(size, int) and (before >= size or after >= size):
            raise ShapeError(f"{layer} padding ({before}, {after}) must be smaller than the "
                             f"input size {size} of dimension {axis}", explain=[(0, axis)])
        if mode == "circular" and isinstance(size, int) and (before > size or after > size):
            raise ShapeError(f"{layer} padding ({before}, {after}) would wrap around dimension "
                             f"{axis} (size {size}) more than once", explain=[(0, axis)])
        new = size + before + after
        if isinstance(new, int) and new < 1:
            raise ShapeError(f"{layer} would leave dimension {axis} with size {new}")
        shape[axis] = new
    return tuple(shape)


def pad_layer(kind: str) -> Rule:
    def rule(call: Call) -> Applied:
        x, n = rank_dims(call, CONV_RANKS, WHAT_CONV)
        pads = _pad_amounts(call.a["padding"], n, call.name)
        shape = _apply_pad(x, pads, "reflect" if kind == "Reflection" else "constant",
                           call.name)
        return Applied(TT(shape, x.dtype), f"{kind}Pad{n}d")
    return rule


def pad(call: Call) -> Applied:
    x = call.inputs[0]
    pads = call.a["pad"]
    if isinstance(pads, int):
        pads = (pads, pads)
    if not isinstance(pads, tuple) or len(pads) % 2 or len(pads) // 2 > x.rank:
        raise ShapeError(f"pad must be a tuple of an even number of integers, at most "
                         f"{2 * x.rank}, got {pads!r}")
    mode = call.a["mode"]
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ShapeError(f"pad mode must be \"constant\", \"reflect\", \"replicate\" or "
                         f"\"circular\", got {mode!r}")
    if mode != "constant" and (len(pads) not in (2, 4, 6) or x.rank - len(pads) // 2 not in (1, 2)):
        # torch pads the last 1, 2 or 3 dimensions of a batched or unbatched input only
        n = len(pads) // 2
        wanted = f"{n + 1} or {n + 2} dimensions" if len(pads) in (2, 4, 6) else "none"
        raise ShapeError(f"pad mode \"{mode}\" with {len(pads)} padding sizes pads the last "
                         f"{n} dimension{'s' if n != 1 else ''} of an input with {wanted}, but "
                         f"the input is {x} ({x.rank} dimensions)")
    shape = _apply_pad(x, pads, mode, call.name)
    return Applied(TT(shape, x.dtype), "F.pad")


def pad_to_match(call: Call) -> Applied:
    if len(call.inputs) != 2:
        raise ShapeError(f"pad_to_match takes (a, b) and pads a to b's spatial size, got "
                         f"{len(call.inputs)} input(s)")
    a, b = call.inputs
    if a.rank != b.rank or a.rank < 3:
        raise ShapeError(f"pad_to_match needs two inputs [N, C, *spatial] of the same rank, "
                         f"got {a} and {b}")
    for axis in range(2, a.rank):
        sa, sb = a.shape[axis], b.shape[axis]
        if isinstance(sa, int) and isinstance(sb, int) and sb < sa:
            raise ShapeError(f"pad_to_match cannot pad {a} to the smaller {b} (dimension "
                             f"{axis}: {sa} > {sb})", explain=[(0, axis), (1, axis)])
    return Applied(TT((*a.shape[:2], *b.shape[2:]), a.dtype), "F.pad",
                   parents={axis: [] for axis in range(2, a.rank)})


# ---------------------------------------------------------------- reshaping


def flatten(call: Call) -> Applied:
    x = call.inputs[0]
    if x.rank == 0:
        return Applied(TT((1,), x.dtype), "Flatten")
    start = norm_axis(call.a["start_dim"], x.rank, "start_dim")
    end = norm_axis(call.a["end_dim"], x.rank, "end_dim")
    if start > end:
        raise ShapeError(f"flatten start_dim {call.a['start_dim']} comes after end_dim "
                         f"{call.a['end_dim']} for a {x.rank}-dimensional input")
    merged = product(x.shape[start:end + 1])
    shape = (*x.shape[:start], merged, *x.shape[end + 1:])
    parents = {start: list(range(start, end + 1))}
    parents.update({i: [i] for i in range(start)})
    parents.update({start + 1 + j: [end + 1 + j] for j in range(x.rank - end - 1)})
    return Applied(TT(shape, x.dtype, _reshaped(x, shape)), "Flatten", parents=parents)


def _reshaped(x: TT, shape: Sequence[Dim]) -> tuple[Dim, ...] | None:
    """The layout after torch's reshape: a view when one exists, else a contiguous copy."""
    return strides.view_strides(x.shape, x.strides, shape)[1]


def _resolve_sizes(sizes: tuple[Any, ...], total: Dim, what: str) -> tuple[Dim, ...]:
    unknown = [i for i, s in enumerate(sizes) if isinstance(s, int) and s == -1]
    if len(unknown) > 1:
        raise ShapeError(f"{what}: only one size can be -1")
    for s in sizes:
        if isinstance(s, int) and not isinstance(s, bool) and s < -1:
            raise ShapeError(f"{what}: invalid size {s}")
        if not isinstance(s, (int, Sym)) or isinstance(s, bool):
            raise ShapeError(f"{what}: sizes must be integers or dimension names, got {s!r}")
    known = product([s for s in sizes if not (isinstance(s, int) and s == -1)])
    if unknown:
        rest = exact_div(total, known)  # polynomials: [B, 16, 7, 7] -> (B, -1) leaves 784
        if rest is None:
            raise ShapeError(f"{what}: {dim_str(total)} elements cannot be split into "
                             f"{shape_str(list(sizes))}: {dim_str(total)} is not a multiple "
                             f"of {dim_str(known)}")
        out = list(sizes)
        out[unknown[0]] = rest
        return tuple(out)
    if isinstance(total, int) and isinstance(known, int) and known != total:
        raise ShapeError(f"{what}: shape {shape_str(list(sizes))} has {known} elements, but the "
                         f"input has {total}")
    if isinstance(total, Sym) != isinstance(known, Sym) or (
            isinstance(total, Sym) and total != known):
        raise ShapeError(f"{what}: shape {shape_str(list(sizes))} cannot be checked against "
                         f"{total} elements")
    return tuple(sizes)


def unflatten(call: Call) -> Applied:
    x = call.inputs[0]
    axis = norm_axis(call.a["dim"], x.rank)
    sizes = call.a["unflattened_size"]
    if not isinstance(sizes, tuple):
        sizes = (sizes,)
    new = _resolve_sizes(sizes, x.shape[axis], "unflatten")
    shape = (*x.shape[:axis], *new, *x.shape[axis + 1:])
    return Applied(TT(shape, x.dtype, _reshaped(x, shape)), "Unflatten")


def reshape(call: Call) -> Applied:
    x = call.inputs[0]
    sizes = call.a["shape"]
    if len(sizes) == 1 and isinstance(sizes[0], tuple):
        sizes = sizes[0]
    total = product(x.shape)
    shape = _resolve_sizes(tuple(sizes), total, call.name)
    viewable, layout = strides.view_strides(x.shape, x.strides, shape)
    if not viewable and call.name == "view":
        raise ShapeError(f"view cannot reshape {x} to {shape_str(shape)} without copying: "
                         f"its elements are not laid out in that order in memory (a permute, "
                         f"transpose, chunk or split made it a non-contiguous view); "
                         f"torch's view raises here, reshape copies when it must",
                         rename="reshape")
    return Applied(TT(shape, x.dtype, layout), "reshape")


def permute(call: Call) -> Applied:
    x = call.inputs[0]
    dims = call.a["dims"]
    if len(dims) == 1 and isinstance(dims[0], tuple):
        dims = dims[0]
    if len(dims) != x.rank:
        raise ShapeError(f"permute needs {x.rank} dimensions for the input {x}, got {len(dims)}")
    axes = [norm_axis(d, x.rank) for d in dims]
    if sorted(axes) != list(range(x.rank)):
        raise ShapeError(f"permute dimensions {tuple(dims)} repeat a dimension")
    return Applied(TT(tuple(x.shape[i] for i in axes), x.dtype,
                      strides.permuted(x.shape, x.strides, axes)), "permute",
                   parents={o: [i] for o, i in enumerate(axes)})


def transpose(call: Call) -> Applied:
    x = call.inputs[0]
    a0 = norm_axis(call.a["dim0"], x.rank, "dim0")
    a1 = norm_axis(call.a["dim1"], x.rank, "dim1")
    shape = list(x.shape)
    shape[a0], shape[a1] = shape[a1], shape[a0]
    parents = {i: [i] for i in range(x.rank)}
    parents[a0], parents[a1] = [a1], [a0]
    axes = list(range(x.rank))
    axes[a0], axes[a1] = a1, a0
    return Applied(TT(tuple(shape), x.dtype, strides.permuted(x.shape, x.strides, axes)),
                   "transpose", parents=parents)


def squeeze(call: Call) -> Applied:
    x = call.inputs[0]
    dim = call.a["dim"]
    warnings = []
    if dim is None:
        keep = [i for i, d in enumerate(x.shape) if d != 1]
        symbolic = [dim_str(d) for d in x.shape if isinstance(d, Sym)]
        if symbolic and 1 in x.shape:
            warnings.append(f"squeeze without dim would also remove {', '.join(symbolic)} "
                            f"whenever it is 1 at run time; name the dimension to remove, e.g. "
                            f"squeeze({x.shape.index(1)})")
    else:
        axes = dim if isinstance(dim, tuple) else (dim,)
        drop = {norm_axis(a, x.rank) for a in axes}
        for axis in sorted(drop):
            if isinstance(x.shape[axis], Sym):
                # torch removes it only when it is 1 at run time: the shape after is unknown
                raise ShapeError(f"squeeze({dim_str(dim) if isinstance(dim, int) else dim}) "
                                 f"would remove dimension {axis} only if {x.shape[axis]} is 1 "
                                 f"at run time, so the shape after it is unknown; squeeze a "
                                 f"dimension of size 1", explain=[(0, axis)])
        keep = [i for i in range(x.rank) if not (i in drop and x.shape[i] == 1)]
    return Applied(TT(tuple(x.shape[i] for i in keep), x.dtype,
                      strides.squeezed(x.shape, x.strides, keep)), "squeeze",
                   parents={o: [i] for o, i in enumerate(keep)}, warnings=warnings)


def unsqueeze(call: Call) -> Applied:
    x = call.inputs[0]
    axis = norm_axis(call.a["dim"], x.rank + 1)
    shape = (*x.shape[:axis], 1, *x.shape[axis:])
    parents = {i if i < axis else i + 1: [i] for i in range(x.rank)}
    return Applied(TT(shape, x.dtype, strides.unsqueezed(x.shape, x.strides, axis)),
                   "unsqueeze", parents=parents)


# ---------------------------------------------------------------- combining tensors


def broadcast(shapes: list[tuple[Dim, ...]], what: str) -> tuple[Dim, ...]:
    rank = max(len(s) for s in shapes)
    out: list[Dim] = []
    for i in range(rank):
        sizes = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        # where every size is 1, one that is 1 only for these values (`heads` at heads=1)
        # is kept: it is the size for other values
        chosen: Dim = next((d for d in sizes if isinstance(d, SInt) and
                            d.expr.__class__ is not int), 1) if all(
            d == 1 for d in sizes) else 1
        for size in sizes:
            if size == 1:
                continue
            if chosen == 1:
                chosen = size
            elif size != chosen:
                shown = " and ".join(shape_str(list(s)) for s in shapes)
                raise ShapeError(f"{what} needs shapes that match or broadcast, but {shown} "
                                 f"differ in dimension {i} ({dim_str(chosen)} vs {dim_str(size)})",
                                 explain=[(j, len(s) - rank + i) for j, s in enumerate(shapes)
                                          if len(s) - rank + i >= 0])
        out.append(chosen)
    return tuple(out)


def elementwise(op_name: str, cls: str) -> Rule:
    def rule(call: Call) -> Applied:
        if len(call.inputs) < 2:
            raise ShapeError(f"{op_name} takes two or more tensors, e.g. (a, b) -> {op_name}")
        shape = broadcast([t.shape for t in call.inputs], op_name)
        return Applied(TT(shape, result_type(call.inputs)), cls)
    return rule


def matmul(call: Call) -> Applied:
    a, b = call.inputs
    if a.rank == 0 or b.rank == 0:
        raise ShapeError("@ needs tensors with at least one dimension")
    ka = a.shape[-1]
    kb = b.shape[-2] if b.rank >= 2 else b.shape[0]
    if ka != kb:
        raise ShapeError(f"@ multiplies {a} by {b}, but {dim_str(ka)} and {dim_str(kb)} differ",
                         explain=[(0, a.rank - 1), (1, b.rank - 2 if b.rank >= 2 else 0)])
    batch = broadcast([tuple(a.shape[:-2]), tuple(b.shape[:-2])], "@") if (
        a.rank > 2 or b.rank > 2) else ()
    shape = (*batch, *(a.shape[-2:-1] if a.rank >= 2 else ()), *(b.shape[-1:] if b.rank >= 2
                                                                  else ()))
    if canonical(a.dtype) != canonical(b.dtype):  # torch.matmul never promotes
        raise ShapeError(f"@ needs tensors of one dtype (torch.matmul does not promote), but "
                         f"they are {a.dtype} and {b.dtype}")
    if a.dtype == "bool":
        raise ShapeError("@ has no bool kernel in torch")
    return Applied(TT(tuple(shape), a.dtype), "torch.matmul")


def cat(call: Call) -> Applied:
    ins = call.inputs
    if len(ins) < 1:
        raise ShapeError("cat needs at least one tensor")
    rank = ins[0].rank
    axis = norm_axis(call.a["dim"], rank)
    for i, t in enumerate(ins[1:], 1):
        if t.rank != rank:
            raise ShapeError(f"cat needs tensors of the same rank, but input 1 is {ins[0]} and "
                             f"input {i + 1} is {t}")
        for j in range(rank):
            if j != axis and t.shape[j] != ins[0].shape[j]:
                raise ShapeError(
                    f"cat along dimension {axis} needs the other dimensions to match, but "
                    f"input 1 is {ins[0]} and input {i + 1} is {t} (dimension {j}: "
                    f"{dim_str(ins[0].shape[j])} vs {dim_str(t.shape[j])})",
                    explain=[(0, j), (i, j)])
    total: Dim = 0
    for t in ins:
        total = t.shape[axis] + total if isinstance(total, int) and isinstance(
            t.shape[axis], Sym) else total + t.shape[axis]
    shape = list(ins[0].shape)
    shape[axis] = total
    return Applied(TT(tuple(shape), result_type(ins)), "torch.cat",
                   parents={j: ([j] if j != axis else []) for j in range(rank)})


def stack(call: Call) -> Applied:
    ins = call.inputs
    first = ins[0]
    for i, t in enumerate(ins[1:], 1):
        if t.shape != first.shape:
            raise ShapeError(f"stack needs tensors of equal shape, but input 1 is {first} and "
                             f"input {i + 1} is {t}")
    axis = norm_axis(call.a["dim"], first.rank + 1)
    shape = (*first.shape[:axis], len(ins), *first.shape[axis:])
    return Applied(TT(shape, result_type(ins)), "torch.stack", parents={})


def reduce(cls: str) -> Rule:
    def rule(call: Call) -> Applied:
        x = call.inputs[0]
        dim = call.a["dim"]
        if cls == "torch.mean" and x.dtype not in FLOAT_DTYPES:
            raise ShapeError(f"mean needs a floating-point input, but its input is {x}; "
                             f"reduce a float tensor, or use sum")
        if cls == "torch.sum" and x.dtype not in FLOAT_DTYPES:
            x = TT(x.shape, "long")  # torch sums integers and booleans as int64
        if dim is None or dim == ():  # torch: an empty tuple of dims reduces them all
            shape: tuple[Dim, ...] = tuple(1 for _ in x.shape) if call.a["keepdim"] else ()
            return Applied(TT(shape, x.dtype), cls, parents={})
        listed = [norm_axis(d, x.rank) for d in (dim if isinstance(dim, tuple) else (dim,))]
        axes = set(listed)
        if len(axes) != len(listed):
            twice = next(a for a in listed if listed.count(a) > 1)
            raise ShapeError(f"dim {twice} appears more than once in dim={dim!r}")
        if call.a["keepdim"]:
            shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
            return Applied(TT(shape, x.dtype), cls)
        keep = [i for i in range(x.rank) if i not in axes]
        return Applied(TT(tuple(x.shape[i] for i in keep), x.dtype), cls,
                       parents={o: [i] for o, i in enumerate(keep)})
    return rule


def chunk(call: Call) -> Applied:
    x = call.inputs[0]
    n = call.a["chunks"]
    positive(n, "chunks")
    axis = norm_axis(call.a["dim"], x.rank)
    if isinstance(x.shape[axis], Sym) and isinstance(n, int):
        # a symbolic size that n divides for every value (16*T into 2): n equal pieces
        piece = exact_div(x.shape[axis], n)
        if piece is not None and isinstance(piece, Sym):
            return _split_outputs(x, axis, [piece] * n, "torch.chunk")
    size = need_int(x.shape[axis], f"dimension {axis}")
    step = -(-size // n)
    sizes = [min(step, size - i) for i in range(0, size, step)] if size else [0]
    return _split_outputs(x, axis, sizes, "torch.chunk")


def split(call: Call) -> Applied:
    x = call.inputs[0]
    axis = norm_axis(call.a["dim"], x.rank)
    size = need_int(x.shape[axis], f"dimension {axis}")
    spec = call.a["split_size_or_sections"]
    if isinstance(spec, int):
        positive(spec, "split_size")
        sizes = [min(spec, size - i) for i in range(0, size, spec)]
    else:
        sizes = list(spec)
        if sum(sizes) != size:
            raise ShapeError(f"split sizes {tuple(sizes)} add up to {sum(sizes)}, but dimension "
                             f"{axis} has {size}", explain=[(0, axis)])
    return _split_outputs(x, axis, sizes, "torch.split")


def _split_outputs(x: TT, axis: int, sizes: Sequence[Dim], cls: str) -> Applied:
    """The pieces are views into x: they keep its strides, which a piece narrower than x
    along an inner dimension does not fill contiguously."""
    outs = []
    layout = x.strides if x.strides is not None else strides.contiguous(x.shape)
    for s in sizes:
        shape = list(x.shape)
        shape[axis] = s
        outs.append(TT(tuple(shape), x.dtype, strides.normal(shape, layout)))
    return Applied(tuple(outs), cls)


__all__ = [
    "DTYPES",
    "FLOAT_DTYPES",
    "INT_DTYPES",
    "TT",
    "Applied",
    "Call",
    "Rule",
    "ShapeError",
    "broadcast",
    "matmul",
]
