"""Replaying block uses: a use that repeats an earlier one is copied, not checked again.

Checking a block use is a pure function of the block, its hyperparameter values and its
inputs' types: `Bottleneck(256) * 35` checks the same body 35 times over the same shapes,
making the same layers with the same sizes. So the first such use is recorded, and a later
use with equal hyperparameters (and what each depends on) and equal input types is a copy
of it: its nodes, the tensors between them, the derivations of their sizes and its frames
(what lowering reads) are copied with the names, the graph edges and the derivations
remapped at the boundary, as torch.fx's `Graph.graph_copy` copies a graph through a map of
values. A copy makes what checking the body again makes (tests/test_replay.py compares the
two on every example, node by node and frame by frame); configured layers and blocks, which
nothing changes once configured, are shared with the recording rather than copied. A use is
copied only when nothing could tell the two apart:

* the recorded use reported nothing and poisoned nothing (a message names where it happened,
  and a copy would say nothing);
* nothing in it shares weights (a shared layer counts its parameters at its first use), and
  it was not recorded inside a shared block's later application (whose counts are set to
  nothing afterwards);
* every hyperparameter and input size is a plain value, a name like `B` or an expression of
  the caller's names, compared by its expression and what it is pinned to as well as its
  value (`_size_key`);
* the inputs have the same dtypes, come from their producers alike (the same tensor passed
  twice, the same output of a layer), share derivations of sizes alike, and have the batch
  of a network input at the same places (a warning asks);
* it is not a speculative check (lowering exploring a branch forces choices a copy would not
  see), and it runs inside the same blocks (inside it, a block already running is a block
  using itself, and the depth limit is checked).

The budget is spent as checking spends it: the steps of the use's statements first, then one
node at a time at each node's position, so a program too large for the node budget fails at
the same place either way (the time limit reads the clock at the same count of steps, though
for a copy the nested use it names may differ: where the time runs out is never exact).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..dims import Opaque, SInt, Sym
from ..values import BlockValue, Node, PrimaryTuple, Tensor, Why
from .scope import Frame, SiteRecord, flat_tensors

if TYPE_CHECKING:
    from .checker import Checker


@dataclass(slots=True)
class Recording:
    """The first use of a block with some hyperparameters and input types."""

    child: Frame  # its frame
    params: int  # the parameters its layers hold (its block node's total when recorded)
    frames: list[Frame]  # the frames of the blocks used inside it, in the order made
    nodes: list[Node]  # the nodes made inside it, in order
    statements: int  # the budget's steps it spent on statements (the others on nodes)
    caller_inputs: list[Tensor]  # the tensors passed to it
    result: Any  # what its body evaluated to, in the block's terms
    # the derivations of sizes made inside it, parents first; found at the first copy (a use
    # never repeated costs nothing more), None until then
    derived: list[Why] | None = None

    @property
    def block(self) -> Node:  # its block node, the last of its frame's scope
        return self.child.scope[-1]

    @property
    def caller_scope(self) -> int:  # how many block nodes enclose its block node
        return len(self.child.scope) - 1


def _size_key(value: Any) -> Any:
    """A hyperparameter value or size, by everything checking may read of it (an SInt's
    expression and what it is pinned to, not only its value); None when not comparable."""
    cls = value.__class__
    if cls is int or cls is bool or cls is float or cls is str or value is None:
        return (cls, value)
    if cls is SInt:
        expr = value.expr
        if isinstance(expr, Opaque):
            expr = ("opaque", expr.deps)
        return (SInt, int(value), expr, value.pinned, value.branch)
    if cls is Sym:
        return (Sym, value.terms)
    if cls is tuple:
        items = tuple(_size_key(v) for v in value)
        return None if None in items else (tuple, items)
    return None


class Replays:
    """Recording block uses, and copying a recorded use for an equal later one."""

    replaying = True  # False checks every use (tests/test_replay.py compares the two)

    def replay_key(self: Checker, bv: BlockValue, inputs: list[Tensor],
                   frame: Frame) -> tuple[Any, ...] | None:
        """What a use of bv checks over, or None when a copy could differ from a check."""
        if not self.replaying or frame.speculative or bv.shared or self.forced:
            return None
        d = bv.definition
        key: list[Any] = [id(d), tuple(self.active)]  # the blocks running around it
        for p in d.hyperparams:
            value = _size_key(bv.hyper[p.name])
            if value is None:
                return None
            key.append((value, bv.hyper_deps.get(p.name, frame.control)))
        seen_whys: dict[int, int] = {}
        seen_producers: dict[int, int] = {}
        position = 0
        for i, t in enumerate(inputs):
            shape = tuple(_size_key(dim) for dim in t.tt.shape)
            if None in shape:
                return None
            aliases = seen_producers.setdefault(id(t.producer), i)
            whys: list[tuple[int, bool] | None] = []
            for why in t.whys:  # which sizes share a derivation, and which are the batch
                if why is None:
                    whys.append(None)
                    continue
                whys.append((seen_whys.setdefault(id(why), position),
                             id(why) in self.batch_whys))
                position += 1
            key.append((shape, t.tt.dtype, aliases, t.index, tuple(whys)))
        return tuple(key)

    def record_use(self: Checker, key: tuple[Any, ...], node: Node, child: Frame,
                   caller_inputs: list[Tensor], nodes: list[Node], frames: list[Frame],
                   result: Any, steps: int) -> None:
        """Keeps a checked use for later equal ones (what a copy needs is found at the first,
        see `replayable`)."""
        self.recordings[key] = Recording(child, node.meta["params"], frames, nodes,
                                         steps - len(nodes), list(caller_inputs), result)
        self.recorded_blocks[id(node)] = key

    def forget_uses(self: Checker, made: list[Node]) -> None:
        """A shared block's later application counts its layers' parameters at the first:
        the uses recorded inside it changed since, so they are not copied."""
        for node in made:
            key = self.recorded_blocks.pop(id(node), None)
            if key is not None:
                self.recordings.pop(key, None)

    def replayable(self: Checker, key: tuple[Any, ...], recording: Recording) -> bool:
        """Whether a copy of the recording is faithful: nothing in it shares weights (a shared
        layer counts its parameters at its first use) and every tensor in it comes from it or
        its inputs. Found once, at its first copy; when it is not, no use with its key is
        recorded again."""
        if recording.derived is not None:
            return True
        frames = [*recording.frames, recording.child]
        tensors: list[Tensor] = []
        for made in recording.nodes:
            tensors.extend(made.inputs)
        for f in frames:
            if any(rec.value is not None and rec.value.shared for rec in f.site_records):
                self.recordings[key] = None
                return False
            tensors.extend(f.inputs)
            for value in [*f.env.values(), f.output]:
                tensors.extend(flat_tensors(value))
        tensors.extend(flat_tensors(recording.result))
        known = {id(made) for made in recording.nodes}
        known.add(id(recording.block))
        known.update(id(t.producer) for t in recording.caller_inputs)
        if any(t.producer is not None and id(t.producer) not in known for t in tensors):
            self.recordings[key] = None  # a tensor from outside, reached some other way
            return False
        recording.derived = _derivations(recording.caller_inputs, tensors)
        return True

    def replay_use(self: Checker, recording: Recording, node: Node, inputs: list[Tensor],
                   frame: Frame, call_pos: Any) -> tuple[Frame, Any]:
        """The recorded use copied as the use `node` (the caller's block node for it)."""
        copy = _Copy(recording, node, inputs, frame)
        child = copy.frame(recording.child, call_pos)
        for f in recording.frames:
            copy.frame(f, f.call_pos)
        for f in [recording.child, *recording.frames]:  # linked before any node is made:
            copy.link(f)  # the budget's message names the block uses around a node
        budget = self.budget
        budget.step(call_pos, child, recording.statements)  # a check runs them first
        for original in recording.nodes:
            owner = copy.frames[id(original.scope[-1])]
            budget.node(original.pos, owner)
            self._next_id += 1
            made = Node(self._next_id, original.kind, original.op, copy.name(original.name),
                        original.label, original.torch_source, original.pos,
                        [copy.tensor(t) for t in original.inputs], list(original.outputs),
                        original.params, copy.scope(original.scope), dict(original.meta))
            copy.nodes[id(original)] = made
            self.nodes.append(made)
        node.meta["params"] = recording.params
        for block in frame.scope:
            block.meta["params"] += recording.params
        for f in recording.frames:  # in the order checking them would have made them
            made_frame = copy.frames[id(f.scope[-1])]
            copy.fill(f, made_frame)
            self.uses.setdefault(f.definition.name, []).append(made_frame)
            self.block_frames.append(made_frame)
        copy.fill(recording.child, child)
        return child, copy.value(recording.result)


def _derivations(inputs: list[Tensor], tensors: list[Tensor]) -> list[Why]:
    """The derivations of the tensors' sizes made inside the use, parents first (a copy makes
    each again, as checking would, from its own inputs'). Walked with a stack: a chain of
    them is as long as the block, and ends at an input's (nothing inside a block reaches
    further back)."""
    seen: set[int] = {id(w) for t in inputs for w in t.whys if w is not None}
    derived: list[Why] = []
    for t in tensors:
        for why in t.whys:
            if why is None or id(why) in seen:
                continue
            stack = [why]
            while stack:
                w = stack[-1]
                if id(w) in seen:
                    stack.pop()
                    continue
                pending = [p for p in w.parents if p is not None and id(p) not in seen]
                if pending:
                    stack.extend(pending)
                    continue
                stack.pop()
                seen.add(id(w))
                derived.append(w)
    return derived


class _Copy:
    """The maps from a recorded use's nodes, frames, tensors and derivations to a copy's."""

    def __init__(self, recording: Recording, node: Node, inputs: list[Tensor],
                 caller: Frame) -> None:
        self.recording = recording
        self.caller = caller
        self.prefix = (node.name or "") + "."
        self.nodes: dict[int, Node] = {id(recording.block): node}
        self.frames: dict[int, Frame] = {}
        self.tensors: dict[int, Tensor] = {}
        self.whys: dict[int, Why | None] = {}  # the copy's derivation for each recorded one
        self.producers: dict[int, Node | None] = {}
        whys = self.whys
        for old, new in zip(recording.caller_inputs, inputs, strict=True):
            self.producers[id(old.producer)] = new.producer
            for old_why, new_why in zip(old.whys, new.whys, strict=True):
                if old_why is not None:
                    whys[id(old_why)] = new_why
        for w in recording.derived or ():  # parents first
            whys[id(w)] = Why(w.value, w.text, tuple(p if p is None else whys[id(p)]
                                                     for p in w.parents), w.kind)
        self.scopes: dict[int, tuple[Node, ...]] = {}
        for old, new in zip(recording.child.inputs, inputs, strict=True):  # as enter_block made
            self.tensors[id(old)] = Tensor(old.tt, new.whys, new.producer, new.index)

    def name(self, name: str | None) -> str | None:
        if name is None:
            return None
        return self.prefix + name[len(self.recording.child.prefix):]

    def scope(self, scope: tuple[Node, ...]) -> tuple[Node, ...]:
        made = self.scopes.get(id(scope))  # the nodes of a frame share its scope's tuple
        if made is None:
            inner = scope[self.recording.caller_scope:]  # the recorded block node, then nested
            made = self.scopes[id(scope)] = self.caller.scope + tuple(self.nodes[id(b)]
                                                                      for b in inner)
        return made

    def frame(self, original: Frame, call_pos: Any) -> Frame:
        """An empty copy of a frame, registered under its block node (filled later, once
        every node it refers to is made)."""
        made = Frame(original.definition, prefix=self.name(original.prefix) or "",
                     call_pos=call_pos)
        self.frames[id(original.scope[-1])] = made
        return made

    def link(self, original: Frame) -> None:
        """The copy's caller: the frame using the copied use, or the copy of the frame
        inside it that used this one."""
        caller = original.caller
        made = self.frames[id(original.scope[-1])]
        if original is self.recording.child or caller is None:
            made.caller_ref = weakref.ref(self.caller)
        else:
            made.caller_ref = weakref.ref(self.frames[id(caller.scope[-1])])

    def fill(self, original: Frame, made: Frame) -> None:
        made.scope = self.scope(original.scope)
        made.env = {name: self.value(v) for name, v in original.env.items()}
        made.kinds = dict(original.kinds)
        made.mapping = dict(original.mapping)
        made.local_exprs = dict(original.local_exprs)
        made.hyper_deps = dict(original.hyper_deps)
        made.local_deps = dict(original.local_deps)
        made.control = original.control
        made.site_ids = list(original.site_ids)
        made.site_records = [self.record(rec) for rec in original.site_records]
        made.branches = dict(original.branches)
        made.loops = dict(original.loops)
        made.loop = original.loop
        made.loop_reads = set(original.loop_reads)
        made.bound = dict(original.bound)
        made.inputs = [self.tensor(t) for t in original.inputs]
        made.output = self.value(original.output)
        made.returned = original.returned
        made.overrides = dict(original.overrides)

    def record(self, rec: SiteRecord) -> SiteRecord:
        frame = self.frames[id(rec.frame.scope[-1])] if rec.frame is not None else None
        return SiteRecord(rec.kind, rec.value, self.nodes[id(rec.node)], rec.inferred, rec.cls,
                          frame, rec.index, rec.loop)

    def value(self, value: Any) -> Any:
        if isinstance(value, Tensor):
            return self.tensor(value)
        if value.__class__ is tuple or value.__class__ is PrimaryTuple:
            items = tuple(self.value(v) for v in value)
            return PrimaryTuple(items) if value.__class__ is PrimaryTuple else items
        return value  # a size, a layer, a block or a setting: the same in the copy

    def tensor(self, t: Tensor) -> Tensor:
        made = self.tensors.get(id(t))
        if made is None:
            producer = t.producer
            if producer is None:
                new_producer = None
            elif id(producer) in self.nodes:
                new_producer = self.nodes[id(producer)]
            else:
                new_producer = self.producers[id(producer)]
            whys = self.whys
            made = Tensor(t.tt, tuple(w if w is None else whys[id(w)] for w in t.whys),
                          new_producer, t.index)
            self.tensors[id(t)] = made
        return made
