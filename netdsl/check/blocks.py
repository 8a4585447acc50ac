"""Blocks: each use evaluated in a frame of its own, sizes translated at its edges."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from .. import nodes as n
from .. import shapes as s
from ..dims import (
    Dim,
    Ref,
    SInt,
    Sym,
    dim_str,
)
from ..errors import SourceError
from ..values import (
    POISON,
    BlockValue,
    Node,
    PrimaryTuple,
    Tensor,
    explain,
)
from .diagnostics import validate_name
from .scope import Frame, SiteRecord, contains_poison, flat_tensors, is_int

if TYPE_CHECKING:
    from .checker import Checker


MAX_BLOCK_DEPTH = 32  # blocks inside blocks; keeps the checker far from Python's stack limit


class Blocks:
    """Blocks: each use checked with its own frame, sizes translated at the boundary."""

    def apply_block(self: Checker, bv: BlockValue, inputs: list[Tensor], site: Any, frame: Frame,
                    index: int) -> Any:
        d = bv.definition
        if d.name in self.active or len(self.active) >= MAX_BLOCK_DEPTH:
            raise SourceError(f"block {d.name} uses itself, which would never end", bv.pos)
        if len(inputs) != len(d.inputs):
            names = ", ".join(p.name for p in d.inputs)
            fix = f"pass them as a tuple: ({names}) -> {d.name}" if len(d.inputs) > 1 else None
            raise SourceError(f"block {d.name} takes {len(d.inputs)} input"
                              f"{'s' if len(d.inputs) != 1 else ''} ({names}), got "
                              f"{len(inputs)}", bv.pos, fix=fix)
        name = self.attr_name(frame, site, bv, index)
        node = self.new_node("block", d.name, name, bv.label, "", bv.pos, inputs, frame)
        node.meta["params"] = 0  # grows as its layers are checked
        key = self.replay_key(bv, inputs, frame)
        recording = self.recordings.get(key) if key is not None else None
        if key is not None and recording is not None and self.replayable(key, recording):
            child, result = self.replay_use(recording, node, inputs, frame, bv.pos)
        else:
            child = Frame(d, prefix=name + ".", scope=frame.scope + (node,),
                          caller_ref=weakref.ref(frame),
                          call_pos=bv.pos, speculative=frame.speculative)
            for p in d.hyperparams:
                self.bind_hyper(child, p.name, bv.hyper[p.name])
                child.hyper_deps[p.name] = bv.hyper_deps.get(p.name, frame.control)
            for p, tensor in zip(d.inputs, inputs, strict=True):
                child.env[p.name] = self.enter_block(p, tensor, child, bv)
                child.kinds[p.name] = "tensor"
                child.bound[p.name] = p.pos
            child.inputs = [child.env[p.name] for p in d.inputs]
            self.active.append(d.name)
            first_node, first_frame = len(self.nodes), len(self.block_frames)
            diagnostics, steps = self.diagnostics_made, self.budget.steps
            try:
                result = self.run_body(child)
            finally:
                self.active.pop()
            if key is not None and key not in self.recordings and (
                    self.diagnostics_made == diagnostics) and not contains_poison(result):
                self.record_use(key, node, child, inputs, self.nodes[first_node:],
                                self.block_frames[first_frame:], result,
                                self.budget.steps - steps)
            if bv.shared and not frame.speculative:
                self.share_block(bv, self.nodes[first_node:], site)
        (self.spec_uses if frame.speculative else self.uses).setdefault(d.name, []).append(child)
        if not frame.speculative:
            self.block_frames.append(child)
        frame.record(bv.site, SiteRecord("block", bv, node, frame=child, index=index))
        if contains_poison(result):
            return POISON
        out = self.leave_block(result, child)
        node.outputs = [t.tt for t in flat_tensors(out)]
        node.params = 0  # the block's layers are counted themselves; meta["params"] totals them
        return out

    def share_block(self: Checker, bv: BlockValue, made: list[Node], site: Any) -> None:
        """A block bound to a name is one module, however often it is applied: its layers
        are counted at the first application; later ones must fit the same weights."""
        layers = [node for node in made
                  if node.kind in ("layer", "op", "parameter") and node.params]
        if bv.instance is None:
            bv.instance = layers
            return
        first: list[Node] = bv.instance
        for node, twin in zip(layers, first, strict=False):
            if node.torch != twin.torch:
                raise SourceError(
                    f"{bv.binding} shares its weights, so every input must fit them: its "
                    f"layer {twin.name} is {twin.torch} at its first use, but here it would be "
                    f"{node.torch}", getattr(site, "pos", None) or bv.pos)
        self.forget_uses(made)
        for node, twin in zip(layers, first, strict=False):
            for block in node.scope:
                block.meta["params"] -= node.params
            node.params = 0
            node.meta["shared_with"] = twin

    def enter_block(self: Checker, p: n.Param, tensor: Tensor, child: Frame,
                    bv: BlockValue) -> Tensor:
        shape = list(tensor.shape)
        names: list[str | None] = [None] * len(shape)
        if p.type is not None:
            dims = p.type.shape.dims
            if len(dims) != len(shape):
                raise SourceError(f"block {bv.definition.name} expects {p.name} with "
                                  f"{len(dims)} dimensions, but it got {tensor.tt}", bv.pos,
                                  notes=[f"declared at {p.type.shape.pos}"])
            if p.type.dtype is not None:
                want = self.dtype(p.type)
                if want != tensor.tt.dtype:
                    raise SourceError(f"block {bv.definition.name} expects {p.name} of dtype "
                                      f"{want}, got {tensor.tt}", bv.pos)
            for axis, (expr, actual) in enumerate(zip(dims, shape, strict=True)):
                if isinstance(expr, n.Name) and expr.id not in child.env:
                    validate_name(expr.id, expr.pos, "a dimension")
                    names[axis] = expr.id
                    ref = Ref(expr.id, "dim")
                    child.mapping[ref] = actual
                    child.env[expr.id] = SInt(int(actual), ref) if isinstance(actual, int) \
                        else actual
                    child.kinds[expr.id] = "dim"
                    continue
                expected = self.eval(expr, child)
                if not self.dims_equal(expected, actual):
                    why = tensor.whys[axis] if axis < len(tensor.whys) else None
                    raise SourceError(
                        f"block {bv.definition.name} expects {p.name} of shape "
                        f"{self.header_text(dims, child)}, but dimension {axis} is "
                        f"{dim_str(actual)}, not {dim_str(expected)}", bv.pos,
                        notes=[f"input: {tensor.tt}"] + explain(why))
        new_shape: list[Dim] = []
        for axis, actual in enumerate(shape):
            if isinstance(actual, Sym):
                new_shape.append(actual)
            elif names[axis] is not None:
                new_shape.append(child.env[names[axis] or ""])
            else:
                ref = Ref(f"{p.name}.{axis}", "anon")
                child.mapping[ref] = actual
                new_shape.append(SInt(int(actual), ref))
        return Tensor(s.TT(tuple(new_shape), tensor.tt.dtype), tensor.whys, tensor.producer,
                      tensor.index)

    @staticmethod
    def dims_equal(a: Any, b: Any) -> bool:
        if isinstance(a, Sym) or isinstance(b, Sym):
            return a == b
        return is_int(a) and is_int(b) and int(a) == int(b)

    def leave_block(self: Checker, value: Any, child: Frame) -> Any:
        """Block outputs, with sizes rewritten in the caller's scope."""
        if isinstance(value, Tensor):
            shape = tuple(child.to_caller(d) for d in value.shape)
            return Tensor(s.TT(shape, value.tt.dtype), value.whys, value.producer, value.index)
        if isinstance(value, tuple):
            items = tuple(self.leave_block(v, child) for v in value)
            return PrimaryTuple(items) if isinstance(value, PrimaryTuple) else items
        return value
