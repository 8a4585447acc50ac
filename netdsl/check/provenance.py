"""Provenance: where each size of a layer's output came from."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .. import shapes as s
from ..values import (
    LayerValue,
    Node,
    PrimaryTuple,
    Tensor,
    Why,
)
from .scope import flat_types

if TYPE_CHECKING:
    from .checker import Checker


class Provenance:
    """Where sizes come from: each output size's derivation, for error messages."""

    def wrap_outputs(self: Checker, applied: s.Applied, inputs: list[Tensor], node: Node,
                     lv: LayerValue) -> Any:
        if isinstance(applied.outputs, s.TT):  # one output: almost every layer
            node.outputs = [applied.outputs]
            return Tensor(applied.outputs,
                          self.output_whys(applied.outputs, inputs, applied, lv, lv.pos.short),
                          node, 0)
        node.outputs = flat_types(applied.outputs)
        return self._output_values(applied.outputs, applied, inputs, node, lv, iter(range(
            len(node.outputs))))

    def _output_values(self: Checker, item: Any, applied: s.Applied, inputs: list[Tensor],
                       node: Node,
                       lv: LayerValue, counter: Iterator[int]) -> Any:
        """Tensors for a multi-output layer's (nested) outputs, numbered in order. A method,
        not a closure calling itself: that would be a reference cycle per layer."""
        if item is None:  # an output torch returns as None (weights without need_weights)
            return None
        if isinstance(item, s.TT):
            i = next(counter)
            pos_text = lv.pos.short
            whys = self.output_whys(item, inputs, applied, lv, pos_text) if i == 0 else tuple(
                Why(d, f"{lv.label} at {pos_text}", kind="arg") for d in item.shape)
            return Tensor(item, whys, node, i)
        items = tuple(self._output_values(sub, applied, inputs, node, lv, counter)
                      for sub in item)
        return PrimaryTuple(items) if applied.primary or (
            lv.spec is not None and lv.spec.primary) else items

    def output_whys(self: Checker, out: s.TT, inputs: list[Tensor], applied: s.Applied,
                    lv: LayerValue,
                    pos_text: str) -> tuple[Why | None, ...]:
        source = inputs[0] if inputs else None
        if source is not None and applied.parents is None and source.tt.shape == out.shape:
            return source.whys  # the layer leaves every size alone (activations, norms)
        whys: list[Why | None] = []
        text = f"{lv.label} at {pos_text}"
        if source is None:
            return tuple(Why(value, text, kind="arg") for value in out.shape)
        given = applied.parents
        same_rank = source.tt.rank == out.rank  # an axis comes from the same axis by default
        source_whys, source_shape = source.whys, source.shape
        for axis, value in enumerate(out.shape):
            parents = given.get(axis, None) if given is not None else None
            if parents is None:  # the default, without a list of its own
                if not same_rank:
                    whys.append(Why(value, text, kind="arg"))
                    continue
                parent = axis
            elif len(parents) == 1:
                parent = parents[0]
            elif parents:
                parent_whys = tuple(source_whys[a] if a < len(source_whys) else None
                                    for a in parents)
                whys.append(Why(value, f"{text} of {source.tt}", parent_whys, kind="flatten"))
                continue
            else:
                whys.append(Why(value, text, kind="arg"))
                continue
            parent_why = source_whys[parent] if parent < len(source_whys) else None
            if source_shape[parent] == value:
                whys.append(parent_why)
            else:
                whys.append(Why(value, text, (parent_why,), kind="layer"))
        return tuple(whys)
