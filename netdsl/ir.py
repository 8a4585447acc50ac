"""The intermediate representation between checking and the backends.

Two levels, as a compiler for a module language needs them:

* :class:`Network` is one checked network *instance*: its inputs, outputs, parameter
  count and the dataflow graph of every layer the check evaluated (torch.fx-like
  :class:`~netdsl.values.Node` records, a closed set of kinds: input, layer, block,
  op, parameter, output; analyses write their results into ``node.meta``). The report, the
  diagram and the cost model read it.
* :class:`ClassDef` is one network or block *class*, generic over its constructor
  parameters: what ``__init__`` builds (submodules whose arguments are expressions of
  those parameters, compile-time locals, flags, and ``if`` on compile-time values with
  every branch) and what ``forward`` computes (a list of statements over a closed set
  of expressions: variables, module calls, function and method calls, operators,
  subscripts). The PyTorch backend reads only this.

Compile-time expressions in a ClassDef are :data:`Code`: Python source over the class's
constructor parameters and locals, built by lowering (netdsl/lower/) only from
validated names, operators and ``repr``-written literals, so a backend may paste them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from .errors import Pos
from .shapes import TT
from .values import Node

Code = str  # a compile-time Python expression; see the module docstring

# ---------------------------------------------------------------- instances


@dataclass(eq=False)
class Network:
    """One checked network: what `netdsl check` reports and `netdsl diagram` draws."""

    name: str
    pos: Pos
    inputs: list[tuple[str, TT]]
    outputs: list[TT]
    nodes: list[Node]
    params: int
    hyperparams: list[tuple[str, object]] = field(default_factory=list)  # name, value


# ---------------------------------------------------------------- constructors


@dataclass(eq=False)
class Call:
    """`nn.Conv2d(in_channels, 16, 3, padding=1)` or `Up(c, 512, bilinear)`."""

    func: str  # "nn.Conv2d" or a generated class's name
    args: list[Code]
    kwargs: list[tuple[str, Code]] = field(default_factory=list)


@dataclass(eq=False)
class Sequential:
    """`nn.Sequential(a, b, c)`: the copies of a repeated stage, written out; with
    container "ModuleList", the layers a `for` loop builds, one per iteration."""

    items: list[Ctor]
    container: str = "Sequential"


@dataclass(eq=False)
class Repeat:
    """`nn.Sequential(*[item for index in range(count)])`: a repetition whose count is a
    constructor parameter (or long), each copy built from the loop index."""

    item: Ctor
    count: Code  # what range() takes: `layers`, or `1, depth, 2`
    index: str | None  # the loop variable the item's arguments use; None: `_`
    container: str = "Sequential"  # or "ModuleList": a `for` loop's layers, iterated in forward


Ctor = Union[Call, Sequential, Repeat]


# ---------------------------------------------------------------- __init__


@dataclass(eq=False)
class Default:
    """`if name is None: name = value`: a default that refers to another parameter."""

    name: str
    value: Code


@dataclass(eq=False)
class Local:
    """`name = value`: a compile-time value computed in __init__."""

    name: str
    value: Code
    pos: Pos | None = None


@dataclass(eq=False)
class Submodule:
    """`self.attr = ctor`, or `self.attr = None` on the path of an `if` that does not build
    it (torchvision's way: forward tests `self.attr is not None`)."""

    attr: str
    ctor: Ctor | None
    pos: Pos | None = None


@dataclass(eq=False)
class Flag:
    """`self.attr = value`: a compile-time value forward reads."""

    attr: str
    value: Code


@dataclass(eq=False)
class Fail:
    """`raise ValueError(message)`: a branch netdsl could not check is refused, never
    silently replaced by another."""

    message: str


@dataclass(eq=False)
class InitIf:
    branches: list[tuple[Code, list[InitStmt]]]
    orelse: list[InitStmt]


@dataclass(eq=False)
class Parameter:
    """`self.attr = nn.Parameter(value)`: a learnable tensor, made as the source says
    (`torch.zeros(1, 1, hidden)`, `torch.empty(1, seq, hidden).normal_(std=0.02)`)."""

    attr: str
    value: Expr
    pos: Pos | None = None


@dataclass(eq=False)
class Buffer:
    """`self.register_buffer("attr", value, persistent=False)`: a tensor that depends on
    compile-time values only, computed once; `.to(device)` moves it, state_dict leaves it
    out."""

    attr: str
    value: Expr
    pos: Pos | None = None


@dataclass(eq=False)
class TensorLocal:
    """`row = torch.arange(window).unsqueeze(1)`: a constant tensor __init__ computes for the
    buffers after it (named as the source binds it, rather than written into each)."""

    name: str
    value: Expr
    pos: Pos | None = None


InitStmt = Union[Default, Local, Submodule, Flag, Fail, InitIf, Parameter, Buffer, TensorLocal]

# ---------------------------------------------------------------- forward


@dataclass(eq=False)
class Var:
    name: str


@dataclass(eq=False)
class Const:
    """A compile-time value in forward: a literal, or `self.flag`."""

    code: Code


@dataclass(eq=False)
class CallModule:
    """`self.attr(args, kwargs)`: `self.attn(x, x, x, key_padding_mask=mask,
    need_weights=False)`; `first` takes output 0 of a multi-output module (LSTM)."""

    attr: str
    args: list[Expr]
    first: bool = False
    kwargs: list[tuple[str, Expr]] = field(default_factory=list)


@dataclass(eq=False)
class CallFunction:
    """`torch.cat([a, b], dim=1)`, `F.pad(x, [1, 1])`, `pad_to_match(a, b)`."""

    func: str
    args: list[Expr]
    kwargs: list[tuple[str, Expr]] = field(default_factory=list)


@dataclass(eq=False)
class CallMethod:
    """`x.permute(0, 2, 1)`, `x.size(1)`."""

    obj: Expr
    method: str
    args: list[Expr]
    kwargs: list[tuple[str, Expr]] = field(default_factory=list)


@dataclass(eq=False)
class Attribute:
    """`x.device`: an attribute of a tensor."""

    value: Expr
    attr: str


@dataclass(eq=False)
class ListOf:
    items: list[Expr]


@dataclass(eq=False)
class TupleOf:
    items: list[Expr]


@dataclass(eq=False)
class BinaryOp:
    op: str  # + - * / // % @ and comparisons
    left: Expr
    right: Expr


@dataclass(eq=False)
class UnaryOp:
    op: str  # - + not
    operand: Expr


@dataclass(eq=False)
class Slice:
    lower: Expr | None
    upper: Expr | None
    step: Expr | None


@dataclass(eq=False)
class Subscript:
    """`out[:, -1]`; items are expressions, slices or `...` (Const("...")), `None`."""

    value: Expr
    items: list[Expr | Slice]


Expr = Union[Var, Const, CallModule, CallFunction, CallMethod, ListOf, TupleOf, BinaryOp,
             UnaryOp, Subscript, Attribute]


@dataclass(eq=False)
class Assign:
    """`target = value`; target is a name or a (nested) tuple pattern of names."""

    target: str | tuple[object, ...]
    value: Expr
    pos: Pos | None = None


@dataclass(eq=False)
class Return:
    value: Expr
    pos: Pos | None = None


@dataclass(eq=False)
class If:
    """An `if` in forward on a compile-time choice made in __init__ (a flag on self, or
    whether an optional submodule exists)."""

    branches: list[tuple[Expr, list[ForwardStmt]]]
    orelse: list[ForwardStmt]


@dataclass(eq=False)
class For:
    """`for layer in self.layers:` or `for conv, norm in zip(self.convs, self.norms):` (one
    generic body serves every iteration of a netdsl `for`), or `for _ in range(self.steps):`."""

    target: str | tuple[object, ...]
    iterable: Expr
    body: list[ForwardStmt]


ForwardStmt = Union[Assign, Return, If, For]

# ---------------------------------------------------------------- classes


@dataclass(eq=False)
class Param:
    name: str
    default: Code | None = None  # None: required


@dataclass(eq=False)
class ClassDef:
    name: str
    kind: str  # "network" or "block"
    pos: Pos
    docstring: list[str]
    params: list[Param]
    init: list[InitStmt]
    inputs: list[str]
    forward: list[ForwardStmt]
    specialised: list[str] = field(default_factory=list)  # hyperparameters not offered


@dataclass(eq=False)
class Module:
    """Everything one source file compiles to, blocks before the classes that use them."""

    source: str  # the source file's display name
    classes: list[ClassDef]
    helpers: list[str]  # helper functions the classes call, by name (see backends)
