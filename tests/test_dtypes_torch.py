"""One type-promotion rule (netdsl/dtypes.py), held to torch for every pair of dtypes: the
rule itself, and what `check` says of each operation that promotes."""

from __future__ import annotations

import itertools

import pytest
import torch

import netdsl
from netdsl.dtypes import CANONICAL, DTYPES, promote_types, result_type
from netdsl.shapes import TT

TORCH = {name: getattr(torch, {"float": "float32", "double": "float64", "half": "float16",
                               "long": "int64", "int": "int32"}.get(name, name))
         for name in DTYPES}
PAIRS = list(itertools.product(sorted(set(CANONICAL.values())), repeat=2))


def torch_name(dtype: torch.dtype) -> str:
    return next(n for n in CANONICAL.values() if TORCH[n] == dtype)


def sample(dtype: str, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.ones(shape, dtype=TORCH[dtype])


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_promote_types_is_torchs(a: str, b: str) -> None:
    assert TORCH[promote_types(a, b)] == torch.promote_types(TORCH[a], TORCH[b])


@pytest.mark.parametrize(("a", "b"), PAIRS)
@pytest.mark.parametrize("number", [True, 2, 2.5])
def test_result_type_is_torchs(a: str, b: str, number: object) -> None:
    dimensioned, zero_dim = sample(a, (2,)), sample(b, ())
    want = torch.result_type(dimensioned, zero_dim)
    assert TORCH[result_type([TT((2,), a), TT((), b)])] == want
    want = torch.result_type(dimensioned, number)  # type: ignore[arg-type]
    assert TORCH[result_type([TT((2,), a), number])] == want  # type: ignore[list-item]


def checked_dtype(source: str) -> str | None:
    try:
        return netdsl.check_source(source).networks[0].outputs[0].dtype
    except netdsl.NetDSLError:
        return None


def torch_dtype(op, *tensors: torch.Tensor) -> str | None:
    try:
        return torch_name(op(*tensors).dtype)
    except RuntimeError:
        return None


OPERATIONS = {
    "add stage": ("(a, b) -> add", torch.add),
    "+": ("a + b", torch.add),
    "*": ("a * b", torch.mul),
    "cat": ("(a, b) -> cat(dim=1)", lambda x, y: torch.cat([x, y], dim=1)),
    "stack": ("(a, b) -> stack(dim=1)", lambda x, y: torch.stack([x, y], dim=1)),
    "@": ("a @ b", torch.matmul),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_what_check_says_a_promoting_operation_gives(operation: str, a: str, b: str) -> None:
    text, op = OPERATIONS[operation]
    source = f"network N(a: {a}[4, 4], b: {b}[4, 4]):\n    {text}\n"
    want = torch_dtype(op, sample(a, (4, 4)), sample(b, (4, 4)))
    got = checked_dtype(source)
    assert got == want, f"{source}check says {got}, torch gives {want}"
