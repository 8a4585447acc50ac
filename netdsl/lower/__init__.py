"""Lowering: the checked program -> the class-level IR (netdsl/ir.py).

The checker evaluates every network, and every block at each of its uses, recording per
source site what was built there and the sizes it inferred as expressions of the class's
own names (SInt). Lowering turns those evaluations into one generic class per definition:

* a size every evaluation computes the same way is written as that expression of the
  constructor parameters (`nn.Linear(2 * width * (size // 4) ** 2, 64)`);
* a size that differs with an `if` of the class is a conditional expression;
* a size a block adapts to (the channels coming in) is a constructor parameter, named as
  the block's header names it, and each caller passes its own value;
* a repetition whose count is a parameter is a loop, its copies' sizes a progression of
  the loop index (`DenseLayer(in_channels + i * growth, growth) for i in range(layers)`);
* every branch of an `if` on compile-time values is written, the branches no use takes
  checked with the class's values forced down them; a branch that does not check raises
  at construction instead of being dropped;
* a size that cannot be written generically makes the network's class *specialised* for
  the hyperparameters it depends on: they are not offered, and the docstring says so.

Structural choices are made in __init__ (flags on self; a submodule that exists on one
path only is None on the others), so forward has no control flow on tensor sizes and
torch.fx, TorchScript, torch.export and torch.compile accept it.
"""

from __future__ import annotations

from typing import Any

from .. import ir
from .. import nodes as n
from ..check import Checker, Frame
from ..program import Program
from ..values import BlockValue
from .classes import ClassLowering, display_name


def lower(program: Program) -> ir.Module:
    return Lowering(program).run()


class Lowering:
    def __init__(self, program: Program) -> None:
        self.program = program
        assert program.checker is not None
        self.checker: Checker = program.checker
        self.classes: dict[str, ClassLowering] = {}
        self.helpers: list[str] = []
        self.networks = {net.definition.name: net for net in program.networks}
        self._reached: dict[int, set[str]] = {}

    def need_helper(self, name: str) -> None:
        if name not in self.helpers:
            self.helpers.append(name)

    def explore(self, stmt: n.If, branch: int, owner: str) -> tuple[list[Frame], str | None]:
        """Frames of `owner` in which `stmt` takes `branch`, and why there are none."""
        reason = None
        for net in self.program.networks:
            if owner != net.definition.name and owner not in self.reached(net):
                continue
            frames, error = self.checker.explore_branch(net, stmt, branch)
            frames = [f for f in frames if f.definition.name == owner]
            if frames and all(rec.value.definition.name in self.classes  # type: ignore[union-attr]
                              for f in frames for recs in f.sites.values() for rec in recs
                              if rec.kind == "block"):
                return frames, None
            reason = reason or error
        return [], reason

    def reached(self, net: Any) -> set[str]:
        """The blocks a network uses, directly or not (so that a branch of a block is explored
        only through the networks that use it: compile stays linear in their number)."""
        key = id(net)
        if key not in self._reached:
            self._reached[key] = {rec.value.definition.name for frame in self.frames_of(net)
                                  for recs in frame.sites.values() for rec in recs
                                  if isinstance(rec.value, BlockValue)}
        return self._reached[key]

    def frames_of(self, net: Any) -> list[Frame]:
        out, stack = [], [net.frame]
        while stack:
            frame = stack.pop()
            out.append(frame)
            stack.extend(rec.frame for recs in frame.sites.values() for rec in recs
                         if rec.frame is not None)
        return out

    def order(self) -> list[n.Definition]:
        """Blocks before their users (depth first), then the networks in source order."""
        done: dict[str, None] = {}  # an ordered set: membership tests stay O(1)
        stack: list[tuple[str, bool]] = [(net.definition.name, False)
                                         for net in reversed(self.program.networks)]
        while stack:
            name, expanded = stack.pop()
            if name in done:
                continue
            if expanded:
                done[name] = None
                continue
            stack.append((name, True))
            callees: list[str] = []
            for frame in self.program.uses.get(name, []):
                for records in frame.sites.values():
                    for rec in records:
                        if rec.kind == "block" and isinstance(rec.value, BlockValue):
                            callee = rec.value.definition.name
                            if callee not in callees:
                                callees.append(callee)
            stack.extend((callee, False) for callee in reversed(callees) if callee not in done)
        return [self.program.definitions[name] for name in done]

    def run(self) -> ir.Module:
        classes: list[ir.ClassDef] = []
        for d in self.order():
            frames = self.program.uses.get(d.name, [])
            if not frames:
                continue
            lowering = ClassLowering(self, d, frames)
            self.classes[d.name] = lowering
            classes.append(lowering.build())
        return ir.Module(display_name(self.program.file), classes, self.helpers)
