"""Statements: a body's statements into __init__ and forward, every branch of an `if`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import ir
from .. import nodes as n
from ..check import Frame
from ..render import py_literal
from ..values import PrimaryTuple
from .exprs import Unsupported

if TYPE_CHECKING:
    from .classes import ClassLowering



class Statements:
    """Statements: a body's statements into __init__ and forward, every branch of an `if`."""

    def body(self: ClassLowering, stmts: list[n.Stmt], frames: list[Frame],
             top: bool = False) -> None:
        saved = self.current_frames
        self.current_frames = frames
        try:
            self._body(stmts, frames, top)
        finally:
            self.current_frames = saved

    def _body(self: ClassLowering, stmts: list[n.Stmt], frames: list[Frame], top: bool) -> None:
        for i, stmt in enumerate(stmts):
            last = i == len(stmts) - 1
            if isinstance(stmt, n.If):
                explored = self.if_stmt(stmt, frames, top and last)
                if explored:  # what follows the `if` runs after the explored branches too
                    frames = frames + explored
                    self.current_frames = frames
            elif isinstance(stmt, n.For):
                self.for_stmt(stmt, frames)
            elif isinstance(stmt, n.Assign):
                self.assign(stmt, frames[0])
            elif isinstance(stmt, n.ExprStmt):
                self.expr_stmt(stmt, frames[0], last, top)
            elif isinstance(stmt, n.Return):
                self.fwd.append(ir.Return(self.fexpr(stmt.value, frames[0], multi=True), stmt.pos))
                break  # what follows never runs (the checker warned about it)

    def if_stmt(self: ClassLowering, stmt: n.If, frames: list[Frame], final: bool) -> list[Frame]:
        """Lowers an `if` into __init__ and forward; returns the explored frames it used."""
        count = len(stmt.branches) + 1
        if self.loop_path:  # in a written-out loop: the branch this iteration takes
            taken_here = self.iteration_branch(stmt, frames[0])
            if taken_here is not None:
                bodies_here = [b for _, b in stmt.branches] + [stmt.orelse or []]
                if bodies_here[taken_here]:
                    self.body(bodies_here[taken_here], frames, top=final)
                return []
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
                self.body(bodies[taken[0]], groups[taken[0]], top=final)
            return explored
        saved_init, saved_fwd = self.init, self.fwd
        parts: list[tuple[int, list[ir.InitStmt], list[ir.ForwardStmt]]] = []
        for i in taken:
            self.init, self.fwd = [], []
            if i in failed:
                self.init.append(ir.Fail(
                    f"netdsl could not check this branch of {self.d.name} "
                    f"({failed[i]}), so the class does not build it"))
            else:  # the last statement of a body: each branch returns its value
                self.body(bodies[i], groups[i], top=final)
            parts.append((i, self.init, self.fwd))
        self.init, self.fwd = saved_init, saved_fwd
        # a submodule, parameter or buffer built on one path is None on the others
        # (torchvision's way), so that every attribute exists whatever the arguments
        owned = (ir.Submodule, ir.Parameter, ir.Buffer)
        built = [[s.attr for s in stmts if isinstance(s, owned)] for _, stmts, _ in parts]
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

    def iteration_branch(self: ClassLowering, stmt: n.If, frame: Frame) -> int | None:
        """Which branch of `stmt` the iteration being written out takes: its conditions
        evaluated with the loop variables' values of this iteration (the frame holds the last
        iteration's). A condition on a hyperparameter is decided at its value here; compile's
        validation then fixes that hyperparameter if the class cannot follow it."""
        saved = {name: frame.env.get(name) for name in self.loop_consts}
        try:
            frame.env.update(self.loop_consts)
            for i, (cond, _) in enumerate(stmt.branches):
                value = self.static_value(cond, frame)
                if not isinstance(value, (bool, int)):
                    return None
                if value:
                    return i
            return len(stmt.branches)
        finally:
            frame.env.update(saved)

    def assign(self: ClassLowering, stmt: n.Assign, frame: Frame) -> None:
        target, value = stmt.target, stmt.value
        try:
            self._assign(stmt, frame)
        finally:  # what the name holds from here on (the value was read with what it held)
            if isinstance(target, n.Name):
                # where the statement says it (the frame has only the last value): a tuple
                # written out, a name's, else unknown
                held = self.value_holds_tuple(value, frame)
                if held is None:
                    self.holds_tuple.pop(target.id, None)
                else:
                    self.holds_tuple[target.id] = held

    def value_holds_tuple(self: ClassLowering, value: n.Expr, frame: Frame) -> bool | None:
        """Whether an assigned value is a tuple of tensors in forward: a tuple written out,
        a block returning one; a name's state; None where only the frame can say."""
        if isinstance(value, n.TupleExpr):
            return True
        if isinstance(value, n.Name):
            return self.holds_tuple.get(value.id)
        if isinstance(value, n.Pipeline) and value.stages:
            records = self.site_records(frame, value.stages[-1])
            if records and records[0].kind == "block" and records[0].frame is not None:
                output = records[0].frame.output
                return isinstance(output, tuple) and not isinstance(output, PrimaryTuple)
        return None

    def _assign(self: ClassLowering, stmt: n.Assign, frame: Frame) -> None:
        target, value = stmt.target, stmt.value
        if isinstance(target, n.Name):
            kind = frame.kinds.get(target.id)
            if kind == "layer" and isinstance(value, n.BinOp):  # `twice = linear(4) * 2`
                value = value.left if isinstance(value.left, n.Call) else value.right
            if kind == "layer" and isinstance(value, n.Call) and self.loop_path:
                # bound in a written-out loop: each iteration's own layer, as check builds
                self.loop_layers[target.id] = self.unrolled_call(value, frame, target.id)
                return
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
            if self.assign_source(stmt, frame):  # a parameter or a constant: in __init__
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

    def target_names(self: ClassLowering, target: n.Expr) -> list[str]:
        return self.owner.checker.target_names(target)

    def target_pattern(self: ClassLowering, target: n.Expr) -> str | tuple[object, ...]:
        if isinstance(target, n.Name):
            return self.fwd_ns.name(target.id)
        assert isinstance(target, n.TupleExpr)
        return tuple(self.target_pattern(t) for t in target.items)

    def first_name(self: ClassLowering, target: n.Expr) -> str:
        if isinstance(target, n.Name):
            return self.fwd_ns.name(target.id)
        assert isinstance(target, n.TupleExpr)
        return self.first_name(target.items[0])

    def expr_stmt(self: ClassLowering, stmt: n.ExprStmt, frame: Frame, last: bool,
                  top: bool) -> None:
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

    def emit_value(self: ClassLowering, value: n.Expr, frame: Frame, var: str, pos: Any,
                   multi: bool = False) -> None:
        if isinstance(value, n.Pipeline):
            self.emit_pipeline(value, frame, var, pos, multi=multi)
        elif isinstance(value, n.Annotated):
            self.emit_value(value.value, frame, var, pos, multi)
        else:
            self.fwd.append(ir.Assign(var, self.fexpr(value, frame, multi=multi), pos))

    def emit_pipeline(self: ClassLowering, pipe: n.Pipeline, frame: Frame, var: str, pos: Any,
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

    def head_inputs(self: ClassLowering, head: n.Expr, frame: Frame) -> list[ir.Expr]:
        inner = head.value if isinstance(head, n.Annotated) else head
        if isinstance(inner, n.TupleExpr):
            return [self.fexpr(item, frame) for item in inner.items]
        value = frame.env.get(inner.id) if isinstance(inner, n.Name) else None
        if isinstance(inner, n.Name) and self.holds_tuple.get(inner.id) is False:
            value = None  # a tensor here, though the name is rebound to a tuple later
        if isinstance(inner, n.Name) and isinstance(value, tuple) and \
                frame.kinds.get(inner.id) == "tensor":
            # a name holding a tuple of tensors: its items are the stage's inputs (indexed,
            # not starred, which TorchScript does not take)
            whole = self.fexpr(inner, frame)
            return [ir.Subscript(whole, [ir.Const(str(k))]) for k in range(len(value))]
        return [self.fexpr(head, frame)]
