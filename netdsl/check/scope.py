"""Scopes: frames (one evaluation of a body) and what checking a network yields."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .. import nodes as n
from .. import shapes as s
from ..dims import (
    ARITHMETIC,
    NO_REFS,
    Opaque,
    Ref,
    SInt,
    Sym,
    pin,
    rebind_expr,
    refs,
)
from ..errors import Pos
from ..values import (
    BlockValue,
    LayerValue,
    Node,
    Poison,
    PrimaryTuple,
    Tensor,
)

if TYPE_CHECKING:
    pass


# the sizes of a record that inferred none: one shared, read-only mapping (records are kept
# until the program goes, and an empty dict for each would be one more object apiece)
NO_INFERRED: Mapping[str, Any] = MappingProxyType({})


@dataclass(eq=False, slots=True)
class SiteRecord:
    """One evaluation of a layer or block site in a frame (what the backends read)."""

    kind: str  # 'layer' or 'block'
    value: LayerValue | BlockValue
    node: Node
    inferred: Mapping[str, Any] = field(default_factory=lambda: NO_INFERRED)  # in its scope
    cls: str = ""
    frame: Frame | None = None  # the block's own frame
    index: int = -1  # position in a `* n` repetition, -1 when not repeated
    loop: tuple[int, ...] = ()  # the iteration of each enclosing `for` loop, outermost first


@dataclass(eq=False)
class Frame:
    """One evaluation of a network or block body."""

    definition: n.Definition
    prefix: str = ""
    scope: tuple[Node, ...] = ()
    # the frame that used this block, held weakly: a checked program keeps its frames from
    # the network down, and a strong link back up would make every block use a reference
    # cycle, freed only by the cyclic collector
    caller_ref: weakref.ref[Frame] | None = None
    call_pos: Pos | None = None
    speculative: bool = False
    env: dict[str, Any] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # hyper, dim, local, tensor, layer
    mapping: dict[Ref, Any] = field(default_factory=dict)  # this scope's refs -> caller values
    local_exprs: dict[str, Any] = field(default_factory=dict)
    # what each compile-time name depends on (for control dependences, see dims.SInt):
    # a hyperparameter, in the caller's terms; a local, in this frame's terms
    hyper_deps: dict[str, frozenset[Ref]] = field(default_factory=dict)
    local_deps: dict[str, frozenset[Ref]] = field(default_factory=dict)
    control: frozenset[Ref] = NO_REFS  # the conditions of the `if` branches now running
    # what each source site built, by id(site): two flat lists while checking (no list per
    # site for the garbage collector to walk during a long check), grouped into `sites`
    # when first asked for
    site_ids: list[int] = field(default_factory=list)
    site_records: list[SiteRecord] = field(default_factory=list)
    _sites: dict[int, list[SiteRecord]] | None = None
    branches: dict[int, int] = field(default_factory=dict)  # id(If) -> taken branch
    loops: dict[int, int] = field(default_factory=dict)  # id(For) -> iterations run
    loop: tuple[int, ...] = ()  # the iterations of the `for` loops now running
    loop_reads: set[str] = field(default_factory=set)  # tensors read inside a loop
    bound: dict[str, Pos] = field(default_factory=dict)  # tensor bindings not yet read
    inputs: list[Tensor] = field(default_factory=list)
    output: Any = None
    returned: bool = False
    overrides: dict[str, list[Any]] = field(default_factory=dict)  # --input, for networks

    @property
    def caller(self) -> Frame | None:
        return self.caller_ref() if self.caller_ref is not None else None

    @property
    def sites(self) -> dict[int, list[SiteRecord]]:
        """id(site) -> what that site built, in order (sites in order of their first record)."""
        if self._sites is None:
            grouped: dict[int, list[SiteRecord]] = {}
            for key, rec in zip(self.site_ids, self.site_records, strict=True):
                grouped.setdefault(key, []).append(rec)
            self._sites = grouped
        return self._sites

    def record(self, site: Any, rec: SiteRecord) -> None:
        if self.loop:
            rec.loop = self.loop
        self.site_ids.append(id(site))
        self.site_records.append(rec)
        if self._sites is not None:
            self._sites.setdefault(id(site), []).append(rec)

    def to_caller(self, value: Any) -> Any:
        """Rewrite a size of this frame's scope in the caller's terms. What the size held
        only for (its pins, and the branches of this block it was computed in) becomes, in
        the caller's terms, what it is pinned to there: the caller does not see this
        block's branches, so it cannot write them."""
        if not isinstance(value, SInt):
            return value
        pinned = self.caller_refs(value.pinned | value.branch)
        if isinstance(value.expr, Opaque):
            return SInt(int(value), Opaque(self.caller_refs(value.expr.deps)), pinned)
        try:
            result = _substitute(value.expr, self)
        except KeyError:
            return SInt(int(value), Opaque(self.caller_refs(frozenset(refs(value.expr)))),
                        pinned)
        if is_int(result) and not isinstance(result, Sym) and int(result) != int(value):
            # a local rebound since this size was computed: its expression no longer says
            # how the size was made, only what it depends on
            return SInt(int(value), Opaque(self.caller_refs(frozenset(refs(value.expr)))),
                        pinned)
        return pin(result, pinned)

    def caller_refs(self, names: frozenset[Ref]) -> frozenset[Ref]:
        """The caller's names that this frame's names depend on."""
        out: set[Ref] = set()
        stack = list(names)
        seen: set[Ref] = set()
        while stack:
            ref = stack.pop()
            if ref in seen:
                continue
            seen.add(ref)
            value = self.mapping.get(ref)
            if isinstance(value, SInt):
                out.update(refs(value.expr))
                out.update(value.pinned)
                out.update(value.branch)
            if ref.kind == "hyper":
                out.update(self.hyper_deps.get(ref.name, NO_REFS))
            elif ref.kind == "local":
                stack.extend(self.local_deps.get(ref.name, NO_REFS))
        return frozenset(out)


def _local_expr(name: str, value: Any, frame: Frame) -> Any:
    """What a rebound local size stands for, in terms of names bound before it: in
    `w = w // 4` the w on the right is the previous one, so its expression is written in
    (an expression naming itself would be substituted forever)."""
    if not isinstance(value, SInt):
        return None
    return rebind_expr(value.expr, Ref(name, "local"), frame.local_exprs.get(name))


def _substitute(e: Any, frame: Frame) -> Any:
    if isinstance(e, Ref):
        if e in frame.mapping:
            return frame.mapping[e]
        if e.kind == "local" and frame.local_exprs.get(e.name) is not None:
            return _substitute(frame.local_exprs[e.name], frame)
        raise KeyError(e)
    if isinstance(e, SInt):  # an operand that kept its own expression (`x.3 + SInt(0, ...)`)
        return _substitute(e.expr, frame)
    if isinstance(e, int):
        return e
    if isinstance(e, Opaque):  # a local computed by max(...), say: no expression to rewrite
        raise KeyError(e)
    # Python's operators: an SInt operand rebuilds the expression in the caller's terms
    return ARITHMETIC[e.op](_substitute(e.left, frame), _substitute(e.right, frame))


@dataclass(eq=False)
class NetworkResult:
    definition: n.Definition
    frame: Frame
    inputs: list[tuple[str, s.TT]]
    outputs: list[s.TT]
    nodes: list[Node]
    params: int


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def flat_tensors(value: Any) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, tuple):
        return [t for item in value for t in flat_tensors(item)]
    return []


def flat_types(item: Any) -> list[s.TT]:
    """The tensor types of a (nested) tuple of outputs, in order."""
    if isinstance(item, s.TT):
        return [item]
    return [tt for sub in item if sub is not None for tt in flat_types(sub)]


def primary(value: Any) -> Any:
    return value[0] if isinstance(value, PrimaryTuple) else value


def contains_poison(value: Any) -> bool:
    if isinstance(value, Poison):
        return True
    if isinstance(value, tuple):
        return any(contains_poison(v) for v in value)
    return False
