"""Shape and dtype rules of the tensor operations of v2: elementwise maths, comparisons,
masks, selections, broadcasting and reordering.

Each rule is PyTorch's, found by running torch on every dtype (tests/test_tensor_ops_torch.py
holds them to torch with hypothesis). The dtype of a result follows torch's type promotion
(`torch.result_type`): dimensioned tensors outrank zero-dimensional ones, which outrank
Python numbers, and a number only raises the category (bool < integer < floating point).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from . import strides
from .dims import Dim, Sym, dim_str, shape_str
from .dtypes import (
    DEFAULT_FLOAT,
    FLOAT_MAX,
    INT_RANGE,
    Number,
    Operand,
    canonical,
    is_bool,
    is_float,
    number_dtype,
    result_type,
)
from .shapes import TT, Applied, Call, Rule, ShapeError, broadcast, norm_axis


def _tensors(operands: Sequence[Operand]) -> list[TT]:
    return [o for o in operands if isinstance(o, TT)]


# ---------------------------------------------------------------- operators


def binary(symbol: str, left: Operand, right: Operand) -> TT:
    """`left symbol right` with at least one tensor: + - * / // % ** and the comparisons."""
    operands = [left, right]
    tensors = _tensors(operands)
    shape = broadcast([t.shape for t in tensors], f"'{symbol}'") if len(tensors) > 1 else \
        tensors[0].shape
    dtype = result_type(operands)
    if symbol in ("==", "!=", "<", "<=", ">", ">="):
        return TT(shape, "bool", _elementwise_layout(tensors[0]) if len(tensors) == 1 else None)
    kinds = [o.dtype if isinstance(o, TT) else number_dtype(o) for o in operands]
    if symbol == "-" and "bool" in (kinds[0] if isinstance(left, TT) else "",
                                    kinds[1] if isinstance(right, TT) else ""):
        raise ShapeError("'-' does not take a bool tensor in torch; to invert a mask, use "
                         "logical_not")
    if symbol in ("//", "%", "**") and is_bool(dtype):
        raise ShapeError(f"'{symbol}' has no bool kernel in torch; compute on numbers "
                         f"(a long or float tensor)")
    if symbol == "**" and not is_float(dtype) and isinstance(right, (int, float)) and (
            not isinstance(right, bool) and right < 0):
        raise ShapeError(f"torch does not raise integers to negative integer powers "
                         f"(** {right}); use a float exponent or a float tensor")
    if symbol == "/" and not is_float(dtype):
        dtype = DEFAULT_FLOAT  # true division
    # with a number, the result keeps the tensor's layout (a permuted tensor stays permuted)
    return TT(shape, dtype, _elementwise_layout(tensors[0]) if len(tensors) == 1 else None)


def negate(x: TT) -> TT:
    if is_bool(x.dtype):
        raise ShapeError("'-' does not take a bool tensor in torch; to invert a mask, use "
                         "logical_not")
    return TT(x.shape, x.dtype, _elementwise_layout(x))


# ---------------------------------------------------------------- elementwise stages


def _elementwise_layout(x: TT) -> tuple[Dim, ...] | None:
    """An elementwise result keeps a permuted input's layout; an expanded input (stride 0)
    gives a fresh contiguous tensor."""
    if x.strides is None or any(s == 0 for s, d in zip(x.strides, x.shape, strict=True)
                                if d != 1):
        return None
    return x.strides


def _keep(call: Call, dtype: str | None = None) -> Applied:
    x = call.inputs[0]
    return Applied(TT(x.shape, dtype or x.dtype, _elementwise_layout(x)), f"torch.{call.name}")


def float_maths(call: Call) -> Applied:
    """exp, log, sqrt, ...: floats keep their dtype; integers and bools give torch's default
    float."""
    x = call.inputs[0]
    return _keep(call, x.dtype if is_float(x.dtype) else DEFAULT_FLOAT)


def number_maths(call: Call) -> Applied:
    """abs, neg, floor, ceil, round: the input's dtype; torch has no bool kernel."""
    x = call.inputs[0]
    if is_bool(x.dtype):
        raise ShapeError(f"{call.name} does not take a bool tensor in torch, but its input is "
                         f"{x}; convert the mask to numbers first")
    return _keep(call)


def same_dtype(call: Call) -> Applied:
    """sign: every dtype, bool included, kept."""
    return _keep(call)


def logical_not(call: Call) -> Applied:
    return _keep(call, "bool")


def _number_arg(value: Any, name: str, allow_bool: bool = True) -> Number:
    if isinstance(value, (int, float)) and (allow_bool or not isinstance(value, bool)):
        return value
    raise ShapeError(f"{name} must be a number, got {value!r}")


def clamp(call: Call) -> Applied:
    x = call.inputs[0]
    low, high = call.a["min"], call.a["max"]
    if low is None and high is None:
        raise ShapeError("clamp needs min= or max= (or both)")
    bounds = [_number_arg(v, name) for v, name in ((low, "min"), (high, "max")) if v is not None]
    dtype = result_type([x, *bounds])
    if is_bool(dtype):
        raise ShapeError(f"clamp has no bool kernel in torch, and its input {x} with bounds "
                         f"{', '.join(map(repr, bounds))} stays bool")
    return _keep(call, dtype)


def pow_rule(call: Call) -> Applied:
    x = call.inputs[0]
    exponent = _number_arg(call.a["exponent"], "exponent")
    out = binary("**", x, exponent)
    return Applied(TT(out.shape, out.dtype, _elementwise_layout(x)), "torch.pow")


def triangle(call: Call) -> Applied:
    """tril, triu: the last two dimensions are the matrix; any batch before them."""
    x = call.inputs[0]
    if x.rank < 2:
        raise ShapeError(f"{call.name} needs a tensor with at least 2 dimensions, but its input "
                         f"is {x}")
    diagonal = call.a["diagonal"]
    if not isinstance(diagonal, int) or isinstance(diagonal, bool):
        raise ShapeError(f"diagonal must be an integer, got {diagonal!r}")
    return Applied(TT(x.shape, x.dtype), f"torch.{call.name}")


# ---------------------------------------------------------------- masks


def where(call: Call) -> Applied:
    condition, a, b = call.inputs
    if not is_bool(condition.dtype) and canonical(condition.dtype) != "uint8":
        raise ShapeError(f"where needs a bool condition (its first input), but it is "
                         f"{condition}; compare to make one, e.g. mask != 0", explain=[])
    shape = broadcast([t.shape for t in call.inputs], "where")
    warnings = [] if is_bool(condition.dtype) else [
        "torch deprecates a uint8 condition in where (it warns); compare to make a bool mask"]
    return Applied(TT(shape, result_type([a, b])), "torch.where", warnings=warnings)


def masked_fill(call: Call) -> Applied:
    x, mask = call.inputs
    if not is_bool(mask.dtype):
        raise ShapeError(f"masked_fill needs a bool mask (its second input), but it is {mask}; "
                         f"compare to make one, e.g. mask == 0", explain=[])
    value = _number_arg(call.a["value"], "value")
    _fits(value, canonical(x.dtype))
    shape = broadcast([x.shape, mask.shape], "masked_fill")
    return Applied(TT(shape, x.dtype), "Tensor.masked_fill")


def _fits(value: Number, dtype: str) -> None:
    """torch converts the fill value to the tensor's dtype and refuses one that overflows."""
    if isinstance(value, bool) or dtype == "bool":
        return
    if dtype in INT_RANGE:
        low, high = INT_RANGE[dtype]
        if dtype == "uint8" and isinstance(value, int):
            low = -high  # c10::overflows lets a negative integer wrap around an unsigned type
        if not math.isfinite(value) or not low <= value <= high:
            raise ShapeError(f"masked_fill's value {value!r} does not fit the {dtype} tensor "
                             f"(it holds {low} to {high})")
        return
    if math.isfinite(value) and abs(value) > FLOAT_MAX[dtype]:
        raise ShapeError(f"masked_fill's value {value!r} overflows the {dtype} tensor")


# ---------------------------------------------------------------- selections


def _wrap(dim: Any, x: TT) -> int:
    """torch wraps a dimension of a zero-dimensional tensor as if it had one."""
    return norm_axis(dim, max(x.rank, 1))


def _reduced(x: TT, axis: int, keepdim: bool) -> tuple[Dim, ...]:
    if x.rank == 0:
        return ()
    if keepdim:
        return tuple(1 if i == axis else d for i, d in enumerate(x.shape))
    return tuple(d for i, d in enumerate(x.shape) if i != axis)


def _no_bool(call: Call, x: TT) -> None:
    if is_bool(x.dtype):
        raise ShapeError(f"{call.name} does not support a bool input in torch, but its input is "
                         f"{x}")


def arg_select(call: Call) -> Applied:
    """argmax, argmin: long indices; dim=none looks at every element."""
    x = call.inputs[0]
    _no_bool(call, x)
    dim, keepdim = call.a["dim"], call.a["keepdim"]
    if dim is None:
        shape: tuple[Dim, ...] = tuple(1 for _ in x.shape) if keepdim else ()
        return Applied(TT(shape, "long"), f"torch.{call.name}", parents={})
    return Applied(TT(_reduced(x, _wrap(dim, x), keepdim), "long"), f"torch.{call.name}")


def max_min(call: Call) -> Applied:
    """max(dim), min(dim): (values, indices)."""
    x = call.inputs[0]
    shape = _reduced(x, _wrap(call.a["dim"], x), call.a["keepdim"])
    return Applied((TT(shape, x.dtype), TT(shape, "long")), f"torch.{call.name}")


def topk(call: Call) -> Applied:
    x = call.inputs[0]
    _no_bool(call, x)
    k = call.a["k"]
    if not isinstance(k, int) or isinstance(k, bool):
        raise ShapeError(f"k must be an integer, got {k!r}")
    axis = _wrap(call.a["dim"], x)
    size: Dim = x.shape[axis] if x.rank else 1
    if isinstance(size, Sym):
        if k != 1:
            raise ShapeError(f"topk({k}) needs dimension {axis} to hold at least {k} elements, "
                             f"but its size {size} is known only at run time; give it a size "
                             f"in the input shape", explain=[(0, axis)])
    elif not 1 <= k <= size:
        raise ShapeError(f"topk's k={k} is out of range for dimension {axis} of size "
                         f"{dim_str(size)} (it must be 1 to {dim_str(size)})",
                         explain=[(0, axis)] if x.rank else [])
    shape = tuple(k if i == axis else d for i, d in enumerate(x.shape))
    return Applied((TT(shape, x.dtype), TT(shape, "long")), "torch.topk")


# ---------------------------------------------------------------- broadcasting and reordering


def _sizes(call: Call, name: str) -> tuple[Any, ...]:
    """A star argument's items: expand(B, -1, 4) or expand((B, -1, 4))."""
    sizes = tuple(call.a[name])
    if len(sizes) == 1 and isinstance(sizes[0], tuple):
        sizes = sizes[0]
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, (int, Sym)):
            raise ShapeError(f"{call.name}'s sizes must be integers or dimension names, got "
                             f"{size!r}")
    return sizes


def expand_shape(x: TT, sizes: Sequence[Dim], what: str) -> TT:
    """torch's expand: -1 keeps a dimension, only a size-1 dimension takes a new size, new
    leading dimensions may be added (not as -1). The result is a view: an expanded
    dimension has stride 0 (ATen's inferExpandGeometry)."""
    if len(sizes) < x.rank:
        raise ShapeError(f"{what} needs at least {x.rank} sizes for the input {x}, got "
                         f"{len(sizes)}")
    new = len(sizes) - x.rank
    old_strides = x.strides if x.strides is not None else strides.contiguous(x.shape)
    shape: list[Dim] = [0] * len(sizes)
    out_strides: list[Dim] = [0] * len(sizes)
    for i in range(len(sizes) - 1, -1, -1):
        target = sizes[i]
        if i < new:
            if isinstance(target, int) and target == -1:
                raise ShapeError(f"{what}: -1 cannot stand for the new leading dimension {i}; "
                                 f"give its size")
            size: Dim = 1
            stride: Dim = shape[i + 1] * out_strides[i + 1] if i + 1 < len(sizes) else 1
        else:
            size, stride = x.shape[i - new], old_strides[i - new]
        if isinstance(target, int) and target == -1:
            target = size
        if isinstance(target, int) and target < 1:
            raise ShapeError(f"{what}: invalid size {target} for dimension {i}")
        if target != size:
            if size != 1:
                raise ShapeError(
                    f"{what} cannot make dimension {i - new} of {x} (size {dim_str(size)}) "
                    f"{dim_str(target)}: only a dimension of size 1 expands",
                    explain=[(0, i - new)])
            size, stride = target, 0
        shape[i], out_strides[i] = size, stride
    return TT(tuple(shape), x.dtype, strides.normal(shape, tuple(out_strides)))


def expand(call: Call) -> Applied:
    return Applied(expand_shape(call.inputs[0], _sizes(call, "sizes"), "expand"),
                   "Tensor.expand")


def expand_as(call: Call) -> Applied:
    x, other = call.inputs
    return Applied(expand_shape(x, other.shape, f"expand_as to {shape_str(list(other.shape))}"),
                   "Tensor.expand_as")


def repeat(call: Call) -> Applied:
    x = call.inputs[0]
    counts = _sizes(call, "repeats")
    if len(counts) < x.rank:
        raise ShapeError(f"repeat needs at least {x.rank} counts for the input {x}, got "
                         f"{len(counts)}")
    for c in counts:
        if isinstance(c, int) and c < 1:
            raise ShapeError(f"repeat counts must be positive, got {c}")
    padded = (1,) * (len(counts) - x.rank) + tuple(x.shape)
    shape = tuple(size if isinstance(c, int) and c == 1 else c * size
                  for c, size in zip(counts, padded, strict=True))
    return Applied(TT(shape, x.dtype), "Tensor.repeat")


def _dims(value: Any, x: TT, what: str) -> list[int]:
    items = value if isinstance(value, tuple) else (value,)
    if len(items) == 1 and isinstance(items[0], tuple):
        items = items[0]
    axes = [norm_axis(d, max(x.rank, 1), what) for d in items]
    for a in axes:
        if axes.count(a) > 1:
            raise ShapeError(f"dimension {a} appears more than once in {what}")
    return axes


def flip(call: Call) -> Applied:
    x = call.inputs[0]
    _dims(call.a["dims"], x, "flip's dims")
    return Applied(TT(x.shape, x.dtype), "torch.flip")


def roll(call: Call) -> Applied:
    x = call.inputs[0]
    shifts, dims = call.a["shifts"], call.a["dims"]
    shift_list = shifts if isinstance(shifts, tuple) else (shifts,)
    if not shift_list:
        raise ShapeError("roll needs shifts")
    for s in shift_list:
        if isinstance(s, bool) or not isinstance(s, int):
            raise ShapeError(f"roll's shifts must be integers, got {s!r}")
    if dims is None or dims == ():
        if len(shift_list) != 1:
            raise ShapeError(f"roll with {len(shift_list)} shifts needs as many dims; without "
                             f"dims it takes one shift (of the flattened tensor)")
    else:
        dim_list = dims if isinstance(dims, tuple) else (dims,)
        for d in dim_list:
            norm_axis(d, max(x.rank, 1), "roll's dims")
        if len(dim_list) != len(shift_list):
            raise ShapeError(f"roll needs as many shifts as dims, got {len(shift_list)} shifts "
                             f"and {len(dim_list)} dims")
    return Applied(TT(x.shape, x.dtype), "torch.roll")


FLOAT_MATHS = ("exp", "log", "sqrt", "rsqrt", "sin", "cos", "reciprocal")
NUMBER_MATHS = ("abs", "neg", "floor", "ceil", "round")

RULES: dict[str, Rule] = {
    **{name: float_maths for name in FLOAT_MATHS},
    **{name: number_maths for name in NUMBER_MATHS},
    "sign": same_dtype, "clamp": clamp, "pow": pow_rule, "logical_not": logical_not,
    "tril": triangle, "triu": triangle, "where": where, "masked_fill": masked_fill,
    "argmax": arg_select, "argmin": arg_select, "max": max_min, "min": max_min, "topk": topk,
    "expand": expand, "expand_as": expand_as, "repeat": repeat, "flip": flip, "roll": roll,
}
