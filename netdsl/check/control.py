"""Control dependences: which of a class's names a size holds for (see dims.SInt)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import shapes as s
from ..dims import (
    Dim,
    Opaque,
    Ref,
    SInt,
    Sym,
    expr_of,
    pin,
    refs,
)
from ..values import (
    PrimaryTuple,
    Tensor,
)
from .scope import primary

if TYPE_CHECKING:
    pass


def least_pinned(shape: tuple[Dim, ...], operands: list[Tensor]) -> tuple[Dim, ...]:
    """Operands of an elementwise operation agree on their sizes, so each size of the result
    may be taken from whichever operand holds it most generally: in `x + y`, a residual
    whose shortcut went through a branch of the block, the size y has without the branch."""
    out = list(shape)
    for axis in range(len(out)):
        best = out[axis]
        for t in operands:
            k = axis - (len(out) - t.tt.rank)
            if 0 <= k < t.tt.rank:
                d = t.shape[k]
                if d == best and _pin_count(d) < _pin_count(best):
                    best = d
        out[axis] = best
    return tuple(out)


def _pin_count(d: Any) -> int:
    return len(d.pinned) + len(d.branch) if isinstance(d, SInt) else 0


def pin_branch(value: Any, control: frozenset[Ref]) -> Any:
    """A value bound inside a branch: its sizes hold for that branch only."""
    if isinstance(value, Tensor):
        shape = tuple(pin(d, branch=control) for d in value.shape)
        return Tensor(s.TT(shape, value.tt.dtype), value.whys, value.producer, value.index)
    if isinstance(value, tuple):
        items = tuple(pin_branch(v, control) for v in value)
        return PrimaryTuple(items) if isinstance(value, PrimaryTuple) else items
    return pin(value, branch=control)


def pin_fresh(outputs: Any, inputs: list[Tensor], every: frozenset[Ref],
              flags: frozenset[Ref], literals: frozenset[int] = frozenset()) -> Any:
    """A layer's output sizes that it computed (not passed on from an input): one written
    as an expression holds while the layer's flags keep their values; a plain number, which
    says nothing of how it came from the arguments, holds for the arguments as they are,
    unless it is one of the numbers written as arguments (`embedding(vocab, 64)` gives 64
    whatever vocab is; compile's validation catches a coincidence)."""
    if isinstance(outputs, tuple):
        return tuple(pin_fresh(o, inputs, every, flags, literals) for o in outputs)
    if outputs is None:  # an output torch returns as None (weights without need_weights)
        return None
    passed = {id(d) for t in inputs for d in t.shape}
    shape = []
    for d in outputs.shape:
        if id(d) in passed or isinstance(d, Sym) or isinstance(d, bool):
            shape.append(d)
        elif isinstance(d, SInt):
            shape.append(pin(d, flags))
        elif d in literals:
            shape.append(d)
        else:
            shape.append(SInt(int(d), Opaque(every)) if every else d)
    return s.TT(tuple(shape), outputs.dtype)


def generalise_repetition(steps: list[Any], count: Any) -> Any:
    """The output of `stage * n` whose count n is an expression of the class's names, in
    terms of n: a size that every copy changes by the same amount d is `start + n * d`, one
    no copy changes stays as it is, and any other depends on n in a way no expression here
    follows (Opaque: code generation then does not offer n)."""
    from ..dims import Opaque, make_op, normal, poly_difference, poly_expr, poly_scale_add

    final = primary(steps[-1])
    if not isinstance(final, Tensor):
        return steps[-1]
    inputs = [primary(v) for v in steps]
    ranks = {len(t.shape) for t in inputs if isinstance(t, Tensor)}
    count_refs = frozenset(r for r in refs(count))
    shape: list[Any] = []
    for axis, last in enumerate(final.shape):
        if isinstance(last, Sym) or not isinstance(last, int):
            shape.append(last)
            continue
        # a copy whose size here is symbolic (T before `mean(dim=1, keepdim=true)` makes it
        # 1) follows no progression: the size depends on n in a way no expression writes
        polys = [normal(expr_of(t.shape[axis]))  # type: ignore[arg-type]  # not a Sym here
                 if isinstance(t, Tensor) and len(ranks) == 1 and
                 not isinstance(t.shape[axis], Sym) else None for t in inputs]
        if any(p is None for p in polys) or len(polys) < 3:
            deps = frozenset(refs(expr_of(last))) | count_refs
            if len(polys) >= 2 and all(p == polys[0] for p in polys if p is not None) and \
                    None not in polys:
                shape.append(last)
            else:
                shape.append(SInt(int(last), Opaque(deps)))
            continue
        start, step = polys[0], poly_difference(polys[1], polys[0])  # type: ignore[arg-type]
        if not step:
            shape.append(last)
        elif all(p == poly_scale_add(start, step, i)  # type: ignore[arg-type]
                 for i, p in enumerate(polys)):
            expr = make_op("+", poly_expr(start),  # type: ignore[arg-type]  # checked above
                           make_op("*", count, poly_expr(step)))
            shape.append(SInt(int(last), expr) if not isinstance(expr, int) else int(last))
        else:
            deps = frozenset(refs(expr_of(last))) | count_refs
            shape.append(SInt(int(last), Opaque(deps)))
    tensor = Tensor(s.TT(tuple(shape), final.tt.dtype), final.whys, final.producer, final.index)
    if isinstance(steps[-1], PrimaryTuple):
        return PrimaryTuple((tensor, *steps[-1][1:]))
    return tensor
