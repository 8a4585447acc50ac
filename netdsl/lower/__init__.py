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

import re
from typing import Any

from .. import ir
from .. import nodes as n
from ..check import Checker, Frame
from ..errors import NetDSLError
from ..program import Program, check
from ..render import py_literal
from ..values import BlockValue
from . import validate
from .classes import ClassLowering, display_name
from .sizes import SplitByValue


def lower(program: Program) -> ir.Module:
    """The classes of a checked program, each validated against `check` (validate.py): a
    network hyperparameter the class cannot follow is not offered. Validation checks the
    program again at other values, so the result is kept on the program (`build` of each of
    its networks, and `to_pytorch` after them, lower it once)."""
    if program._lowered is None:
        program._lowered = validated(program)
    return program._lowered


def validated(program: Program) -> ir.Module:
    forced: dict[str, dict[str, str]] = {}
    module = Lowering(program, forced).run()
    for _ in range(8):  # each round fixes at least one more hyperparameter, or stops
        found = dishonest(program, module, forced)
        if not found:
            break
        for name, reasons in found.items():
            forced.setdefault(name, {}).update(reasons)
        module = Lowering(program, forced).run()
    return module


def sample_values(default: Any) -> list[Any]:
    """Values other than a default that compile's validation builds a class with."""
    if isinstance(default, bool):
        return [not default]
    if isinstance(default, int):
        return [v for v in dict.fromkeys((default + 1, default - 1, default * 2, 1, 2, 3))
                if v >= 0 and v != default]
    if isinstance(default, float):
        return [default * 2, default / 2]
    return []


def dishonest(program: Program, module: ir.Module,
              forced: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Per network class, the hyperparameters it offers for which, built with another value
    that `check` accepts, it would not build the modules `check` finds or its forward would
    not follow `check`'s operations; with the reason. Each is tried alone, then all together
    (a size may follow each but not both)."""
    found: dict[str, dict[str, str]] = {}
    classes = {cls.name: cls for cls in module.classes}
    text = program.sources.get(program.file)
    if text is None:
        return found
    for net in program.networks:
        name = net.definition.name
        cls = classes.get(name)
        if cls is None:
            continue
        samples: dict[str, list[Any]] = {}
        for param in cls.params:
            if param.name in forced.get(name, {}) or param.default is None:
                continue
            try:
                samples[param.name] = sample_values(validate.evaluate(param.default, {}))
            except validate.Unvalidated:
                continue
        try:  # what the class does at its defaults, which other values are compared with
            default_ops = validate.instantiate(module, name, {})[1]
        except (validate.Unvalidated, validate.Refused):
            continue
        default = (validate.checked_ops(net.nodes), default_ops)
        trials = [{p: v} for p, values in samples.items() for v in values]
        joint = {p: values[0] for p, values in samples.items() if values}
        if len(joint) > 1:
            trials.append(joint)
        for values in trials:
            if any(p in found.get(name, {}) for p in values):
                continue
            try:
                why = disagreement(program, text, module, net, values, default)
            except validate.Unvalidated:
                break  # the class holds what the interpreter does not model: trusted
            if why is not None:
                found.setdefault(name, {})[next(iter(values))] = why
    return found


def disagreement(program: Program, text: str, module: ir.Module, net: Any,
                 values: dict[str, Any], default: tuple[Any, Any]) -> str | None:
    """How class `net` built with `values` differs from what `check` finds with them as the
    defaults (None: it does not, or check rejects them and nothing is promised). `default`:
    check's operations and the class's forward operations at the defaults."""
    name = net.definition.name
    try:
        again = check(text, program.file, net.frame.overrides, {name: values})
    except NetDSLError:
        return None
    nodes = again.network(name).nodes
    expected = validate.checked_modules(nodes)
    shown = ", ".join(f"{p}={validate.safe(v)}" for p, v in values.items())
    try:
        built, ops = validate.instantiate(module, name, values)
    except validate.Refused:
        return f"{shown} it would refuse to build"
    if built != expected:
        return f"{shown} " + validate.first_difference(built, expected)
    checked_default, class_default = default
    if validate.checked_ops(nodes) != checked_default and ops == class_default:
        # forward computes what it computes at the defaults, where check computes other things
        return (f"{shown} its forward would run the operations it runs at the default, "
                f"where check finds others (a branch or a loop it cannot follow)")
    return None


class Lowering:
    def __init__(self, program: Program, forced: dict[str, dict[str, str]] | None = None) -> None:
        self.program = program
        # network -> hyperparameter -> why validation fixed it (see lower())
        self.forced: dict[str, dict[str, str]] = forced or {}
        assert program.checker is not None
        self.checker: Checker = program.checker
        self.classes: dict[str, ClassLowering] = {}
        self.variants: dict[int, ClassLowering] = {}  # a use's frame -> its split class
        self.variant_names: set[str] = set()
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
            if frames:
                classes += self.lower_definition(d, frames)
        return ir.Module(display_name(self.program.file), classes, self.helpers)

    def lower_definition(self, d: n.Definition, frames: list[Frame]) -> list[ir.ClassDef]:
        """One class for a definition; for a block used with values of a hyperparameter it
        cannot follow, one class per value (`C2f_n1`, `C2f_n2`), each for its uses."""
        groups: list[tuple[list[Frame], list[str]]] = [(frames, [])]
        out: list[ir.ClassDef] = []
        while groups:
            group, written_for = groups.pop(0)
            name = self.variant_name(d.name, written_for)
            lowering = ClassLowering(self, d, group, name, ", ".join(written_for))
            try:
                built = lowering.build()
            except SplitByValue as split:
                if len(written_for) >= 8:
                    raise
                by_value: dict[str, list[Frame]] = {}
                for frame in group:
                    if not frame.speculative:
                        key = py_literal(frame.env.get(split.name))
                        by_value.setdefault(key, []).append(frame)
                explored = [f for f in group if f.speculative]
                groups[:0] = [(uses + explored, [*written_for, f"{split.name}={value}"])
                              for value, uses in by_value.items()]
                continue
            if written_for:
                for frame in group:
                    self.variants[id(frame)] = lowering
            self.classes.setdefault(d.name, lowering)  # a split block: its first class
            out.append(built)
        return out

    def variant_name(self, name: str, written_for: list[str]) -> str:
        if not written_for:
            return name
        text = "_".join(re.sub(r"[^A-Za-z0-9]", "", w.replace("=", "")) for w in written_for)
        candidate = f"{name}_{text}"[:80]
        while candidate in self.program.definitions or candidate in self.variant_names:
            candidate += "_"
        self.variant_names.add(candidate)
        return candidate

    def class_for(self, rec: Any) -> ClassLowering:
        """The class that one use of a block (a site record) builds."""
        variant = self.variants.get(id(rec.frame))
        return variant if variant is not None else self.classes[rec.value.definition.name]
