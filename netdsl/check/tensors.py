"""Tensor operators: arithmetic, indexing and shape annotations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import nodes as n
from .. import shapes as s
from .. import tensor_rules as tr
from ..catalogue import (
    LAYERS,
)
from ..dims import (
    Dim,
    SInt,
    Sym,
    dim_str,
    shape_str,
)
from ..errors import Pos, SourceError
from ..values import (
    POISON,
    Poison,
    Tensor,
    Why,
    describe,
    explain,
)
from .control import least_pinned
from .diagnostics import validate_name
from .scope import Frame, SiteRecord, is_int, primary

if TYPE_CHECKING:
    from .checker import Checker


def symbolic_slice(size: Dim, bounds: list[Any]) -> Dim | None:
    """The length of size[lower:upper] when the size or a bound is symbolic, taking the
    bounds to lie within the dimension (as every program that runs has them: `mask[:T, :T]`
    of a [128, 128] buffer is [T, T]); None when the step is not 1 or a bound is of a sign
    that leaves the length unknown."""
    lower, upper, step = bounds
    if step not in (None, 1):
        if not isinstance(step, int) or isinstance(step, Sym):
            return None
        # every step-th of the elements the unit-step slice keeps: ceil(length / step)
        length = symbolic_slice(size, [lower, upper, None])
        return None if length is None else (length + step - 1) // step
    if isinstance(lower, int) and lower < 0 and isinstance(upper, int) and upper >= 0 and \
            not isinstance(upper, Sym):
        # from the end to a fixed position: empty or not depending on the size
        return 0 if upper == 0 else None
    start: Dim = 0 if lower is None else lower
    if isinstance(start, int) and not isinstance(start, Sym) and start < 0:
        start = size + start
    end: Dim = size if upper is None else upper
    if isinstance(end, int) and not isinstance(end, Sym) and end < 0:
        end = size + end
    length = end - start
    if isinstance(length, int) and not isinstance(length, Sym) and length <= 0:
        return 0
    return length


def slice_size(size: int, bounds: list[Any]) -> int:
    """The length of size[lower:upper:step]; an SInt size keeps its expression where the
    slice's length is one (x[:, 1:] of a size C is C - 1), for generated code."""
    lower, upper, step = bounds
    length = len(range(*slice(*bounds).indices(int(size))))
    if isinstance(size, SInt) and step in (None, 1) and upper is None:
        start = lower or 0
        if 0 <= start <= size:
            return size - start
    return length


# an operator -> the name of its node (torch's function)
OPERATORS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "@": "matmul", "//": "floordiv",
             "%": "remainder", "**": "pow", "==": "eq", "!=": "ne", "<": "lt", "<=": "le",
             ">": "gt", ">=": "ge"}
COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})


class Tensors:
    """Tensor operators: arithmetic, indexing and shape annotations."""

    def annotate(self: Checker, value: Any, spec: n.ShapeSpec, frame: Frame, pos: Pos) -> None:
        value = primary(value)
        if isinstance(value, Poison):
            return
        if not isinstance(value, Tensor):
            raise SourceError(f"a shape annotation needs a tensor, got {describe(value)}",
                              spec.pos)
        shape = value.shape
        if len(spec.dims) != len(shape):
            raise SourceError(f"the annotation says {len(spec.dims)} dimensions, but the shape "
                              f"is {value.tt}", spec.pos)
        for axis, (expr, actual) in enumerate(zip(spec.dims, shape, strict=True)):
            if isinstance(expr, n.Name) and expr.id not in frame.env and expr.id not in LAYERS:
                validate_name(expr.id, expr.pos, "a dimension")
                frame.env[expr.id] = actual
                frame.kinds[expr.id] = "dim"
                continue
            expected = self.eval(expr, frame)
            if not (is_int(expected) or isinstance(expected, Sym)):  # `[conv, 9216]`
                raise SourceError(f"a dimension must be an integer or a name, but "
                                  f"{self.label(expr.pos) or 'this'} is {describe(expected)}",
                                  expr.pos, fix=f"write {shape_str(list(shape))}",
                                  fix_pos=spec.pos)
            if not self.dims_equal(expected, actual):
                written = self.label(spec.pos) or self.header_text(spec.dims, frame)
                raise SourceError(
                    f"the annotation {written} does not match the shape {value.tt}: dimension "
                    f"{axis} is {dim_str(actual)}, not {dim_str(expected)}", spec.pos,
                    notes=explain(value.whys[axis]),
                    fix=f"write {shape_str(list(shape))}")

    def tensor_binop(self: Checker, e: n.BinOp, left: Any, right: Any, frame: Frame) -> Any:
        return self.tensor_operator(e.op, e, e.left, e.right, left, right, frame)

    def tensor_operator(self: Checker, symbol: str, e: n.Expr, left_e: n.Expr, right_e: n.Expr,
                        left: Any, right: Any, frame: Frame) -> Any:
        """`a + b`, `x ** 2`, `mask == 0`: a tensor with a tensor or a number, broadcast and
        promoted as torch does (comparisons give bool tensors)."""
        op = OPERATORS[symbol]
        operands = []
        for value, side in ((left, left_e), (right, right_e)):
            if isinstance(value, Tensor):
                operands.append(value)
            elif (isinstance(value, (int, float, Sym))) and (
                    not isinstance(value, bool) or symbol in COMPARISONS):
                # a symbolic size is a Python int at run time (`arange(B) * T + eos`)
                if symbol == "@":
                    raise SourceError("'@' multiplies two tensors", side.pos)
            else:
                raise SourceError(f"cannot use {symbol!r} on a tensor and {describe(value)}",
                                  side.pos)
        if symbol == "@":
            return self.tensor_op(op, operands, e, frame, scalar=False, symbol=symbol)
        try:
            result = tr.binary(symbol, *(v.tt if isinstance(v, Tensor) else
                                         2 if isinstance(v, Sym) else v
                                         for v in (left, right)))
        except s.ShapeError as err:
            raise self.shape_error(err, None, operands, e.pos) from None
        return self.tensor_op(op, operands, e, frame, scalar=len(operands) == 1, symbol=symbol,
                              result=result)

    def tensor_op(self: Checker, op: str, operands: list[Tensor], e: n.Expr, frame: Frame,
                  scalar: bool = True, symbol: str = "-", result: s.TT | None = None) -> Any:
        pos = e.pos
        try:
            if op == "matmul":
                applied = s.matmul(s.Call("@", {}, [t.tt for t in operands], set()))
            elif result is not None:  # the operator's type, its sizes taken as least pinned
                shape = result.shape if scalar else least_pinned(result.shape, operands)
                applied = s.Applied(s.TT(shape, result.dtype, result.strides), "")
            elif scalar:
                applied = s.Applied(tr.negate(operands[0].tt) if op == "neg" else
                                    operands[0].tt, "")
            else:
                shape = least_pinned(s.broadcast([t.shape for t in operands], f"'{symbol}'"),
                                     operands)
                applied = s.Applied(s.TT(shape, tr.result_type([t.tt for t in operands])), "")
        except s.ShapeError as err:
            raise self.shape_error(err, None, operands, pos) from None
        label = self.label(pos) or op
        node = self.new_node("op", op, None, label, f"torch.{op}", pos, operands, frame)
        node.outputs = [applied.outputs]
        node.meta["symbol"] = symbol
        out: s.TT = applied.outputs
        whys: list[Why | None] = []
        for axis in range(out.rank):
            found = None
            for t in operands:
                k = axis - (out.rank - t.tt.rank)
                if 0 <= k < t.tt.rank and t.shape[k] == out.shape[axis]:
                    found = t.whys[k]
                    break
            whys.append(found)
        frame.record(e, SiteRecord("op", None, node))  # type: ignore[arg-type]
        return Tensor(out, tuple(whys), node, 0)

    def eval_Index(self: Checker, e: n.Index, frame: Frame) -> Any:
        value = primary(self.eval(e.value, frame))
        if isinstance(value, Poison):
            return POISON
        if isinstance(value, tuple):
            if len(e.items) != 1:
                raise SourceError("a tuple takes one index", e.pos)
            if isinstance(e.items[0], (n.Slice, n.EllipsisExpr)):
                raise SourceError("a tuple takes an integer index, not a slice", e.items[0].pos,
                                  fix="index its items one by one: (t[0], t[1])")
            i = self.eval(e.items[0], frame)
            if not is_int(i) or not -len(value) <= i < len(value):
                raise SourceError(f"index {i!r} is out of range for a tuple of {len(value)}",
                                  e.items[0].pos)
            return value[int(i)]
        if not isinstance(value, Tensor):
            raise SourceError(f"cannot index {describe(value)}", e.pos)
        return self.index_tensor(value, e, frame)

    def index_tensor(self: Checker, t: Tensor, e: n.Index, frame: Frame) -> Tensor:
        items = e.items
        consumed = sum(1 for i in items if not isinstance(i, (n.EllipsisExpr,)) and not (
            isinstance(i, n.Constant) and i.value is None))
        if consumed > t.tt.rank:
            raise SourceError(f"too many indices for {t.tt}: {consumed} given", e.pos)
        shape: list[Dim] = []
        whys: list[Why | None] = []
        tensor_inputs: list[Tensor] = []
        axis = 0
        label = self.label(e.pos) or "index"
        for item in items:
            if isinstance(item, n.EllipsisExpr):
                skip = t.tt.rank - consumed
                shape.extend(t.shape[axis:axis + skip])
                whys.extend(t.whys[axis:axis + skip])
                axis += skip
                continue
            if isinstance(item, n.Constant) and item.value is None:
                shape.append(1)
                whys.append(None)
                continue
            size = t.shape[axis]
            if isinstance(item, n.Slice):
                bounds = [self.eval(b, frame) if b is not None else None
                          for b in (item.lower, item.upper, item.step)]
                for b, b_expr in zip(bounds, (item.lower, item.upper, item.step), strict=True):
                    if b is not None and not is_int(b) and not (
                            isinstance(b, Sym) and b_expr is not item.step):
                        raise SourceError(f"slice bounds must be integers, got {describe(b)}",
                                          b_expr.pos if b_expr else item.pos)
                if bounds[2] is not None and bounds[2] <= 0:
                    raise SourceError("slice step must be positive", item.pos)
                if isinstance(size, Sym) or any(isinstance(b, Sym) for b in bounds):
                    length = symbolic_slice(size, bounds)
                    new: Dim = length if length is not None else Sym.atom(
                        f"len({size}[{self.label(item.pos)}])")
                else:
                    new = slice_size(size, bounds)
                if not isinstance(new, Sym) and new == 0:
                    raise SourceError(f"the slice {self.label(item.pos)} of dimension "
                                      f"{axis} (size {size}) is empty", item.pos)
                shape.append(new)
                whys.append(t.whys[axis] if new == size else Why(new, f"{label} at "
                                                                      f"{e.pos.short}",
                                                                 kind="arg"))
                axis += 1
                continue
            index = primary(self.eval(item, frame))
            if isinstance(index, Tensor):
                # torch's advanced indexing along one dimension: table[index] has the
                # index's shape in place of that dimension (a relative position bias table
                # indexed by a constant buffer)
                if index.tt.dtype == "bool":
                    raise SourceError("indexing with a bool mask gives a size known only at "
                                      "run time", item.pos,
                                      fix="keep the shape: (mask, x, other) -> where, or "
                                          "(x, mask) -> masked_fill(value)")
                if index.tt.dtype not in s.INT_DTYPES:
                    raise SourceError(f"a tensor index must hold integers, not "
                                      f"{index.tt.dtype}", item.pos)
                if tensor_inputs:  # (each item is evaluated once: it may make nodes)
                    raise SourceError("index with one tensor at a time", item.pos)
                shape.extend(index.shape)
                whys.extend(index.whys)
                tensor_inputs.append(index)
                axis += 1
                continue
            if not is_int(index):
                raise SourceError(f"an index must be an integer, got {describe(index)}",
                                  item.pos)
            if is_int(size) and not -size <= index < size:
                raise SourceError(f"index {index} is out of range for dimension {axis} of "
                                  f"size {size}", item.pos, notes=[f"input: {t.tt}"])
            axis += 1
        shape.extend(t.shape[axis:])
        whys.extend(t.whys[axis:])
        tt = s.TT(tuple(shape), t.tt.dtype)
        node = self.new_node("op", "index", None, label, label, e.pos, [t, *tensor_inputs],
                             frame)
        node.outputs = [tt]
        frame.record(e, SiteRecord("op", None, node))  # type: ignore[arg-type]
        return Tensor(tt, tuple(whys), node, 0)
