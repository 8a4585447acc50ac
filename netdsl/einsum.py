"""torch.einsum: the equation's shape rules, and the FLOPs FlopCounterMode counts for it.

    (q, k) -> einsum("bhqd,bhkd->bhqk")

The rules are ATen's (`einsum` in aten/src/ATen/native/Linear.cpp): subscripts are the
letters A-Z and a-z, spaces are ignored, one `...` per operand stands for the dimensions no
letter covers; there is one operand per comma-separated term. A letter's sizes must agree
across operands or be 1 (broadcast); a letter repeated within one operand takes a diagonal,
so its sizes there must be equal; the dimensions under `...` broadcast, aligned on the right.
Without `->` the output is the ellipsis' dimensions, then the letters that appear exactly once,
in ASCII order (A-Z before a-z); with it, the letters written (each once, each from some
input), and dimensions under an ellipsis the output does not write are summed.

FLOPs: ATen contracts the operands two at a time, left to right (torch's Python wrapper asks
opt_einsum for another order when that package is installed and there are three or more
operands; netdsl counts left to right, the order without it). Each pair whose contracted
dimensions are not all of size 1 becomes one `bmm` of [lro, lo, sum] by [lro, sum, ro], which
FlopCounterMode counts as 2 * lro * lo * sum * ro; a pair with nothing to contract is a `mul`,
and a sum over a dimension only one operand has is a `sum`, neither of which it counts.
Nothing here imports torch.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from .dims import Dim, dim_str, product
from .shapes import TT, Applied, Call, ShapeError

ELLIPSIS = "..."


class EquationError(Exception):
    """What is wrong with an equation, in a few words."""


@dataclass(frozen=True, slots=True)
class Equation:
    operands: tuple[tuple[str, ...], ...]  # per operand, its letters and ELLIPSIS in order
    output: tuple[str, ...] | None  # None: implicit (no '->')


def _terms(text: str, where: str) -> tuple[str, ...]:
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == " ":
            i += 1
        elif char == ".":
            if not text.startswith(ELLIPSIS, i):
                raise EquationError(f"a '.' in {where} is not part of '...'")
            if ELLIPSIS in out:
                raise EquationError(f"{where} has two '...'")
            out.append(ELLIPSIS)
            i += 3
        elif char.isascii() and char.isalpha():
            out.append(char)
            i += 1
        else:
            raise EquationError(f"{char!r} in {where} is not a subscript (letters a-z, A-Z)")
    return tuple(out)


@functools.lru_cache(maxsize=256)
def parse(equation: str) -> Equation:
    lhs, arrow, rhs = equation.partition("->")
    operands = tuple(_terms(term, f"operand {i + 1}") for i, term in enumerate(lhs.split(",")))
    if not arrow:
        return Equation(operands, None)
    output = _terms(rhs, "the output")
    seen = {letter for op in operands for letter in op}
    for i, letter in enumerate(output):
        if letter == ELLIPSIS:
            continue
        if letter in output[:i]:
            raise EquationError(f"{letter} appears twice in the output")
        if letter not in seen:
            raise EquationError(f"the output's {letter} is in no operand")
    return Equation(operands, output)


@dataclass(frozen=True, slots=True)
class Aligned:
    """The operands as ATen lines them up: every one over the same positions (the output's
    first, then the dimensions summed), size 1 where it lacks a letter."""

    operands: list[list[Dim]]
    out_dims: int  # the first positions are the output's
    shape: tuple[Dim, ...]  # the output's shape


def align(eq: Equation, shapes: list[tuple[Dim, ...]]) -> Aligned:
    if len(eq.operands) != len(shapes):
        raise EquationError(f"the equation has {len(eq.operands)} operand"
                            f"{'s' if len(eq.operands) != 1 else ''}, but einsum got "
                            f"{len(shapes)} tensor{'s' if len(shapes) != 1 else ''}")
    ell_dims = 0
    counts: dict[str, int] = {}
    for i, (op, shape) in enumerate(zip(eq.operands, shapes, strict=True)):
        letters = [a for a in op if a != ELLIPSIS]
        for a in letters:
            counts[a] = counts.get(a, 0) + 1
        if ELLIPSIS in op:
            if len(letters) > len(shape):
                raise EquationError(f"operand {i + 1} has {len(letters)} subscripts, more "
                                    f"than its {len(shape)} dimensions")
            ell_dims = max(ell_dims, len(shape) - len(letters))
        elif len(letters) != len(shape):
            raise EquationError(f"operand {i + 1} has {len(letters)} subscript"
                                f"{'s' if len(letters) != 1 else ''} for its {len(shape)} "
                                f"dimension{'s' if len(shape) != 1 else ''}")
    ell = [f"{ELLIPSIS}{j}" for j in range(ell_dims)]
    if eq.output is None:
        output = ell + sorted(a for a, c in counts.items() if c == 1)
    else:
        output = [b for a in eq.output for b in (ell if a == ELLIPSIS else [a])]
    summed = [] if eq.output is None or ELLIPSIS in eq.output else list(ell)
    summed += sorted(a for a in counts if a not in output)
    position = {a: k for k, a in enumerate(output + summed)}
    size: dict[str, Dim] = {a: 1 for a in position}
    aligned: list[list[Dim]] = []
    for i, (op, shape) in enumerate(zip(eq.operands, shapes, strict=True)):
        row: list[Dim] = [1] * len(position)
        names: list[str] = []
        for a in op:
            if a == ELLIPSIS:
                covered = len(shape) - (len(op) - 1)
                names.extend(ell[ell_dims - covered:])
            else:
                names.append(a)
        first: dict[str, Dim] = {}
        for a, d in zip(names, shape, strict=True):
            if a in first:  # repeated in this operand: a diagonal, so the sizes must agree
                if first[a] != d:
                    raise EquationError(f"{a} is repeated in operand {i + 1}, but its sizes "
                                        f"{dim_str(first[a])} and {dim_str(d)} differ")
                continue
            first[a] = d
            if d != 1:
                if size[a] != 1 and size[a] != d:
                    what = (f"subscript {a}" if not a.startswith(ELLIPSIS) else
                            "a dimension under '...'")
                    raise EquationError(f"{what} is {dim_str(size[a])} in one operand and "
                                        f"{dim_str(d)} in operand {i + 1}")
                size[a] = d
            row[position[a]] = d
        aligned.append(row)
    out_shape = tuple(size[a] for a in output)
    return Aligned(aligned, len(output), out_shape)


def contract(aligned: Aligned) -> tuple[Dim, bool]:
    """The FLOPs FlopCounterMode counts for the contractions ATen makes, left to right, and
    whether any of them is a bmm."""
    ops = [list(row) for row in aligned.operands]
    width = len(ops[0]) if ops else 0
    counts = [sum(1 for row in ops if row[k] != 1) for k in range(width)]
    flops: Dim = 0
    bmm = False
    while len(ops) > 1:
        a, b = ops.pop(0), ops.pop(0)
        sums: list[int] = []
        for k in range(aligned.out_dims, width):
            if a[k] != 1 and b[k] != 1:
                counts[k] -= 1
                if counts[k] == 1:
                    sums.append(k)
                    counts[k] = 0
            elif counts[k] == 1:
                if a[k] != 1:
                    a[k] = 1  # summed away in a alone: a `sum`, not counted
                    counts[k] = 0
                elif b[k] != 1:
                    b[k] = 1
                    counts[k] = 0
        result = [a[k] if a[k] != 1 else b[k] for k in range(width)]
        if sums:
            bmm = True
            lro = [a[k] for k in range(width) if k not in sums and a[k] != 1 and b[k] != 1]
            lo = [a[k] for k in range(width) if k not in sums and a[k] != 1 and b[k] == 1]
            ro = [b[k] for k in range(width) if k not in sums and a[k] == 1]
            flops = flops + 2 * product([*lro, *lo, *(a[k] for k in sums), *ro])
            for k in sums:
                result[k] = 1
        ops.insert(0, result)
    return flops, bmm


def _aligned(equation: object, shapes: list[tuple[Dim, ...]]) -> Aligned:
    if not isinstance(equation, str):
        raise EquationError(f"the equation must be a string such as \"bij,bjk->bik\", got "
                            f"{equation!r}")
    return align(parse(equation), shapes)


def rule(call: Call) -> Applied:
    """The shape rule: torch.einsum's output, or a ShapeError saying why torch would raise."""
    try:
        aligned = _aligned(call.a["equation"], [t.shape for t in call.inputs])
    except EquationError as err:
        raise ShapeError(f"einsum: {err}") from None
    dtypes = sorted({t.dtype for t in call.inputs})
    if len(dtypes) > 1:
        raise ShapeError(f"einsum needs inputs of one dtype (its matrix products do not mix "
                         f"them), got {' and '.join(dtypes)}")
    dtype = dtypes[0]
    if dtype == "bool" and contract(aligned)[1]:
        raise ShapeError("einsum cannot contract bool tensors (torch's bmm has no bool kernel)")
    return Applied(TT(aligned.shape, dtype), "torch.einsum", parents={})


def flops(equation: str, shapes: list[tuple[Dim, ...]]) -> Dim:
    """What FlopCounterMode counts for torch.einsum(equation, *tensors of these shapes)."""
    return contract(align(parse(equation), shapes))[0]
