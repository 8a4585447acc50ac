"""Forward expressions: tensors, module calls and the catalogue's tensor functions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import ir
from .. import nodes as n
from .. import shapes as s
from ..catalogue import REQUIRED, LayerSpec
from ..check import Frame, SiteRecord
from ..check.evaluate import COMPILE_TIME_FUNCTIONS
from ..dims import (
    Sym,
)
from ..render import py_literal
from ..spelling import Forward as ForwardSpelling
from ..values import LayerValue, PrimaryTuple
from .exprs import PLANNERS, Unsupported, chain_expr, forward_expr

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
        if isinstance(e, n.Compare):  # mask == 0: a comparison of tensors is a bool tensor
            return any(self.is_tensor_expr(i, frame) for i in (e.left, *e.comparators))
        if isinstance(e, n.TupleExpr):
            return any(self.is_tensor_expr(i, frame) for i in e.items)
        return False

    def fexpr(self: ClassLowering, e: n.Expr, frame: Frame, multi: bool = False) -> ir.Expr:
        source = self.source_fexpr(e, frame)  # parameters, created tensors, constants
        if source is not None:
            return source
        if isinstance(e, n.Name):
            kind = frame.kinds.get(e.id)
            if e.id in self.loop_consts and kind != "tensor":  # a written-out loop's variable
                return ir.Const(self.sexpr(e))
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
        if isinstance(e, n.Compare) and len(e.ops) == 1 and self.is_tensor_expr(e, frame):
            return ir.BinaryOp(e.ops[0], self.fexpr(e.left, frame),
                               self.fexpr(e.comparators[0], frame))
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
        if isinstance(e, n.Call) and isinstance(e.func, n.Name) and (
                e.func.id in COMPILE_TIME_FUNCTIONS) and e.func.id not in frame.env:
            return self.compile_time_forward(e.func.id, [self.fexpr(a, frame) for a in e.args])
        if isinstance(e, n.Call):
            return self.call_code(e, frame, multi)
        if isinstance(e, n.Index):
            return self.index_code(e, frame)
        raise Unsupported(type(e).__name__)

    @staticmethod
    def compile_time_forward(name: str, args: list[ir.Expr]) -> ir.Expr:
        """`1 / sqrt(hs)` inside a tensor expression: the same Python the constructor would
        write (netdsl/lower/exprs.py, compile_time_code), with forward's names."""
        if name == "sqrt":
            return ir.BinaryOp("**", args[0], ir.Const("0.5"))
        if name == "ceil":
            inner = ir.BinaryOp("//", ir.UnaryOp("-", args[0]), ir.Const("1"))
            return ir.CallFunction("int", [ir.UnaryOp("-", inner)])
        if name == "floor":
            return ir.CallFunction("int", [ir.BinaryOp("//", args[0], ir.Const("1"))])
        return ir.CallFunction(name, args)

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
        narrowed = self.narrowed(base, e, frame)
        if narrowed is not None:
            return narrowed
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

    def narrowed(self: ClassLowering, base: ir.Expr, e: n.Index,
                 frame: Frame) -> ir.Expr | None:
        """`self.mask[:T, :T]` as `self.mask.narrow(0, 0, T).narrow(1, 0, T)`: torch.fx
        cannot slice a module's own tensor (a buffer or parameter, not traced) by a size read
        from an input at run time, but it traces narrow. None: index as written."""
        if not (isinstance(base, ir.Const) and base.code.startswith("self.")):
            return None
        for i in e.items:  # slices `:`, `:stop` and `start:stop` only, in steps of 1
            if not isinstance(i, n.Slice) or i.step is not None or (
                    i.lower is not None and i.upper is None):
                return None
        bounds = [self.owner.checker.eval(b, frame) for i in e.items
                  if isinstance(i, n.Slice) for b in (i.lower, i.upper) if b is not None]
        if not any(isinstance(b, Sym) for b in bounds) or any(
                isinstance(b, int) and not isinstance(b, Sym) and b < 0 for b in bounds):
            return None  # nothing read at run time, or counted from the end
        code: ir.Expr = base
        for axis, item in enumerate(e.items):
            assert isinstance(item, n.Slice)
            if item.upper is None:
                continue  # `:` keeps the dimension
            upper = self.fexpr(item.upper, frame)
            start = self.fexpr(item.lower, frame) if item.lower is not None else ir.Const("0")
            length = upper if item.lower is None else ir.BinaryOp("-", upper, start)
            code = ir.CallMethod(code, "narrow", [ir.Const(str(axis)), start, length])
        return code

    def call_code(self: ClassLowering, e: n.Call, frame: Frame, multi: bool = False) -> ir.Expr:
        """`conv(16, 3)(x)`, `enc(x)`, `Up(512)(a, b)`, `InceptionA(x)`."""
        inputs = [self.fexpr(a, frame) for a in e.args]
        if frame.sites.get(id(e)):  # a single-list block applied in its one call
            return self.apply_site(e, inputs, frame, multi)
        func = e.func
        if isinstance(func, n.Call):
            return self.apply_site(func, inputs, frame, multi)
        if isinstance(func, n.Name) and frame.kinds.get(func.id) == "layer":
            return self.apply_value(frame.env.get(func.id), self.loop_layers.get(func.id, func.id),
                                    inputs, frame, multi)
        raise Unsupported("call")

    def stage_code(self: ClassLowering, stage: n.Stage, inputs: list[ir.Expr], frame: Frame,
                   multi: bool = False) -> ir.Expr:
        name = stage.callee[0]
        if len(stage.callee) == 1 and frame.kinds.get(name) == "layer" and not stage.called:
            if stage.repeat is not None and len(inputs) > 1:  # `(t, memory) -> layer * n`:
                return self.threaded(self.loop_layers.get(name, name), inputs)  # its copies
            return self.apply_value(frame.env.get(name), self.loop_layers.get(name, name), inputs,
                                    frame, multi)
        return self.apply_site(stage, inputs, frame, multi)

    def apply_value(self: ClassLowering, value: Any, attr: str, inputs: list[ir.Expr],
                    frame: Frame, multi: bool) -> ir.Expr:
        if isinstance(value, LayerValue) and value.spec is not None:
            site = value.site if value.torch_cls is None else None  # nn.X(...): no flags
            return self.module_call(value.spec, attr, inputs, site, frame, multi)
        return ir.CallModule(attr, inputs)

    def module_call(self: ClassLowering, spec: LayerSpec, attr: str, inputs: list[ir.Expr],
                    site: Any, frame: Frame, multi: bool) -> ir.Expr:
        """`self.attn(x, x, x, key_padding_mask=mask, need_weights=False)`: the inputs, then
        the forward arguments the layer's spelling passes (written where it was configured)."""
        args, defaulted = self.spelled_args(spec, site, frame)
        call = forward_expr(spec.forward, inputs, args, defaulted, attribute=attr)
        assert isinstance(call, ir.CallModule)
        call.first = spec.primary and not multi
        return call

    def apply_site(self: ClassLowering, site: Any, inputs: list[ir.Expr], frame: Frame,
                   multi: bool) -> ir.Expr:
        records = self.site_records(frame, site)
        if not records:
            raise Unsupported("a site with no record")
        rec = records[0]
        attr = self.site_names.get(id(site), "layer")
        if id(site) in self.loop_vars:  # a generic loop's layer: `for conv in self.conv:`
            return ir.CallFunction(self.loop_vars[id(site)], inputs)
        lv = rec.value
        if isinstance(lv, LayerValue) and lv.spec is not None and lv.spec.dynamic and any(
                isinstance(v, Sym) or (isinstance(v, tuple) and any(isinstance(i, Sym)
                                                                    for i in v))
                for v in lv.args.values()):  # sizes known at run time: no module can hold them
            return self.functional(lv.spec, site, inputs, frame, rec, lv.spec.dynamic)
        if self.loop_path and rec.loop and (rec.kind == "block" or rec.value.spec is None
                                            or rec.value.spec.module):  # type: ignore[union-attr]
            attr = self.unrolled_call(site, frame, attr)  # a written-out loop's layer
        elif id(site) not in self.emitted:
            self.emitted.add(id(site))
            ctor = self.site_ctor(site, frame)
            if isinstance(ctor, (ir.Sequential, ir.Repeat)) and passes_first(rec):
                ctor.container = "ModuleList"  # no nn.Sequential: it would pass tuples on
            if ctor is not None:
                self.init.append(ir.Submodule(attr, ctor, getattr(site, "pos", None)))
        if rec.kind == "block":
            if rec.index >= 0 and len(inputs) > 1:
                return self.threaded(attr, inputs)
            if passes_first(rec):
                return self.copies_passing_first(attr, inputs, len(records), multi)
            # a block whose output is a multi-output layer's (`x -> multihead_attention(4)`):
            # a pipeline passes on the first, as the checker does
            first = not multi and rec.frame is not None and isinstance(rec.frame.output,
                                                                       PrimaryTuple)
            return ir.CallModule(attr, inputs, first=first)
        lv = rec.value
        assert isinstance(lv, LayerValue)
        spec = lv.spec
        if rec.index >= 0 and len(inputs) > 1:
            return self.threaded(attr, inputs)
        if spec is None or rec.index >= 0:
            return ir.CallModule(attr, inputs)
        if spec.module:
            call = self.module_call(spec, attr, inputs, site if lv.torch_cls is None else None,
                                    frame, multi)  # nn.X(...) takes no forward flags
            if len(rec.node.outputs) > 1 and not multi and isinstance(call, ir.CallModule):
                call.first = True  # maxpool(return_indices=true): a pipeline takes the values
            return call
        return self.functional(spec, site, inputs, frame, rec)

    def copies_passing_first(self: ClassLowering, attr: str, inputs: list[ir.Expr],
                             copies: int, multi: bool) -> ir.Expr:
        """`x -> Block * 2` where the block ends in a multi-output layer: each copy passes
        its first output to the next (as check does), written out by index."""
        var = self.fwd_ns.fresh("h")
        current = inputs
        for k in range(copies - 1):
            self.fwd.append(ir.Assign((var, "_"), ir.CallModule(f"{attr}[{k}]", current)))
            current = [ir.Var(var)]
        return ir.CallModule(f"{attr}[{copies - 1}]", current, first=not multi)

    def threaded(self: ClassLowering, attr: str, inputs: list[ir.Expr]) -> ir.Expr:
        """`(x, mask) -> Block * n`: the copies (a ModuleList) in a loop, the first input
        threaded through them and the others passed to each."""
        var = self.fwd_ns.fresh("h")
        layer = self.fwd_ns.fresh("layer")
        self.fwd.append(ir.Assign(var, inputs[0]))
        self.fwd.append(ir.For(layer, ir.Const(f"self.{attr}"),
                               [ir.Assign(var, ir.CallFunction(layer, [ir.Var(var),
                                                                       *inputs[1:]]))]))
        return ir.Var(var)

    def functional(self: ClassLowering, spec: LayerSpec, site: Any, inputs: list[ir.Expr],
                   frame: Frame, rec: SiteRecord,
                   spelling: ForwardSpelling | None = None) -> ir.Expr:
        """A tensor function (cat, reshape, mean, ...), spelled as its catalogue entry says."""
        spelling = spelling or spec.forward
        if spec.forward.kind == "helper":  # pad_to_match: a helper written for the rank
            rank = rec.node.inputs[0].tt.rank if rec.node.inputs else 4
            helper = f"{spec.forward.name}{rank - 2}d"
            self.owner.need_helper(helper)
            return ir.CallFunction(helper, inputs)
        if spec.forward.kind == "chain":
            return self.chain(spec, site, inputs, frame, rec)
        args, defaulted = self.spelled_args(spec, site, frame, spelling)
        if "keepdim" in args and "keepdim" not in defaulted:
            defaulted.discard("dim")  # x.mean(keepdim=True) is refused: dim=None goes with it
        return forward_expr(spelling, inputs, args, defaulted)

    def spelled_args(self: ClassLowering, spec: LayerSpec, site: Any, frame: Frame,
                     spelling: ForwardSpelling | None = None
                     ) -> tuple[dict[str, Any], set[str]]:
        """The forward code of each argument the layer's spelling passes (the entry's own,
        or `spelling`), and those left at netdsl's default."""
        spelling = spelling or spec.forward
        given = self.bind_ast(spec.signature, site) if spelling.args else {}
        spelled = {arg.name for arg in spelling.args}
        args: dict[str, Any] = {}
        defaulted: set[str] = set()
        for p in spec.signature:
            if p.name not in spelled or p.var_keyword:
                continue
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
        return args, defaulted

    def chain(self: ClassLowering, spec: LayerSpec, site: Any, inputs: list[ir.Expr],
              frame: Frame, rec: SiteRecord) -> ir.Expr:
        """Tensor methods one after another, as the entry's planner lays them out for the
        checked input (rearrange); a size in them is the keyword argument that gave it, as
        the source wrote it, so a hyperparameter stays one."""
        given = self.bind_ast(spec.signature, site)
        planner = PLANNERS[spec.forward.name]
        calls = []
        for _, use in self.uses_of(site, rec.index, rec.loop) or [(frame, rec)]:
            for ref in getattr(use.value, "flag_refs", ()):  # a pattern from a hyperparameter
                self.specialise(ref)  # decides the methods: the class is made for its value
            node = use.node
            calls.append(s.Call(spec.name, dict(node.meta["args"]), [t.tt for t in node.inputs],
                                use.value.given))
        plans = [planner(call) for call in calls]
        if any(p != plans[0] for p in plans):  # uses of a block at several ranks
            plans = [planner(call, every_rank=True) for call in calls]
        if any(p != plans[0] for p in plans):
            raise Unsupported(f"{spec.name} would be written differently at two uses")
        return chain_expr(plans[0], inputs[0], lambda axis: self.fexpr(given[axis], frame))


def passes_first(rec: SiteRecord) -> bool:
    """A repeated block whose output is a multi-output layer's: each copy passes its first
    output on (see Forward.copies_passing_first)."""
    return rec.kind == "block" and rec.index >= 0 and rec.frame is not None and \
        isinstance(rec.frame.output, PrimaryTuple)
