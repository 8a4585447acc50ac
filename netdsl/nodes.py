"""The syntax tree: plain dataclasses, each carrying the span it was parsed from.

The tree is what the user wrote and nothing more; names are resolved and shapes
inferred by later passes (netdsl/checker.py), which record their results beside
the nodes rather than reshaping them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Pos

# ---------------------------------------------------------------- expressions


@dataclass(slots=True, eq=False)
class Expr:
    pos: Pos


@dataclass(slots=True, eq=False)
class Name(Expr):
    id: str


@dataclass(slots=True, eq=False)
class Number(Expr):
    value: int | float


@dataclass(slots=True, eq=False)
class String(Expr):
    value: str


@dataclass(slots=True, eq=False)
class Constant(Expr):
    """``true``, ``false`` or ``none``."""

    value: bool | None


@dataclass(slots=True, eq=False)
class TupleExpr(Expr):
    items: list[Expr]


@dataclass(slots=True, eq=False)
class BinOp(Expr):
    op: str  # + - * / // % @
    left: Expr
    right: Expr


@dataclass(slots=True, eq=False)
class UnaryOp(Expr):
    op: str  # - + not
    operand: Expr


@dataclass(slots=True, eq=False)
class BoolOp(Expr):
    op: str  # and, or
    values: list[Expr]


@dataclass(slots=True, eq=False)
class Compare(Expr):
    left: Expr
    ops: list[str]
    comparators: list[Expr]


@dataclass(slots=True, eq=False)
class Ternary(Expr):
    then: Expr
    cond: Expr
    otherwise: Expr


@dataclass(slots=True, eq=False)
class Keyword:
    name: str
    value: Expr
    pos: Pos


@dataclass(slots=True, eq=False)
class Call(Expr):
    """``f(args)``: building a layer or block, or applying one to tensors."""

    func: Expr
    args: list[Expr]
    kwargs: list[Keyword]


@dataclass(slots=True, eq=False)
class Attribute(Expr):
    value: Expr
    attr: str


@dataclass(slots=True, eq=False)
class Slice(Expr):
    lower: Expr | None
    upper: Expr | None
    step: Expr | None


@dataclass(slots=True, eq=False)
class EllipsisExpr(Expr):
    pass


@dataclass(slots=True, eq=False)
class Index(Expr):
    value: Expr
    items: list[Expr]


@dataclass(slots=True, eq=False)
class ShapeSpec:
    dims: list[Expr]
    pos: Pos


@dataclass(slots=True, eq=False)
class Annotated(Expr):
    value: Expr
    shape: ShapeSpec


@dataclass(slots=True, eq=False)
class Stage:
    """One ``-> stage`` of a pipeline: a layer, a block or a bound name."""

    callee: list[str]  # dotted: ["conv"], ["nn", "Conv2d"], ["enc"]
    args: list[Expr]
    kwargs: list[Keyword]
    called: bool  # written with parentheses
    repeat: Expr | None
    alias: str | None
    alias_pos: Pos | None
    shape: ShapeSpec | None
    pos: Pos  # the layer itself, for the caret

    @property
    def label(self) -> str:
        return ".".join(self.callee)


@dataclass(slots=True, eq=False)
class Pipeline(Expr):
    head: Expr
    stages: list[Stage]


# ---------------------------------------------------------------- statements


@dataclass(slots=True, eq=False)
class Stmt:
    pos: Pos


@dataclass(slots=True, eq=False)
class Assign(Stmt):
    target: Expr  # a Name or a (nested) TupleExpr of Names
    value: Expr


@dataclass(slots=True, eq=False)
class ExprStmt(Stmt):
    value: Expr


@dataclass(slots=True, eq=False)
class Return(Stmt):
    value: Expr


@dataclass(slots=True, eq=False)
class Pass(Stmt):
    pass


@dataclass(slots=True, eq=False)
class If(Stmt):
    branches: list[tuple[Expr, list[Stmt]]]  # if and elifs, in order
    orelse: list[Stmt] | None


# ---------------------------------------------------------------- definitions


@dataclass(slots=True, eq=False)
class TensorType:
    dtype: str | None
    dtype_pos: Pos | None
    shape: ShapeSpec


@dataclass(slots=True, eq=False)
class Param:
    name: str
    type: TensorType | None
    default: Expr | None
    pos: Pos


@dataclass(slots=True, eq=False)
class Definition:
    kind: str  # "block" or "network"
    name: str
    hyperparams: list[Param]
    inputs: list[Param]
    body: list[Stmt]
    pos: Pos  # the name, for the caret
    source: str = ""  # the file it comes from


@dataclass(slots=True, eq=False)
class Import:
    path: str
    pos: Pos


@dataclass(slots=True, eq=False)
class Module:
    file: str
    imports: list[Import] = field(default_factory=list)
    definitions: list[Definition] = field(default_factory=list)

