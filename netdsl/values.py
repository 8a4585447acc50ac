"""What expressions evaluate to while checking, and the dataflow graph they build.

The graph is torch.fx-like: a closed set of node kinds ('input', 'layer', 'block',
'op', 'parameter', 'output'); passes and backends read the results from fields and ``meta``
rather than reshaping nodes.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from . import nodes as n
from .catalogue import LayerSpec
from .dims import Dim, Ref, dim_str
from .errors import Pos
from .shapes import TT

# ---------------------------------------------------------------- provenance


@dataclass(eq=False, slots=True)
class Why:
    """How one dimension came to have its size: the layer that set it and from what."""

    value: Dim
    text: str  # "maxpool(2) at 8:40" or "the declared size of x at 1:23"
    parents: tuple[Why | None, ...] = ()
    kind: str = "layer"  # 'layer', 'flatten', 'input', 'arg'


def explain(why: Why | None, limit: int = 8) -> list[str]:
    """Lines like '7 comes from maxpool(2) at 8:40 on 14', following each size back to
    where it was set (depth first, one chain per distinct value)."""
    lines: list[str] = []
    seen: set[int] = set()
    stack: list[Why | None] = [why]
    while stack and len(lines) < limit:
        w = stack.pop()
        if w is None or id(w) in seen:
            continue
        seen.add(id(w))
        parents = [p for p in w.parents if p is not None]
        if w.kind == "flatten" and parents:
            factors = " x ".join(dim_str(p.value) for p in parents)
            lines.append(f"{dim_str(w.value)} = {factors}: {w.text}")
        elif w.kind == "input":
            lines.append(f"{dim_str(w.value)} is {w.text}")
        elif parents and w.kind == "layer":
            ons = ", ".join(dim_str(p.value) for p in parents)
            lines.append(f"{dim_str(w.value)} comes from {w.text} on {ons}")
        else:
            lines.append(f"{dim_str(w.value)} comes from {w.text}")
        distinct: dict[tuple[str, str], Why] = {}  # 7 x 7 needs one explanation of 7
        for p in parents:
            distinct.setdefault((dim_str(p.value), p.text), p)
        stack.extend(reversed(list(distinct.values())))
    return lines


# ---------------------------------------------------------------- graph


@dataclass(eq=False, slots=True)
class Node:
    id: int
    kind: str  # 'input', 'layer', 'block', 'op', 'parameter', 'output'
    op: str  # 'conv', 'add', 'cat', the block's name, 'nn.Bilinear'
    name: str | None  # qualified module name ('conv1', 'up1.conv2'), None for functions
    label: str  # as the source wrote it: 'conv(32, 5, padding=2)'
    torch_source: Any  # the PyTorch call as text, or what renders it when first asked (a
    # catalogue entry: rendered from meta["cls"] and meta["args"])
    pos: Pos | None
    inputs: list[Tensor]
    outputs: list[TT]
    params: int = 0  # counted once even when the layer is applied again (shared)
    scope: tuple[Node, ...] = ()  # enclosing block nodes, outermost first
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def torch(self) -> str:
        """'nn.Conv2d(3, 32, 5, padding=2)' or 'torch.cat(dim=1)', rendered when first asked
        (a check that prints nothing never pays for it)."""
        if not isinstance(self.torch_source, str):
            if isinstance(self.torch_source, LayerSpec):  # a catalogue layer, from its meta:
                # no tuple of its own to keep alive (one object fewer per layer for the
                # collector to walk)
                from .render import torch_text

                self.torch_source = torch_text(self.torch_source, self.meta["cls"],
                                               self.meta["args"])
                return self.torch_source
            render, *args = self.torch_source
            self.torch_source = render(*args)
        return self.torch_source  # type: ignore[no-any-return]


@dataclass(eq=False, slots=True)
class Tensor:
    tt: TT
    whys: tuple[Why | None, ...]
    producer: Node | None = None
    index: int = 0  # which output of the producer

    @property
    def shape(self) -> tuple[Dim, ...]:
        return self.tt.shape


class PrimaryTuple(tuple):  # type: ignore[type-arg]
    """Outputs of a multi-output layer (LSTM, attention): a pipeline passes on the first."""


class Poison:
    """The value of something that already failed: absorbs every use without new errors."""

    _instance: Poison | None = None

    def __new__(cls) -> Poison:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<error>"


POISON = Poison()

# ---------------------------------------------------------------- layers and blocks as values


@dataclass(eq=False, slots=True)
class LayerFactory:
    """A catalogue layer named but not yet given arguments: `relu`, `conv`."""

    spec: LayerSpec


@dataclass(eq=False, slots=True)
class TorchFactory:
    """`nn.Name`: a torch.nn class by its own name."""

    cls: str
    spec: LayerSpec | None  # the catalogue entry it stands for, if any


@dataclass(eq=False, slots=True)
class BlockFactory:
    definition: n.Definition


@dataclass(eq=False, slots=True)
class Instance:
    """What the first application of a shared layer fixed."""

    inferred: dict[str, Any]
    node: Node
    pos: Pos | None


@dataclass(eq=False, slots=True)
class LayerValue:
    """A configured layer: `conv(16, 3)`, `nn.Conv2d(3, 16, 3)`, or a name bound to one."""

    spec: LayerSpec | None  # None: an nn class outside the catalogue
    args: dict[str, Any]
    given: AbstractSet[str]  # a frozenset when none
    label: str
    pos: Pos
    site: Any  # the AST node that built it (a Stage or a Call)
    torch_cls: str | None = None  # set for nn.Name: the class the user asked for
    torch_args: tuple[list[Any], dict[str, Any]] | None = None  # nn.Name outside the catalogue
    shared: bool = False  # bound to a name: every application uses the same weights
    instance: Instance | None = None
    binding: str | None = None  # the name it is bound to
    arg_refs: frozenset[Ref] = frozenset()  # the class's names its arguments depend on
    flag_refs: frozenset[Ref] = frozenset()  # ... those of arguments that are not sizes


@dataclass(eq=False, slots=True)
class BlockValue:
    definition: n.Definition
    hyper: dict[str, Any]  # bound hyperparameter values (caller scope)
    given: AbstractSet[str]  # a frozenset when none
    call: n.Call | n.Stage | None
    label: str
    pos: Pos
    site: Any
    shared: bool = False
    instance: Any = None  # the Frame of its first application when shared
    binding: str | None = None
    # what each hyperparameter given at the use depends on, in the caller's terms
    hyper_deps: dict[str, frozenset[Ref]] = field(default_factory=dict)


@dataclass(eq=False, slots=True)
class Repeated:
    """`stage * n`: n copies in sequence, each with its own weights."""

    value: LayerValue | BlockValue | LayerFactory | BlockFactory
    count: int
    pos: Pos
    shared: bool = False  # bound to a name: every application uses the same copies
    binding: str | None = None
    copies: list[Any] | None = None
    count_expr: Any = None  # the count as an expression of the class's names, when it is one


def describe(value: object) -> str:
    if isinstance(value, Tensor):
        return f"a tensor {value.tt}"
    if isinstance(value, (LayerFactory, LayerValue)):
        return "a layer"
    if isinstance(value, (BlockFactory, BlockValue)):
        return "a block"
    if isinstance(value, TorchFactory):
        return "a torch class"
    if isinstance(value, Repeated):
        return "a repeated stage"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return "a tuple"
    return type(value).__name__
