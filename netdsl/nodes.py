"""The syntax tree: plain dataclasses, each carrying the span it was parsed from.

The tree is what the user wrote and nothing more; names are resolved and shapes
inferred by later passes (netdsl/checker.py), which record their results beside
the nodes rather than reshaping them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import Pos


def fields_repr(obj: Any) -> str:
    """`Name(pos=..., id='x')`: what dataclasses would write, from one function instead of a
    __repr__ compiled for every class (that compiling costs ~4 ms at every start)."""
    fields = ", ".join(f"{name}={getattr(obj, name)!r}" for name in obj.__dataclass_fields__)
    return f"{type(obj).__name__}({fields})"


class SyntaxNode:
    """The base of every node: the shared repr."""

    __slots__ = ()
    __repr__ = fields_repr


if TYPE_CHECKING:  # what `syntax` makes, said so that mypy checks the nodes' constructors
    from typing_extensions import dataclass_transform

    _Node = TypeVar("_Node")

    @dataclass_transform(eq_default=False, field_specifiers=(field,))
    def syntax(cls: type[_Node]) -> type[_Node]: ...
else:
    # every node class is declared with this
    syntax = dataclass(slots=True, eq=False, repr=False)

# ---------------------------------------------------------------- expressions


@syntax
class Expr(SyntaxNode):
    pos: Pos


@syntax
class Name(Expr):
    id: str


@syntax
class Number(Expr):
    value: int | float


@syntax
class String(Expr):
    value: str


@syntax
class Constant(Expr):
    """``true``, ``false`` or ``none``."""

    value: bool | None


@syntax
class TupleExpr(Expr):
    items: list[Expr]


@syntax
class BinOp(Expr):
    op: str  # + - * / // % @ **
    left: Expr
    right: Expr


@syntax
class UnaryOp(Expr):
    op: str  # - + not
    operand: Expr


@syntax
class BoolOp(Expr):
    op: str  # and, or
    values: list[Expr]


@syntax
class Compare(Expr):
    left: Expr
    ops: list[str]
    comparators: list[Expr]


@syntax
class Ternary(Expr):
    then: Expr
    cond: Expr
    otherwise: Expr


@syntax
class Keyword(SyntaxNode):
    name: str
    value: Expr
    pos: Pos


@syntax
class Call(Expr):
    """``f(args)``: building a layer or block, or applying one to tensors."""

    func: Expr
    args: list[Expr]
    kwargs: list[Keyword]


@syntax
class Attribute(Expr):
    value: Expr
    attr: str


@syntax
class Slice(Expr):
    lower: Expr | None
    upper: Expr | None
    step: Expr | None


@syntax
class EllipsisExpr(Expr):
    pass


@syntax
class Index(Expr):
    value: Expr
    items: list[Expr]


@syntax
class ShapeSpec(SyntaxNode):
    dims: list[Expr]
    pos: Pos


@syntax
class Annotated(Expr):
    value: Expr
    shape: ShapeSpec


@syntax
class Stage(SyntaxNode):
    """One ``-> stage`` of a pipeline: a layer, a block or a bound name."""

    callee: tuple[str, ...]  # dotted: ("conv",), ("nn", "Conv2d"), ("enc",)
    args: Sequence[Expr]  # a list, or () when written without parentheses
    kwargs: Sequence[Keyword]
    called: bool  # written with parentheses
    repeat: Expr | None
    alias: str | None
    alias_pos: Pos | None
    shape: ShapeSpec | None
    pos: Pos  # the layer itself, for the caret

    @property
    def label(self) -> str:
        return ".".join(self.callee)


@syntax
class Pipeline(Expr):
    head: Expr
    stages: list[Stage]


# ---------------------------------------------------------------- statements


@syntax
class Stmt(SyntaxNode):
    pos: Pos


@syntax
class Assign(Stmt):
    target: Expr  # a Name or a (nested) TupleExpr of Names
    value: Expr


@syntax
class ExprStmt(Stmt):
    value: Expr


@syntax
class Return(Stmt):
    value: Expr


@syntax
class Pass(Stmt):
    pass


@syntax
class If(Stmt):
    branches: list[tuple[Expr, list[Stmt]]]  # if and elifs, in order
    orelse: list[Stmt] | None


@syntax
class For(Stmt):
    """``for target in range(...):``, run at check time once per value."""

    target: str
    target_pos: Pos
    iter: Expr  # the range(...) call, as written
    body: list[Stmt]


# ---------------------------------------------------------------- definitions


@syntax
class TensorType(SyntaxNode):
    dtype: str | None
    dtype_pos: Pos | None
    shape: ShapeSpec


@syntax
class Param(SyntaxNode):
    name: str
    type: TensorType | None
    default: Expr | None
    pos: Pos


@syntax
class Definition(SyntaxNode):
    kind: str  # "block" or "network"
    name: str
    hyperparams: list[Param]
    inputs: list[Param]
    body: list[Stmt]
    pos: Pos  # the name, for the caret
    source: str = ""  # the file it comes from


@syntax
class Import(SyntaxNode):
    path: str
    pos: Pos


@syntax
class Module(SyntaxNode):
    file: str
    imports: list[Import] = field(default_factory=list)
    definitions: list[Definition] = field(default_factory=list)
