"""`for` loops: one generic body over nn.ModuleLists when it serves every iteration, else the
iterations written out.

The checker ran the body once per iteration and recorded each site's evaluation with its
iteration (SiteRecord.loop). A loop is *generic* when every layer the body builds is, from one
iteration to the next, the same constructor call or one whose sizes are an arithmetic
progression of the index (checked on every iteration), and the forward code of the body is the
same each time (it does not read the loop variable, carries no growing tuple, computes no
compile-time value). Then __init__ holds one `nn.ModuleList([... for i in range(n)])` per
layer and forward one `for` over them, zipped, which TorchScript and torch.fx accept. Any
other loop is written out: its layers are ModuleLists indexed by constant positions
(`self.conv[1](x)`, the same state_dict names), the loop variable a constant in each copy,
and the hyperparameters the range depends on are not offered (the class is specialised).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .. import ir
from .. import nodes as n
from ..check import Frame
from ..check.naming import walk_sites, walk_statements
from ..spelling import MODULE
from ..values import LayerValue
from .exprs import Unsupported
from .sizes import render_key

if TYPE_CHECKING:
    from .classes import ClassLowering


def _names_in(e: Any) -> set[str]:
    """Every name an expression (or stage) mentions."""
    out: set[str] = set()
    stack = [e]
    while stack:
        item = stack.pop()
        if isinstance(item, n.Name):
            out.add(item.id)
        elif isinstance(item, n.Keyword):
            stack.append(item.value)
        elif isinstance(item, (n.SyntaxNode, n.Stage)):
            attr: str
            for attr in type(item).__slots__:
                child = getattr(item, attr, None)
                if isinstance(child, (list, tuple)):
                    stack.extend(c for c in child if isinstance(c, (n.SyntaxNode, tuple)))
                elif isinstance(child, n.SyntaxNode):
                    stack.append(child)
        elif isinstance(item, tuple):  # an If's (condition, body) pairs
            stack.extend(c for c in item if isinstance(c, (n.SyntaxNode, list)))
        elif isinstance(item, list):
            stack.extend(item)
    return out


class Loops:
    """`for` loops into __init__ and forward."""

    # set in ClassLowering.__init__
    loop_path: tuple[int, ...]
    loop_consts: dict[str, Any]
    loop_vars: dict[int, str]
    unrolled: dict[str, tuple[Any, list[ir.Ctor]]]
    loop_index_name: str | None

    def for_stmt(self: ClassLowering, stmt: n.For, frames: list[Frame]) -> None:
        frame = frames[0]
        count = frame.loops.get(id(stmt), 0)
        if count == 0:
            return
        if not self.loop_path and all(f.loops.get(id(stmt)) == count for f in frames):
            try:
                if self.generic_loop(stmt, frames, count):
                    return
            except Unsupported:
                pass
        self.unrolled_loop(stmt, frames)

    # ------------------------------------------------------------ one generic body

    def generic_loop(self: ClassLowering, stmt: n.For, frames: list[Frame], count: int) -> bool:
        frame = frames[0]
        body = walk_statements(stmt.body)
        if any(not isinstance(s, (n.Assign, n.ExprStmt)) for s in body):
            return False
        for s in body:  # only tensors may change from one iteration to the next in forward
            if isinstance(s, n.Assign):
                for name in self.target_names(s.target):
                    if frame.kinds.get(name) != "tensor" or isinstance(frame.env.get(name),
                                                                      tuple):
                        return False
        sites = [site for s in body for site, _ in walk_sites(s) if frame.sites.get(id(site))]
        module_sites: list[Any] = []
        for site in sites:
            records = frame.sites[id(site)]
            if len(records) != count or any(r.index >= 0 for r in records):
                return False
            rec = records[0]
            if rec.kind != "block" and not isinstance(rec.value, LayerValue):
                return False  # a created tensor or parameter: written out
            spec = rec.value.spec if isinstance(rec.value, LayerValue) else None
            if rec.kind == "block" or spec is None or spec.module:
                if spec is not None and (spec.primary or spec.forward != MODULE):
                    # `x -> lstm(...)` takes [0], attention passes masks and flags by
                    # name: the written-out path spells them
                    return False
                module_sites.append(site)
            elif stmt.target in _names_in(site):
                return False  # a tensor function whose arguments change
        # the loop variable may appear in the layers' constructor arguments only
        forward_names: set[str] = set()
        for s in body:
            assert isinstance(s, (n.Assign, n.ExprStmt))
            forward_names |= _names_in(s.target) if isinstance(s, n.Assign) else set()
            stack: list[Any] = [s.value]
            while stack:
                item = stack.pop()
                if isinstance(item, n.Pipeline):
                    stack.append(item.head)
                    for st in item.stages:
                        if not any(st is m for m in module_sites):
                            forward_names |= _names_in(st)
                elif isinstance(item, n.Call) and any(item is m or item.func is m
                                                      for m in module_sites):
                    stack.extend(item.args)
                else:
                    forward_names |= _names_in(item)
        if stmt.target in forward_names:
            return False
        it = stmt.iter
        assert isinstance(it, n.Call)
        simple_range = len(it.args) == 1
        index = self.init_ns.name(stmt.target)
        range_code = ", ".join(self.sexpr(a) for a in it.args)
        ctors: list[tuple[Any, str, ir.Ctor]] = []
        for site in module_sites:
            ctor = self.loop_ctor(site, frame.sites[id(site)], frame, index, range_code,
                                  simple_range)
            if ctor is None:
                return False
            ctors.append((site, self.site_names.get(id(site), "layer"), ctor))
        saved_fwd, saved_vars = self.fwd, dict(self.loop_vars)
        self.fwd = []
        element_vars: list[str] = []
        try:
            for site, attr, _ in ctors:
                var = self.fwd_ns.fresh(re.sub(r"\d+$", "", attr) or "layer")
                self.loop_vars[id(site)] = var
                element_vars.append(var)
            self.body(stmt.body, frames)
            loop_body = self.fwd
        finally:
            self.fwd, self.loop_vars = saved_fwd, saved_vars
        for site, attr, ctor in ctors:
            self.emitted.add(id(site))
            self.init.append(ir.Submodule(attr, ctor, getattr(site, "pos", None)))
        iterable: ir.Expr
        if not ctors:
            iterable = ir.CallFunction("range", [self.fexpr(a, frame) for a in it.args])
            target: str | tuple[object, ...] = "_"
        elif len(ctors) == 1:
            iterable, target = ir.Const(f"self.{ctors[0][1]}"), element_vars[0]
        else:
            iterable = ir.CallFunction("zip", [ir.Const(f"self.{attr}") for _, attr, _ in ctors])
            target = tuple(element_vars)
        self.fwd.append(ir.For(target, iterable, loop_body))
        return True

    def loop_ctor(self: ClassLowering, site: Any, records: list[Any], frame: Frame, index: str,
                  range_code: str, simple_range: bool) -> ir.Ctor | None:
        """The ModuleList of one site's layers: the same call each iteration (its arguments
        may name the loop variable, bound by the comprehension), or sizes in arithmetic
        progression of the index; None when the layers differ otherwise."""
        calls = [self.ctor(site, r, frame) for r in records]
        if any(c is None for c in calls):
            return None
        first = calls[0]
        assert first is not None
        if all(render_key(c) == render_key(first) for c in calls):  # type: ignore[arg-type]
            return ir.Repeat(first, range_code, index, container="ModuleList")
        if not simple_range:  # a progression counts from 0 in steps of 1
            return None
        saved: str | None = self.loop_index_name
        self.loop_index_name = index
        try:
            progression = self.progression(site, records, calls)  # type: ignore[arg-type]
        finally:
            self.loop_index_name = saved
        if progression is None:
            return None
        return ir.Repeat(progression, range_code, index, container="ModuleList")

    # ------------------------------------------------------------ written out

    def unrolled_loop(self: ClassLowering, stmt: n.For, frames: list[Frame]) -> None:
        frame = frames[0]
        for arg in stmt.iter.args if isinstance(stmt.iter, n.Call) else []:
            self.specialise_count(arg, frame)
        values = self.owner.checker.loop_range(stmt, frame)
        outer, saved_const = self.loop_path, self.loop_consts.get(stmt.target)
        try:
            for k, value in enumerate(values):
                self.loop_path = (*outer, k)
                self.loop_consts[stmt.target] = value
                self.body(stmt.body, frames)
        finally:
            self.loop_path = outer
            if saved_const is None:
                self.loop_consts.pop(stmt.target, None)
            else:
                self.loop_consts[stmt.target] = saved_const
        if not outer:
            self.flush_unrolled()

    def flush_unrolled(self: ClassLowering) -> None:
        """The layers of a written-out loop, each site's as one ModuleList."""
        for attr, (pos, ctors) in self.unrolled.items():
            first = ctors[0]
            if isinstance(first, ir.Call) and all(
                    isinstance(c, ir.Call) and render_key(c) == render_key(first) for c in ctors):
                listed: ir.Ctor = ir.Repeat(first, str(len(ctors)), None, container="ModuleList")
            else:
                listed = ir.Sequential(ctors, container="ModuleList")
            self.init.append(ir.Submodule(attr, listed, pos))
        self.unrolled = {}

    def site_records(self: ClassLowering, frame: Frame, site: Any) -> list[Any]:
        """A site's records, those of the iteration being written out when in a loop."""
        records = frame.sites.get(id(site)) or []
        path = self.loop_path
        if not path or not records or not records[0].loop:
            return records
        return [r for r in records if r.loop[:len(path)] == path]

    def unrolled_call(self: ClassLowering, site: Any, frame: Frame, attr: str) -> str:
        """Builds this iteration's layer of a site in a written-out loop; its attribute."""
        ctor = self.site_ctor(site, frame)
        if ctor is None:
            raise Unsupported("a layer in a loop without a module")
        _, ctors = self.unrolled.setdefault(attr, (getattr(site, "pos", None), []))
        ctors.append(ctor)
        return f"{attr}[{len(ctors) - 1}]"
