"""One class of the IR: a network's or block's definition lowered."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import ir
from .. import nodes as n
from ..catalogue import MODULE_ATTRIBUTES
from ..check import Frame, flat_tensors
from ..dims import Ref
from ..render import py_literal
from .forward import Forward
from .loops import Loops
from .sizes import SizeParam, Sizes, mentions, rebound_names
from .sources import SourceLowering
from .statements import Statements

if TYPE_CHECKING:
    from . import Lowering

RESERVED = frozenset({"self", "torch", "nn", "F", "super", "pad_to_match1d", "pad_to_match2d",
                      "pad_to_match3d"})


class ClassLowering(Statements, Loops, Forward, Sizes, SourceLowering):
    def __init__(self, owner: Lowering, d: n.Definition, frames: list[Frame],
                 name: str | None = None, written_for: str = "") -> None:
        from ..backends.writer import Namespace

        self.owner = owner
        self.d = d
        self.class_name = name or d.name  # a block split per value: `C2f_n2`
        self.written_for = written_for  # `n=2`: the values this split class is for
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
        self.fixed: dict[str, Any] = {}  # a block's: it refuses other values when built
        self.rebound = rebound_names(d)  # a size that names one of these is ambiguous
        self.flags = 0
        # `for` loops (see loops.py): the iteration being written out, the loop variables'
        # values in it, the element variables of a generic loop, a written-out loop's layers
        self.loop_path: tuple[int, ...] = ()
        self.loop_consts: dict[str, Any] = {}
        self.loop_vars: dict[int, str] = {}
        self.unrolled: dict[str, tuple[Any, list[ir.Ctor]]] = {}
        self.loop_layers: dict[str, str] = {}  # a layer bound in a written-out loop: `c[1]`
        # names known to hold a tensor (False) or a written-out tuple (True) at the statement
        # being lowered: inputs hold tensors until rebound
        self.holds_tuple: dict[str, bool] = {p.name: False for p in d.inputs}
        self.loop_index_name: str | None = None
        self.in_init = False  # see SourceLowering
        self.tensor_attrs: dict[str, str] = {}
        self.inline_constants: dict[str, n.Expr] = {}
        self.tensor_locals: dict[str, str] = {}
        self.local_statements: dict[str, tuple[list[Any], Any]] = {}
        self.late_init: list[ir.InitStmt] = []  # buffers that forward first reads in a branch

    def build(self) -> ir.ClassDef:
        if not self.is_block:  # what compile's validation found the class cannot follow
            for name in self.owner.forced.get(self.d.name, {}):
                self.specialise(Ref(name, "hyper"))
        self.body(self.d.body, self.frames, top=True)
        init: list[ir.InitStmt] = []
        later = [*self.defaults(), *self.init, *self.late_init]
        for name, value in self.specialised.items():
            if name in self.stored or mentions(later, self.hyper_names[name]):
                # (a written-out loop's count may be named nowhere else)
                init.append(ir.Local(self.hyper_names[name], py_literal(value)))
        init.extend(self.defaults())
        for name, value in self.fixed.items():
            hyper = self.hyper_names[name]
            init.append(ir.InitIf([(f"{hyper} != {py_literal(value)}", [ir.Fail(
                f"{self.d.name} is written for {name}={py_literal(value)} only")])], []))
        init.extend(self.init)
        init.extend(self.late_init)
        bound_always = {s.name for s in init if isinstance(s, ir.Local)} | {
            p.name for p in self.params()}
        for name, attr in self.stored.items():
            local = self.init_ns.name(name)
            if local not in bound_always:  # bound in one branch only: None on the others
                init.insert(0, ir.Local(local, "None"))
            init.append(ir.Flag(attr, local))
        forward: list[ir.ForwardStmt] = []
        for name, var in self.unpacked.items():
            input_name, axis = self.header_dims[name]
            forward.append(ir.Assign(var, ir.CallMethod(ir.Var(self.input_names[input_name]),
                                                        "size", [ir.Const(str(axis))])))
        forward.extend(self.fwd)
        return ir.ClassDef(self.class_name, self.d.kind, self.d.pos, self.docstring(),
                           self.params(), init,
                           [self.input_names[p.name] for p in self.d.inputs], forward,
                           sorted(self.specialised))

    def params(self) -> list[ir.Param]:
        out = [ir.Param(sp.name) for sp in self.size_params]
        hyper = [p for p in self.d.hyperparams if p.name not in self.specialised]
        out += [ir.Param(self.hyper_names[p.name]) for p in hyper if p.default is None]
        for p in hyper:
            if p.default is not None and p.name in self.fixed and self.written_for:
                # a class split per value: its own value is the default
                out.append(ir.Param(self.hyper_names[p.name], py_literal(self.fixed[p.name])))
            elif p.default is not None:
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

                reasons = self.owner.forced.get(self.d.name, {})
                written = {k: v for k, v in self.specialised.items() if k not in reasons}
                if written:
                    fixed = ", ".join(f"{k}={py_literal(v)}" for k, v in sorted(written.items()))
                    them = "it" if len(written) == 1 else "them"
                    note = (f"Specialised for {fixed}: some size depends on {them} in a way "
                            f"netdsl cannot write as an expression, so the class does not "
                            f"offer {them} (change the source and compile again).")
                    lines += ["", *textwrap.wrap(note, 80)]
                for name, reason in sorted(reasons.items()):
                    value = py_literal(self.specialised.get(name))
                    note = (f"Specialised for {name}={value}: built with {reason}, so the "
                            f"class does not offer {name} (change the source and compile "
                            f"again).")
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
        if self.written_for:
            import textwrap

            note = (f"Written for {self.written_for}: {self.d.name} is used with other values "
                    f"too, which netdsl cannot follow in one class, so each has its own "
                    f"(and refuses another value).")
            lines += ["", *textwrap.wrap(note, 80)]
        elif self.fixed:
            import textwrap

            fixed = ", ".join(f"{k}={py_literal(v)}" for k, v in sorted(self.fixed.items()))
            note = (f"Written for {fixed} only: netdsl cannot follow another value here, so "
                    f"the constructor refuses one (change the source and compile again).")
            lines += ["", *textwrap.wrap(note, 80)]
        return lines


def display_name(path: str) -> str:
    """The source file's name for comments and docstrings: only safe characters, so no file
    name can end a comment or a docstring and inject code."""
    import re

    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name)[:80] or "source"
