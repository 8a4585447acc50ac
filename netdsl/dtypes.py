"""Dtypes: the names netdsl knows, and torch's type promotion, in one place.

Every rule that says what dtype a result has reads this module: `promote_types` is
torch.promote_types and `result_type` is torch.result_type (dimensioned tensors outrank
zero-dimensional ones, which outrank Python numbers, and a number only raises the category:
bool < integer < floating point). tests/test_dtypes_torch.py holds both to torch for every
pair of dtypes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

INT_DTYPES = ("long", "int", "int64", "int32", "int16", "int8", "uint8")
FLOAT_DTYPES = ("float", "float32", "float64", "double", "half", "float16", "bfloat16")
DTYPES = INT_DTYPES + FLOAT_DTYPES + ("bool",)

# every spelling of a dtype -> the one netdsl writes for a result
CANONICAL = {"float": "float", "float32": "float", "float64": "double", "double": "double",
             "half": "half", "float16": "half", "bfloat16": "bfloat16", "long": "long",
             "int64": "long", "int": "int", "int32": "int", "int16": "int16", "int8": "int8",
             "uint8": "uint8", "bool": "bool"}
BITS = {"bool": 1, "uint8": 8, "int8": 8, "int16": 16, "int": 32, "long": 64, "half": 16,
        "bfloat16": 16, "float": 32, "double": 64}
DEFAULT_FLOAT = "float"  # torch's default dtype, which Python floats and int -> float ops take
# the values each integer dtype holds, and the largest finite value of each float dtype
INT_RANGE = {"uint8": (0, 255), "int8": (-128, 127), "int16": (-(1 << 15), (1 << 15) - 1),
             "int": (-(1 << 31), (1 << 31) - 1), "long": (-(1 << 63), (1 << 63) - 1)}
FLOAT_MAX = {"half": 65504.0, "bfloat16": 3.3895313892515355e38,
             "float": 3.4028234663852886e38, "double": math.inf}

Number = int | float | bool
# a tensor (anything with .dtype and .rank, as shapes.TT) or a Python number
Operand = Any


def canonical(dtype: str) -> str:
    return CANONICAL[dtype]


def is_float(dtype: str) -> bool:
    return dtype in FLOAT_DTYPES


def is_bool(dtype: str) -> bool:
    return dtype == "bool"


def promote_types(a: str, b: str) -> str:
    """torch.promote_types for the dtypes netdsl knows."""
    a, b = canonical(a), canonical(b)
    if a == b:
        return a
    if is_bool(a) or is_bool(b):
        return b if is_bool(a) else a
    if is_float(a) != is_float(b):
        return a if is_float(a) else b
    if is_float(a):  # half with bfloat16: neither holds the other
        return "float" if {a, b} == {"half", "bfloat16"} else max(a, b, key=BITS.__getitem__)
    if "uint8" in (a, b):  # uint8 with a signed type: the signed type wide enough for both
        other = b if a == "uint8" else a
        return "int16" if other == "int8" else other
    return max(a, b, key=BITS.__getitem__)


def number_dtype(value: Number) -> str:
    if isinstance(value, bool):
        return "bool"
    return "long" if isinstance(value, int) else DEFAULT_FLOAT


def promote_all(dtypes: Sequence[str]) -> str | None:
    out: str | None = None
    for d in dtypes:
        out = d if out is None else promote_types(out, d)
    return out


def combine(higher: str | None, lower: str | None) -> str | None:
    """ATen's combine_categories: a lower tier changes the result only to a higher category."""
    if higher is None:
        return lower
    if lower is None or is_float(higher):
        return higher
    if is_bool(higher) or is_float(lower):
        return promote_types(higher, lower)
    return higher


def result_type(operands: Sequence[Operand]) -> str:
    """torch.result_type of tensors and Python numbers."""
    tensors = [o for o in operands if not isinstance(o, (bool, int, float))]
    dimensioned = [canonical(o.dtype) for o in tensors if o.rank]
    zero_dim = [canonical(o.dtype) for o in tensors if not o.rank]
    numbers = [number_dtype(o) for o in operands if isinstance(o, (bool, int, float))]
    found = combine(promote_all(dimensioned), combine(promote_all(zero_dim),
                                                         promote_all(numbers)))
    assert found is not None
    return found



# what generated code writes for each dtype netdsl knows
TORCH_NAMES = {name: f"torch.{name}" for name in DTYPES}
