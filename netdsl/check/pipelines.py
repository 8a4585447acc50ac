"""Pipelines: `x -> a -> b`, each stage resolved and applied in turn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import nodes as n
from ..catalogue import (
    LAYERS,
)
from ..errors import SourceError
from ..sources import SOURCES
from ..values import (
    POISON,
    BlockFactory,
    BlockValue,
    LayerFactory,
    LayerValue,
    Poison,
    PrimaryTuple,
    Repeated,
    Tensor,
    TorchFactory,
    describe,
)
from .diagnostics import did_you_mean_layer
from .evaluate import _APPLICABLE
from .scope import Frame, contains_poison

if TYPE_CHECKING:
    from .checker import Checker


class Pipelines:
    """Each stage resolved and applied in turn; after a failing stage, the later stages are
    still checked for their own mistakes."""

    def eval_Pipeline(self: Checker, e: n.Pipeline, frame: Frame) -> Any:
        value = self.eval(e.head, frame)
        for i, stage in enumerate(e.stages):
            if contains_poison(value):
                return POISON
            inputs = self.stage_inputs(value, stage)
            try:
                layer = self.stage_value(stage, frame, inputs)
                value = self.apply(layer, inputs, stage, frame)
                if stage.shape is not None:
                    self.annotate(value, stage.shape, frame, stage.pos)
            except SourceError as err:
                if not frame.speculative:
                    err.later.extend(self.check_later_stages(e.stages[i + 1:], frame))
                raise
        return value

    def stage_inputs(self: Checker, value: Any, stage: n.Stage) -> list[Any]:
        if isinstance(value, PrimaryTuple):
            return [value[0]]
        if isinstance(value, tuple):
            return list(value)
        return [value]

    def stage_value(self: Checker, stage: n.Stage, frame: Frame,
                    inputs: list[Any] | None = None) -> Any:
        callee = stage.callee
        if len(callee) == 2 and callee[0] == "nn" and "nn" not in frame.env:
            value: Any = self.torch_factory(callee[1], stage.pos)
        elif len(callee) > 1:
            raise SourceError(f"unknown layer {stage.label!r}; torch classes are written "
                              f"nn.Name", stage.pos)
        else:
            name = callee[0]
            if name in SOURCES and name not in frame.env and name not in self.definitions:
                raise SourceError(f"{name}(...) makes a tensor from sizes, not from an input, "
                                  f"so it is not a stage: combine it with operators, as in "
                                  f"x + {name}(...)", stage.pos)
            if name not in frame.env and name not in LAYERS and name not in self.definitions:
                options = [k for k, v in frame.env.items() if frame.kinds.get(k) == "layer"]
                options += list(LAYERS) + [k for k, d in self.definitions.items()
                                           if d.kind == "block"]
                raise SourceError(f"unknown layer or block {name!r}", stage.pos,
                                  fix=did_you_mean_layer(name, options))
            value = self.lookup(name, stage.pos, frame)
        if isinstance(value, Poison):
            return POISON
        if stage.called:
            if isinstance(value, (LayerValue, BlockValue, Repeated)):
                raise SourceError(f"{stage.label!r} is already built; apply it with "
                                  f"`-> {stage.label}`", stage.pos)
            if isinstance(value, (LayerFactory, TorchFactory, BlockFactory)):
                value = self.configure(value, stage.args, stage.kwargs, stage, stage.pos, frame,
                                       inputs)
            else:
                raise SourceError(f"{stage.label!r} is {describe(value)}, not a layer or block",
                                  stage.pos)
        elif not isinstance(value, _APPLICABLE):
            if isinstance(value, Tensor):
                raise SourceError(f"{stage.label!r} is a tensor, not a layer; combine tensors "
                                  f"with (a, b) -> cat or a + b", stage.pos)
            raise SourceError(f"{stage.label!r} is {describe(value)}, not a layer or block",
                              stage.pos)
        if stage.repeat is not None:
            count = self.eval(stage.repeat, frame)
            value = self.repeat(value, count, stage.repeat.pos, stage.pos)
        return value

    def check_later_stages(self: Checker, stages: Sequence[n.Stage],
                           frame: Frame) -> list[SourceError]:
        """After a failing stage, the later stages' own arguments are still checked (their
        input is unknown, so their shapes are not): one run reports every independent
        mistake of a pipeline."""
        found = []
        for stage in stages:
            try:
                self.stage_value(stage, frame)
            except SourceError as err:
                found.append(err)
        return found

    def call_as_stage(self: Checker, layer: str, call: n.Call, tensors: list[n.Expr],
                      frame: Frame) -> str | None:
        """The netdsl stage for a PyTorch call such as `torch.cat((a, b), 1)` or `h.relu()`,
        or None when its arguments do not evaluate (the error itself is reported)."""
        try:
            values = [(self.eval(a, frame), a) for a in [*tensors, *call.args]]
            kw_values = [(k.name, self.eval(k.value, frame), k) for k in call.kwargs]
        except SourceError:
            return None
        return self.as_stage(LAYERS[layer], values, kw_values)
