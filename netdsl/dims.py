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
from typing import Any, NamedTuple, Union

# ---------------------------------------------------------------- expressions

# Beyond this many operations an expression stops being tracked (it becomes Opaque, which
# still remembers the names it depends on, so code generation knows what it cannot express).
MAX_EXPR_SIZE = 160


@dataclass(frozen=True, slots=True)
class Ref:
    """A name in a class's scope. kind: 'hyper', 'local', 'dim' (named in a header)
    or 'anon' (an unnamed input dimension; `name` is then 'x.1')."""

    name: str
    kind: str


class Opaque(NamedTuple):
    """A size whose expression is not tracked (too long, or computed by a rule that cannot
    say how): only the names it depends on are known. Generated code writes its value and
    does not offer those names as constructor parameters."""

    deps: frozenset[Ref]


OPAQUE = Opaque(frozenset())  # depends on nothing that code generation could name


class Op(NamedTuple):
    """left op right; a tuple, so that building one is cheap and equal ones compare equal."""

    op: str  # + - * // %
    left: Expr
    right: Expr
    size: int


Expr = Union[int, Ref, Op, Opaque]

PRECEDENCE = {"+": 1, "-": 1, "*": 2, "//": 2, "%": 2}


def make_op(op: str, left: Expr, right: Expr) -> Expr:
    # light algebra so that generated code reads as written: x + 0, x * 1, x // 1
    if right.__class__ is int:
        if (right == 0 and (op == "+" or op == "-")) or (right == 1 and (op == "*" or op == "//")):
            return left
    if left.__class__ is int:
        if (left == 0 and op == "+") or (left == 1 and op == "*"):
            return right
    if left.__class__ is Opaque or right.__class__ is Opaque:
        return Opaque(frozenset(refs(left)) | frozenset(refs(right)))
    size = (left.size if left.__class__ is Op else 1) + (right.size if right.__class__ is Op
                                                          else 1) + 1
    if size > MAX_EXPR_SIZE:
        return Opaque(frozenset(refs(left)) | frozenset(refs(right)))
    return Op(op, left, right, size)


def render_expr(e: Expr, parent: int = 0, right_side: bool = False,
                names: dict[Ref, str] | None = None) -> str:
    """Python source for an expression, with only the parentheses it needs; `names` maps
    names to what code generation calls them."""
    if isinstance(e, int):
        return repr(int(e)) if e >= 0 or parent == 0 else f"({int(e)!r})"
    if isinstance(e, Ref):
        return names.get(e, e.name) if names else e.name
    if isinstance(e, Opaque):
        return "<opaque>"
    prec = PRECEDENCE[e.op]
    text = (f"{render_expr(e.left, prec, names=names)} {e.op} "
            f"{render_expr(e.right, prec, True, names)}")
    if prec < parent or (prec == parent and right_side):
        return f"({text})"
    return text


def refs(e: Expr) -> list[Ref]:
    """The names an expression depends on, in order of first appearance."""
    out: list[Ref] = []
    stack = [e]
    while stack:
        item = stack.pop()
        if isinstance(item, Ref):
            if item not in out:
                out.append(item)
        elif isinstance(item, Opaque):
            out.extend(sorted((r for r in item.deps if r not in out), key=lambda r: r.name))
        elif isinstance(item, Op):
            stack.append(item.right)
            stack.append(item.left)
    return out


def replace_ref(e: Expr, ref: Ref, by: Expr) -> Expr:
    """e with every occurrence of ref replaced by the expression `by`."""
    if e == ref:
        return by
    if isinstance(e, Op):
        return make_op(e.op, replace_ref(e.left, ref, by), replace_ref(e.right, ref, by))
    return e


def rebind_expr(e: Expr, ref: Ref, previous: Expr | None) -> Expr | None:
    """The expression of a name rebound as `w = w // 4`: the w on the right is the previous
    binding (`previous`, None when it has no expression), written in so that the result never
    names itself."""
    if ref not in refs(e):
        return e
    return None if previous is None else replace_ref(e, ref, previous)


# ---------------------------------------------------------------- SInt


NO_REFS: frozenset[Ref] = frozenset()


def expr_of(v: int) -> Expr:
    return v.expr if isinstance(v, SInt) else int(v)


def pin(value: Any, pinned: frozenset[Ref] = NO_REFS, branch: frozenset[Ref] = NO_REFS) -> Any:
    """An integer that also holds only while `pinned` (and `branch`) keep their values."""
    if (not pinned and not branch) or isinstance(value, bool) or not isinstance(value, int):
        return value
    if isinstance(value, SInt):
        return SInt(int(value), value.expr, value.pinned | pinned, value.branch | branch)
    return SInt(int(value), int(value), pinned, branch)


class SInt(int):
    """An int that remembers the expression it was computed from, and the names its
    expression holds for only while they keep their values (control dependences):

    * ``pinned``: names a choice made elsewhere depends on (a branch a block took inside,
      a layer argument such as ``bidirectional`` that decides a size), so the expression
      is right only for their present values; code generation does not offer them.
    * ``branch``: the conditions of the ``if`` of this class under which the value was
      computed; lowering writes every branch of the class's own ``if``, so these become
      ``pinned`` only for a caller, when the value leaves a block.
    """

    expr: Expr
    pinned: frozenset[Ref] = NO_REFS
    branch: frozenset[Ref] = NO_REFS

    def __new__(cls, value: int, expr: Expr, pinned: frozenset[Ref] = NO_REFS,
                branch: frozenset[Ref] = NO_REFS) -> SInt:
        obj = super().__new__(cls, value)
        obj.expr = expr
        if pinned:
            obj.pinned = pinned
        if branch:
            obj.branch = branch
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
        pinned, branch = self.pinned, self.branch
        if cls is SInt:
            other_expr: Expr = other.expr  # type: ignore[attr-defined]
            if other.pinned:  # type: ignore[attr-defined]
                pinned = pinned | other.pinned  # type: ignore[attr-defined]
            if other.branch:  # type: ignore[attr-defined]
                branch = branch | other.branch  # type: ignore[attr-defined]
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
        if expr.__class__ is int and not pinned and not branch:
            return value
        return SInt(value, expr, pinned, branch)

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
        exact = exact_div(self, other) if isinstance(other, (int, Sym)) else None
        if exact is not None:
            return exact
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


def exact_div(a: Dim, b: Dim) -> Dim | None:
    """a / b when the division of the polynomials comes out even (`784*B / B` is 784,
    `144*B / 4*B` is 36), else None. Sizes are products and sums of named sizes, so long
    division by the leading monomial decides it exactly."""
    if isinstance(b, bool) or isinstance(a, bool) or b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return a // b if int(a) % int(b) == 0 else None  # SInt // keeps the expression
    if isinstance(a, int):  # a number divided by a polynomial: only 0 comes out even
        return 0 if a == 0 else None
    divisor = Sym._terms_of(b)
    assert divisor is not None
    lead_m, lead_c = max(divisor.items(), key=lambda t: (len(t[0]), t[0]))
    rest = a._dict() if isinstance(a, Sym) else {(): int(a)}
    quotient: dict[tuple[str, ...], int] = {}
    for _ in range(64):  # each step removes the remainder's leading term
        rest = {m: c for m, c in rest.items() if c}
        if not rest:
            return Sym._make(quotient)
        m, c = max(rest.items(), key=lambda t: (len(t[0]), t[0]))
        factor = _monomial_quotient(m, lead_m)
        if factor is None or c % lead_c:
            return None
        q = c // lead_c
        quotient[factor] = quotient.get(factor, 0) + q
        for dm, dc in divisor.items():
            term = tuple(sorted(factor + dm))
            rest[term] = rest.get(term, 0) - q * dc
    return None


def _monomial_quotient(m: tuple[str, ...], d: tuple[str, ...]) -> tuple[str, ...] | None:
    left = list(m)
    for name in d:
        if name not in left:
            return None
        left.remove(name)
    return tuple(left)


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


# ---------------------------------------------------------------- normal form

# An expression over a class's names in normal form: a polynomial with integer
# coefficients whose atoms are names and floor divisions (or remainders) of polynomials by
# positive integers. Two expressions that compute the same size the same way compare
# equal, (size - 2) // 2 + 1 reads as size // 2, and code generation can subtract two of
# them (the step of a loop whose iterations differ).


class Div(NamedTuple):
    """num // den (op '//') or num % den (op '%'), num a polynomial, den a positive int."""

    op: str
    num: Poly
    den: int


Atom = Union[Ref, Div]
Monomial = tuple[Atom, ...]  # sorted by atom_key
Poly = tuple[tuple[Monomial, int], ...]  # sorted by monomial key; no zero coefficients


def atom_key(atom: Atom) -> tuple[int, str]:
    """Names first (alphabetically), then divisions: `2 * width * (size // 4) ** 2`."""
    if isinstance(atom, Ref):
        return (0, atom.name)
    return (1, render_poly(atom.num) + atom.op + str(atom.den))


def _poly(terms: dict[Monomial, int]) -> Poly:
    return tuple(sorted(((m, c) for m, c in terms.items() if c),
                        key=lambda t: (-len(t[0]), [atom_key(a) for a in t[0]])))


def _add(a: Poly, b: Poly, sign: int = 1) -> Poly:
    terms = dict(a)
    for m, c in b:
        terms[m] = terms.get(m, 0) + sign * c
    return _poly(terms)


def _mul(a: Poly, b: Poly) -> Poly:
    terms: dict[Monomial, int] = {}
    for m1, c1 in a:
        for m2, c2 in b:
            m = tuple(sorted(m1 + m2, key=atom_key))
            terms[m] = terms.get(m, 0) + c1 * c2
    return _poly(terms)


def constant(value: int) -> Poly:
    return _poly({(): value})


def _floordiv(num: Poly, den: int) -> Poly:
    if all(c % den == 0 for _, c in num):
        return _poly({m: c // den for m, c in num})
    const = dict(num).get((), 0)
    whole, rest = divmod(const, den)  # (P + q*den) // den == P // den + q
    if rest:
        whole = 0  # (k - 1) // 2 stays as written rather than (k + 1) // 2 - 1
    inner = _add(num, constant(whole * den), -1) if whole else num
    if len(inner) == 1 and inner[0][1] == 1 and len(inner[0][0]) == 1:
        atom = inner[0][0][0]
        if isinstance(atom, Div) and atom.op == "//":  # (p // a) // b == p // (a * b)
            return _add(_poly({(Div("//", atom.num, atom.den * den),): 1}), constant(whole))
    return _add(_poly({(Div("//", inner, den),): 1}), constant(whole))


def normal(e: Expr) -> Poly | None:
    """The normal form of an expression; None when it is Opaque or divides by a name."""
    if isinstance(e, int):
        return constant(int(e))
    if isinstance(e, Ref):
        return _poly({(e,): 1})
    if isinstance(e, Opaque):
        return None
    left, right = normal(e.left), normal(e.right)
    if left is None or right is None:
        return None
    if e.op == "+":
        return _add(left, right)
    if e.op == "-":
        return _add(left, right, -1)
    if e.op == "*":
        return _mul(left, right)
    if len(right) != 1 or right[0][0] or right[0][1] <= 0:
        return None  # a division by a name or by a non-positive number is left as written
    den = right[0][1]
    if e.op == "//":
        return _floordiv(left, den)
    if all(c % den == 0 for _, c in left):
        return ()
    return _poly({(Div("%", left, den),): 1})


def poly_difference(a: Poly, b: Poly) -> Poly:
    return _add(a, b, -1)


def poly_scale_add(base: Poly, step: Poly, count: int) -> Poly:
    return _add(base, _mul(step, constant(count)))


def poly_expr(p: Poly) -> Expr:
    """Back to an expression tree (for SInt arithmetic in generated loops)."""
    out: Expr = 0
    for monomial, coeff in p:
        term: Expr = coeff
        for atom in monomial:
            if isinstance(atom, Ref):
                factor: Expr = atom
            else:
                factor = make_op(atom.op, poly_expr(atom.num), atom.den)
            term = make_op("*", term, factor)
        out = make_op("+", out, term)
    return out


def render_poly(p: Poly, names: dict[Ref, str] | None = None, parent: int = 0) -> str:
    """Python source for a polynomial, with the names mapped and only needed parentheses."""
    if not p:
        return "0"
    parts: list[str] = []
    for monomial, coeff in p:
        factors: list[str] = []
        i = 0
        while i < len(monomial):  # x * x -> x ** 2
            atom = monomial[i]
            power = 1
            while i + power < len(monomial) and monomial[i + power] == atom:
                power += 1
            i += power
            if isinstance(atom, Ref):
                text = names.get(atom, atom.name) if names else atom.name
                # black and ruff hug `**` between simple operands: p**2, (h // 4) ** 2
                factors.append(text if power == 1 else f"{text}**{power}")
            else:
                inner = render_poly(atom.num, names, PRECEDENCE["//"])
                text = f"{inner} {atom.op} {atom.den}"
                if power > 1 or len(monomial) > 1 or abs(coeff) != 1:
                    text = f"({text})"
                factors.append(text if power == 1 else f"{text} ** {power}")
        magnitude = abs(coeff)
        if factors:
            body = " * ".join(([str(magnitude)] if magnitude != 1 else []) + factors)
        else:
            body = str(magnitude)
        if not parts:
            parts.append(body if coeff > 0 else f"-{body}")
        else:
            parts.append(f"+ {body}" if coeff > 0 else f"- {body}")
    text = " ".join(parts)
    needs = len(parts) > 1 and parent >= PRECEDENCE["*"]
    single_op = len(parts) == 1 and parent >= PRECEDENCE["*"] and (
        " * " in text or " // " in text or " % " in text or text.startswith("-"))
    return f"({text})" if needs or single_op else text
