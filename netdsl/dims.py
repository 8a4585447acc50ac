"""Tensor dimensions: known integers, integers that remember where they came from,
and symbolic dimensions.

* A plain ``int`` is a size fixed by literals alone.
* :class:`SInt` is an ``int`` that also carries the expression it was computed
  from in terms of a class's names (hyperparameters, dimension variables). The
  shape rules are written with ordinary arithmetic; because SInt overloads the
  operators, the expression of every inferred size comes for free, and the
  PyTorch backend can write ``nn.BatchNorm2d(mid_channels)`` in a generic block
  instead of a number that is only right for one use.
* :class:`Sym` is a dimension with no value at compile time (``B``, ``T``). It
  flows through layers that leave it alone; a layer that needs it as a size fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Union

# ---------------------------------------------------------------- expressions

MAX_EXPR_SIZE = 24  # beyond this an expression reads worse than a named parameter


@dataclass(frozen=True, slots=True)
class Ref:
    """A name in a class's scope. kind: 'hyper', 'local', 'dim' (named in a header)
    or 'anon' (an unnamed input dimension; `name` is then 'x.1')."""

    name: str
    kind: str


OPAQUE = Ref("<opaque>", "opaque")  # an expression too long to be worth writing out


class Op(NamedTuple):
    """left op right; a tuple, so that building one is cheap and equal ones compare equal."""

    op: str  # + - * // %
    left: Expr
    right: Expr
    size: int


Expr = Union[int, Ref, Op]

PRECEDENCE = {"+": 1, "-": 1, "*": 2, "//": 2, "%": 2}


def make_op(op: str, left: Expr, right: Expr) -> Expr:
    # light algebra so that generated code reads as written: x + 0, x * 1, x // 1
    if right.__class__ is int:
        if (right == 0 and (op == "+" or op == "-")) or (right == 1 and (op == "*" or op == "//")):
            return left
    if left.__class__ is int:
        if (left == 0 and op == "+") or (left == 1 and op == "*"):
            return right
    size = (left.size if left.__class__ is Op else 1) + (right.size if right.__class__ is Op
                                                          else 1) + 1
    if size > MAX_EXPR_SIZE:
        return OPAQUE
    return Op(op, left, right, size)


def render_expr(e: Expr, parent: int = 0, right_side: bool = False) -> str:
    """Python source for an expression, with only the parentheses it needs."""
    if isinstance(e, int):
        return repr(int(e)) if e >= 0 or parent == 0 else f"({int(e)!r})"
    if isinstance(e, Ref):
        return e.name
    prec = PRECEDENCE[e.op]
    text = f"{render_expr(e.left, prec)} {e.op} {render_expr(e.right, prec, True)}"
    if prec < parent or (prec == parent and right_side):
        return f"({text})"
    return text


def refs(e: Expr) -> list[Ref]:
    out: list[Ref] = []
    stack = [e]
    while stack:
        item = stack.pop()
        if isinstance(item, Ref):
            if item not in out:
                out.append(item)
        elif isinstance(item, Op):
            stack.append(item.right)
            stack.append(item.left)
    return out


# ---------------------------------------------------------------- SInt


def expr_of(v: int) -> Expr:
    return v.expr if isinstance(v, SInt) else int(v)


class SInt(int):
    """An int that remembers the expression it was computed from."""

    expr: Expr

    def __new__(cls, value: int, expr: Expr) -> SInt:
        obj = super().__new__(cls, value)
        obj.expr = expr
        return obj

    def __repr__(self) -> str:
        return f"SInt({int(self)}, {render_expr(self.expr)})"

    def __str__(self) -> str:  # sizes print as numbers; the expression is for code generation
        return int.__repr__(self)

    def __format__(self, spec: str) -> str:
        return int.__format__(int(self), spec)

    def _combine(self, other: object, op: str, swapped: bool = False) -> int:
        # the hot path of shape checking inside blocks: kept to plain operations
        cls = other.__class__
        if cls is SInt:
            other_expr: Expr = other.expr  # type: ignore[attr-defined]
        elif cls is int:
            other_expr = other  # type: ignore[assignment]
        elif isinstance(other, int) and not isinstance(other, bool):
            other_expr = int(other)
        else:
            return NotImplemented  # type: ignore[return-value]
        if swapped:
            value = _INT_OPS[op](other, self)
            expr = make_op(op, other_expr, self.expr)
        else:
            value = _INT_OPS[op](self, other)
            expr = make_op(op, self.expr, other_expr)
        if expr.__class__ is int:
            return value
        return SInt(value, expr)

    def __add__(self, o: object) -> int: return self._combine(o, "+")
    def __radd__(self, o: object) -> int: return self._combine(o, "+", True)
    def __sub__(self, o: object) -> int: return self._combine(o, "-")
    def __rsub__(self, o: object) -> int: return self._combine(o, "-", True)
    def __mul__(self, o: object) -> int: return self._combine(o, "*")
    def __rmul__(self, o: object) -> int: return self._combine(o, "*", True)
    def __floordiv__(self, o: object) -> int: return self._combine(o, "//")
    def __rfloordiv__(self, o: object) -> int: return self._combine(o, "//", True)
    def __mod__(self, o: object) -> int: return self._combine(o, "%")
    def __rmod__(self, o: object) -> int: return self._combine(o, "%", True)

    def __neg__(self) -> int:
        return self._combine(-1, "*", True)

    def __pos__(self) -> int:
        return self

    def __hash__(self) -> int:
        return int.__hash__(self)

    def __eq__(self, other: object) -> bool:
        return int.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return int.__ne__(self, other)


_INT_OPS = {"+": int.__add__, "-": int.__sub__, "*": int.__mul__, "//": int.__floordiv__,
            "%": int.__mod__}
ARITHMETIC = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
          "//": lambda a, b: a // b, "%": lambda a, b: a % b}


# ---------------------------------------------------------------- symbolic dims


class Sym:
    """A dimension unknown until run time: a product ``coeff * names`` or an opaque text."""

    __slots__ = ("coeff", "names", "text")

    def __init__(self, names: tuple[str, ...], coeff: int = 1, text: str | None = None) -> None:
        self.names = names
        self.coeff = coeff
        self.text = text

    @staticmethod
    def named(name: str) -> Sym:
        return Sym((name,))

    def __str__(self) -> str:
        if self.text is not None:
            return self.text
        parts = ([str(self.coeff)] if self.coeff != 1 else []) + list(self.names)
        return "*".join(parts)

    __repr__ = __str__

    def _key(self) -> tuple[object, ...]:
        return (self.text,) if self.text is not None else (self.coeff, self.names)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sym) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _opaque(self, op: str, other: object, swapped: bool = False) -> Sym:
        a, b = (other, self) if swapped else (self, other)
        return Sym((), 1, f"({a} {op} {b})")

    def __mul__(self, other: object) -> Sym:
        if isinstance(other, Sym):
            if self.text is None and other.text is None:
                return Sym(tuple(sorted(self.names + other.names)), self.coeff * other.coeff)
            return self._opaque("*", other)
        if isinstance(other, int):
            if self.text is None:
                return Sym(self.names, self.coeff * int(other))
            return self._opaque("*", other)
        return NotImplemented

    __rmul__ = __mul__

    def __floordiv__(self, other: object) -> Sym:
        if isinstance(other, int) and not isinstance(other, bool) and other != 0:
            if self.text is None and self.coeff % int(other) == 0:
                return Sym(self.names, self.coeff // int(other))
            return self._opaque("//", other)
        if isinstance(other, Sym) and other.text is None and self.text is None:
            names = list(self.names)
            for name in other.names:
                if name not in names:
                    return self._opaque("//", other)
                names.remove(name)
            if self.coeff % other.coeff == 0 and names:
                return Sym(tuple(names), self.coeff // other.coeff)
        return self._opaque("//", other)

    def __rfloordiv__(self, other: object) -> Sym:
        return self._opaque("//", other, True)

    def __add__(self, other: object) -> Sym:
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return self._opaque("+", other)

    def __radd__(self, other: object) -> Sym:
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return self._opaque("+", other, True)

    def __sub__(self, other: object) -> Sym:
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return self._opaque("-", other)

    def __rsub__(self, other: object) -> Sym:
        return self._opaque("-", other, True)

    def __mod__(self, other: object) -> Sym:
        return self._opaque("%", other)

    def __rmod__(self, other: object) -> Sym:
        return self._opaque("%", other, True)


Dim = Union[int, Sym]


def dim_str(d: Dim) -> str:
    return str(int(d)) if isinstance(d, int) else str(d)


def shape_str(shape: tuple[Dim, ...] | list[Dim]) -> str:
    return "[" + ", ".join(dim_str(d) for d in shape) + "]"


def shape_json(shape: tuple[Dim, ...] | list[Dim]) -> list[int | str]:
    return [int(d) if isinstance(d, int) else str(d) for d in shape]


def product(dims: list[Dim] | tuple[Dim, ...]) -> Dim:
    result: Dim = 1
    for d in dims:
        result = result * d if isinstance(result, Sym) or not isinstance(d, Sym) else d * result
    return result
