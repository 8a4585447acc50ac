"""Learnable and created tensors in a class: `nn.Parameter`s and buffers in __init__, the
tensors created in forward on the inputs' device.

A parameter is `self.<binding> = nn.Parameter(...)`, made as the source says. A tensor that
depends on compile-time values only (netdsl/sources.py `constant`) is computed once in
__init__ and registered as a non-persistent buffer; a created tensor whose size is known
only at run time (`arange(T)`, T a symbolic dimension) is made in forward, its size read
from an input (`x.size(1)`) and its device the first input's. A name bound once, at the top
of the body, to a parameter or buffer is read as `self.<attr>` in forward.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import ir
from .. import nodes as n
from ..check import Frame, flat_tensors, walk_statements
from ..dtypes import TORCH_NAMES
from ..render import py_literal
from ..sources import SOURCES, constant
from ..values import Node
from .exprs import Unsupported

if TYPE_CHECKING:
    from .classes import ClassLowering

HOISTABLE = (n.Pipeline, n.Call, n.BinOp, n.UnaryOp, n.Index, n.Compare)


def source_name(e: n.Expr) -> str | None:
    """'ones' for `ones(n, n)`, 'parameter' for `parameter(1, D)`; None for anything else."""
    if isinstance(e, n.Call) and isinstance(e.func, n.Name) and e.func.id in SOURCES:
        return e.func.id
    return None


class SourceLowering:
    """Parameters, buffers and created tensors of one class."""

    in_init: bool  # translating a buffer's value, which __init__ computes
    tensor_attrs: dict[str, str]  # a name bound to a parameter or buffer -> its attribute
    inline_constants: dict[str, n.Expr]  # a constant only other constants use -> its value
    tensor_locals: dict[str, str]  # such a constant computed in __init__ -> its variable
    local_statements: dict[str, tuple[list[Any], Any]]  # -> where __init__ computes it

    def source_fexpr(self: ClassLowering, e: n.Expr, frame: Frame) -> ir.Expr | None:
        """The translation of e when it involves a source or a constant, else None."""
        if isinstance(e, n.Name):
            attr = self.tensor_attrs.get(e.id)
            if attr is not None:
                return ir.Const(f"self.{attr}")
            local = self.tensor_locals.get(e.id)
            if local is not None and self.in_init:  # a constant __init__ computed before
                return ir.Var(local)
            if local is not None:  # forward reads it after all: a buffer of it, registered
                # right where __init__ computes it (in the same branch of any `if`)
                statements, made = self.local_statements[e.id]
                attr = self.attr_ns.fresh(e.id)
                statements.insert(statements.index(made) + 1,
                                  ir.Buffer(attr, ir.Var(local), e.pos))
                self.tensor_attrs[e.id] = attr
                return ir.Const(f"self.{attr}")
            inline = self.inline_constants.get(e.id)
            if inline is not None and self.in_init:  # written into the buffer that uses it
                return self.fexpr(inline, frame)
            if inline is not None:  # forward reads it after all: a buffer of its own, made
                # at the end of __init__ whatever branch forward reads it in first
                del self.inline_constants[e.id]
                saved = self.init
                self.init = self.late_init
                try:
                    attr = self.hoist_attr(inline, frame, e.id)
                finally:
                    self.init = saved
                if attr is None:
                    raise Unsupported("a constant forward cannot read")
                self.tensor_attrs[e.id] = attr
                return ir.Const(f"self.{attr}")
            if self.in_init:
                if frame.kinds.get(e.id) == "tensor" or e.id in self.input_names:
                    raise Unsupported("a tensor __init__ does not hold")
                return ir.Const(self.sexpr(e))
            return None
        if not self.in_init and isinstance(e, HOISTABLE) and self.is_constant(e):
            hoisted = self.hoist(e, frame, None)
            if hoisted is not None:
                return hoisted
        name = source_name(e)
        if name is not None and frame.sites.get(id(e)):
            assert isinstance(e, n.Call)
            if name == "parameter":
                return ir.Const(f"self.{self.emit_parameter(e, frame)}")
            return self.created_code(e, name, frame)
        return None

    def assign_source(self: ClassLowering, stmt: n.Assign, frame: Frame) -> bool:
        """`cls = parameter(...)` or `mask = ones(n, n) -> tril`: the attribute in __init__
        and, unless forward reads it as self.<attr>, `name = self.<attr>` in forward."""
        assert isinstance(stmt.target, n.Name)
        name = stmt.target.id
        self.tensor_attrs.pop(name, None)
        value = stmt.value.value if isinstance(stmt.value, n.Annotated) else stmt.value
        alias = any(stmt is top for top in self.d.body) and self.bindings(name) == 1
        if source_name(value) == "parameter" and frame.sites.get(id(value)):
            assert isinstance(value, n.Call)
            attr: str | None = self.emit_parameter(value, frame)
        elif self.is_constant(value):
            if self.bindings(name) == 1 and not any(self.feeds_computation(value, f)
                                                    for f in self.current_frames):
                # only other constants use it: a tensor __init__ computes for them, named as
                # the source names it (or, when __init__ cannot compute it, written into them)
                saved, self.in_init = self.in_init, True
                try:
                    code: ir.Expr | None = self.fexpr(value, frame)
                except Unsupported:
                    code = None
                finally:
                    self.in_init = saved
                if code is None and alias:
                    self.inline_constants[name] = value
                    return True
            else:
                code = None
            if code is not None:
                local = self.init_ns.name(name)
                made = ir.TensorLocal(local, code, stmt.pos)
                self.init.append(made)
                self.tensor_locals[name] = local
                self.local_statements[name] = (self.init, made)
                return True
            attr = self.hoist_attr(value, frame, name)
        else:
            return False
        if attr is None:
            return False
        if alias:
            self.tensor_attrs[name] = attr
        else:
            self.fwd.append(ir.Assign(self.fwd_ns.name(name), ir.Const(f"self.{attr}"),
                                      stmt.pos))
        return True

    def bindings(self: ClassLowering, name: str) -> int:
        """How many statements of the definition bind `name`."""
        count = 0
        for stmt in walk_statements(self.d.body):
            if isinstance(stmt, n.Assign):
                stack: list[n.Expr] = [stmt.target]
                while stack:
                    item = stack.pop()
                    if isinstance(item, n.Name):
                        count += item.id == name
                    elif isinstance(item, n.TupleExpr):
                        stack.extend(item.items)
        return count

    # ------------------------------------------------------------ constants

    def is_constant(self: ClassLowering, e: n.Expr) -> bool:
        """Whether e's value is a constant of one tensor in every evaluation of the class."""
        if not isinstance(e, HOISTABLE):
            return False
        for f in self.current_frames:
            nodes = result_nodes(e, f)
            if not nodes or not all(constant(node) and len(node.outputs) == 1
                                    for node in nodes):
                return False
        return True

    def feeds_computation(self: ClassLowering, e: n.Expr, frame: Frame) -> bool:
        """Whether something that is not a constant (or the output) uses e's value in
        this evaluation: then it is a buffer (netdsl/sources.py `buffers` counts the same)."""
        made = {id(node) for node in result_nodes(e, frame) or []}
        for records in frame.sites.values():
            for rec in records:
                if not any(t.producer is not None and id(t.producer) in made
                           for t in rec.node.inputs):
                    continue
                if not constant(rec.node) or len(rec.node.outputs) != 1:
                    return True
        return any(id(t.producer) in made for t in flat_tensors(frame.output))

    def hoist(self: ClassLowering, e: n.Expr, frame: Frame, binding: str | None) -> ir.Expr | None:
        attr = self.hoist_attr(e, frame, binding)
        return ir.Const(f"self.{attr}") if attr is not None else None

    def hoist_attr(self: ClassLowering, e: n.Expr, frame: Frame,
                   binding: str | None) -> str | None:
        """A constant computed in __init__ as a buffer; None when its value cannot be written
        there (it reads a tensor __init__ does not hold), and forward computes it instead."""
        saved, self.in_init = self.in_init, True
        try:
            value = self.fexpr(e, frame)
        except Unsupported:
            return None
        finally:
            self.in_init = saved
        attr = self.attr_ns.fresh(binding or "constant")
        self.init.append(ir.Buffer(attr, value, e.pos))
        return attr

    # ------------------------------------------------------------ parameters

    def emit_parameter(self: ClassLowering, e: n.Call, frame: Frame) -> str:
        attr = self.site_names.get(id(e), "param")
        if id(e) in self.emitted:
            return attr
        self.emitted.add(id(e))
        node = frame.sites[id(e)][0].node
        init = node.meta["init"]
        given = {k.name: k.value for k in e.kwargs}
        shape: list[ir.Expr] = [ir.Const(self.sexpr(a)) for a in sizes_of(e)]

        def number(key: str) -> ir.Expr:
            if key in given:
                return ir.Const(self.sexpr(given[key]))
            return ir.Const(py_literal(dict(init.args)[key]))

        empty = ir.CallFunction("torch.empty", shape)
        value: ir.Expr
        if init.kind == "fill":
            fill = given.get("init")
            if fill is None or (isinstance(fill, n.Number) and fill.value == 0):
                value = ir.CallFunction("torch.zeros", shape)
            elif isinstance(fill, n.Number) and fill.value == 1:
                value = ir.CallFunction("torch.ones", shape)
            else:  # ConvNeXt's layer scale: float whatever the number's type
                value = ir.BinaryOp("*", ir.CallFunction("torch.ones", shape),
                                    ir.Const(self.sexpr(fill)))
        elif init.kind in ("zeros", "ones"):
            value = ir.CallFunction(f"torch.{init.kind}", shape)
        elif init.kind == "normal":
            keywords: list[tuple[str, ir.Expr]] = [(k, number(k)) for k in ("mean", "std")
                                                   if k in given]
            value = ir.CallMethod(empty, "normal_", [], keywords)
        elif init.kind == "trunc_normal":
            keywords = [("std", number("std"))] if "std" in given else []
            value = ir.CallFunction("nn.init.trunc_normal_", [empty], keywords)
        else:  # uniform: Tensor.uniform_(from, to) takes them by position (`from` is a keyword)
            value = ir.CallMethod(empty, "uniform_", [number("a"), number("b")])
        self.init.append(ir.Parameter(attr, value, e.pos))
        return attr

    # ------------------------------------------------------------ created tensors

    def created_code(self: ClassLowering, e: n.Call, name: str, frame: Frame) -> ir.Expr:
        """`torch.arange(T, device=x.device)` in forward, `torch.ones(n, n)` in __init__."""
        if name == "full":
            args = [self.fexpr(a, frame) for a in e.args]
        else:
            args = [self.fexpr(a, frame) for a in sizes_of(e)]
        if name in ("ones", "zeros") and not self.in_init:
            args = [ir.TupleOf(args)]  # torch.fx traces sizes read from an input in a tuple
        keywords: list[tuple[str, ir.Expr]] = []
        for k in e.kwargs:
            if k.name == "dtype":
                dtype = frame.sites[id(e)][0].node.outputs[0].dtype
                keywords.append(("dtype", ir.Const(TORCH_NAMES[dtype])))
            else:
                keywords.append((k.name, self.fexpr(k.value, frame)))
        if not self.in_init and self.d.inputs:
            first = self.input_names[self.d.inputs[0].name]
            keywords.append(("device", ir.Attribute(ir.Var(first), "device")))
        return ir.CallFunction(f"torch.{name}", args, keywords)


def sizes_of(e: n.Call) -> list[n.Expr]:
    """The size arguments: written one by one, or as one tuple (`ones((n, n))`)."""
    if len(e.args) == 1 and isinstance(e.args[0], n.TupleExpr):
        return list(e.args[0].items)
    return list(e.args)


def result_nodes(e: n.Expr, frame: Frame) -> list[Node] | None:
    """The graph nodes that computed e in one evaluation (several in a loop)."""
    if isinstance(e, n.Annotated):
        return result_nodes(e.value, frame)
    site: Any = e.stages[-1] if isinstance(e, n.Pipeline) else e
    records = frame.sites.get(id(site))
    return [rec.node for rec in records] if records else None
