"""Constructors and sizes: arguments as expressions of the class's parameters, loops,
specialisation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import ir
from .. import nodes as n
from ..catalogue import REQUIRED, Param
from ..check import Frame, SiteRecord
from ..check.evaluate import COMPILE_TIME_FUNCTIONS
from ..check.scope import _substitute
from ..dims import (
    Opaque,
    Ref,
    SInt,
    Sym,
    normal,
    poly_difference,
    poly_scale_add,
    refs,
    render_expr,
    render_poly,
)
from ..dtypes import DEFAULT_FLOAT, TORCH_NAMES, canonical, is_float
from ..errors import SourceError
from ..render import float_code, py_literal, py_str
from ..values import BlockValue, LayerValue
from .exprs import PRECEDENCE, Unsupported, compile_time_code, operator_code

if TYPE_CHECKING:
    from .classes import ClassLowering

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
    loop: tuple[int, ...] = ()  # the iteration of a written-out loop the record is of


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
                if rec.index != key.index or rec.loop != key.loop:
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
        raise NoValue(key) from None


class SplitByValue(Exception):
    """A block that cannot follow a hyperparameter is used with several values of it: each
    value gets a class of its own."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class NoValue(Exception):
    """A block's size parameter has no value at a use: the layer it sizes is on a branch
    that use does not take (the class then gets None for it, and does not build the layer)."""


def rebound_names(d: n.Definition) -> set[str]:
    """Compile-time names a definition binds more than once (or rebinds a parameter or a
    header dimension as): a size computed from one of them may have been computed from an
    earlier binding, which __init__ no longer holds under that name."""
    from ..check import header_dimensions, walk_statements

    counts: dict[str, int] = {p.name: 1 for p in d.hyperparams}
    for name in header_dimensions(d):
        counts[name] = 1
    for stmt in walk_statements(d.body):
        if isinstance(stmt, n.Assign) and isinstance(stmt.target, n.Name):
            counts[stmt.target.id] = counts.get(stmt.target.id, 0) + 1
    return {name for name, count in counts.items() if count > 1}


class Sizes:
    """Constructors and sizes: arguments as expressions of the class's parameters, loops,
    specialisation."""

    def site_ctor(self: ClassLowering, site: Any, frame: Frame) -> ir.Ctor | None:
        records = self.site_records(frame, site)
        if not records:
            return None
        if len(records) > 1 and all(r.index >= 0 for r in records):
            return self.sequential(site, records, frame)
        if records[0].index >= 0:  # `stage * n` with n = 1
            return self.sequential(site, records, frame)
        return self.ctor(site, records[0], frame)

    def uses_of(self: ClassLowering, site: Any, index: int,
                loop: tuple[int, ...] = ()) -> list[tuple[Frame, SiteRecord]]:
        """The records of one site (repetition, and loop iteration) in every use that
        reached it."""
        out = []
        for frame in self.current_frames:
            for rec in self.site_records(frame, site):
                if rec.index == index and rec.loop == loop:
                    out.append((frame, rec))
                    break
        return out

    def inferred_code(self: ClassLowering, site: Any, rec: SiteRecord, arg: str,
                      pairs: list[tuple[Frame, Any]], inner: Any = None) -> str:
        """One size for every use: an expression if all uses agree on it; a conditional
        expression if an `if` of this class explains the difference; else a parameter."""
        values = [v for _, v in pairs]
        if len({expr_key(v) for v in values}) == 1:  # every use computes it the same way
            key = SiteKey(id(site), rec.index, arg, inner, rec.loop)
            return self.value_code(values[0], arg, key)
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
        return self.size_param(SiteKey(id(site), rec.index, arg, inner, rec.loop), arg)

    def all_ifs(self: ClassLowering) -> list[n.If]:
        from ..check import walk_statements

        return [s for s in walk_statements(self.d.body) if isinstance(s, n.If)]

    def conditional(self: ClassLowering, stmt: n.If, by_branch: dict[int, Any], arg: str, site: Any,
                    rec: SiteRecord, inner: Any) -> str:
        """`a if cond else b` over an `if`'s branches (the branches that reach this size)."""
        order = sorted(by_branch)
        key = SiteKey(id(site), rec.index, arg, inner, rec.loop)
        code = self.value_code(by_branch[order[-1]], arg, key)
        for branch in reversed(order[:-1]):
            cond = self.sexpr(stmt.branches[branch][0], 1)
            code = f"{self.value_code(by_branch[branch], arg, key)} if {cond} else {code}"
        return code

    def ctor(self: ClassLowering, site: Any, rec: SiteRecord, frame: Frame,
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
                pairs = [(f, r.inferred[p.name]) for f, r in self.uses_of(site, rec.index, rec.loop)
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
        dtype = weights_dtype(rec)
        if dtype is not None:  # a half network's layers hold half weights, as check says
            keywords.append(("dtype", dtype))
        return ir.Call(f"nn.{rec.cls}", positional, keywords)

    def block_ctor(self: ClassLowering, site: Any, rec: SiteRecord,
                   override: dict[str, str] | None = None) -> ir.Call:
        bv = rec.value
        assert isinstance(bv, BlockValue) and rec.frame is not None
        callee = self.owner.class_for(rec)
        args = []
        uses = [(f, r) for f, r in self.uses_of(site, rec.index, rec.loop)
                if r.frame is not None] or [
            (self.current_frames[0], rec)]
        for sp in callee.size_params:
            if override is not None and sp.name in override:
                args.append(override[sp.name])
                continue
            pairs = []
            for f, r in uses:
                if r.frame is not None:
                    try:
                        pairs.append((f, caller_value(r.frame, sp.key)))
                    except NoValue:
                        continue
            args.append(self.inferred_code(site, rec, sp.name, pairs, sp.key) if pairs
                        else "None")
        call_args, kwargs = site_args(site)
        if isinstance(site, n.Call) and not bv.definition.hyperparams:
            call_args, kwargs = [], []
        names = [p.name for p in bv.definition.hyperparams]
        args += [self.hyper_arg(callee, names[i] if i < len(names) else "", a, rec.frame)
                 for i, a in enumerate(call_args)]
        keywords = [(callee.hyper_names.get(k.name, k.name),
                     self.hyper_arg(callee, k.name, k.value, rec.frame)) for k in kwargs]
        return ir.Call(callee.class_name, args, keywords)

    def hyper_arg(self: ClassLowering, callee: ClassLowering, name: str, e: n.Expr,
                  child: Frame) -> str:
        """A block hyperparameter's argument. A size known only at run time (`T`) cannot be
        passed to a constructor: None for a hyperparameter the class never reads; one it
        reads is a located error, never code that fails."""
        if not isinstance(child.env.get(name), Sym):
            return self.sexpr(e)
        if not mentions([*callee.init, *callee.fwd], callee.hyper_names.get(name, name)):
            return "None"
        raise SourceError(f"{name} of block {callee.d.name} is given the size "
                          f"{child.env[name]}, known only at run time, but a block's "
                          f"hyperparameters are built into it: netdsl cannot write this use",
                          getattr(e, "pos", None) or callee.d.pos,
                          fix=f"give {callee.d.name}'s input a shape that names it, "
                              f"e.g. x: [B, {child.env[name]}, ...], and use that name")

    def sequential(self: ClassLowering, site: Any, records: list[SiteRecord],
                   frame: Frame) -> ir.Ctor:
        ctor = self._sequential(site, records, frame)
        if len(records[0].node.inputs) > 1:  # copies taking several inputs: forward loops
            assert isinstance(ctor, (ir.Sequential, ir.Repeat))
            ctor.container = "ModuleList"
        return ctor

    def _sequential(self: ClassLowering, site: Any, records: list[SiteRecord],
                    frame: Frame) -> ir.Ctor:
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

    def static_value(self: ClassLowering, e: n.Expr, frame: Frame) -> Any:
        """A compile-time expression's value in one evaluation of the class (the checker
        evaluated it there already, so it does not fail)."""
        try:
            return self.owner.checker.eval(e, frame)
        except SourceError:
            return None

    def loop_index(self: ClassLowering) -> str:
        return self.loop_index_name or self.init_ns.name(LOOP_INDEX)

    def progression(self: ClassLowering, site: Any, records: list[SiteRecord],
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

    def size_values(self: ClassLowering, site: Any, rec: SiteRecord) -> dict[str, Any]:
        """The inferred sizes of one copy, by the name the constructor takes them under."""
        if rec.kind == "block" and rec.frame is not None:
            callee = self.owner.class_for(rec)
            values = {}
            for sp in callee.size_params:
                try:
                    values[sp.name] = caller_value(rec.frame, sp.key)
                except NoValue:
                    continue  # sizes a layer this use does not build
            return values
        return dict(rec.inferred)

    def specialise_count(self: ClassLowering, count_expr: n.Expr, frame: Frame) -> None:
        value = self.static_value(count_expr, frame)
        if isinstance(value, SInt):
            for ref in refs(value.expr):
                self.specialise(ref)

    def specialise(self: ClassLowering, ref: Ref) -> None:
        """A network's hyperparameter (or those a local depends on) is fixed at its value.
        A block's callers pass it, so the block keeps it and refuses, when it is built, a
        value other than the one it was written for (never accepted and ignored)."""
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
                value = int(value) if isinstance(value, SInt) else value
                if not self.is_block:
                    self.specialised[item.name] = value
                    continue
                others = {py_literal(f.env.get(item.name)) for f in self.frames
                          if not f.speculative}
                if len(others) > 1:  # one class per value (see Lowering.lower_definition)
                    raise SplitByValue(item.name)
                self.fixed[item.name] = value

    def bind_ast(self: ClassLowering, sig: tuple[Param, ...], site: Any) -> dict[str, Any]:
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

    def ref_names(self: ClassLowering, names_of: list[Ref]) -> dict[Ref, str]:
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

    def value_code(self: ClassLowering, value: Any, hint: str, key: SiteKey | None) -> str:
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
            return render_expr(expr, names=names)  # a division by a name: as written
        return render_poly(poly, names)

    def axis_name(self: ClassLowering, expr: Any) -> str | None:
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

    def size_param(self: ClassLowering, key: Any, hint: str) -> str:
        if key in self._size_keys:
            return self._size_keys[key]
        name = self.init_ns.name(hint) if isinstance(key, Ref) and key.kind == "dim" else \
            self.init_ns.fresh(hint)
        self._size_keys[key] = name
        self.size_params.append(SizeParam(name, key))
        return name

    def sexpr(self: ClassLowering, e: n.Expr, prec: int = 0) -> str:
        """A compile-time expression as constructor-time Python."""
        if isinstance(e, n.Number):
            text = float_code(e.value) if isinstance(e.value, float) else repr(e.value)
            return f"({text})" if e.value < 0 and prec > PRECEDENCE["unary"] else text
        if isinstance(e, n.String):
            return py_str(e.value)
        if isinstance(e, n.Constant):
            return repr(e.value)
        if isinstance(e, n.Name):
            if e.id in self.loop_consts:  # a written-out loop's variable
                return self.sexpr(n.Number(e.pos, self.loop_consts[e.id]), prec)
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
        if isinstance(e, n.Call) and isinstance(e.func, n.Name) and (
                e.func.id in COMPILE_TIME_FUNCTIONS) and e.func.id != "range" and not e.kwargs:
            return compile_time_code(e.func.id, [self.sexpr(a) for a in e.args],
                                     [self.sexpr(a, PRECEDENCE["**"] + 1) for a in e.args],
                                     prec)
        raise Unsupported(type(e).__name__)


def weights_dtype(rec: SiteRecord) -> str | None:
    """`torch.half` for a layer with weights whose input is half (torch computes a layer
    in its input's dtype only when its weights have it too); None for float32."""
    if rec.node.params == 0 and rec.cls not in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d"):
        return None
    dtypes = {t.tt.dtype for t in rec.node.inputs}
    if len(dtypes) != 1:
        return None
    dtype = canonical(dtypes.pop())
    return TORCH_NAMES[dtype] if is_float(dtype) and dtype != DEFAULT_FLOAT else None


def mentions(stmts: list[Any], name: str) -> bool:
    """Whether code in these IR statements (their strings, at any depth) names `name`."""
    import dataclasses
    import re

    word = re.compile(rf"\b{re.escape(name)}\b")
    stack: list[Any] = list(stmts)
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if word.search(item):
                return True
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif dataclasses.is_dataclass(item):
            stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))
    return False
