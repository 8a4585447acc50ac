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

from dataclasses import dataclass
from typing import Any

from . import ir
from . import nodes as n
from .catalogue import MODULE_ATTRIBUTES, REQUIRED, LayerSpec, Param
from .check import Checker, Frame, SiteRecord, flat_tensors
from .check.scope import _substitute
from .dims import Opaque, Ref, SInt, Sym, normal, poly_difference, poly_scale_add, refs, render_poly
from .errors import SourceError
from .lower_exprs import PRECEDENCE, Unsupported, forward_expr, operator_code
from .program import Program
from .render import py_literal, py_str
from .values import BlockValue, LayerValue

RESERVED = frozenset({"self", "torch", "nn", "F", "super", "pad_to_match1d", "pad_to_match2d",
                      "pad_to_match3d"})
LOOP_INDEX = "i"


@dataclass
class SizeParam:
    name: str
    key: Any  # a Ref (one input dimension), an expression over several, or a SiteKey


@dataclass(frozen=True)
class SiteKey:
    """A size a site infers differently at different uses of its block: the caller passes it."""

    site: int
    index: int
    arg: str
    inner: Any = None  # for a block site: the key of the callee's own size parameter


def lower(program: Program) -> ir.Module:
    return Lowering(program).run()


# ---------------------------------------------------------------- the module


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


def display_name(path: str) -> str:
    """The source file's name for comments and docstrings: only safe characters, so no file
    name can end a comment or a docstring and inject code."""
    import re

    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name)[:80] or "source"


# ---------------------------------------------------------------- one class


class ClassLowering:
    def __init__(self, owner: Lowering, d: n.Definition, frames: list[Frame]) -> None:
        from .backends.writer import Namespace

        self.owner = owner
        self.d = d
        self.frames = frames
        self.is_block = d.kind == "block"
        self.site_names = owner.checker.site_names(d)
        self.init_ns = Namespace(RESERVED)
        self.fwd_ns = Namespace(RESERVED)
        self.attr_ns = Namespace(MODULE_ATTRIBUTES | set(self.site_names.values()))
        self.size_params: list[SizeParam] = []
        self._size_keys: dict[Any, str] = {}
        self.stored: dict[str, str] = {}  # compile-time name forward reads -> its attribute
        self.unpacked: dict[str, str] = {}  # dimension forward reads -> its local variable
        self.header_dims: dict[str, tuple[str, int]] = {}
        for p in d.inputs:
            if p.type is not None:
                for axis, dim in enumerate(p.type.shape.dims):
                    if isinstance(dim, n.Name):
                        self.header_dims.setdefault(dim.id, (p.name, axis))
        self.hyper_names = {p.name: self.init_ns.name(p.name) for p in d.hyperparams}
        self.input_names = {p.name: self.fwd_ns.name(p.name) for p in d.inputs}
        self.init: list[ir.InitStmt] = []
        self.fwd: list[ir.ForwardStmt] = []
        self.result_var: str | None = None
        self.emitted: set[int] = set()
        self.current_frames: list[Frame] = frames
        self.explored_ifs: list[n.If] = []
        self.specialised: dict[str, Any] = {}  # hyperparameter -> the value it is fixed at
        self.rebound = rebound_names(d)  # a size that names one of these is ambiguous
        self.flags = 0

    # ------------------------------------------------------------ assembling

    def build(self) -> ir.ClassDef:
        self.body(self.d.body, self.frames, top=True)
        init: list[ir.InitStmt] = []
        for name, value in self.specialised.items():
            init.append(ir.Local(self.hyper_names[name], py_literal(value)))
        init.extend(self.defaults())
        init.extend(self.init)
        for name, attr in self.stored.items():
            init.append(ir.Flag(attr, self.init_ns.name(name)))
        forward: list[ir.ForwardStmt] = []
        for name, var in self.unpacked.items():
            input_name, axis = self.header_dims[name]
            forward.append(ir.Assign(var, ir.CallMethod(ir.Var(self.input_names[input_name]),
                                                        "size", [ir.Const(str(axis))])))
        forward.extend(self.fwd)
        return ir.ClassDef(self.d.name, self.d.kind, self.d.pos, self.docstring(),
                           self.params(), init,
                           [self.input_names[p.name] for p in self.d.inputs], forward,
                           sorted(self.specialised))

    def params(self) -> list[ir.Param]:
        out = [ir.Param(sp.name) for sp in self.size_params]
        hyper = [p for p in self.d.hyperparams if p.name not in self.specialised]
        out += [ir.Param(self.hyper_names[p.name]) for p in hyper if p.default is None]
        for p in hyper:
            if p.default is not None:
                literal = self.literal_default(p.default)
                out.append(ir.Param(self.hyper_names[p.name],
                                    literal if literal is not None else "None"))
        return out

    def literal_default(self, e: n.Expr | None) -> str | None:
        if isinstance(e, (n.Number, n.String, n.Constant)):
            return self.sexpr(e)
        if isinstance(e, n.TupleExpr) and all(isinstance(i, (n.Number, n.String, n.Constant))
                                              for i in e.items):
            return self.sexpr(e)
        if isinstance(e, n.UnaryOp) and e.op == "-" and isinstance(e.operand, n.Number):
            return self.sexpr(e)
        return None

    def defaults(self) -> list[ir.InitStmt]:
        """`mid_channels=out_channels` in the source: None in the signature, then filled in."""
        out: list[ir.InitStmt] = []
        for p in self.d.hyperparams:
            if p.name in self.specialised:
                continue
            if p.default is not None and self.literal_default(p.default) is None:
                out.append(ir.Default(self.hyper_names[p.name], self.sexpr(p.default)))
        return out

    def docstring(self) -> list[str]:
        """Input and output shapes: the network's own, or a block's at each of its uses."""
        frame = self.frames[0]
        if not self.is_block:
            net = self.owner.networks[self.d.name]
            lines = [f"{self.d.name}: {net.params:,} parameters.", ""]
            for p, t in zip(self.d.inputs, frame.inputs, strict=False):
                lines.append(f"Input {p.name}: {t.tt}")
            outputs = [t.tt for t in flat_tensors(frame.output)]
            for i, tt in enumerate(outputs, 1):
                lines.append(f"Output {i}: {tt}" if len(outputs) > 1 else f"Output: {tt}")
            if self.specialised:
                import textwrap

                fixed = ", ".join(f"{k}={py_literal(v)}" for k, v in
                                  sorted(self.specialised.items()))
                them = "it" if len(self.specialised) == 1 else "them"
                note = (f"Specialised for {fixed}: some size depends on {them} in a way "
                        f"netdsl cannot write as an expression, so the class does not offer "
                        f"{them} (change the source and compile again).")
                lines += ["", *textwrap.wrap(note, 80)]
            return lines
        source = display_name(self.owner.program.file)
        lines = [f"Block {self.d.name}, as used in {source}:", ""]
        seen: list[str] = []
        for use in self.frames:
            if use.speculative:
                continue
            ins = ", ".join(f"{p.name}: {t.tt}" for p, t in zip(self.d.inputs, use.inputs,
                                                               strict=False))
            outs = ", ".join(str(t.tt) for t in flat_tensors(use.output))
            text = f"{ins} -> {outs}"
            if len(text) > 80:
                text = f"{ins}\n    -> {outs}"
            if text not in seen:
                seen.append(text)
        for text in seen[:6]:
            lines.extend(text.split("\n"))
        if len(seen) > 6:
            lines.append(f"... and {len(seen) - 6} more")
        return lines

    # ------------------------------------------------------------ statements

    def body(self, stmts: list[n.Stmt], frames: list[Frame], top: bool = False) -> None:
        saved = self.current_frames
        self.current_frames = frames
        try:
            self._body(stmts, frames, top)
        finally:
            self.current_frames = saved

    def _body(self, stmts: list[n.Stmt], frames: list[Frame], top: bool) -> None:
        for i, stmt in enumerate(stmts):
            last = i == len(stmts) - 1
            if isinstance(stmt, n.If):
                explored = self.if_stmt(stmt, frames, top and last)
                if explored:  # what follows the `if` runs after the explored branches too
                    frames = frames + explored
                    self.current_frames = frames
            elif isinstance(stmt, n.Assign):
                self.assign(stmt, frames[0])
            elif isinstance(stmt, n.ExprStmt):
                self.expr_stmt(stmt, frames[0], last, top)
            elif isinstance(stmt, n.Return):
                self.fwd.append(ir.Return(self.fexpr(stmt.value, frames[0]), stmt.pos))
                break  # what follows never runs (the checker warned about it)

    def if_stmt(self, stmt: n.If, frames: list[Frame], final: bool) -> list[Frame]:
        """Lowers an `if` into __init__ and forward; returns the explored frames it used."""
        count = len(stmt.branches) + 1
        groups = [[f for f in frames if f.branches.get(id(stmt)) == i] for i in range(count)]
        failed: dict[int, str] = {}
        explored: list[Frame] = []
        if any(groups) and not any(f.speculative for f in frames):
            # branches no use takes: checked with the class's values forced down them, so
            # the class keeps the whole `if`
            for i in range(count):
                if not groups[i] and (i < len(stmt.branches) or stmt.orelse):
                    groups[i], reason = self.owner.explore(stmt, i, self.d.name)
                    explored += groups[i]
                    if not groups[i]:
                        failed[i] = reason or "it does not check"
        if explored:
            self.explored_ifs.append(stmt)
        taken = [i for i in range(count) if groups[i] or i in failed]
        bodies = [b for _, b in stmt.branches] + [stmt.orelse or []]
        if len(taken) <= 1:
            if taken and groups[taken[0]]:
                self.body(bodies[taken[0]], groups[taken[0]])
            return explored
        saved_init, saved_fwd = self.init, self.fwd
        parts: list[tuple[int, list[ir.InitStmt], list[ir.ForwardStmt]]] = []
        for i in taken:
            self.init, self.fwd = [], []
            if i in failed:
                self.init.append(ir.Fail(
                    f"netdsl could not check this branch of {self.d.name} "
                    f"({failed[i]}), so the class does not build it"))
            else:
                self.body(bodies[i], groups[i])
            parts.append((i, self.init, self.fwd))
        self.init, self.fwd = saved_init, saved_fwd
        # a submodule built on one path is None on the others (torchvision's way), so that
        # every attribute exists whatever the constructor's arguments
        built = [[s.attr for s in stmts if isinstance(s, ir.Submodule)] for _, stmts, _ in parts]
        every = list(dict.fromkeys(attr for attrs in built for attr in attrs))
        init_branches: list[tuple[ir.Code, list[ir.InitStmt]]] = []
        orelse_init: list[ir.InitStmt] = []
        for (i, stmts, _), attrs in zip(parts, built, strict=True):
            stmts = stmts + [ir.Submodule(a, None) for a in every if a not in attrs]
            if i < len(stmt.branches):
                init_branches.append((self.sexpr(stmt.branches[i][0]), stmts))
            else:
                orelse_init = stmts
        if not stmt.orelse and len(stmt.branches) == len(init_branches):
            orelse_init = [ir.Submodule(a, None) for a in every]
        self.init.append(ir.InitIf(init_branches, orelse_init))
        if not any(f for _, _, f in parts):
            return explored
        # forward: each branch is told apart by a submodule only it builds, else by a flag
        fwd_branches: list[tuple[ir.Expr, list[ir.ForwardStmt]]] = []
        orelse_fwd: list[ir.ForwardStmt] = []
        flag: str | None = None
        for k, ((i, _, fwd), attrs) in enumerate(zip(parts, built, strict=True)):
            if i >= len(stmt.branches):
                orelse_fwd = fwd
                continue
            own = [a for a in attrs if all(a not in other for j, other in enumerate(built)
                                           if j != k)]
            if own:
                cond: ir.Expr = ir.BinaryOp("is not", ir.Const(f"self.{own[0]}"), ir.Const("None"))
            else:
                flag = self.attr_ns.fresh(f"branch{len(fwd_branches) + 1}") if flag is None \
                    else self.attr_ns.fresh(flag)
                self.init.append(ir.Flag(flag, self.sexpr(stmt.branches[i][0])))
                cond = ir.Const(f"self.{flag}")
            fwd_branches.append((cond, fwd))
        if not fwd_branches:  # only the else branch does something in forward
            return explored
        if len(fwd_branches) == 1 and not fwd_branches[0][1] and orelse_fwd:
            cond = fwd_branches[0][0]
            negated: ir.Expr = ir.BinaryOp("is", cond.left, cond.right) if isinstance(
                cond, ir.BinaryOp) else ir.UnaryOp("not", cond)
            self.fwd.append(ir.If([(negated, orelse_fwd)], []))
            return explored
        self.fwd.append(ir.If(fwd_branches, orelse_fwd))
        return explored

    def assign(self, stmt: n.Assign, frame: Frame) -> None:
        target, value = stmt.target, stmt.value
        if isinstance(target, n.Name):
            kind = frame.kinds.get(target.id)
            if kind == "layer" and isinstance(value, n.BinOp):  # `twice = linear(4) * 2`
                value = value.left if isinstance(value.left, n.Call) else value.right
            if kind == "layer" and isinstance(value, n.Call):
                ctor = self.site_ctor(value, frame)
                if ctor is not None:
                    self.init.append(ir.Submodule(target.id, ctor, stmt.pos))
                return
            if kind in ("local", "hyper", "dim") and not self.is_tensor_expr(value, frame):
                try:
                    code = self.sexpr(value)
                except Unsupported:
                    code = py_literal(frame.env.get(target.id))
                self.init.append(ir.Local(self.init_ns.name(target.id), code, stmt.pos))
                return
            var = self.fwd_ns.name(target.id)
            self.emit_value(value, frame, var, stmt.pos)
            return
        # destructuring: y, (h, c) = x -> lstm(256)
        pattern = self.target_pattern(target)
        first = self.first_name(target)
        if isinstance(value, n.Pipeline) and len(value.stages) > 1:
            self.emit_pipeline(value, frame, first, stmt.pos, keep_last=True)
            result = self.stage_code(value.stages[-1], [ir.Var(first)], frame, multi=True)
        else:
            result = self.fexpr(value, frame, multi=True)
        self.fwd.append(ir.Assign(pattern, result, stmt.pos))

    def target_pattern(self, target: n.Expr) -> str | tuple[object, ...]:
        if isinstance(target, n.Name):
            return self.fwd_ns.name(target.id)
        assert isinstance(target, n.TupleExpr)
        return tuple(self.target_pattern(t) for t in target.items)

    def first_name(self, target: n.Expr) -> str:
        if isinstance(target, n.Name):
            return self.fwd_ns.name(target.id)
        assert isinstance(target, n.TupleExpr)
        return self.first_name(target.items[0])

    def expr_stmt(self, stmt: n.ExprStmt, frame: Frame, last: bool, top: bool) -> None:
        value = stmt.value
        if not self.is_tensor_expr(value, frame):
            return
        if last and top and isinstance(value, (n.Name, n.Annotated)) and not isinstance(
                value, n.Pipeline):
            self.fwd.append(ir.Return(self.fexpr(value, frame), stmt.pos))
            return
        if last:
            if isinstance(value, n.Pipeline) and isinstance(value.head, n.Name) and \
                    frame.kinds.get(value.head.id) == "tensor":
                var = self.fwd_ns.name(value.head.id)
            else:
                var = self.result_var or self.fwd_ns.fresh("out")
            self.result_var = var
            if top and isinstance(value, n.Pipeline) and len(value.stages) >= 1:
                self.emit_pipeline(value, frame, var, stmt.pos, keep_last=True)
                inputs: list[ir.Expr] = [ir.Var(var)] if len(value.stages) > 1 else \
                    self.head_inputs(value.head, frame)
                code = self.stage_code(value.stages[-1], inputs, frame, multi=True)
                self.fwd.append(ir.Return(code, stmt.pos))
                return
            self.emit_value(value, frame, var, stmt.pos, multi=True)
            if top:
                self.fwd.append(ir.Return(ir.Var(var)))
            return
        self.emit_value(value, frame, self.fwd_ns.fresh("unused"), stmt.pos)

    def emit_value(self, value: n.Expr, frame: Frame, var: str, pos: Any,
                   multi: bool = False) -> None:
        if isinstance(value, n.Pipeline):
            self.emit_pipeline(value, frame, var, pos, multi=multi)
        elif isinstance(value, n.Annotated):
            self.emit_value(value.value, frame, var, pos, multi)
        else:
            self.fwd.append(ir.Assign(var, self.fexpr(value, frame, multi=multi), pos))

    def emit_pipeline(self, pipe: n.Pipeline, frame: Frame, var: str, pos: Any,
                      keep_last: bool = False, multi: bool = False) -> None:
        """`var = stage(head)` then `var = stage(var)` ... one statement per stage."""
        inputs = self.head_inputs(pipe.head, frame)
        stages = pipe.stages[:-1] if keep_last else pipe.stages
        for i, stage in enumerate(stages):
            is_last = i == len(pipe.stages) - 1
            code = self.stage_code(stage, inputs, frame, multi=multi and is_last)
            if isinstance(code, ir.CallModule) and code.first:  # `y, _ = self.lstm1(x)`
                code.first = False
                self.fwd.append(ir.Assign((var, "_"), code, stage.pos))
            else:
                self.fwd.append(ir.Assign(var, code, stage.pos))
            inputs = [ir.Var(var)]

    def head_inputs(self, head: n.Expr, frame: Frame) -> list[ir.Expr]:
        inner = head.value if isinstance(head, n.Annotated) else head
        if isinstance(inner, n.TupleExpr):
            return [self.fexpr(item, frame) for item in inner.items]
        return [self.fexpr(head, frame)]

    # ------------------------------------------------------------ forward expressions

    def is_tensor_expr(self, e: n.Expr, frame: Frame) -> bool:
        if isinstance(e, (n.Pipeline, n.Index)):
            return True
        if isinstance(e, n.Annotated):
            return self.is_tensor_expr(e.value, frame)
        if isinstance(e, n.Name):
            return frame.kinds.get(e.id) == "tensor"
        if isinstance(e, n.Call):
            return bool(frame.sites.get(id(e))) or (
                isinstance(e.func, (n.Call, n.Name)) and any(
                    self.is_tensor_expr(a, frame) for a in e.args))
        if isinstance(e, n.BinOp):
            return self.is_tensor_expr(e.left, frame) or self.is_tensor_expr(e.right, frame)
        if isinstance(e, n.UnaryOp):
            return self.is_tensor_expr(e.operand, frame)
        if isinstance(e, n.TupleExpr):
            return any(self.is_tensor_expr(i, frame) for i in e.items)
        return False

    def fexpr(self, e: n.Expr, frame: Frame, multi: bool = False) -> ir.Expr:
        if isinstance(e, n.Name):
            kind = frame.kinds.get(e.id)
            if kind == "tensor" or e.id in self.input_names:
                return ir.Var(self.fwd_ns.name(e.id))
            if kind == "dim" or (e.id in self.header_dims and kind != "local"):
                value = frame.env.get(e.id)
                if isinstance(value, Sym) or self.is_block or e.id in self.header_dims:
                    return ir.Var(self.unpack(e.id))
                return ir.Const(py_literal(value))
            if kind in ("hyper", "local"):
                return ir.Const("self." + self.store(e.id))
            return ir.Const(py_literal(frame.env.get(e.id)))
        if isinstance(e, (n.Number, n.String, n.Constant)):
            return ir.Const(self.sexpr(e))
        if isinstance(e, n.Annotated):
            return self.fexpr(e.value, frame, multi)
        if isinstance(e, n.TupleExpr):
            return ir.TupleOf([self.fexpr(i, frame) for i in e.items])
        if isinstance(e, n.BinOp):
            return ir.BinaryOp(e.op, self.fexpr(e.left, frame), self.fexpr(e.right, frame))
        if isinstance(e, n.UnaryOp):
            return ir.UnaryOp(e.op, self.fexpr(e.operand, frame))
        if isinstance(e, (n.BoolOp, n.Compare, n.Ternary)):
            return ir.Const(self.sexpr(e))  # compile-time only (the checker made sure)
        if isinstance(e, n.Pipeline):
            inputs = self.head_inputs(e.head, frame)
            code: ir.Expr = inputs[0]
            for i, stage in enumerate(e.stages):
                last = i == len(e.stages) - 1
                code = self.stage_code(stage, inputs, frame, multi=multi and last)
                inputs = [code]
            return code
        if isinstance(e, n.Call):
            return self.call_code(e, frame, multi)
        if isinstance(e, n.Index):
            return self.index_code(e, frame)
        raise Unsupported(type(e).__name__)

    def unpack(self, name: str) -> str:
        if name not in self.unpacked:
            self.unpacked[name] = self.fwd_ns.name(name)
        return self.unpacked[name]

    def store(self, name: str) -> str:
        if name not in self.stored:
            self.stored[name] = self.attr_ns.name(name)
        return self.stored[name]

    def index_code(self, e: n.Index, frame: Frame) -> ir.Expr:
        base = self.fexpr(e.value, frame)
        items: list[ir.Expr | ir.Slice] = []
        for item in e.items:
            if isinstance(item, n.Slice):
                items.append(ir.Slice(*(self.fexpr(b, frame) if b is not None else None
                                        for b in (item.lower, item.upper, item.step))))
            elif isinstance(item, n.EllipsisExpr):
                items.append(ir.Const("..."))
            else:
                items.append(self.fexpr(item, frame))
        return ir.Subscript(base, items)

    def call_code(self, e: n.Call, frame: Frame, multi: bool = False) -> ir.Expr:
        """`conv(16, 3)(x)`, `enc(x)`, `Up(512)(a, b)`, `InceptionA(x)`."""
        inputs = [self.fexpr(a, frame) for a in e.args]
        if frame.sites.get(id(e)):  # a single-list block applied in its one call
            return self.apply_site(e, inputs, frame, multi)
        func = e.func
        if isinstance(func, n.Call):
            return self.apply_site(func, inputs, frame, multi)
        if isinstance(func, n.Name) and frame.kinds.get(func.id) == "layer":
            return self.apply_value(frame.env.get(func.id), func.id, inputs, multi)
        raise Unsupported("call")

    def stage_code(self, stage: n.Stage, inputs: list[ir.Expr], frame: Frame,
                   multi: bool = False) -> ir.Expr:
        name = stage.callee[0]
        if len(stage.callee) == 1 and frame.kinds.get(name) == "layer" and not stage.called:
            return self.apply_value(frame.env.get(name), name, inputs, multi)
        return self.apply_site(stage, inputs, frame, multi)

    def apply_value(self, value: Any, attr: str, inputs: list[ir.Expr],
                    multi: bool) -> ir.Expr:
        if isinstance(value, LayerValue) and value.spec is not None:
            return self.module_call(value.spec, attr, inputs, multi)
        return ir.CallModule(attr, inputs)

    @staticmethod
    def module_call(spec: LayerSpec, attr: str, inputs: list[ir.Expr],
                    multi: bool) -> ir.Expr:
        args = list(inputs)
        if len(args) == 1:  # self-attention: attn(x, x, x)
            args = args * spec.forward.lone_input_repeats
        return ir.CallModule(attr, args, first=spec.primary and not multi)

    def apply_site(self, site: Any, inputs: list[ir.Expr], frame: Frame,
                   multi: bool) -> ir.Expr:
        records = frame.sites.get(id(site))
        if not records:
            raise Unsupported("a site with no record")
        rec = records[0]
        attr = self.site_names.get(id(site), "layer")
        if id(site) not in self.emitted:
            self.emitted.add(id(site))
            ctor = self.site_ctor(site, frame)
            if ctor is not None:
                self.init.append(ir.Submodule(attr, ctor, getattr(site, "pos", None)))
        if rec.kind == "block":
            return ir.CallModule(attr, inputs)
        lv = rec.value
        assert isinstance(lv, LayerValue)
        spec = lv.spec
        if spec is None or rec.index >= 0:
            return ir.CallModule(attr, inputs)
        if spec.module:
            call = self.module_call(spec, attr, inputs, multi)
            if len(rec.node.outputs) > 1 and not multi and isinstance(call, ir.CallModule):
                call.first = True  # maxpool(return_indices=true): a pipeline takes the values
            return call
        return self.functional(spec, site, inputs, frame, rec)

    def functional(self, spec: LayerSpec, site: Any, inputs: list[ir.Expr], frame: Frame,
                   rec: SiteRecord) -> ir.Expr:
        """A tensor function (cat, reshape, mean, ...), spelled as its catalogue entry says."""
        if spec.forward.kind == "helper":  # pad_to_match: a helper written for the rank
            rank = rec.node.inputs[0].tt.rank if rec.node.inputs else 4
            helper = f"{spec.forward.name}{rank - 2}d"
            self.owner.need_helper(helper)
            return ir.CallFunction(helper, inputs)
        given = self.bind_ast(spec.signature, site)
        args: dict[str, Any] = {}
        defaulted: set[str] = set()
        for p in spec.signature:
            if p.name in given:
                value = given[p.name]
                args[p.name] = [self.fexpr(v, frame) for v in value] if p.star else \
                    self.fexpr(value, frame)
            elif p.star:
                args[p.name] = []
                defaulted.add(p.name)
            elif p.default is not REQUIRED:
                args[p.name] = ir.Const(py_literal(p.default))
                defaulted.add(p.name)
            code = args.get(p.name)
            if isinstance(code, ir.Const) and p.default is not REQUIRED and not p.star and \
                    code.code == py_literal(p.default):
                defaulted.add(p.name)
        if "keepdim" in args and "keepdim" not in defaulted:
            defaulted.discard("dim")  # x.mean(keepdim=True) is refused: dim=None goes with it
        return forward_expr(spec.forward, inputs, args, defaulted)

    # ------------------------------------------------------------ constructors

    def site_ctor(self, site: Any, frame: Frame) -> ir.Ctor | None:
        records = frame.sites.get(id(site))
        if not records:
            return None
        if len(records) > 1 and all(r.index >= 0 for r in records):
            return self.sequential(site, records, frame)
        if records[0].index >= 0:  # `stage * n` with n = 1
            return self.sequential(site, records, frame)
        return self.ctor(site, records[0], frame)

    def uses_of(self, site: Any, index: int) -> list[tuple[Frame, SiteRecord]]:
        """The records of one site (and repetition) in every use that reached it."""
        out = []
        for frame in self.current_frames:
            for rec in frame.sites.get(id(site), []):
                if rec.index == index:
                    out.append((frame, rec))
                    break
        return out

    def inferred_code(self, site: Any, rec: SiteRecord, arg: str,
                      pairs: list[tuple[Frame, Any]], inner: Any = None) -> str:
        """One size for every use: an expression if all uses agree on it; a conditional
        expression if an `if` of this class explains the difference; else a parameter."""
        values = [v for _, v in pairs]
        if len({expr_key(v) for v in values}) == 1:  # every use computes it the same way
            return self.value_code(values[0], arg, SiteKey(id(site), rec.index, arg, inner))
        for stmt in self.explored_ifs + self.all_ifs():
            by_branch: dict[int, Any] = {}
            consistent = True
            for frame, v in pairs:
                branch = frame.branches.get(id(stmt))
                if branch is None or expr_key(by_branch.setdefault(branch, v)) != expr_key(v):
                    consistent = False
                    break
            if consistent and len(by_branch) > 1:
                return self.conditional(stmt, by_branch, arg, site, rec, inner)
        if not self.is_block:
            real = [v for f, v in pairs if not f.speculative] or values
            return self.value_code(real[0], arg, None)
        return self.size_param(SiteKey(id(site), rec.index, arg, inner), arg)

    def all_ifs(self) -> list[n.If]:
        from .check import walk_statements

        return [s for s in walk_statements(self.d.body) if isinstance(s, n.If)]

    def conditional(self, stmt: n.If, by_branch: dict[int, Any], arg: str, site: Any,
                    rec: SiteRecord, inner: Any) -> str:
        """`a if cond else b` over an `if`'s branches (the branches that reach this size)."""
        order = sorted(by_branch)
        key = SiteKey(id(site), rec.index, arg, inner)
        code = self.value_code(by_branch[order[-1]], arg, key)
        for branch in reversed(order[:-1]):
            cond = self.sexpr(stmt.branches[branch][0], 1)
            code = f"{self.value_code(by_branch[branch], arg, key)} if {cond} else {code}"
        return code

    def ctor(self, site: Any, rec: SiteRecord, frame: Frame,
             override: dict[str, str] | None = None) -> ir.Call | None:
        if rec.kind == "block":
            return self.block_ctor(site, rec, override)
        lv = rec.value
        assert isinstance(lv, LayerValue)
        if lv.spec is None:
            args, kwargs = site_args(site)
            return ir.Call(f"nn.{lv.torch_cls}", [self.sexpr(a) for a in args],
                           [(k.name, self.sexpr(k.value)) for k in kwargs])
        spec = lv.spec
        if not spec.module:
            return None
        from_torch = lv.torch_cls is not None
        given = self.bind_ast(spec.torch_signature if from_torch else spec.signature, site)
        positional: list[str] = []
        keywords: list[tuple[str, str]] = []
        for p in spec.torch_signature:
            if override is not None and p.name in override:
                code = override[p.name]
            elif p.name in given and p.name not in rec.inferred:
                code = self.sexpr(given[p.name])
            elif p.name in rec.inferred:  # inferred, or given and checked (prelu("channels"))
                pairs = [(f, r.inferred[p.name]) for f, r in self.uses_of(site, rec.index)
                         if p.name in r.inferred] or [(self.current_frames[0],
                                                       rec.inferred[p.name])]
                code = self.inferred_code(site, rec, p.name, pairs)
            elif p.name in spec.overrides:
                code = py_literal(spec.overrides[p.name])
            else:
                continue
            if p.default is REQUIRED:
                positional.append(code)
            else:
                keywords.append((p.name, code))
        return ir.Call(f"nn.{rec.cls}", positional, keywords)

    def block_ctor(self, site: Any, rec: SiteRecord,
                   override: dict[str, str] | None = None) -> ir.Call:
        bv = rec.value
        assert isinstance(bv, BlockValue) and rec.frame is not None
        callee = self.owner.classes[bv.definition.name]
        args = []
        uses = [(f, r) for f, r in self.uses_of(site, rec.index) if r.frame is not None] or [
            (self.current_frames[0], rec)]
        for sp in callee.size_params:
            if override is not None and sp.name in override:
                args.append(override[sp.name])
                continue
            pairs = [(f, caller_value(r.frame, sp.key)) for f, r in uses if r.frame is not None]
            args.append(self.inferred_code(site, rec, sp.name, pairs, sp.key))
        call_args, kwargs = site_args(site)
        if isinstance(site, n.Call) and not bv.definition.hyperparams:
            call_args, kwargs = [], []
        args += [self.sexpr(a) for a in call_args]
        keywords = [(callee.hyper_names.get(k.name, k.name), self.sexpr(k.value))
                    for k in kwargs]
        return ir.Call(bv.definition.name, args, keywords)

    def sequential(self, site: Any, records: list[SiteRecord], frame: Frame) -> ir.Ctor:
        """`stage * n`: a loop over the count when the copies are one constructor call in the
        loop index (the same call, or sizes in arithmetic progression); else written out."""
        count_expr = getattr(site, "repeat", None)
        count_code = self.sexpr(count_expr) if count_expr is not None else str(len(records))
        generic_count = count_expr is not None and any(
            isinstance(v, SInt) for v in [self.static_value(count_expr, frame)])
        items = [self.ctor(site, r, frame) for r in records]
        if any(item is None for item in items):
            raise Unsupported("a repeated stage without a module")
        calls: list[ir.Call] = [item for item in items if item is not None]
        if all(render_key(c) == render_key(calls[0]) for c in calls) and (
                len(calls) > 2 or generic_count):
            return ir.Repeat(calls[0], count_code, None)
        progression = self.progression(site, records, calls)
        if progression is not None and (len(calls) > 2 or generic_count):
            return ir.Repeat(progression, count_code, self.loop_index())
        if generic_count and count_expr is not None:
            self.specialise_count(count_expr, frame)
        return ir.Sequential(list(calls))

    def static_value(self, e: n.Expr, frame: Frame) -> Any:
        """A compile-time expression's value in one evaluation of the class (the checker
        evaluated it there already, so it does not fail)."""
        try:
            return self.owner.checker.eval(e, frame)
        except SourceError:
            return None

    def loop_index(self) -> str:
        return self.init_ns.name(LOOP_INDEX)

    def progression(self, site: Any, records: list[SiteRecord],
                    calls: list[ir.Call]) -> ir.Call | None:
        """The copies' call with each differing size written as base + i * step, when the
        sizes of the copies are an arithmetic progression (checked on every copy)."""
        if len(records) < 2:
            return None
        values = [self.size_values(site, r) for r in records]
        override: dict[str, str] = {}
        for name in values[0]:
            polys = [normal(expr_of_value(v[name])) if name in v else None for v in values]
            if any(p is None for p in polys):
                return None
            base, step = polys[0], poly_difference(polys[1], polys[0])  # type: ignore[arg-type]
            if not step:
                continue
            if any(p != poly_scale_add(base, step, i) for i, p in enumerate(polys)):  # type: ignore[arg-type]
                return None
            used: list[Ref] = []
            for v in values:
                used += [r for r in refs(expr_of_value(v[name])) if r not in used]
            names = self.ref_names(used)
            step_text = render_poly(step, names, PRECEDENCE["*"])
            base_text = render_poly(base, names)  # type: ignore[arg-type]
            override[name] = f"{base_text} + {self.loop_index()} * {step_text}" \
                if base_text != "0" else f"{self.loop_index()} * {step_text}"
        if not override:
            return None
        return self.ctor(site, records[0], self.current_frames[0], override)

    def size_values(self, site: Any, rec: SiteRecord) -> dict[str, Any]:
        """The inferred sizes of one copy, by the name the constructor takes them under."""
        if rec.kind == "block" and rec.frame is not None:
            callee = self.owner.classes[rec.value.definition.name]  # type: ignore[union-attr]
            return {sp.name: caller_value(rec.frame, sp.key) for sp in callee.size_params}
        return dict(rec.inferred)

    def specialise_count(self, count_expr: n.Expr, frame: Frame) -> None:
        value = self.static_value(count_expr, frame)
        if isinstance(value, SInt):
            for ref in refs(value.expr):
                self.specialise(ref)

    def specialise(self, ref: Ref) -> None:
        """A network's hyperparameter (or those a local depends on) is fixed at its value."""
        if self.is_block:
            return
        frame = self.frames[0]
        stack, seen = [ref], set()
        while stack:
            item = stack.pop()
            if item in seen:
                continue
            seen.add(item)
            if item.kind == "local":
                stack.extend(frame.local_deps.get(item.name, ()))
            elif item.kind == "hyper" and item.name in self.hyper_names:
                value = frame.mapping.get(item, frame.env.get(item.name))
                self.specialised[item.name] = int(value) if isinstance(value, SInt) else value

    def bind_ast(self, sig: tuple[Param, ...], site: Any) -> dict[str, Any]:
        args, kwargs = site_args(site)
        bound: dict[str, Any] = {}
        star = next((p for p in sig if p.star), None)
        i = 0
        for a in args:
            if i < len(sig) and not sig[i].star:
                bound[sig[i].name] = a
                i += 1
            elif star is not None:
                bound.setdefault(star.name, []).append(a)
        for k in kwargs:
            bound[k.name] = k.value
        return bound

    # ------------------------------------------------------------ static values

    def ref_names(self, names_of: list[Ref]) -> dict[Ref, str]:
        names: dict[Ref, str] = {}
        for ref in names_of:
            if ref.kind == "hyper":
                names[ref] = self.hyper_names.get(ref.name, ref.name)
            elif ref.kind == "dim" and self.is_block:
                names[ref] = self.size_param(ref, ref.name)
            elif ref.kind == "local":
                names[ref] = self.init_ns.name(ref.name)
            elif ref.kind == "anon" and self.is_block:
                names[ref] = self.size_param(ref, self.axis_name(ref) or "size")
        return names

    def value_code(self, value: Any, hint: str, key: SiteKey | None) -> str:
        """An inferred size as code in this class's terms (literal, expression or parameter)."""
        if not isinstance(value, SInt):
            return py_literal(value)
        expr = value.expr
        if value.pinned and self.is_block and key is not None:
            return self.size_param(key, hint)  # the caller knows which way it went
        for ref in value.pinned:
            self.specialise(ref)
        if isinstance(expr, Opaque) or any(
                r.kind not in ("hyper", "dim", "local", "anon") or r.name in self.rebound
                for r in refs(expr)):
            if self.is_block and key is not None:
                return self.size_param(key, hint)
            for ref in refs(expr):
                self.specialise(ref)
            return py_literal(int(value))
        if not self.is_block and any(r.kind in ("dim", "anon") for r in refs(expr)):
            return py_literal(int(value))
        names = self.ref_names(refs(expr))
        poly = normal(expr)
        if poly is None:
            from .lower_exprs import render_tree

            return render_tree(expr, names)
        return render_poly(poly, names)

    def axis_name(self, expr: Any) -> str | None:
        """An unnamed input size is named for what it is, whichever layer needs it first:
        in_channels for dimension 1 of an image-like input, in_features for the last."""
        if not (isinstance(expr, Ref) and expr.kind == "anon"):
            return None
        input_name, axis = expr.name.rsplit(".", 1)
        for p, tensor in zip(self.d.inputs, self.frames[0].inputs, strict=False):
            if p.name == input_name:
                rank = tensor.tt.rank
                if int(axis) == rank - 1:
                    return "in_features"
                if int(axis) == 1 and rank >= 3:
                    return "in_channels"
        return None

    def size_param(self, key: Any, hint: str) -> str:
        if key in self._size_keys:
            return self._size_keys[key]
        name = self.init_ns.name(hint) if isinstance(key, Ref) and key.kind == "dim" else \
            self.init_ns.fresh(hint)
        self._size_keys[key] = name
        self.size_params.append(SizeParam(name, key))
        return name

    def sexpr(self, e: n.Expr, prec: int = 0) -> str:
        """A compile-time expression as constructor-time Python."""
        if isinstance(e, n.Number):
            text = repr(e.value)
            return f"({text})" if e.value < 0 and prec > PRECEDENCE["unary"] else text
        if isinstance(e, n.String):
            return py_str(e.value)
        if isinstance(e, n.Constant):
            return repr(e.value)
        if isinstance(e, n.Name):
            if e.id in self.hyper_names:
                return self.hyper_names[e.id]
            if e.id in self.header_dims and self.is_block:
                return self.size_param(Ref(e.id, "dim"), e.id)
            if e.id in self.init_ns.names:
                return self.init_ns.names[e.id]
            frame = self.frames[0]
            if frame.kinds.get(e.id) == "local":
                return self.init_ns.name(e.id)
            value = frame.env.get(e.id)
            if isinstance(value, (int, float, str, bool, tuple)) or value is None:
                return py_literal(value)
            raise Unsupported(e.id)
        if isinstance(e, (n.TupleExpr, n.BinOp, n.UnaryOp, n.BoolOp, n.Compare, n.Ternary)):
            return operator_code(e, prec, self.sexpr)
        if isinstance(e, n.Annotated):
            return self.sexpr(e.value, prec)
        raise Unsupported(type(e).__name__)


# ---------------------------------------------------------------- helpers


def rebound_names(d: n.Definition) -> set[str]:
    """Compile-time names a definition binds more than once (or rebinds a parameter or a
    header dimension as): a size computed from one of them may have been computed from an
    earlier binding, which __init__ no longer holds under that name."""
    from .check import header_dimensions, walk_statements

    counts: dict[str, int] = {p.name: 1 for p in d.hyperparams}
    for name in header_dimensions(d):
        counts[name] = 1
    for stmt in walk_statements(d.body):
        if isinstance(stmt, n.Assign) and isinstance(stmt.target, n.Name):
            counts[stmt.target.id] = counts.get(stmt.target.id, 0) + 1
    return {name for name, count in counts.items() if count > 1}


def expr_key(v: Any) -> Any:
    """Values compare by how they are computed: the normal form of their expression."""
    if isinstance(v, SInt):
        return normal(v.expr) if not isinstance(v.expr, Opaque) else ("opaque", int(v))
    return ("value", v)


def expr_of_value(v: Any) -> Any:
    return v.expr if isinstance(v, SInt) else int(v) if isinstance(v, int) else v


def render_key(call: ir.Call) -> tuple[Any, ...]:
    return (call.func, tuple(call.args), tuple(call.kwargs))


def site_args(site: Any) -> tuple[list[n.Expr], list[n.Keyword]]:
    if isinstance(site, (n.Stage, n.Call)):
        return list(site.args), list(site.kwargs)
    return [], []


def caller_value(child: Frame, key: Any) -> Any:
    """The value, in the caller's terms, of one of a block class's size parameters at one
    use of the block (child is that use's frame)."""
    try:
        if isinstance(key, SiteKey):
            for rec in child.sites.get(key.site, []):
                if rec.index != key.index:
                    continue
                if key.inner is None and key.arg in rec.inferred:
                    return child.to_caller(rec.inferred[key.arg])
                if key.inner is not None and rec.frame is not None:
                    return child.to_caller(caller_value(rec.frame, key.inner))
            raise KeyError(key)
        if isinstance(key, Ref):
            return child.mapping[key]
        return _substitute(key, child)
    except KeyError:
        raise AssertionError(f"size {key} of block {child.definition.name} has no value "
                             f"at this use") from None
