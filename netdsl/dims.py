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
            value = _INT_OPS[op](other, self)  # type: ignore[arg-type]  # an int, as tested
            expr = make_op(op, other_expr, self.expr)
        else:
            value = _INT_OPS[op](self, other)  # type: ignore[arg-type]  # an int, as tested
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
    """A dimension unknown until run time: a polynomial with integer coefficients in named
    sizes (`B`, `T`, `H - 2`, `8*H*W`). What is not a polynomial (a division that does not
    come out even) becomes an atom named by its text, like `((H - 3)//2)`, so sizes print as
    a person would write them and equal sizes computed differently compare equal."""

    __slots__ = ("terms",)

    def __init__(self, terms: tuple[tuple[tuple[str, ...], int], ...]) -> None:
        self.terms = terms  # sorted (monomial, coefficient); the monomial () is the constant

    @staticmethod
    def named(name: str) -> Sym:
        return Sym(((((name,), 1)),))

    @staticmethod
    def atom(text: str) -> Sym:
        return Sym.named(f"({text})")

    @staticmethod
    def _make(terms: dict[tuple[str, ...], int]) -> Dim:
        kept = tuple(sorted(((m, c) for m, c in terms.items() if c), key=_term_order))
        if all(not m for m, _ in kept):  # no names left: a plain number
            return sum(c for _, c in kept)
        return Sym(kept)

    def _dict(self) -> dict[tuple[str, ...], int]:
        return dict(self.terms)

    def __str__(self) -> str:
        parts: list[str] = []
        for monomial, coeff in self.terms:
            names = "*".join(monomial)
            magnitude = abs(coeff)
            if not monomial:
                body = str(magnitude)
            elif magnitude == 1:
                body = names
            else:
                body = f"{magnitude}*{names}"
            if not parts:
                parts.append(body if coeff > 0 else f"-{body}")
            else:
                parts.append(f"+ {body}" if coeff > 0 else f"- {body}")
        return " ".join(parts)

    __repr__ = __str__

    def evaluate(self, sizes: dict[str, int]) -> int:
        """The size once the named ones are known (atoms cannot be evaluated)."""
        total = 0
        for monomial, coeff in self.terms:
            value = coeff
            for name in monomial:
                value *= sizes[name]
            total += value
        return total

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sym) and self.terms == other.terms

    def __hash__(self) -> int:
        return hash(self.terms)

    @staticmethod
    def _terms_of(value: object) -> dict[tuple[str, ...], int] | None:
        if isinstance(value, Sym):
            return value._dict()
        if isinstance(value, int) and not isinstance(value, bool):
            return {(): int(value)}
        return None

    def __add__(self, other: object) -> Dim:
        theirs = Sym._terms_of(other)
        if theirs is None:
            return NotImplemented  # type: ignore[return-value]
        mine = self._dict()
        for m, c in theirs.items():
            mine[m] = mine.get(m, 0) + c
        return Sym._make(mine)

    __radd__ = __add__

    def __neg__(self) -> Dim:
        return Sym._make({m: -c for m, c in self.terms})

    def __sub__(self, other: object) -> Dim:
        theirs = Sym._terms_of(other)
        if theirs is None:
            return NotImplemented  # type: ignore[return-value]
        return self + Sym._make({m: -c for m, c in theirs.items()})

    def __rsub__(self, other: object) -> Dim:
        return (-self) + other  # type: ignore[operator]

    def __mul__(self, other: object) -> Dim:
        theirs = Sym._terms_of(other)
        if theirs is None:
            return NotImplemented  # type: ignore[return-value]
        out: dict[tuple[str, ...], int] = {}
        for m1, c1 in self.terms:
            for m2, c2 in theirs.items():
                m = tuple(sorted(m1 + m2))
                out[m] = out.get(m, 0) + c1 * c2
        return Sym._make(out)

    __rmul__ = __mul__

    def __floordiv__(self, other: object) -> Dim:
        if isinstance(other, int) and not isinstance(other, bool) and other != 0:
            k = int(other)
            if all(c % k == 0 for _, c in self.terms):
                return Sym._make({m: c // k for m, c in self.terms})
            return Sym.atom(f"{_wrapped(self)}//{k}")
        if isinstance(other, Sym):
            if other == self:
                return 1
            return Sym.atom(f"{_wrapped(self)}//{_wrapped(other)}")
        return NotImplemented  # type: ignore[return-value]

    def __rfloordiv__(self, other: object) -> Dim:
        return Sym.atom(f"{other}//{_wrapped(self)}")

    def __mod__(self, other: object) -> Dim:
        return Sym.atom(f"{_wrapped(self)} % {_wrapped(other)}")

    def __rmod__(self, other: object) -> Dim:
        return Sym.atom(f"{other} % {_wrapped(self)}")


def _term_order(term: tuple[tuple[str, ...], int]) -> tuple[int, tuple[str, ...]]:
    return (-len(term[0]), term[0])  # highest degree first, the constant last


def _wrapped(value: object) -> str:
    text = str(value)
    return text if " " not in text else f"({text})"


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
