"""The PyTorch backend: one nn.Module class per network and per block.

It walks each definition's syntax tree once, writing ``__init__`` and ``forward``
side by side, and reads from the checker's frames what each site built: the torch
class, and the sizes it inferred as expressions in the class's own terms
(:class:`~netdsl.dims.SInt`). Blocks stay generic: a size a block's layers need
becomes a constructor parameter, named after the header's dimension variable or
after PyTorch's argument (``in_channels``), and each caller passes the value the
checker inferred, written in the caller's terms. Only validated names and
``repr``-written literals from the source reach the output.
"""

from __future__ import annotations

import hashlib
import linecache
import re
import types
from dataclasses import dataclass, field
from typing import Any

from .. import nodes as n
from ..catalogue import LAYERS, MODULE_ATTRIBUTES, REQUIRED, TORCH_CLASSES, LayerSpec, Param
from ..checker import Frame, SiteRecord, _substitute, snake
from ..dims import OPAQUE, Op, Ref, SInt, Sym, refs
from ..program import Program
from ..render import py_literal, py_str
from ..values import BlockValue, LayerValue
from .writer import Namespace, Writer, split_args

RESERVED = frozenset({"self", "torch", "nn", "F", "super", "pad_to_match"})
PRECEDENCE = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "//": 6,
              "%": 6, "@": 6, "unary": 7}

PAD_TO_MATCH = '''\
def pad_to_match(x, like):
    """Pad x's spatial dimensions to like's, split evenly on each side (U-Net's Up)."""
    pad = []
    for axis in range(x.dim() - 1, 1, -1):
        diff = like.size(axis) - x.size(axis)
        pad += [diff // 2, diff - diff // 2]
    return F.pad(x, pad)
'''


class Unsupported(Exception):
    """An expression that has no static (constructor-time) translation."""


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


@dataclass
class Generated:
    source: str
    line_map: list[tuple[int, Any]] = field(default_factory=list)


def generate(program: Program) -> str:
    return Generator(program).run().source


def generate_with_map(program: Program) -> Generated:
    return Generator(program).run()


TORCH_MISSING = "netdsl.build needs PyTorch, which is not installed: pip install netdsl[torch]"


def require_torch() -> None:
    """PyTorch is an extra (`netdsl[torch]`): checking, compiling and drawing never need it,
    so a missing torch is said plainly where it is needed rather than as the generated
    code's failed import. Only torch itself missing is translated; a torch that fails to
    import for another reason raises as it is."""
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        raise ModuleNotFoundError(TORCH_MISSING, name="torch") from None


def load_class(program: Program, name: str) -> type:
    """Compile the generated module in memory and return one of its classes."""
    require_torch()
    generated = generate_with_map(program)
    digest = hashlib.sha1(generated.source.encode()).hexdigest()[:12]
    filename = f"<netdsl:{program.file}:{digest}>"
    linecache.cache[filename] = (len(generated.source), None,
                                 generated.source.splitlines(True), filename)
    module = types.ModuleType(f"netdsl_generated_{digest}")
    module.__file__ = filename
    exec(compile(generated.source, filename, "exec"), module.__dict__)
    try:
        cls = module.__dict__[name]
    except KeyError:
        known = ", ".join(d.definition.name for d in program.networks)
        raise KeyError(f"{name!r} is not a network of {program.file} (networks: {known})") \
            from None
    return cls  # type: ignore[no-any-return]


# ---------------------------------------------------------------- the module


class Generator:
    def __init__(self, program: Program) -> None:
        self.program = program
        assert program.checker is not None
        self.checker = program.checker
        self.classes: dict[str, ClassGen] = {}
        self.needs_f = False
        self.needs_pad_to_match = False

    def explore(self, stmt: n.If, branch: int, owner: str) -> list[Frame]:
        """Frames of `owner` in which `stmt` takes `branch` (see Checker.explore); only those
        whose blocks all have classes, so the branch's code can be written."""
        for net in self.program.networks:
            frames = [f for f in self.checker.explore(net, stmt, branch)
                      if f.definition.name == owner]
            if frames and all(rec.value.definition.name in self.classes  # type: ignore[union-attr]
                              for f in frames for recs in f.sites.values() for rec in recs
                              if rec.kind == "block"):
                return frames
        return []

    def order(self) -> list[n.Definition]:
        """Blocks before their users (depth first), then the networks in source order."""
        done: list[str] = []

        def visit(name: str) -> None:
            if name in done:
                return
            for frame in self.program.uses.get(name, []):
                for records in frame.sites.values():
                    for rec in records:
                        if rec.kind == "block" and isinstance(rec.value, BlockValue):
                            visit(rec.value.definition.name)
            done.append(name)

        for net in self.program.networks:
            visit(net.definition.name)
        return [self.program.definitions[name] for name in done]

    def run(self) -> Generated:
        bodies: list[Writer] = []
        for d in self.order():
            frames = self.program.uses.get(d.name, [])
            if not frames:
                continue
            gen = ClassGen(self, d, frames)
            self.classes[d.name] = gen
            bodies.append(gen.build())
        out = Writer()
        source = display_name(self.program.file)
        out.writeline(f"# Generated by netdsl from {source}: edit that file, not this one.")
        body_text = "\n".join(line for body in bodies for line in body.lines)
        if "torch." in body_text or self.needs_pad_to_match:
            out.writeline("import torch")
        if self.needs_f:
            out.writeline("import torch.nn.functional as F")
        out.writeline("from torch import nn")
        if self.needs_pad_to_match:
            out.blank(2)
            for line in PAD_TO_MATCH.rstrip("\n").split("\n"):
                out.lines.append(line)
        for body in bodies:
            out.blank(2)
            out.extend(body)
        return Generated(out.text(), out.line_map)


# ---------------------------------------------------------------- one class


class ClassGen:
    def __init__(self, gen: Generator, d: n.Definition, frames: list[Frame]) -> None:
        self.gen = gen
        self.d = d
        self.frames = frames
        self.is_block = d.kind == "block"
        self.site_names = gen.checker.site_names(d)
        self.init_ns = Namespace(RESERVED)
        self.fwd_ns = Namespace(RESERVED)
        self.attr_ns = Namespace(MODULE_ATTRIBUTES | set(self.site_names.values()))
        self.size_params: list[SizeParam] = []
        self._size_keys: dict[Any, str] = {}
        self.stored: dict[str, str] = {}  # static name used in forward -> its attribute
        self.unpacked: dict[str, str] = {}  # dimension used in forward -> its local variable
        self.header_dims: dict[str, tuple[str, int]] = {}
        for p in d.inputs:
            if p.type is not None:
                for axis, dim in enumerate(p.type.shape.dims):
                    if isinstance(dim, n.Name):
                        self.header_dims.setdefault(dim.id, (p.name, axis))
        self.hyper_names = {p.name: self.init_ns.name(p.name) for p in d.hyperparams}
        self.input_names = {p.name: self.fwd_ns.name(p.name) for p in d.inputs}
        self.init = Writer()
        self.fwd = Writer()
        self.result_var: str | None = None
        self.emitted: set[int] = set()
        self.current_frames: list[Frame] = frames
        self.explored_ifs: list[n.If] = []

    # ------------------------------------------------------------ assembling

    def build(self) -> Writer:
        self.init.indent()
        self.init.indent()
        self.fwd.indent()
        self.fwd.indent()
        self.body(self.d.body, self.frames, top=True)
        for name, attr in self.stored.items():
            self.init.writeline(f"self.{attr} = {self.init_ns.name(name)}")
        out = Writer()
        out.writeline(f"class {self.d.name}(nn.Module):", self.d.pos)
        out.indent()
        for line in self.docstring():
            out.lines.append(("    " + line) if line else "")
        out.blank()
        out.writeline(f"def __init__({', '.join(self.init_params())}):")
        out.indent()
        out.writeline("super().__init__()")
        out.outdent()
        for number, pos in self.init.line_map:
            out.line_map.append((number + len(out.lines), pos))
        out.lines.extend(self.defaults_lines())
        out.lines.extend(self.init.lines)
        out.blank()
        params = ["self"] + [self.input_names[p.name] for p in self.d.inputs]
        out.writeline(f"def forward({', '.join(params)}):")
        out.indent()
        for name, var in self.unpacked.items():
            source, axis = self.dim_source(name)
            out.writeline(f"{var} = {source}.size({axis})")
        out.outdent()
        offset = len(out.lines)
        for number, pos in self.fwd.line_map:
            out.line_map.append((number + offset, pos))
        out.lines.extend(self.fwd.lines)
        return out

    def init_params(self) -> list[str]:
        params = ["self"] + [sp.name for sp in self.size_params]
        required = [p for p in self.d.hyperparams if p.default is None]
        optional = [p for p in self.d.hyperparams if p.default is not None]
        params += [self.hyper_names[p.name] for p in required]
        for p in optional:
            literal = self.literal_default(p.default)
            default = literal if literal is not None else "None"
            params.append(f"{self.hyper_names[p.name]}={default}")
        return params

    def literal_default(self, e: n.Expr | None) -> str | None:
        if isinstance(e, (n.Number, n.String, n.Constant)):
            return self.sexpr(e)
        if isinstance(e, n.TupleExpr) and all(isinstance(i, (n.Number, n.String, n.Constant))
                                              for i in e.items):
            return self.sexpr(e)
        return None

    def defaults_lines(self) -> list[str]:
        """`mid_channels=out_channels` in the source: None in the signature, then filled in."""
        lines = []
        for p in self.d.hyperparams:
            if p.default is not None and self.literal_default(p.default) is None:
                name = self.hyper_names[p.name]
                lines.append(f"        if {name} is None:")
                lines.append(f"            {name} = {self.sexpr(p.default)}")
        return lines

    def docstring(self) -> list[str]:
        """Input and output shapes: the network's own, or a block's at each of its uses."""
        frame = self.frames[0]
        if not self.is_block:
            net = self.gen.program.network(self.d.name)
            lines = [f'"""{self.d.name}: {net.params:,} parameters.', ""]
            for p, t in zip(self.d.inputs, frame.inputs, strict=False):
                lines.append(f"Input {p.name}: {t.tt}")
            outputs = [t.tt for t in _flat(frame.output)]
            for i, tt in enumerate(outputs, 1):
                lines.append(f"Output {i}: {tt}" if len(outputs) > 1 else f"Output: {tt}")
            return lines + ['"""']
        source = display_name(self.gen.program.file)
        lines = [f'"""Block {self.d.name}, as used in {source}:', ""]
        seen: list[str] = []
        for use in self.frames:
            ins = ", ".join(f"{p.name}: {t.tt}" for p, t in zip(self.d.inputs, use.inputs,
                                                               strict=False))
            outs = ", ".join(str(t.tt) for t in _flat(use.output))
            text = f"{ins} -> {outs}"
            if len(text) > 80:
                text = f"{ins}\n    -> {outs}"
            if text not in seen:
                seen.append(text)
        for text in seen[:6]:
            lines.extend(text.split("\n"))
        if len(seen) > 6:
            lines.append(f"... and {len(seen) - 6} more")
        return lines + ['"""']

    def dim_source(self, name: str) -> tuple[str, int]:
        input_name, axis = self.header_dims[name]
        return self.input_names[input_name], axis

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
                self.fwd.writeline(f"return {self.fexpr(stmt.value, frames[0])}", stmt.pos)
                break  # what follows never runs (the checker warned about it)

    def if_stmt(self, stmt: n.If, frames: list[Frame], final: bool) -> list[Frame]:
        """Writes the `if` into __init__ and forward; returns the explored frames it used."""
        count = len(stmt.branches) + 1
        groups = [[f for f in frames if f.branches.get(id(stmt)) == i] for i in range(count)]
        real = [i for i in range(count) if groups[i]]
        explored: list[Frame] = []
        if real and not any(f.speculative for f in frames):
            # branches no use takes: explored so the class keeps the whole `if`
            for i in range(count):
                if not groups[i] and (i < len(stmt.branches) or stmt.orelse):
                    groups[i] = self.gen.explore(stmt, i, self.d.name)
                    explored += groups[i]
        if explored:
            self.explored_ifs.append(stmt)
        taken = [i for i in range(count) if groups[i]]
        bodies = [b for _, b in stmt.branches] + [stmt.orelse or []]
        if len(taken) <= 1:
            if taken:
                self.body(bodies[taken[0]], groups[taken[0]])
            return explored
        # several uses take different branches: the same choice in __init__ and forward
        init_parts: list[tuple[str, Writer]] = []
        fwd_parts: list[tuple[str, Writer]] = []
        saved = (self.init, self.fwd)
        for k, i in enumerate(taken):
            if i < len(stmt.branches):
                cond = stmt.branches[i][0]
                keyword_ = "if" if k == 0 else "elif"
                init_head = f"{keyword_} {self.sexpr(cond)}:"
                fwd_head = f"{keyword_} {self.fexpr(cond, groups[i][0])}:"
            else:
                init_head = fwd_head = "else:"
            self.init, self.fwd = Writer(), Writer()
            self.init.level, self.fwd.level = saved[0].level + 1, saved[1].level + 1
            self.body(bodies[i], groups[i])
            init_parts.append((init_head, self.init))
            fwd_parts.append((fwd_head, self.fwd))
        self.init, self.fwd = saved
        for target, parts in ((self.init, init_parts), (self.fwd, fwd_parts)):
            while parts and not parts[-1][1].lines and len(parts) > 1:
                parts = parts[:-1]  # an empty trailing branch says nothing
            if not any(w.lines for _, w in parts):
                continue
            if len(parts) == 2 and not parts[0][1].lines and parts[1][0] == "else:":
                cond = stmt.branches[taken[0]][0]
                negated = n.UnaryOp(cond.pos, "not", cond)
                head = self.sexpr(negated) if target is self.init else self.fexpr(
                    negated, groups[taken[0]][0])
                parts = [(f"if {head}:", parts[1][1])]
            for head, w in parts:
                target.writeline(head)
                if w.lines:
                    offset = len(target.lines)
                    target.line_map.extend((num + offset, pos) for num, pos in w.line_map)
                    target.lines.extend(w.lines)
                else:
                    target.indent()
                    target.writeline("pass")
                    target.outdent()
        return explored

    def assign(self, stmt: n.Assign, frame: Frame) -> None:
        target, value = stmt.target, stmt.value
        if isinstance(target, n.Name):
            kind = frame.kinds.get(target.id)
            if kind == "layer" and isinstance(value, n.BinOp):  # `twice = linear(4) * 2`
                value = value.left if isinstance(value.left, n.Call) else value.right
            if kind == "layer" and isinstance(value, n.Call):
                code = self.site_ctor(value, frame)
                if code is not None:
                    attr = target.id
                    self.init.writeline(f"self.{attr} = {code}", stmt.pos)
                return
            if kind in ("local", "hyper", "dim") and not self.is_tensor_expr(value, frame):
                try:
                    code = self.sexpr(value)
                except Unsupported:
                    code = py_literal(frame.env.get(target.id))
                self.init.writeline(f"{self.init_ns.name(target.id)} = {code}", stmt.pos)
                return
            var = self.fwd_ns.name(target.id)
            self.emit_value(value, frame, var, stmt.pos)
            return
        # destructuring: y, (h, c) = x -> lstm(256)
        pattern = self.target_code(target)
        first = self.first_name(target)
        if isinstance(value, n.Pipeline) and len(value.stages) > 1:
            self.emit_pipeline(value, frame, first, stmt.pos, keep_last=True)
            code = self.stage_code(value.stages[-1], [first], frame)[0]
        else:
            code = self.fexpr(value, frame, multi=True)
        self.fwd.writeline(f"{pattern} = {code}", stmt.pos)

    def target_code(self, target: n.Expr) -> str:
        if isinstance(target, n.Name):
            return self.fwd_ns.name(target.id)
        assert isinstance(target, n.TupleExpr)
        inner = ", ".join(self.target_code(t) for t in target.items)
        return f"({inner})" if len(target.items) != 1 else f"({inner},)"

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
            self.fwd.writeline(f"return {self.fexpr(value, frame)}", stmt.pos)
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
                code = self.stage_code(value.stages[-1], [var] if len(value.stages) > 1
                                       else self.head_inputs(value.head, frame), frame,
                                       multi=True)[0]
                self.fwd.writeline(f"return {code}", stmt.pos)
                return
            self.emit_value(value, frame, var, stmt.pos, multi=True)
            if top:
                self.fwd.writeline(f"return {var}")
            return
        self.emit_value(value, frame, self.fwd_ns.fresh("unused"), stmt.pos)

    def emit_value(self, value: n.Expr, frame: Frame, var: str, pos: Any,
                   multi: bool = False) -> None:
        if isinstance(value, n.Pipeline):
            self.emit_pipeline(value, frame, var, pos, multi=multi)
        elif isinstance(value, n.Annotated):
            self.emit_value(value.value, frame, var, pos, multi)
        else:
            self.fwd.writeline(f"{var} = {self.fexpr(value, frame, multi=multi)}", pos)

    def emit_pipeline(self, pipe: n.Pipeline, frame: Frame, var: str, pos: Any,
                      keep_last: bool = False, multi: bool = False) -> None:
        """`var = stage(head)` then `var = stage(var)` ... one line per stage."""
        inputs = self.head_inputs(pipe.head, frame)
        stages = pipe.stages[:-1] if keep_last else pipe.stages
        for i, stage in enumerate(stages):
            is_last = i == len(pipe.stages) - 1
            code, primary = self.stage_code(stage, inputs, frame, multi=multi and is_last)
            if primary:
                self.fwd.writeline(f"{var}, _ = {code}", stage.pos)
            else:
                self.fwd.writeline(f"{var} = {code}", stage.pos)
            inputs = [var]

    def head_inputs(self, head: n.Expr, frame: Frame) -> list[str]:
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
        if isinstance(e, (n.BinOp,)):
            return self.is_tensor_expr(e.left, frame) or self.is_tensor_expr(e.right, frame)
        if isinstance(e, n.UnaryOp):
            return self.is_tensor_expr(e.operand, frame)
        if isinstance(e, n.TupleExpr):
            return any(self.is_tensor_expr(i, frame) for i in e.items)
        return False

    def fexpr(self, e: n.Expr, frame: Frame, prec: int = 0, multi: bool = False) -> str:
        if isinstance(e, n.Name):
            kind = frame.kinds.get(e.id)
            if kind == "tensor" or e.id in self.input_names:
                return self.fwd_ns.name(e.id)
            if kind == "dim" or (e.id in self.header_dims and kind != "local"):
                value = frame.env.get(e.id)
                if isinstance(value, Sym) or self.is_block or e.id in self.header_dims:
                    return self.unpack(e.id)
                return py_literal(value)
            if kind in ("hyper", "local"):
                return "self." + self.store(e.id)
            return py_literal(frame.env.get(e.id))
        if isinstance(e, (n.Number, n.String, n.Constant)):
            return self.sexpr(e)
        if isinstance(e, n.Annotated):
            return self.fexpr(e.value, frame, prec, multi)
        if isinstance(e, _OPERATORS):
            return operator_code(e, prec, lambda sub, p: self.fexpr(sub, frame, p))
        if isinstance(e, n.Pipeline):
            inputs = self.head_inputs(e.head, frame)
            code = ""
            for i, stage in enumerate(e.stages):
                last = i == len(e.stages) - 1
                code, primary = self.stage_code(stage, inputs, frame, multi=multi and last)
                if primary:
                    code = f"{code}[0]"
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

    def index_code(self, e: n.Index, frame: Frame) -> str:
        base = self.fexpr(e.value, frame, PRECEDENCE["unary"] + 1)
        parts = []
        for item in e.items:
            if isinstance(item, n.Slice):
                bounds = [self.fexpr(b, frame) if b is not None else "" for b in
                          (item.lower, item.upper, item.step)]
                text = f"{bounds[0]}:{bounds[1]}" + (f":{bounds[2]}" if bounds[2] else "")
                parts.append(text)
            elif isinstance(item, n.EllipsisExpr):
                parts.append("...")
            else:
                parts.append(self.fexpr(item, frame))
        return f"{base}[{', '.join(parts)}]"

    def call_code(self, e: n.Call, frame: Frame, multi: bool = False) -> str:
        """`conv(16, 3)(x)`, `enc(x)`, `Up(512)(a, b)`, `InceptionA(x)`."""
        inputs = [self.fexpr(a, frame) for a in e.args]
        if frame.sites.get(id(e)):  # a single-list block applied in its one call
            code, primary = self.apply_site(e, inputs, frame, multi)
            return f"{code}[0]" if primary else code
        func = e.func
        if isinstance(func, n.Call):
            code, primary = self.apply_site(func, inputs, frame, multi)
            return f"{code}[0]" if primary else code
        if isinstance(func, n.Name) and frame.kinds.get(func.id) == "layer":
            value = frame.env.get(func.id)
            code, primary = self.apply_value(value, func.id, inputs, multi)
            return f"{code}[0]" if primary else code
        raise Unsupported("call")

    def stage_code(self, stage: n.Stage, inputs: list[str], frame: Frame,
                   multi: bool = False) -> tuple[str, bool]:
        name = stage.callee[0]
        if len(stage.callee) == 1 and frame.kinds.get(name) == "layer" and not stage.called:
            value = frame.env.get(name)
            return self.apply_value(value, name, inputs, multi)
        return self.apply_site(stage, inputs, frame, multi)

    def apply_value(self, value: Any, attr: str, inputs: list[str],
                    multi: bool) -> tuple[str, bool]:
        if isinstance(value, LayerValue) and value.spec is not None:
            return self.module_call(value.spec, attr, inputs, multi)
        return f"self.{attr}({', '.join(inputs)})", False

    def module_call(self, spec: LayerSpec, attr: str, inputs: list[str],
                    multi: bool) -> tuple[str, bool]:
        args = list(inputs)
        if spec.name == "multihead_attention" and len(args) == 1:
            args = args * 3
        code = f"self.{attr}({', '.join(args)})"
        return code, spec.primary and not multi

    def apply_site(self, site: Any, inputs: list[str], frame: Frame,
                   multi: bool) -> tuple[str, bool]:
        records = frame.sites.get(id(site))
        if not records:
            raise Unsupported("a site with no record")
        rec = records[0]
        attr = self.site_names.get(id(site), "layer")
        if id(site) not in self.emitted:
            self.emitted.add(id(site))
            code = self.site_ctor(site, frame)
            if code is not None:
                self.init.writeline(f"self.{attr} = {code}", getattr(site, "pos", None))
        if rec.kind == "block":
            return f"self.{attr}({', '.join(inputs)})", False
        lv = rec.value
        assert isinstance(lv, LayerValue)
        spec = lv.spec
        if spec is None or rec.index >= 0:
            return f"self.{attr}({', '.join(inputs)})", False
        if spec.module:
            return self.module_call(spec, attr, inputs, multi)
        return self.functional(spec, site, inputs, frame), False

    def functional(self, spec: LayerSpec, site: Any, inputs: list[str], frame: Frame) -> str:
        given = self.bind_ast(spec.signature, site)
        a: dict[str, str] = {}
        for p in spec.signature:
            if p.name in given:
                value = given[p.name]
                if p.star:
                    a[p.name] = ", ".join(self.fexpr(v, frame) for v in value)
                else:
                    a[p.name] = self.fexpr(value, frame)
            elif not p.star and p.default is not REQUIRED:
                a[p.name] = py_literal(p.default)
        if spec.name == "pad":
            self.gen.needs_f = True
        if spec.name == "pad_to_match":
            self.gen.needs_f = self.gen.needs_pad_to_match = True
        write = FUNCTIONS.get(spec.name)
        if write is None:
            raise Unsupported(spec.name)
        return write(inputs, _atom(inputs[0]) if inputs else "", a)

    # ------------------------------------------------------------ constructors

    def site_ctor(self, site: Any, frame: Frame) -> str | None:
        records = frame.sites.get(id(site))
        if not records:
            return None
        if len(records) > 1 and all(r.index >= 0 for r in records):
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
        def key(v: Any) -> Any:
            return v.expr if isinstance(v, SInt) else int(v)

        values = [v for _, v in pairs]
        if len({key(v) for v in values}) == 1:  # every use agrees on how it is computed
            return self.value_code(values[0], arg)
        for stmt in self.explored_ifs:
            by_branch: dict[int, Any] = {}
            consistent = True
            for frame, v in pairs:
                branch = frame.branches.get(id(stmt))
                if branch is None or key(by_branch.setdefault(branch, v)) != key(v):
                    consistent = False
                    break
            if consistent:
                return self.conditional(stmt, by_branch, arg)
        real = [(f, v) for f, v in pairs if not f.speculative]
        if not self.is_block:
            return py_literal(int(real[0][1] if real else values[0]))
        return self.size_param(SiteKey(id(site), rec.index, arg, inner), arg)

    def conditional(self, stmt: n.If, by_branch: dict[int, Any], arg: str) -> str:
        """`a if cond else b` over an `if`'s branches (the branches that reach this size)."""
        order = sorted(by_branch)
        code = self.value_code(by_branch[order[-1]], arg)
        for branch in reversed(order[:-1]):
            cond = self.sexpr(stmt.branches[branch][0], 1)
            code = f"{self.value_code(by_branch[branch], arg)} if {cond} else {code}"
        return code

    def ctor(self, site: Any, rec: SiteRecord, frame: Frame) -> str | None:
        if rec.kind == "block":
            return self.block_ctor(site, rec)
        lv = rec.value
        assert isinstance(lv, LayerValue)
        if lv.spec is None:
            args, kwargs = _site_args(site)
            parts = [self.sexpr(a) for a in args] + [f"{k.name}={self.sexpr(k.value)}"
                                                     for k in kwargs]
            return f"nn.{lv.torch_cls}({', '.join(parts)})"
        spec = lv.spec
        if not spec.module:
            return None
        from_torch = lv.torch_cls is not None
        given = self.bind_ast(spec.torch_signature if from_torch else spec.signature, site)
        args: list[str] = []
        kwargs: list[str] = []
        for p in spec.torch_signature:
            if p.name in given:
                code = self.sexpr(given[p.name])
            elif p.name in rec.inferred:
                pairs = [(f, r.inferred[p.name]) for f, r in self.uses_of(site, rec.index)
                         if p.name in r.inferred] or [(self.current_frames[0],
                                                       rec.inferred[p.name])]
                code = self.inferred_code(site, rec, p.name, pairs)
            elif p.name in spec.overrides:
                code = py_literal(spec.overrides[p.name])
            else:
                continue
            if p.default is REQUIRED:
                args.append(code)
            else:
                kwargs.append(f"{p.name}={code}")
        return f"nn.{rec.cls}({', '.join(args + kwargs)})"

    def block_ctor(self, site: Any, rec: SiteRecord) -> str:
        bv = rec.value
        assert isinstance(bv, BlockValue) and rec.frame is not None
        callee = self.gen.classes[bv.definition.name]
        args = []
        uses = [(f, r) for f, r in self.uses_of(site, rec.index) if r.frame is not None] or [
            (self.current_frames[0], rec)]
        for sp in callee.size_params:
            pairs = [(f, _caller_value(r.frame, sp.key)) for f, r in uses if r.frame is not None]
            args.append(self.inferred_code(site, rec, sp.name, pairs, sp.key))
        call_args, kwargs = _site_args(site)
        if isinstance(site, n.Call) and not bv.definition.hyperparams:
            call_args, kwargs = [], []
        args += [self.sexpr(a) for a in call_args]
        args += [f"{callee.hyper_names.get(k.name, k.name)}={self.sexpr(k.value)}"
                 for k in kwargs]
        return f"{bv.definition.name}({', '.join(args)})"

    def sequential(self, site: Any, records: list[SiteRecord], frame: Frame) -> str:
        items = [self.ctor(site, r, frame) or "nn.Identity()" for r in records]
        if len(set(items)) == 1 and len(items) > 2:
            count = getattr(site, "repeat", None)
            count_code = self.sexpr(count) if count is not None else str(len(items))
            return f"nn.Sequential(*[{items[0]} for _ in range({count_code})])"
        return f"nn.Sequential({', '.join(items)})"

    def bind_ast(self, sig: tuple[Param, ...], site: Any) -> dict[str, Any]:
        args, kwargs = _site_args(site)
        bound: dict[str, Any] = {}
        positional = list(sig)
        star = next((p for p in sig if p.star), None)
        i = 0
        for a in args:
            if i < len(positional) and not positional[i].star:
                bound[positional[i].name] = a
                i += 1
            elif star is not None:
                bound.setdefault(star.name, []).append(a)
        for k in kwargs:
            bound[k.name] = k.value
        return bound

    # ------------------------------------------------------------ static values

    def render_value(self, value: Any) -> str | None:
        """The code for a size without registering anything; None if it needs a parameter."""
        if not isinstance(value, SInt):
            return py_literal(value)
        names: dict[Ref, str] = {}
        for ref in refs(value.expr):
            if ref == OPAQUE or ref.kind == "anon":
                return None if self.is_block else py_literal(int(value))
            if ref.kind == "dim" and not self.is_block:
                return py_literal(int(value))
            names[ref] = ref.name
        return _render(value.expr, names)

    def value_code(self, value: Any, hint: str) -> str:
        """An inferred size as code in this class's terms (literal, expression or parameter)."""
        if not isinstance(value, SInt):
            return py_literal(value)
        expr = value.expr
        names: dict[Ref, str] = {}
        for ref in refs(expr):
            if ref == OPAQUE or ref.kind == "anon":
                if not self.is_block:
                    return py_literal(int(value))
                return self.size_param(expr, self.axis_name(expr) or hint)
            if ref.kind == "dim":
                if not self.is_block:
                    return py_literal(int(value))
                names[ref] = self.size_param(ref, ref.name)
            elif ref.kind == "hyper":
                names[ref] = self.hyper_names.get(ref.name, ref.name)
            else:
                names[ref] = self.init_ns.name(ref.name)
        return _render(expr, names)

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
        if isinstance(e, _OPERATORS):
            return operator_code(e, prec, self.sexpr)
        if isinstance(e, n.Annotated):
            return self.sexpr(e.value, prec)
        raise Unsupported(type(e).__name__)


# ---------------------------------------------------------------- helpers


def display_name(path: str) -> str:
    """The source file's name for comments and docstrings: only safe characters, so no file
    name can end a comment or a docstring and inject code."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name)[:80] or "source"


def _reduction(name: str) -> Any:
    def write(ins: list[str], x: str, a: dict[str, str]) -> str:
        args = [] if a["dim"] == "None" else [f"dim={a['dim']}"]
        if a["keepdim"] != "False":
            args.append(f"keepdim={a['keepdim']}")
        return f"{x}.{name}({', '.join(args)})"
    return write


def _pad(ins: list[str], x: str, a: dict[str, str]) -> str:
    extra = "" if a["mode"] == '"constant"' else f", mode={a['mode']}"
    if a["value"] != "None":
        extra += f", value={a['value']}"
    return f"F.pad({ins[0]}, {a['pad']}{extra})"


# How each tensor function is written in forward: (inputs, first input as an operand,
# arguments as code) -> code. One entry per catalogue layer that is not an nn.Module.
FUNCTIONS: dict[str, Any] = {
    "cat": lambda ins, x, a: f"torch.cat([{', '.join(ins)}], dim={a['dim']})",
    "stack": lambda ins, x, a: f"torch.stack([{', '.join(ins)}], dim={a['dim']})",
    "add": lambda ins, x, a: " + ".join(_atom(i) for i in ins),
    "mul": lambda ins, x, a: " * ".join(_atom(i) for i in ins),
    "mean": _reduction("mean"),
    "sum": _reduction("sum"),
    "amax": _reduction("amax"),
    "reshape": lambda ins, x, a: f"{x}.reshape({a['shape']})",
    "view": lambda ins, x, a: f"{x}.view({a['shape']})",
    "permute": lambda ins, x, a: f"{x}.permute({a['dims']})",
    "transpose": lambda ins, x, a: f"{x}.transpose({a['dim0']}, {a['dim1']})",
    "squeeze": lambda ins, x, a: f"{x}.squeeze()" if a["dim"] == "None"
    else f"{x}.squeeze({a['dim']})",
    "unsqueeze": lambda ins, x, a: f"{x}.unsqueeze({a['dim']})",
    "chunk": lambda ins, x, a: f"torch.chunk({ins[0]}, {a['chunks']}, dim={a['dim']})",
    "split": lambda ins, x, a: f"torch.split({ins[0]}, {a['split_size_or_sections']}, "
                               f"dim={a['dim']})",
    "pad": _pad,
    "pad_to_match": lambda ins, x, a: f"pad_to_match({ins[0]}, {ins[1]})",
}

_OPERATORS = (n.TupleExpr, n.BinOp, n.UnaryOp, n.BoolOp, n.Compare, n.Ternary)


def operator_code(e: n.Expr, prec: int, sub: Any) -> str:
    """Python for tuples and operators, with only the parentheses needed; `sub(expr, prec)`
    translates the operands (at construction time or in forward)."""
    if isinstance(e, n.TupleExpr):
        items = [sub(i, 0) for i in e.items]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(e, n.BinOp):
        p = PRECEDENCE[e.op]
        text = f"{sub(e.left, p)} {e.op} {sub(e.right, p + 1)}"
    elif isinstance(e, n.UnaryOp):
        p = PRECEDENCE["not" if e.op == "not" else "unary"]
        text = f"not {sub(e.operand, p)}" if e.op == "not" else f"{e.op}{sub(e.operand, p)}"
    elif isinstance(e, n.BoolOp):
        p = PRECEDENCE[e.op]
        text = f" {e.op} ".join(sub(v, p + 1) for v in e.values)
    elif isinstance(e, n.Compare):
        p = PRECEDENCE["cmp"]
        parts = [sub(e.left, p + 1)]
        for op, right in zip(e.ops, e.comparators, strict=True):
            parts += [op, sub(right, p + 1)]
        text = " ".join(parts)
    else:
        assert isinstance(e, n.Ternary)
        p = 0
        text = f"{sub(e.then, 1)} if {sub(e.cond, 1)} else {sub(e.otherwise, 0)}"
        return f"({text})" if prec > 0 else text
    return f"({text})" if p < prec else text


def _site_args(site: Any) -> tuple[list[n.Expr], list[n.Keyword]]:
    if isinstance(site, (n.Stage, n.Call)):
        return list(site.args), list(site.kwargs)
    return [], []


def _caller_value(child: Frame, key: Any) -> Any:
    try:
        if isinstance(key, SiteKey):
            for rec in child.sites.get(key.site, []):
                if rec.index != key.index:
                    continue
                if key.inner is None and key.arg in rec.inferred:
                    return child.to_caller(rec.inferred[key.arg])
                if key.inner is not None and rec.frame is not None:
                    return child.to_caller(_caller_value(rec.frame, key.inner))
            raise KeyError(key)
        if isinstance(key, Ref):
            return child.mapping[key]
        return _substitute(key, child)
    except KeyError:
        raise AssertionError(f"size {key} of block {child.definition.name} has no value "
                             f"at this use") from None


def _render(expr: Any, names: dict[Ref, str], parent: int = 0, right: bool = False) -> str:
    if isinstance(expr, Ref):
        return names.get(expr, expr.name)
    if isinstance(expr, int):
        return repr(int(expr))
    assert isinstance(expr, Op)
    p = PRECEDENCE[expr.op]
    text = f"{_render(expr.left, names, p)} {expr.op} {_render(expr.right, names, p, True)}"
    return f"({text})" if p < parent or (p == parent and right) else text


def _atom(code: str) -> str:
    """Parenthesise code that is not a single operand, before `.method()` or an operator."""
    depth = 0
    for ch in code:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == " " and depth == 0:
            return f"({code})"
    return code


def _flat(value: Any) -> list[Any]:
    from ..checker import flat_tensors

    return flat_tensors(value)


__all__ = [
    "LAYERS",
    "TORCH_CLASSES",
    "Generated",
    "generate",
    "generate_with_map",
    "load_class",
    "snake",
    "split_args",
]
