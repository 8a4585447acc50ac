"""Forward expressions: tensors, module calls and the catalogue's tensor functions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import ir
from .. import nodes as n
from ..catalogue import REQUIRED, LayerSpec
from ..check import Frame, SiteRecord
from ..dims import (
    Sym,
)
from ..render import py_literal
from ..values import LayerValue
from .exprs import Unsupported, forward_expr

if TYPE_CHECKING:
    from .classes import ClassLowering



class Forward:
    """Forward expressions: tensors, module calls and the catalogue's tensor functions."""

    def is_tensor_expr(self: ClassLowering, e: n.Expr, frame: Frame) -> bool:
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

    def fexpr(self: ClassLowering, e: n.Expr, frame: Frame, multi: bool = False) -> ir.Expr:
        source = self.source_fexpr(e, frame)  # parameters, created tensors, constants
        if source is not None:
            return source
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

    def unpack(self: ClassLowering, name: str) -> str:
        if name not in self.unpacked:
            self.unpacked[name] = self.fwd_ns.name(name)
        return self.unpacked[name]

    def store(self: ClassLowering, name: str) -> str:
        if name not in self.stored:
            self.stored[name] = self.attr_ns.name(name)
        return self.stored[name]

    def index_code(self: ClassLowering, e: n.Index, frame: Frame) -> ir.Expr:
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

    def call_code(self: ClassLowering, e: n.Call, frame: Frame, multi: bool = False) -> ir.Expr:
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

    def stage_code(self: ClassLowering, stage: n.Stage, inputs: list[ir.Expr], frame: Frame,
                   multi: bool = False) -> ir.Expr:
        name = stage.callee[0]
        if len(stage.callee) == 1 and frame.kinds.get(name) == "layer" and not stage.called:
            return self.apply_value(frame.env.get(name), name, inputs, multi)
        return self.apply_site(stage, inputs, frame, multi)

    def apply_value(self: ClassLowering, value: Any, attr: str, inputs: list[ir.Expr],
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

    def apply_site(self: ClassLowering, site: Any, inputs: list[ir.Expr], frame: Frame,
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

    def functional(self: ClassLowering, spec: LayerSpec, site: Any, inputs: list[ir.Expr],
                   frame: Frame,
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
