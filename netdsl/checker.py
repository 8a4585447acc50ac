"""The checker: evaluates every network over shapes, with blocks checked at each use.

It is an abstract interpreter: tensors are :class:`~netdsl.values.Tensor` (a shape,
a dtype and where each size came from), layers and blocks are values, and
compile-time arithmetic runs on ints that remember their expression
(:class:`~netdsl.dims.SInt`). Each evaluation of a network or block body is a
:class:`Frame`; frames record, per source site, what was built there, which is
all the backends need. Errors are collected per statement, so independent
mistakes are all reported; a failed value becomes POISON and raises nothing more.
"""

from __future__ import annotations

import keyword
import math
import re
import weakref
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from . import nodes as n
from . import shapes as s
from .budget import Budget, BudgetExceeded
from .catalogue import (
    LAYERS,
    MODULE_ATTRIBUTES,
    NO_FORWARD,
    NOT_MODULES,
    REQUIRED,
    TORCH_CLASSES,
    LayerSpec,
    Param,
)
from .dims import (
    ARITHMETIC,
    NO_REFS,
    Dim,
    Opaque,
    Ref,
    SInt,
    Sym,
    dim_str,
    expr_of,
    pin,
    rebind_expr,
    refs,
    shape_str,
)
from .errors import Diagnostic, Pos, SourceError
from .render import render_call, torch_text
from .values import (
    POISON,
    BlockFactory,
    BlockValue,
    Instance,
    LayerFactory,
    LayerValue,
    Node,
    Poison,
    PrimaryTuple,
    Repeated,
    Tensor,
    TorchFactory,
    Why,
    describe,
    explain,
)

TORCH_CLASS_NAME = re.compile(r"[A-Z][A-Za-z0-9]*")
MAX_BLOCK_DEPTH = 32  # blocks inside blocks; keeps the checker far from Python's stack limit
MAX_INT = 1 << 62
RESERVED_NAMES = frozenset({"self", "torch", "nn", "F"})


# ---------------------------------------------------------------- frames


@dataclass(eq=False, slots=True)
class SiteRecord:
    """One evaluation of a layer or block site in a frame (what the backends read)."""

    kind: str  # 'layer' or 'block'
    value: LayerValue | BlockValue
    node: Node
    inferred: dict[str, Any] = field(default_factory=dict)  # sizes in the frame's scope
    cls: str = ""
    frame: Frame | None = None  # the block's own frame
    index: int = -1  # position in a `* n` repetition, -1 when not repeated


@dataclass(eq=False)
class Frame:
    """One evaluation of a network or block body."""

    definition: n.Definition
    prefix: str = ""
    scope: tuple[Node, ...] = ()
    # the frame that used this block, held weakly: a checked program keeps its frames from
    # the network down, and a strong link back up would make every block use a reference
    # cycle, freed only by the cyclic collector
    caller_ref: weakref.ref[Frame] | None = None
    call_pos: Pos | None = None
    speculative: bool = False
    env: dict[str, Any] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # hyper, dim, local, tensor, layer
    mapping: dict[Ref, Any] = field(default_factory=dict)  # this scope's refs -> caller values
    local_exprs: dict[str, Any] = field(default_factory=dict)
    # what each compile-time name depends on (for control dependences, see dims.SInt):
    # a hyperparameter, in the caller's terms; a local, in this frame's terms
    hyper_deps: dict[str, frozenset[Ref]] = field(default_factory=dict)
    local_deps: dict[str, frozenset[Ref]] = field(default_factory=dict)
    control: frozenset[Ref] = NO_REFS  # the conditions of the `if` branches now running
    sites: dict[int, list[SiteRecord]] = field(default_factory=dict)
    branches: dict[int, int] = field(default_factory=dict)  # id(If) -> taken branch
    bound: dict[str, Pos] = field(default_factory=dict)  # tensor bindings not yet read
    inputs: list[Tensor] = field(default_factory=list)
    output: Any = None
    returned: bool = False
    overrides: dict[str, list[Any]] = field(default_factory=dict)  # --input, for networks

    @property
    def caller(self) -> Frame | None:
        return self.caller_ref() if self.caller_ref is not None else None

    def record(self, site: Any, rec: SiteRecord) -> None:
        self.sites.setdefault(id(site), []).append(rec)

    def to_caller(self, value: Any) -> Any:
        """Rewrite a size of this frame's scope in the caller's terms. What the size held
        only for (its pins, and the branches of this block it was computed in) becomes, in
        the caller's terms, what it is pinned to there: the caller does not see this
        block's branches, so it cannot write them."""
        if not isinstance(value, SInt):
            return value
        pinned = self.caller_refs(value.pinned | value.branch)
        if isinstance(value.expr, Opaque):
            return SInt(int(value), Opaque(self.caller_refs(value.expr.deps)), pinned)
        try:
            result = _substitute(value.expr, self)
        except KeyError:
            return SInt(int(value), Opaque(self.caller_refs(frozenset(refs(value.expr)))),
                        pinned)
        if is_int(result) and not isinstance(result, Sym) and int(result) != int(value):
            # a local rebound since this size was computed: its expression no longer says
            # how the size was made, only what it depends on
            return SInt(int(value), Opaque(self.caller_refs(frozenset(refs(value.expr)))),
                        pinned)
        return pin(result, pinned)

    def caller_refs(self, names: frozenset[Ref]) -> frozenset[Ref]:
        """The caller's names that this frame's names depend on."""
        out: set[Ref] = set()
        stack = list(names)
        seen: set[Ref] = set()
        while stack:
            ref = stack.pop()
            if ref in seen:
                continue
            seen.add(ref)
            value = self.mapping.get(ref)
            if isinstance(value, SInt):
                out.update(refs(value.expr))
                out.update(value.pinned)
                out.update(value.branch)
            if ref.kind == "hyper":
                out.update(self.hyper_deps.get(ref.name, NO_REFS))
            elif ref.kind == "local":
                stack.extend(self.local_deps.get(ref.name, NO_REFS))
        return frozenset(out)


def _local_expr(name: str, value: Any, frame: Frame) -> Any:
    """What a rebound local size stands for, in terms of names bound before it: in
    `w = w // 4` the w on the right is the previous one, so its expression is written in
    (an expression naming itself would be substituted forever)."""
    if not isinstance(value, SInt):
        return None
    return rebind_expr(value.expr, Ref(name, "local"), frame.local_exprs.get(name))


def _substitute(e: Any, frame: Frame) -> Any:
    if isinstance(e, Ref):
        if e in frame.mapping:
            return frame.mapping[e]
        if e.kind == "local" and frame.local_exprs.get(e.name) is not None:
            return _substitute(frame.local_exprs[e.name], frame)
        raise KeyError(e)
    if isinstance(e, int):
        return e
    # Python's operators: an SInt operand rebuilds the expression in the caller's terms
    return ARITHMETIC[e.op](_substitute(e.left, frame), _substitute(e.right, frame))


@dataclass(eq=False)
class NetworkResult:
    definition: n.Definition
    frame: Frame
    inputs: list[tuple[str, s.TT]]
    outputs: list[s.TT]
    nodes: list[Node]
    params: int


# ---------------------------------------------------------------- helpers


def suggest(name: str, options: Any) -> str | None:
    import difflib  # only when something is misspelt

    close = difflib.get_close_matches(name, sorted(set(options)), n=1, cutoff=0.6)
    return close[0] if close else None


def pytorch_spelling(name: str) -> str | None:
    """The netdsl layer for a PyTorch function or method name: max_pool2d -> maxpool,
    adaptive_avg_pool2d -> adaptive_avgpool, interpolate -> upsample, view -> view."""
    def plain(text: str) -> str:
        return re.sub(r"[123]d$", "", text).replace("_", "").lower()

    if name == "interpolate":
        return "upsample"
    wanted = plain(name)
    for layer in LAYERS:
        if plain(layer) == wanted:
            return layer
    return None


def did_you_mean(name: str, options: Any) -> str | None:
    close = suggest(name, options)
    return f"did you mean {close!r}?" if close else None


def did_you_mean_layer(name: str, options: Any) -> str | None:
    """For an unknown layer: the netdsl spelling of a torch class (ReLU, MaxPool2d) or of a
    name that differs only by case, before the closest spelling ('Relu' is not 'elu')."""
    layer = name.lower() if name.lower() in LAYERS else next(
        (spec.name for spec in LAYERS.values() if name in spec.classes), None)
    if layer is None and name in TORCH_CLASSES:
        layer = pytorch_spelling(name)
    return f"did you mean {layer!r}?" if layer else did_you_mean(name, options)


def snake(name: str) -> str:
    """ConvBNReLU -> conv_bn_relu, InceptionA -> inception_a, DoubleConv -> double_conv."""
    for word in ("ReLU", "GELU", "SiLU", "PReLU", "ELU"):
        name = name.replace(word, word[0] + word[1:].lower())
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper() or (
                i + 1 < len(name) and name[i + 1].islower())) and name[i - 1] != "_":
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def validate_name(name: str, pos: Pos, what: str) -> None:
    if keyword.iskeyword(name) or (keyword.issoftkeyword(name) and name in ("match", "case")):
        if keyword.iskeyword(name):
            raise SourceError(f"{name!r} is a Python keyword and cannot name {what}", pos,
                              fix=f"rename it, e.g. {name}_")
    if name.startswith("__"):
        raise SourceError(f"names starting with '__' are reserved; {name!r} cannot name {what}",
                          pos)
    if name == "self":
        raise SourceError(f"'self' cannot name {what}: the generated module uses it", pos)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def flat_tensors(value: Any) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, tuple):
        return [t for item in value for t in flat_tensors(item)]
    return []


def flat_types(item: Any) -> list[s.TT]:
    """The tensor types of a (nested) tuple of outputs, in order."""
    if isinstance(item, s.TT):
        return [item]
    return [tt for sub in item for tt in flat_types(sub)]


def primary(value: Any) -> Any:
    return value[0] if isinstance(value, PrimaryTuple) else value


def contains_poison(value: Any) -> bool:
    if isinstance(value, Poison):
        return True
    if isinstance(value, tuple):
        return any(contains_poison(v) for v in value)
    return False


# ---------------------------------------------------------------- the checker

NOTHING_GIVEN: frozenset[str] = frozenset()  # shared by every layer written without arguments
_EVAL: dict[type, Any] = {}  # expression class -> Checker.eval_<class>


class Checker:
    def __init__(self, definitions: dict[str, n.Definition], sources: dict[str, str]) -> None:
        self.definitions = definitions
        self.sources = sources
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self._seen: set[tuple[str, str, int, int]] = set()
        self.uses: dict[str, list[Frame]] = {}
        self._names: dict[str, dict[int, str]] = {}
        self._next_id = 0
        self.nodes: list[Node] = []
        self.active: list[str] = []
        self._lines: dict[str, list[str]] = {}
        self.forced: dict[int, int] = {}  # If statement -> branch, while exploring
        self.spec_uses: dict[str, list[Frame]] = {}
        self._explored: dict[tuple[int, int], tuple[list[Frame], str | None]] = {}
        self.budget = Budget()  # all networks together; see budget.py
        # for the warnings about silent pitfalls: the sizes of network inputs declared as the
        # batch `B` (by id, each kept alive), and tensors an in-place layer overwrote
        self.batch_whys: dict[int, Why] = {}
        self.overwritten: dict[int, tuple[Tensor, LayerValue, Frame]] = {}

    # ------------------------------------------------------------ diagnostics

    def _add(self, diag: Diagnostic, into: list[Diagnostic]) -> None:
        key = (diag.message, diag.file, diag.line, diag.column)
        if key not in self._seen:
            self._seen.add(key)
            into.append(diag)

    def error(self, err: SourceError, frame: Frame | None) -> None:
        if frame is not None and frame.speculative:
            raise err
        diag = err.diagnostic
        self._add_context(diag, frame)
        self._add(diag, self.errors)

    def warn(self, message: str, pos: Pos | None, frame: Frame | None,
             fix: str | None = None) -> None:
        if frame is not None and frame.speculative:
            return
        diag = Diagnostic(message, pos, severity="warning", fix=fix)
        self._add_context(diag, frame)
        self._add(diag, self.warnings)

    @staticmethod
    def _add_context(diag: Diagnostic, frame: Frame | None) -> None:
        while frame is not None and frame.caller is not None:
            if frame.call_pos is not None:
                diag.notes.append(f"in block {frame.definition.name} used at {frame.call_pos}")
            frame = frame.caller

    def label(self, pos: Pos) -> str:
        """The source text at a one-line span, e.g. 'conv(32, 5, padding=2)'."""
        if pos.end_line != pos.line:
            return ""
        lines = self._lines.get(pos.file)
        if lines is None:  # split each file once: labels are asked for every layer
            lines = self._lines[pos.file] = self.sources.get(pos.file, "").splitlines()
        if pos.line > len(lines):
            return ""
        return lines[pos.line - 1][pos.column - 1: pos.end_column - 1]

    def new_node(self, kind: str, op: str, name: str | None, label: str, torch: Any,
                 pos: Pos | None, inputs: list[Tensor], frame: Frame | None) -> Node:
        self.budget.node(pos, frame)
        self._next_id += 1
        node = Node(self._next_id, kind, op, name, label, torch, pos, inputs, [],
                    scope=frame.scope if frame else ())
        if frame is None or not frame.speculative:
            self.nodes.append(node)
        return node

    # ------------------------------------------------------------ networks

    def explore_branch(self, network: NetworkResult, stmt: n.If,
                       branch: int) -> tuple[list[Frame], str | None]:
        """Frames in which `stmt` takes `branch`, found by checking the network again with
        that branch forced, and, when there are none, why (the error the branch meets).
        Lowering asks, for the branches no use takes: a class keeps its whole `if`."""
        key = (id(stmt), branch)
        if key in self._explored:
            return self._explored[key]
        saved = (self.nodes, self.spec_uses, self.forced, self.active, self.budget)
        self.spec_uses, self.forced, self.active = {}, {id(stmt): branch}, []
        self.budget = Budget()  # a check of its own, maybe long after the first
        found: list[Frame] = []
        reason: str | None = None
        try:
            frame = Frame(network.definition, speculative=True)
            self.spec_uses[network.definition.name] = [frame]
            self.network_frame(frame, network.definition, network.frame.overrides)
            self.run_body(frame)
            for frames in self.spec_uses.values():
                found.extend(f for f in frames if f.branches.get(id(stmt)) == branch)
        except (SourceError, BudgetExceeded) as err:
            found = []
            diag = err.diagnostic
            reason = f"{diag.message} at {diag.line}:{diag.column}"
        except RecursionError:
            found, reason = [], "it nests too deeply"
        finally:
            self.nodes, self.spec_uses, self.forced, self.active, self.budget = saved
        self._explored[key] = (found, reason)
        return found, reason

    def check_network(self, d: n.Definition, overrides: dict[str, list[Any]]) -> NetworkResult:
        self.nodes = []
        frame = Frame(d)
        inputs = self.network_frame(frame, d, overrides)
        self.uses.setdefault(d.name, []).append(frame)
        result = self.run_body(frame)
        tensors = flat_tensors(result)
        outputs = [t.tt for t in tensors]
        if tensors:
            out = self.new_node("output", "output", None, "output", "", d.pos, tensors, frame)
            out.outputs = outputs
        nodes = self.nodes
        params = sum(node.params for node in nodes if node.kind in ("layer", "op"))
        return NetworkResult(d, frame, inputs, outputs, nodes, params)

    def network_frame(self, frame: Frame, d: n.Definition,
                      overrides: dict[str, list[Any]]) -> list[tuple[str, s.TT]]:
        """Binds a network's hyperparameters and inputs in its frame."""
        frame.overrides = overrides
        for p in d.hyperparams:
            frame.hyper_deps[p.name] = frozenset((Ref(p.name, "hyper"),))
            if p.default is None:
                self.error(SourceError(f"network hyperparameter {p.name!r} needs a default "
                                       f"value", p.pos,
                                       fix=f"give it a default, e.g. {p.name}=1"), None)
                frame.env[p.name] = POISON
                continue
            try:
                value = self.eval(p.default, frame)
            except SourceError as err:
                self.error(err, frame)
                value = POISON
            self.bind_hyper(frame, p.name, value)
        inputs: list[tuple[str, s.TT]] = []
        for p in d.inputs:
            try:
                tensor = self.network_input(p, frame, overrides.get(p.name))
            except SourceError as err:
                self.error(err, frame)
                frame.env[p.name] = POISON
                continue
            frame.env[p.name] = tensor
            frame.kinds[p.name] = "tensor"
            frame.bound[p.name] = p.pos
            frame.inputs.append(tensor)
            inputs.append((p.name, tensor.tt))
        return inputs

    def network_input(self, p: n.Param, frame: Frame, override: list[Any] | None) -> Tensor:
        if p.type is None:
            raise SourceError(f"network input {p.name!r} needs a shape", p.pos,
                              fix=f"give it a shape, e.g. {p.name}: [B, ...]")
        dtype = self.dtype(p.type)
        whys: list[Why | None] = []
        shape: list[Dim] = []
        if override is not None:
            dims_src: list[Any] = list(override)
            where = "given by --input"
        else:
            dims_src = list(p.type.shape.dims)
            where = f"declared for {p.name} at {p.type.shape.pos.short}"
        for i, item in enumerate(dims_src):
            if isinstance(item, n.Expr):
                if isinstance(item, n.Name) and item.id not in frame.env:
                    validate_name(item.id, item.pos, "a dimension")
                    frame.env[item.id] = Sym.named(item.id)
                    frame.kinds[item.id] = "dim"
                value = self.eval(item, frame)
                pos = item.pos
            else:
                value = item
                if isinstance(item, str):
                    value = frame.env.get(item) if item in frame.env else Sym.named(item)
                pos = p.pos
            if not (is_int(value) or isinstance(value, Sym)):
                raise SourceError(f"a dimension must be an integer or a name, got "
                                  f"{describe(value)}", pos)
            if is_int(value) and value < 0:
                raise SourceError(f"dimension {i} of {p.name} is negative ({value})", pos)
            if override is not None and isinstance(item, str) and isinstance(value, Sym):
                frame.env[item] = value
            shape.append(value)
            why = Why(value, f"the size {where}", kind="input")
            whys.append(why)
            if i == 0 and isinstance(p.type.shape.dims[0], n.Name) and \
                    p.type.shape.dims[0].id == "B":
                self.batch_whys[id(why)] = why
        if override is not None and p.type is not None:
            for dim_expr, value in zip(p.type.shape.dims, shape, strict=False):
                if isinstance(dim_expr, n.Name) and isinstance(frame.env.get(dim_expr.id), Sym) \
                        and frame.kinds.get(dim_expr.id) == "dim":
                    frame.env[dim_expr.id] = value
        tt = s.TT(tuple(shape), dtype)
        tensor = Tensor(tt, tuple(whys))
        node = self.new_node("input", "input", p.name, p.name, "", p.pos, [], frame)
        node.outputs = [tt]
        tensor.producer = node
        return tensor

    def dtype(self, t: n.TensorType) -> str:
        if t.dtype is None:
            return "float"
        if t.dtype not in s.DTYPES:
            raise SourceError(f"unknown dtype {t.dtype!r}", t.dtype_pos or t.shape.pos,
                              fix=did_you_mean(t.dtype, s.DTYPES) or "use float or long")
        return t.dtype

    def bind_hyper(self, frame: Frame, name: str, value: Any) -> None:
        ref = Ref(name, "hyper")
        frame.mapping[ref] = value
        frame.env[name] = SInt(int(value), ref) if is_int(value) else value
        frame.kinds[name] = "hyper"

    # ------------------------------------------------------------ bodies and statements

    def run_body(self, frame: Frame) -> Any:
        result = self.exec_block(frame.definition.body, frame)
        if frame.returned:
            result = frame.output
        if result is None and not frame.speculative:
            what = frame.definition.kind
            self.error(SourceError(f"{what} {frame.definition.name} has no output: end its body "
                                   f"with an expression or `return`", frame.definition.pos),
                       frame)
            result = POISON
        if not frame.speculative:
            for name, pos in frame.bound.items():
                if name.startswith("_"):  # Python's convention for a value left unused
                    continue
                if frame.kinds.get(name) == "tensor" and not contains_poison(frame.env.get(name)):
                    self.warn(f"{name!r} is computed but never used", pos, frame)
                elif frame.kinds.get(name) == "layer":
                    self.warn(f"layer {name!r} is never applied", pos, frame)
        frame.output = result
        return result

    def exec_block(self, body: list[n.Stmt], frame: Frame) -> Any:
        result = None
        for i, stmt in enumerate(body):
            if frame.returned:
                self.warn("this statement comes after `return` and is never run", stmt.pos, frame)
                break
            self.budget.step(stmt.pos, frame)
            try:
                result = self.exec_stmt(stmt, frame, last=(i == len(body) - 1))
            except SourceError as err:
                self.error(err, frame)
                for later in err.later:
                    self.error(later, frame)
                self.poison_targets(stmt, frame)
                result = POISON
        return result

    def poison_targets(self, stmt: n.Stmt, frame: Frame) -> None:
        if isinstance(stmt, n.Assign):
            for name in self.target_names(stmt.target):
                frame.env[name] = POISON
                frame.bound.pop(name, None)

    def target_names(self, target: n.Expr) -> list[str]:
        if isinstance(target, n.Name):
            return [target.id]
        if isinstance(target, n.TupleExpr):
            return [name for item in target.items for name in self.target_names(item)]
        return []

    def exec_stmt(self, stmt: n.Stmt, frame: Frame, last: bool) -> Any:
        if isinstance(stmt, n.Assign):
            value = self.eval(stmt.value, frame)
            self.assign(stmt.target, value, frame, stmt.value)
            return None
        if isinstance(stmt, n.ExprStmt):
            value = self.eval(stmt.value, frame)
            if not last and not contains_poison(value) and flat_tensors(value):
                self.warn("this expression's result is not used", stmt.pos, frame)
            return value
        if isinstance(stmt, n.Return):
            value = self.eval(stmt.value, frame)
            frame.output = value
            frame.returned = True
            return value
        if isinstance(stmt, n.If):
            forced = self.forced.get(id(stmt)) if frame.speculative else None
            if forced is not None:  # exploring a branch no use takes, for generated code
                frame.branches[id(stmt)] = forced
                body = stmt.branches[forced][1] if forced < len(stmt.branches) else stmt.orelse
                saved = frame.control
                frame.control = saved.union(*(self.value_refs(c, frame)
                                              for c, _ in stmt.branches))
                try:
                    return self.exec_block(body or [], frame)
                finally:
                    frame.control = saved
            saved = frame.control
            try:
                for index, (cond, body) in enumerate(stmt.branches):
                    taken = self.condition(cond, frame)
                    frame.control = frame.control | self.value_refs(cond, frame)
                    if taken:
                        frame.branches[id(stmt)] = index
                        return self.exec_block(body, frame)
                frame.branches[id(stmt)] = len(stmt.branches)
                return self.exec_block(stmt.orelse, frame) if stmt.orelse else None
            finally:
                frame.control = saved
        return None  # pass

    def condition(self, cond: n.Expr, frame: Frame) -> bool:
        value = self.eval(cond, frame)
        if isinstance(value, Poison):
            raise SourceError("condition depends on an earlier error", cond.pos)
        if isinstance(value, Tensor):
            raise SourceError("`if` chooses at compile time: its condition must be a "
                              "hyperparameter or dimension, not a tensor", cond.pos)
        if isinstance(value, Sym):
            raise SourceError(f"the condition depends on the symbolic dimension {value}, "
                              f"whose value is unknown until run time", cond.pos)
        return bool(value)

    def assign(self, target: n.Expr, value: Any, frame: Frame, source: n.Expr) -> None:
        if isinstance(target, n.Name):
            validate_name(target.id, target.pos, "a value")
            self.bind(target.id, primary(value), frame, target.pos, source)
            return
        if isinstance(target, n.TupleExpr):
            if isinstance(value, Poison):
                for name in self.target_names(target):
                    frame.env[name] = POISON
                return
            if not isinstance(value, tuple):
                raise SourceError(f"cannot unpack {describe(value)} into "
                                  f"{len(target.items)} names", target.pos)
            if len(value) != len(target.items):
                raise SourceError(f"cannot unpack {len(value)} values into "
                                  f"{len(target.items)} names", target.pos)
            for item, v in zip(target.items, value, strict=True):
                self.assign(item, v, frame, source)
            return
        raise SourceError("only names and tuples of names can be assigned to", target.pos)

    def bind(self, name: str, value: Any, frame: Frame, pos: Pos, source: n.Expr) -> None:
        if name in LAYERS or name in self.definitions:
            what = "layer" if name in LAYERS else "block"
            raise SourceError(f"{name!r} is the name of a {what}; choose another name", pos)
        if frame.kinds.get(name) == "dim" and name in header_dimensions(frame.definition):
            raise SourceError(f"{name!r} is a dimension of {frame.definition.name}'s input; "
                              f"it is the size the input has and cannot be rebound", pos,
                              fix=f"choose another name, e.g. {name}_out")
        if isinstance(value, (LayerFactory, BlockFactory, TorchFactory)):
            kind = self.factory_name(value)
            raise SourceError(f"`{name} = {kind}` names a kind of layer, not a layer: bind a "
                              f"built one to share its weights, or write {kind}(...) at each "
                              f"use", pos, fix=f"e.g. {name} = {kind}(...)")
        if isinstance(value, (LayerValue, BlockValue, Repeated)) and name in MODULE_ATTRIBUTES:
            raise SourceError(f"{name!r} would replace nn.Module's own attribute {name!r} in "
                              f"the generated module", pos,
                              fix=f"choose another name, e.g. {name}_layer")
        if isinstance(value, Tensor) or (isinstance(value, tuple) and flat_tensors(value)):
            frame.kinds[name] = "tensor"
            frame.bound[name] = pos
        elif isinstance(value, Repeated):
            value.shared = True
            value.binding = name
            frame.kinds[name] = "layer"
            frame.bound[name] = pos
        elif isinstance(value, (LayerValue, BlockValue)):
            if value.shared and value.binding != name:
                raise SourceError(f"{value.binding!r} and {name!r} would name the same layer",
                                  pos, fix=f"use {value.binding!r}")
            value.shared = True
            value.binding = name
            frame.kinds[name] = "layer"
            frame.bound[name] = pos
        elif is_int(value) and not isinstance(value, Sym):
            frame.local_deps[name] = self.value_refs(source, frame) | frame.control
            previous = frame.kinds.get(name)
            if previous is None and _mentions_names(source):
                frame.local_exprs[name] = expr_of(value) if isinstance(value, SInt) else None
                value = SInt(int(value), Ref(name, "local"))
                frame.kinds[name] = "local"
            elif previous in ("local", "hyper", "dim"):
                frame.local_exprs[name] = _local_expr(name, value, frame)
                if isinstance(value, SInt) or _mentions_names(source):
                    value = SInt(int(value), Ref(name, "local"))
                frame.kinds[name] = "local"
            else:
                frame.kinds[name] = "local"
        else:
            frame.local_deps[name] = self.value_refs(source, frame) | frame.control
            frame.kinds[name] = "local"
        if frame.control:  # a value computed in a branch holds for that branch only
            value = pin_branch(value, frame.control)
        frame.env[name] = value

    def value_refs(self, e: n.Expr, frame: Frame) -> frozenset[Ref]:
        """The names of the class that a compile-time expression's value depends on."""
        out: set[Ref] = set()
        stack: list[Any] = [e]
        while stack:
            item = stack.pop()
            if isinstance(item, n.Name):
                value = frame.env.get(item.id)
                kind = frame.kinds.get(item.id)
                if isinstance(value, SInt):
                    out.update(refs(value.expr))
                    out.update(value.pinned)
                    out.update(value.branch)
                elif kind == "hyper":
                    out.add(Ref(item.id, "hyper"))
                elif kind == "local":
                    out.update(frame.local_deps.get(item.id, NO_REFS))
            elif isinstance(item, n.Keyword):
                stack.append(item.value)
            elif isinstance(item, n.SyntaxNode):
                attr: str
                for attr in type(item).__slots__:
                    child = getattr(item, attr, None)
                    if isinstance(child, (list, tuple)):
                        stack.extend(c for c in child if isinstance(c, n.SyntaxNode))
                    elif isinstance(child, n.SyntaxNode):
                        stack.append(child)
        return frozenset(out)

    # ------------------------------------------------------------ expressions

    def eval(self, e: n.Expr, frame: Frame) -> Any:
        method = _EVAL.get(e.__class__)
        if method is None:  # one method per node class, looked up once; kept unbound, as a
            # bound one would tie the checker in a cycle with itself and keep its whole graph
            # for the cyclic collector instead of freeing it when the program goes
            method = _EVAL[e.__class__] = getattr(Checker, "eval_" + type(e).__name__)
        return method(self, e, frame)

    def eval_Name(self, e: n.Name, frame: Frame) -> Any:
        return self.lookup(e.id, e.pos, frame)

    def lookup(self, name: str, pos: Pos, frame: Frame) -> Any:
        env = frame.env
        if name in env:
            frame.bound.pop(name, None)
            found = env[name]
            if self.overwritten and id(found) in self.overwritten:
                self.warn_overwritten(name, found, pos)
            return found
        if name in LAYERS:
            return LayerFactory(LAYERS[name])
        if name in self.definitions and self.definitions[name].kind == "block":
            return BlockFactory(self.definitions[name])
        if name in self.definitions:
            raise SourceError(f"{name!r} is a network; only blocks can be used inside another "
                              f"network", pos, fix=f"declare it as `block {name}`")
        options = list(env) + list(LAYERS) + [k for k, d in self.definitions.items()
                                               if d.kind == "block"]
        raise SourceError(f"unknown name {name!r}", pos, fix=did_you_mean_layer(name, options))

    def eval_Number(self, e: n.Number, frame: Frame) -> Any:
        return e.value

    def eval_String(self, e: n.String, frame: Frame) -> Any:
        return e.value

    def eval_Constant(self, e: n.Constant, frame: Frame) -> Any:
        return e.value

    def eval_TupleExpr(self, e: n.TupleExpr, frame: Frame) -> Any:
        return tuple(primary(v) for v in self.eval_each(e.items, frame))

    def eval_each(self, items: Sequence[n.Expr], frame: Frame) -> list[Any]:
        """Independent operands, each checked even when an earlier one fails: the first
        error carries the others, so `(x -> a) + (x -> b)` reports both mistakes."""
        values: list[Any] = []
        first: SourceError | None = None
        for item in items:
            try:
                values.append(self.eval(item, frame))
            except SourceError as err:
                if first is None:
                    if frame.speculative:
                        raise
                    first = err
                else:
                    first.later.extend([err, *err.later])
        if first is not None:
            raise first
        return values

    def eval_Annotated(self, e: n.Annotated, frame: Frame) -> Any:
        value = self.eval(e.value, frame)
        self.annotate(value, e.shape, frame, e.value.pos)
        return value

    def eval_Ternary(self, e: n.Ternary, frame: Frame) -> Any:
        value = self.eval(e.then if self.condition(e.cond, frame) else e.otherwise, frame)
        # the other side is not evaluated, so what comes of the value is right only for
        # this side: pinned to the condition (a local bound to it is written from its
        # source instead, see bind)
        return pin(value, self.value_refs(e.cond, frame))

    def eval_BoolOp(self, e: n.BoolOp, frame: Frame) -> Any:
        value: Any = None
        for item in e.values:
            value = self.compile_time(self.eval(item, frame), item.pos, e.op)
            if (e.op == "and" and not value) or (e.op == "or" and value):
                return value
        return value

    def eval_UnaryOp(self, e: n.UnaryOp, frame: Frame) -> Any:
        value = self.eval(e.operand, frame)
        if isinstance(value, Poison):
            return POISON
        if e.op == "not":
            return not self.compile_time(value, e.operand.pos, "not")
        if isinstance(value, Tensor):
            return self.tensor_op("neg", [value], e, frame)
        if not isinstance(value, (int, float, Sym)) or isinstance(value, bool):
            raise SourceError(f"cannot apply {e.op!r} to {describe(value)}", e.pos)
        return -value if e.op == "-" else value

    def eval_Compare(self, e: n.Compare, frame: Frame) -> Any:
        left = self.compile_time(self.eval(e.left, frame), e.left.pos, "a comparison")
        for op, right_e in zip(e.ops, e.comparators, strict=True):
            right = self.compile_time(self.eval(right_e, frame), right_e.pos, "a comparison")
            if isinstance(left, Sym) or isinstance(right, Sym):
                if op in ("==", "!=") and isinstance(left, Sym) and isinstance(right, Sym):
                    ok = (left == right) == (op == "==")
                else:
                    raise SourceError("a symbolic dimension has no value until run time; it "
                                      "cannot be compared", e.pos)
            else:
                try:
                    ok = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b,
                          "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
                          ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}[op](left, right)
                except TypeError:
                    raise SourceError(f"cannot compare {describe(left)} with {describe(right)}",
                                      e.pos) from None
            if not ok:
                return False
            left = right
        return True

    def compile_time(self, value: Any, pos: Pos, where: str) -> Any:
        if isinstance(value, Poison):
            raise SourceError(f"{where} depends on an earlier error", pos)
        if isinstance(value, Tensor):
            raise SourceError(f"{where} works on compile-time values, not tensors", pos)
        return value

    def eval_BinOp(self, e: n.BinOp, frame: Frame) -> Any:
        left, right = self.eval_each((e.left, e.right), frame)
        if isinstance(left, Poison) or isinstance(right, Poison):
            return POISON
        left, right = primary(left), primary(right)
        if isinstance(left, Tensor) or isinstance(right, Tensor):
            return self.tensor_binop(e, left, right, frame)
        if e.op == "*" and isinstance(left, _REPEATABLE):
            return self.repeat(left, right, e.right.pos, e.pos)
        if e.op == "*" and isinstance(right, _REPEATABLE):
            return self.repeat(right, left, e.left.pos, e.pos)
        return self.arith(e.op, left, right, e)

    def arith(self, op: str, left: Any, right: Any, e: n.BinOp) -> Any:
        ok_types = (int, float, Sym)
        if isinstance(left, bool) or isinstance(right, bool) or not (
                isinstance(left, ok_types) and isinstance(right, ok_types)):
            if op == "+" and isinstance(left, tuple) and isinstance(right, tuple):
                return left + right
            if op == "+" and isinstance(left, str) and isinstance(right, str):
                return left + right
            raise SourceError(f"cannot use {op!r} on {describe(left)} and {describe(right)}",
                              e.pos)
        if op == "@":
            raise SourceError("'@' multiplies tensors, not numbers", e.pos)
        if op in ("/", "//", "%") and not isinstance(right, Sym) and right == 0:
            raise SourceError("division by zero", e.right.pos)
        if op == "/":
            if isinstance(left, Sym) or isinstance(right, Sym):
                raise SourceError("'/' gives a fraction; use '//' for dimensions", e.pos)
            return left / right
        result = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
                  "//": lambda a, b: a // b, "%": lambda a, b: a % b}[op](left, right)
        if isinstance(result, int) and abs(result) > MAX_INT:
            raise SourceError("integer too large", e.pos)
        if isinstance(result, float) and not math.isfinite(result):
            raise SourceError("number too large", e.pos)
        return result

    def repeat(self, value: Any, count: Any, count_pos: Pos, pos: Pos) -> Repeated:
        if not is_int(count) or count < 1:
            raise SourceError(f"a stage repeats a positive whole number of times, got "
                              f"{count!r}", count_pos)
        if count > 10000:
            raise SourceError(f"{int(count)} repetitions is more than netdsl builds (10000)",
                              count_pos)
        repeated = Repeated(value, int(count), pos)
        if isinstance(count, SInt):  # a count code generation may write as a loop
            repeated.count_expr = count.expr
        return repeated

    def eval_Call(self, e: n.Call, frame: Frame) -> Any:
        if isinstance(e.func, n.Attribute):  # F.relu(h): the fix needs the call's arguments
            func = self.eval_Attribute(e.func, frame, e)
        else:
            func = self.eval(e.func, frame)
        if isinstance(func, Poison):
            return POISON
        if isinstance(func, (LayerValue, BlockValue, Repeated)):
            return self.apply(func, self.tensor_args(e, frame), e, frame)
        if isinstance(func, BlockFactory) and not func.definition.hyperparams and (
                e.args or e.kwargs):
            # a block with a single parameter list takes its inputs in its one call
            return self.apply(func, self.tensor_args(e, frame), e, frame)
        if isinstance(func, (LayerFactory, TorchFactory, BlockFactory)):
            return self.configure(func, e.args, e.kwargs, e, e.pos, frame)
        raise SourceError(f"{describe(func)} cannot be called", e.func.pos)

    def tensor_args(self, e: n.Call, frame: Frame) -> list[Any]:
        if e.kwargs:
            raise SourceError("tensors are passed by position; keyword arguments go in the "
                              "first parentheses", e.kwargs[0].pos)
        return [self.eval(a, frame) for a in e.args]

    def eval_Attribute(self, e: n.Attribute, frame: Frame, call: n.Call | None = None) -> Any:
        owner = e.value.id if isinstance(e.value, n.Name) else None
        if owner == "nn" and "nn" not in frame.env:
            return self.torch_factory(e.attr, e.pos)
        layer = pytorch_spelling(e.attr)
        if owner in ("F", "torch", "functional") and owner not in frame.env:
            fix = self.call_as_stage(layer, call, [], frame) if layer and call else None
            raise SourceError(f"{owner}.{e.attr} is PyTorch's spelling; netdsl names its layers "
                              f"directly and applies them with ->", e.pos,
                              fix=f"write {fix}" if fix else (
                                  f"e.g. x -> {layer}" if layer else None),
                              fix_pos=call.pos if fix and call else None)
        if owner is not None and frame.kinds.get(owner) == "tensor":
            fix = self.call_as_stage(layer, call, [e.value], frame) if layer and call else None
            raise SourceError(f"tensors have no methods in netdsl; {owner}.{e.attr}(...) is a "
                              f"stage", e.pos,
                              fix=f"write {fix}" if fix else (
                                  f"e.g. {owner} -> {layer}(...)" if layer else None),
                              fix_pos=call.pos if fix and call else None)
        raise SourceError("only torch classes are reached with '.', as in nn.Conv2d", e.pos)

    def call_as_stage(self, layer: str, call: n.Call, tensors: list[n.Expr],
                      frame: Frame) -> str | None:
        """The netdsl stage for a PyTorch call such as `torch.cat((a, b), 1)` or `h.relu()`,
        or None when its arguments do not evaluate (the error itself is reported)."""
        try:
            values = [(self.eval(a, frame), a) for a in [*tensors, *call.args]]
            kw_values = [(k.name, self.eval(k.value, frame), k) for k in call.kwargs]
        except SourceError:
            return None
        return self.as_stage(LAYERS[layer], values, kw_values)

    def eval_Pipeline(self, e: n.Pipeline, frame: Frame) -> Any:
        value = self.eval(e.head, frame)
        for i, stage in enumerate(e.stages):
            if contains_poison(value):
                return POISON
            inputs = self.stage_inputs(value, stage)
            try:
                layer = self.stage_value(stage, frame, inputs)
                value = self.apply(layer, inputs, stage, frame)
                if stage.shape is not None:
                    self.annotate(value, stage.shape, frame, stage.pos)
            except SourceError as err:
                if not frame.speculative:
                    err.later.extend(self.check_later_stages(e.stages[i + 1:], frame))
                raise
        return value

    def check_later_stages(self, stages: Sequence[n.Stage], frame: Frame) -> list[SourceError]:
        """After a failing stage, the later stages' own arguments are still checked (their
        input is unknown, so their shapes are not): one run reports every independent
        mistake of a pipeline."""
        found = []
        for stage in stages:
            try:
                self.stage_value(stage, frame)
            except SourceError as err:
                found.append(err)
        return found

    def stage_inputs(self, value: Any, stage: n.Stage) -> list[Any]:
        if isinstance(value, PrimaryTuple):
            return [value[0]]
        if isinstance(value, tuple):
            return list(value)
        return [value]

    def stage_value(self, stage: n.Stage, frame: Frame, inputs: list[Any] | None = None) -> Any:
        callee = stage.callee
        if len(callee) == 2 and callee[0] == "nn" and "nn" not in frame.env:
            value: Any = self.torch_factory(callee[1], stage.pos)
        elif len(callee) > 1:
            raise SourceError(f"unknown layer {stage.label!r}; torch classes are written "
                              f"nn.Name", stage.pos)
        else:
            name = callee[0]
            if name not in frame.env and name not in LAYERS and name not in self.definitions:
                options = [k for k, v in frame.env.items() if frame.kinds.get(k) == "layer"]
                options += list(LAYERS) + [k for k, d in self.definitions.items()
                                           if d.kind == "block"]
                raise SourceError(f"unknown layer or block {name!r}", stage.pos,
                                  fix=did_you_mean_layer(name, options))
            value = self.lookup(name, stage.pos, frame)
        if isinstance(value, Poison):
            return POISON
        if stage.called:
            if isinstance(value, (LayerValue, BlockValue, Repeated)):
                raise SourceError(f"{stage.label!r} is already built; apply it with "
                                  f"`-> {stage.label}`", stage.pos)
            if isinstance(value, (LayerFactory, TorchFactory, BlockFactory)):
                value = self.configure(value, stage.args, stage.kwargs, stage, stage.pos, frame,
                                       inputs)
            else:
                raise SourceError(f"{stage.label!r} is {describe(value)}, not a layer or block",
                                  stage.pos)
        elif not isinstance(value, _APPLICABLE):
            if isinstance(value, Tensor):
                raise SourceError(f"{stage.label!r} is a tensor, not a layer; combine tensors "
                                  f"with (a, b) -> cat or a + b", stage.pos)
            raise SourceError(f"{stage.label!r} is {describe(value)}, not a layer or block",
                              stage.pos)
        if stage.repeat is not None:
            count = self.eval(stage.repeat, frame)
            value = self.repeat(value, count, stage.repeat.pos, stage.pos)
        return value

    # ------------------------------------------------------------ configuring layers

    @staticmethod
    def torch_factory(name: str, pos: Pos) -> TorchFactory:
        if not TORCH_CLASS_NAME.fullmatch(name):
            close = suggest(name, TORCH_CLASSES) or suggest(name.capitalize(), TORCH_CLASSES)
            raise SourceError(f"nn.{name} is not a torch.nn class name (those are CamelCase, "
                              f"like nn.Conv2d)", pos,
                              fix=f"did you mean nn.{close}?" if close else None)
        if name in NOT_MODULES:
            raise SourceError(f"nn.{name} is not an nn.Module class, so it is not a layer: a "
                              f"stage must be a layer or a block (learnable tensors of their "
                              f"own come with parameter(...))", pos)
        if name in NO_FORWARD:
            raise SourceError(f"nn.{name} has no forward of its own, so it cannot be applied to "
                              f"a tensor", pos)
        return TorchFactory(name, TORCH_CLASSES.get(name))

    def configure(self, factory: Any, args: Sequence[n.Expr], kwargs: Sequence[n.Keyword],
                  site: Any, pos: Pos, frame: Frame, inputs: list[Any] | None = None) -> Any:
        label = self.label(pos) or self.factory_name(factory)
        values = [(self.eval(a, frame), a) for a in args]
        kw_values = [(k.name, self.eval(k.value, frame), k) for k in kwargs]
        for value, expr in values + [(v, k.value) for _, v, k in kw_values]:
            if isinstance(value, Poison):
                return POISON
            if _is_tensors(value):
                name = self.factory_name(factory)
                fix = self.as_stage(factory.spec, values, kw_values) if isinstance(
                    site, n.Call) and isinstance(factory, LayerFactory) else None
                raise SourceError(
                    f"the parentheses of {name} hold its arguments, never tensors",
                    expr.pos, fix=f"write {fix}" if fix else None, fix_pos=site.pos)
            if isinstance(value, (LayerValue, BlockValue, LayerFactory, BlockFactory,
                                  TorchFactory, Repeated)):
                raise SourceError(f"{describe(value)} cannot be an argument", expr.pos)
        if (values or kw_values) and isinstance(factory, (LayerFactory, TorchFactory)) and (
                factory.spec is not None):
            self.check_integer_args(factory, values, kw_values, label, pos)
        if isinstance(factory, LayerFactory):
            spec = factory.spec
            if spec.inferred:
                self.check_pytorch_order(spec, values, kw_values, pos, inputs)
            bound, given = self.bind_args(spec.signature, spec.inferred, values, kw_values,
                                          spec.name, pos)
            self.check_flags(spec, bound, given, values, kw_values)
            lv = LayerValue(spec, bound, given, label, pos, site)
            if args or kwargs:
                lv.arg_refs, lv.flag_refs = self.argument_refs(values, kw_values, frame)
            return lv
        if isinstance(factory, TorchFactory):
            seen_keywords: set[str] = set()
            for name, _, kw in kw_values:  # written into the generated call as they are
                if keyword.iskeyword(name) or not name.isidentifier():
                    raise SourceError(f"{name!r} cannot name an argument: it is a Python "
                                      f"keyword", kw.pos)
                if name in seen_keywords:
                    raise SourceError(f"nn.{factory.cls} got {name!r} twice", kw.pos)
                seen_keywords.add(name)
            if factory.spec is None:
                return LayerValue(None, {}, set(), label, pos, site, torch_cls=factory.cls,
                                  torch_args=([v for v, _ in values],
                                              {k: v for k, v, _ in kw_values}))
            spec = factory.spec
            bound, given = self.bind_args(spec.torch_signature, (), values, kw_values,
                                          f"nn.{factory.cls}", pos)
            given_inferred = {name for name in spec.inferred if bound.get(name) is not REQUIRED}
            for name in spec.inferred:
                if bound.get(name) is REQUIRED:
                    bound.pop(name)
            for name, default in spec.overrides.items():
                if name not in given:
                    bound[name] = default if factory.cls not in spec.classes else bound[name]
            lv = LayerValue(spec, bound, given | given_inferred, label, pos, site,
                            torch_cls=factory.cls)
            if args or kwargs:
                lv.arg_refs, lv.flag_refs = self.argument_refs(values, kw_values, frame)
            return lv
        d = factory.definition
        sig = tuple(Param(p.name, REQUIRED if p.default is None else p.default)
                    for p in d.hyperparams)
        if not d.hyperparams and (values or kw_values):
            raise SourceError(f"block {d.name} takes no hyperparameters", pos,
                              fix=f"apply it with `-> {d.name}`")
        bound, given = self.bind_args(sig, (), values, kw_values, d.name, pos, defaults=False)
        hyper = self.block_hyper(d, bound, frame)
        bv = BlockValue(d, hyper, given, site if isinstance(site, n.Call) else None, label, pos,
                        site)
        if values or kw_values:
            written = [e for _, e in values] + [k.value for _, _, k in kw_values]
            names = [p.name for p in d.hyperparams[:len(values)]] + [k for k, _, _ in kw_values]
            bv.hyper_deps = {name: self.value_refs(e, frame) | frame.control
                             for name, e in zip(names, written, strict=True)}
        return bv

    def argument_refs(self, values: list[tuple[Any, n.Expr]],
                      kw_values: list[tuple[str, Any, n.Keyword]],
                      frame: Frame) -> tuple[frozenset[Ref], frozenset[Ref]]:
        """The names a layer's arguments depend on: all of them, and those of arguments that
        are not sizes (a flag such as bidirectional decides sizes no expression follows)."""
        every: set[Ref] = set()
        flags: set[Ref] = set()
        for value, e in [*values, *((v, k.value) for _, v, k in kw_values)]:
            if isinstance(e, (n.Number, n.String, n.Constant)):
                continue
            found = self.value_refs(e, frame) | frame.control
            every.update(found)
            if not is_int(value):
                flags.update(found)
        return frozenset(every), frozenset(flags)

    def check_integer_args(self, factory: LayerFactory | TorchFactory,
                           values: list[tuple[Any, n.Expr]],
                           kw_values: list[tuple[str, Any, n.Keyword]], label: str,
                           pos: Pos) -> None:
        """A count or size that is not an integer (`conv(16 / 4, 1)`: 4.0) is an error for
        every layer alike; the fix writes each `/` of that argument as `//`."""
        assert factory.spec is not None
        sig = factory.spec.signature if isinstance(factory, LayerFactory) else (
            factory.spec.torch_signature)
        plain = [p for p in sig if not p.star]
        star = next((p.name for p in sig if p.star), None)
        named = [(plain[i].name if i < len(plain) else star, v, e)
                 for i, (v, e) in enumerate(values)]
        named += [(name, v, k.value) for name, v, k in kw_values]
        for name, value, expr in named:
            bad = s.first_float(value) if name in s.INTEGER_ARGS else None
            if bad is None:
                continue
            text = self.label(expr.pos)
            fixed = re.sub(r"(?<!/)/(?!/)", "//", text)
            start = expr.pos.column - pos.column
            fix = None
            if fixed != text and label and expr.pos.line == pos.line and (
                    label[start:start + len(text)] == text):
                fix = f"write {label[:start]}{fixed}{label[start + len(text):]}"
            said = f"{text} is {bad!r}" if text and text != repr(bad) else f"it is {bad!r}"
            raise SourceError(f"{name} must be an integer, but {said}"
                              + (" (`/` always gives a number with a fraction; `//` divides "
                                 "whole numbers)" if fix else ""), expr.pos, fix=fix,
                              fix_pos=pos if fix else None)

    def check_flags(self, spec: LayerSpec, bound: dict[str, Any], given: AbstractSet[str],
                    values: list[tuple[Any, n.Expr]],
                    kw_values: list[tuple[str, Any, n.Keyword]]) -> None:
        """A flag (an argument whose default is true or false) takes true or false:
        `relu(inplace=1.5)` would otherwise be passed on to PyTorch, which reads it as true."""
        where = {name: k.value.pos for name, _, k in kw_values}
        where.update((p.name, e.pos) for p, (_, e) in zip(spec.signature, values, strict=False))
        for p in spec.signature:
            if isinstance(p.default, bool) and p.name in given and not isinstance(
                    bound[p.name], bool) and p.name in where:
                raise SourceError(f"{p.name} is a flag: it is true or false, not "
                                  f"{describe(bound[p.name])}", where[p.name])

    def keyword_text(self, k: n.Keyword) -> str:
        """`dim=2` as written (a keyword's own span is its name)."""
        end = k.value.pos
        return self.label(Pos(k.pos.file, k.pos.line, k.pos.column, end.end_line,
                              end.end_column))

    def as_stage(self, spec: LayerSpec, values: list[tuple[Any, n.Expr]],
                 kw_values: list[tuple[str, Any, n.Keyword]]) -> str | None:
        """`cat((a, b), dim=2)` or `conv(x, 16, 3)` written as a stage, `(a, b) -> cat(dim=2)`
        or `x -> conv(16, 3)`: the leading tensors are its inputs, the rest its arguments
        (the required ones by position, the others by name)."""
        count = next((i for i, (v, _) in enumerate(values) if not _is_tensors(v)), len(values))
        if count == 0 or any(_is_tensors(v) for v, _ in values[count:]):
            return None
        texts = [self.label(e.pos) for _, e in values[:count]]
        layer = self.rewrite_positional(spec, values[count:], kw_values)
        if not all(texts) or layer is None:
            return None
        head = texts[0] if count == 1 else f"({', '.join(texts)})"
        return f"{head} -> {layer}"

    def check_pytorch_order(self, spec: LayerSpec, values: list[tuple[Any, n.Expr]],
                            kw_values: list[tuple[str, Any, n.Keyword]], pos: Pos,
                            inputs: list[Any] | None) -> None:
        """A layer whose input sizes are inferred takes only its required arguments by
        position: `batchnorm(16)` or `conv(3, 32, 5)` in PyTorch's order would otherwise
        silently mean something else (eps=16; a kernel of 32). The fix keeps every argument
        the user wrote: the inferred sizes are dropped when they are PyTorch's (they equal
        the input's), and the arguments after the required ones get their names."""
        required = [p.name for p in spec.signature if p.default is REQUIRED and not p.star]
        if len(values) <= len(required):
            return
        extra = values[len(required)][1]
        inferred = ", ".join(spec.inferred)
        if required:
            takes = (f"{spec.name} takes {len(required)} positional argument"
                     f"{'s' if len(required) > 1 else ''} ({', '.join(required)}); "
                     f"the others go by name")
            shown = f"{spec.name}({', '.join(required)}, ...) here"
        else:
            takes = f"{spec.name} takes its arguments by name"
            shown = (f"{spec.name} here; {spec.name}({spec.inferred[0]}=...) only checks the "
                     f"size")
        torch_names = ", ".join([*spec.inferred, *required])
        cls = spec.classes[len(spec.classes) // 2] if spec.classes else spec.name  # the 2d one
        notes = [f"netdsl infers {inferred} from the input, so PyTorch's "
                 f"{cls}({torch_names}, ...) is {shown}"]
        n_inferred = len(spec.inferred)
        as_torch = self.rewrite_positional(spec, values[n_inferred:], kw_values) if len(
            values) >= n_inferred + len(required) else None
        as_netdsl = self.rewrite_positional(spec, values, kw_values)
        fits = self.fits_pytorch_order(spec, values, kw_values, pos, inputs)
        if not required:  # the first values can only be PyTorch's inferred sizes
            fix = f"write {as_torch}" if as_torch else None
        elif fits is True and as_torch:
            fix = f"write {as_torch}"
        elif fits is False or len(values) != n_inferred + len(required):
            fix = f"write {as_netdsl}" if as_netdsl else None
        elif as_torch and as_netdsl:  # the layer's input is not known here
            first = self.label(values[0][1].pos) or "the first"
            fix = f"e.g. {as_netdsl}; or {as_torch} if {first} is {spec.inferred[0]}"
        else:
            fix = None
        raise SourceError(takes, extra.pos, notes=notes, fix=fix,
                          fix_pos=pos if fix and fix.startswith("write ") else None)

    def rewrite_positional(self, spec: LayerSpec, values: list[tuple[Any, n.Expr]],
                           kw_values: list[tuple[str, Any, n.Keyword]]) -> str | None:
        """`conv(32, 3, 1, 1)` as `conv(32, 3, stride=1, padding=1)`: the required arguments
        by position, the others named in signature order, skipping a parameter the value
        cannot be (0.1 is lstm's dropout, not its bias); the user's keywords kept as written."""
        texts = [self.label(e.pos) for _, e in values] + [self.keyword_text(k)
                                                         for _, _, k in kw_values]
        if not all(texts):
            return None
        written = {name for name, _, _ in kw_values}
        params = [p for p in spec.signature if not p.star and p.name not in written]
        required = [p for p in params if p.default is REQUIRED]
        if len(values) < len(required):
            return None
        parts = texts[:len(required)]
        optional = iter(p for p in params if p.default is not REQUIRED)
        for (value, _), text in zip(values[len(required):], texts[len(required):len(values)],
                                    strict=True):
            param = next((p for p in optional if _could_be(value, p.default)), None)
            if param is None:
                return None
            parts.append(f"{param.name}={text}")
        parts += texts[len(values):]
        return f"{spec.name}({', '.join(parts)})" if parts else spec.name

    def fits_pytorch_order(self, spec: LayerSpec, values: list[tuple[Any, n.Expr]],
                           kw_values: list[tuple[str, Any, n.Keyword]], pos: Pos,
                           inputs: list[Any] | None) -> bool | None:
        """Whether the first values are the sizes netdsl infers, i.e. the layer accepts its
        input with them (None when the input is not known here)."""
        if inputs is None or not inputs or not all(isinstance(primary(v), Tensor)
                                                   for v in inputs):
            return None
        n_inferred = len(spec.inferred)
        if len(values) < n_inferred:
            return False
        sizes: list[Any] = [(name, value, None)
                            for name, (value, _) in zip(spec.inferred, values, strict=False)]
        try:
            bound, given = self.bind_args(spec.signature, spec.inferred, values[n_inferred:],
                                          [*kw_values, *sizes], spec.name, pos)
            args = {k: v for k, v in bound.items() if v is not REQUIRED}
            spec.rule(s.Call(spec.name, args, [primary(v).tt for v in inputs], given))
        except (SourceError, s.ShapeError, TypeError, ValueError, AttributeError,
                ZeroDivisionError, OverflowError):
            return False
        return True

    def block_hyper(self, d: n.Definition, bound: dict[str, Any], frame: Frame) -> dict[str, Any]:
        """Hyperparameter values; defaults may refer to earlier hyperparameters."""
        scratch = Frame(d, speculative=frame.speculative)
        hyper: dict[str, Any] = {}
        for p in d.hyperparams:
            if p.name in bound:
                value = bound[p.name]
            else:
                assert p.default is not None
                value = self.eval(p.default, scratch)
            hyper[p.name] = value
            scratch.env[p.name] = value
        return hyper

    @staticmethod
    def factory_name(factory: Any) -> str:
        if isinstance(factory, LayerFactory):
            return factory.spec.name
        if isinstance(factory, TorchFactory):
            return f"nn.{factory.cls}"
        return factory.definition.name

    def bind_args(self, sig: tuple[Param, ...], extra: tuple[str, ...],
                  values: list[tuple[Any, n.Expr]], kw_values: list[tuple[str, Any, n.Keyword]],
                  what: str, pos: Pos,
                  defaults: bool = True) -> tuple[dict[str, Any], AbstractSet[str]]:
        bound: dict[str, Any] = {}
        given: set[str] = set()
        star = next((p for p in sig if p.star), None) if values else None
        i = 0
        for value, expr in values:
            if i < len(sig) and not sig[i].star:
                bound[sig[i].name] = value
                given.add(sig[i].name)
                i += 1
            elif star is not None:
                bound.setdefault(star.name, ())
                bound[star.name] = bound[star.name] + (value,)
                given.add(star.name)
            else:
                names = ", ".join(p.name for p in sig) or "no arguments"
                raise SourceError(f"{what} takes at most {len(sig)} positional argument"
                                  f"{'s' if len(sig) != 1 else ''} ({names}), got {len(values)}",
                                  expr.pos)
        known = {p.name for p in sig} | set(extra) if kw_values else set()
        for name, value, kw in kw_values:
            if name not in known:
                raise SourceError(f"{what} has no argument {name!r}", kw.pos,
                                  fix=did_you_mean(name, known))
            if name in given:
                raise SourceError(f"{what} got {name!r} twice", kw.pos)
            bound[name] = value
            given.add(name)
        missing = []
        for p in sig:  # fill in what was not given, noting what had to be
            if p.name in bound:
                continue
            if p.star:
                bound[p.name] = ()
            elif p.default is REQUIRED:
                missing.append(p.name)
            elif defaults:
                bound[p.name] = p.default
        if missing:
            listed = " and ".join(missing) if len(missing) < 3 else ", ".join(missing)
            shown = ", ".join(p.name if p.default is REQUIRED else f"{p.name}={p.default!r}"
                              for p in sig[:5] if not p.star)
            more = ", ..." if len(sig) > 5 else ""
            raise SourceError(f"{what} needs {listed}", pos,
                              notes=[f"signature: {what}({shown}{more})"])
        for name in extra:
            if name not in bound:
                bound[name] = REQUIRED
        return bound, given or NOTHING_GIVEN

    # ------------------------------------------------------------ applying

    def apply(self, layer: Any, inputs: list[Any], site: Any, frame: Frame,
              index: int = -1) -> Any:
        if isinstance(layer, Poison) or any(contains_poison(v) for v in inputs):
            return POISON
        inputs = [primary(v) for v in inputs]
        for value in inputs:
            if not isinstance(value, Tensor):
                pos = getattr(site, "pos", None)
                raise SourceError(f"layers and blocks are applied to tensors, got "
                                  f"{describe(value)}", pos)
        if isinstance(layer, LayerFactory):
            layer = self.configure(layer, [], [], site, site.pos, frame)
        elif isinstance(layer, TorchFactory):
            layer = self.configure(layer, [], [], site, site.pos, frame)
        elif isinstance(layer, BlockFactory):
            layer = self.configure(layer, [], [], site, site.pos, frame)
            if not isinstance(layer, BlockValue):
                return POISON
        if isinstance(layer, Repeated):
            value = inputs if len(inputs) != 1 else inputs[0]
            if layer.shared and layer.copies is None:
                layer.copies = [self.fresh(layer.value, site, frame) for _ in range(layer.count)]
                for copy in layer.copies:
                    copy.shared, copy.binding = True, layer.binding
            steps = [value]
            for i in range(layer.count):
                item = layer.copies[i] if layer.copies else self.fresh(layer.value, site, frame)
                args = list(value) if isinstance(value, tuple) and not isinstance(
                    value, PrimaryTuple) else [primary(value)]
                value = self.apply(item, args, site, frame, index=i)
                if contains_poison(value):
                    return POISON
                steps.append(value)
            if layer.count_expr is not None:
                value = generalise_repetition(steps, layer.count_expr)
            return value
        if isinstance(layer, LayerValue):
            return self.apply_layer(layer, inputs, site, frame, index)
        if isinstance(layer, BlockValue):
            return self.apply_block(layer, inputs, site, frame, index)
        raise SourceError(f"{describe(layer)} cannot be applied to tensors",
                          getattr(site, "pos", None))

    def fresh(self, value: Any, site: Any, frame: Frame) -> Any:
        """A new, unshared copy of a configured layer or block, for `* n`."""
        if isinstance(value, LayerValue):
            copy = LayerValue(value.spec, dict(value.args), set(value.given), value.label,
                              value.pos, value.site, value.torch_cls, value.torch_args)
            copy.arg_refs, copy.flag_refs = value.arg_refs, value.flag_refs
            return copy
        if isinstance(value, BlockValue):
            block = BlockValue(value.definition, dict(value.hyper), set(value.given),
                               value.call, value.label, value.pos, value.site)
            block.hyper_deps = value.hyper_deps
            return block
        if isinstance(value, (LayerFactory, TorchFactory, BlockFactory)):
            return value
        raise SourceError(f"cannot repeat {describe(value)}", getattr(site, "pos", None))

    def attr_name(self, frame: Frame, site: Any, value: LayerValue | BlockValue,
                  index: int) -> str:
        if value.shared and value.binding:
            base = value.binding
            if index >= 0:
                return f"{frame.prefix}{base}.{index}"
        else:
            base = self.site_names(frame.definition).get(id(value.site)) or "layer"
        if index >= 0:
            base = f"{base}.{index}"
        return frame.prefix + base

    def apply_layer(self, lv: LayerValue, inputs: list[Tensor], site: Any, frame: Frame,
                    index: int) -> Any:
        spec = lv.spec
        if spec is None:
            return self.apply_opaque(lv, inputs, site, frame, index)
        if not spec.min_inputs <= len(inputs) <= spec.max_inputs:
            if spec.min_inputs == spec.max_inputs:
                want = f"{spec.min_inputs} input{'s' if spec.min_inputs > 1 else ''}"
            elif spec.max_inputs > 1000:
                want = f"{spec.min_inputs} or more inputs"
            else:
                want = f"{spec.min_inputs} to {spec.max_inputs} inputs"
            fix = "pass several tensors as a tuple: (a, b) -> " + spec.name if (
                spec.min_inputs > 1) else None
            raise SourceError(f"{spec.name} takes {want}, got {len(inputs)}", lv.pos, fix=fix)
        args = {k: v for k, v in lv.args.items() if v is not REQUIRED}
        for name in spec.inferred:
            args.setdefault(name, None)
        call = s.Call(spec.name, args, [t.tt for t in inputs], lv.given)
        try:
            applied = spec.rule(call)
        except s.ShapeError as err:
            raise self.shape_error(err, lv, inputs) from None
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            raise SourceError(f"invalid arguments for {spec.name}: {self._args_text(lv)}",
                              lv.pos) from None
        if lv.torch_cls is not None and lv.torch_cls != applied.cls:
            raise SourceError(f"nn.{lv.torch_cls} does not fit its input "
                              f"{inputs[0].tt}: that input needs nn.{applied.cls}", lv.pos,
                              notes=[f"input: {inputs[0].tt}"])
        params = int(applied.params)
        if lv.shared:
            if lv.instance is None:
                pass
            else:
                first = lv.instance
                for key, value in applied.inferred.items():
                    if first.inferred.get(key) != value:
                        raise SourceError(
                            f"{lv.binding} shares its weights, so every input must fit them: "
                            f"{key} was {dim_str(first.inferred[key])} at its first use "
                            f"({first.pos.short if first.pos else '?'}), here it is "
                            f"{dim_str(value)}", getattr(site, "pos", None) or lv.pos,
                            notes=[f"input: {inputs[0].tt}"] + explain(
                                inputs[0].whys[-1] if inputs[0].whys else None))
                params = 0
        is_module = spec.module
        attribute = self.attr_name(frame, site, lv, index) if is_module else None
        values = args  # built for this call and not kept by the rule, so completed in place
        values.update(applied.inferred)
        node = self.new_node("layer" if is_module else "op", spec.name, attribute, lv.label,
                             (torch_text, spec, applied.cls, values), lv.pos, inputs, frame)
        node.params = params
        for block in node.scope:  # each enclosing block use totals its layers
            block.meta["params"] += params
        node.meta["cls"] = applied.cls
        node.meta["args"] = values
        if lv.shared and lv.instance is not None:
            node.meta["shared_with"] = lv.instance.node
        if lv.shared and lv.instance is None:
            lv.instance = Instance(dict(applied.inferred), node, getattr(site, "pos", lv.pos))
        if lv.arg_refs:
            applied.outputs = pin_fresh(applied.outputs, inputs, lv.arg_refs, lv.flag_refs)
        outputs = self.wrap_outputs(applied, inputs, node, lv)
        frame.record(lv.site, SiteRecord("layer", lv, node, applied.inferred, applied.cls,
                                index=index))
        for message in applied.warnings:
            self.warn(message, lv.pos, frame)
        self.warn_pitfalls(lv, inputs, frame)
        return outputs

    def warn_pitfalls(self, lv: LayerValue, inputs: list[Tensor], frame: Frame) -> None:
        """Programs that check and run but do not compute what they seem to."""
        spec, x = lv.spec, inputs[0]
        assert spec is not None
        if spec.name in ("lstm", "gru", "rnn") and x.tt.rank == 3 and not lv.args.get(
                "batch_first") and self.is_batch(x, 0):
            self.warn(f"{spec.name} reads dimension 0 of its input as time, but dimension 0 of "
                      f"{x.tt} is the batch: without batch_first=true the samples of a batch "
                      f"are mixed as the steps of one sequence", lv.pos, frame,
                      fix=f"add batch_first=true to {spec.name}")
        if spec.name == "linear" and x.tt.rank == 4:
            self.warn(f"linear on the 4-dimensional {x.tt} acts on the last dimension only, "
                      f"keeping {x.tt.rank - 1} others; a flatten before it may be missing",
                      lv.pos, frame, fix="e.g. -> flatten -> linear(...)")
        if lv.args.get("inplace") is True and any(
                isinstance(v, Tensor) and v is x for v in frame.env.values()):
            self.overwritten[id(x)] = (x, lv, frame)

    def is_batch(self, t: Tensor, axis: int) -> bool:
        """Whether a dimension is the batch: the size B, or a network input's size declared
        as B (given a number by --input)."""
        why = t.whys[axis] if axis < len(t.whys) else None
        return t.shape[axis] == Sym.named("B") or (why is not None and id(why) in
                                                   self.batch_whys)

    def warn_overwritten(self, name: str, value: Tensor, pos: Pos) -> None:
        _, lv, frame = self.overwritten[id(value)]
        self.warn(f"{lv.label} overwrites {name!r} in place, and {name!r} is used again at "
                  f"{pos.short}: that use reads {lv.label}'s output, not the {name!r} computed "
                  f"before it", lv.pos, frame, fix="leave out inplace=true")

    def _args_text(self, lv: LayerValue) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in lv.args.items() if k in lv.given) or "none"

    def apply_opaque(self, lv: LayerValue, inputs: list[Tensor], site: Any, frame: Frame,
                     index: int) -> Any:
        """An nn class outside the catalogue: its stage's annotation gives the shape."""
        if not isinstance(site, n.Stage) or site.shape is None:
            raise SourceError(f"nn.{lv.torch_cls} is not in netdsl's catalogue, so its output "
                              f"shape must be given", lv.pos,
                              fix=f"annotate the stage: -> {lv.label} : [B, ...]")
        shape = self.annotation_shape(site.shape, frame)
        dtype = inputs[0].tt.dtype if inputs else "float"
        name = self.attr_name(frame, site, lv, index)
        args, kwargs = lv.torch_args or ([], {})
        node = self.new_node("layer", f"nn.{lv.torch_cls}", name, lv.label,
                             render_call(f"nn.{lv.torch_cls}", args, kwargs), lv.pos, inputs,
                             frame)
        node.meta["cls"] = lv.torch_cls
        node.meta["opaque"] = True
        tt = s.TT(tuple(shape), dtype)
        node.outputs = [tt]
        why = tuple(Why(d, f"the annotation at {site.shape.pos.short}", kind="arg")
                    for d in shape)
        frame.record(site, SiteRecord("layer", lv, node, {}, lv.torch_cls or "", index=index))
        self.warn(f"nn.{lv.torch_cls} is outside netdsl's catalogue: its parameters are not "
                  f"counted and its shape is taken from the annotation", lv.pos, frame)
        return Tensor(tt, why, node, 0)

    def annotation_shape(self, spec: n.ShapeSpec, frame: Frame) -> list[Dim]:
        out: list[Dim] = []
        for d in spec.dims:
            if isinstance(d, n.Name) and d.id not in frame.env:
                out.append(Sym.named(d.id))
                continue
            value = self.eval(d, frame)
            if not (is_int(value) or isinstance(value, Sym)):
                raise SourceError(f"a dimension must be an integer or a name, got "
                                  f"{describe(value)}", d.pos)
            out.append(value)
        return out

    def wrap_outputs(self, applied: s.Applied, inputs: list[Tensor], node: Node,
                     lv: LayerValue) -> Any:
        if isinstance(applied.outputs, s.TT):  # one output: almost every layer
            node.outputs = [applied.outputs]
            return Tensor(applied.outputs,
                          self.output_whys(applied.outputs, inputs, applied, lv, lv.pos.short),
                          node, 0)
        node.outputs = flat_types(applied.outputs)
        return self._output_values(applied.outputs, applied, inputs, node, lv, iter(range(
            len(node.outputs))))

    def _output_values(self, item: Any, applied: s.Applied, inputs: list[Tensor], node: Node,
                       lv: LayerValue, counter: Iterator[int]) -> Any:
        """Tensors for a multi-output layer's (nested) outputs, numbered in order. A method,
        not a closure calling itself: that would be a reference cycle per layer."""
        if isinstance(item, s.TT):
            i = next(counter)
            pos_text = lv.pos.short
            whys = self.output_whys(item, inputs, applied, lv, pos_text) if i == 0 else tuple(
                Why(d, f"{lv.label} at {pos_text}", kind="arg") for d in item.shape)
            return Tensor(item, whys, node, i)
        items = tuple(self._output_values(sub, applied, inputs, node, lv, counter)
                      for sub in item)
        return PrimaryTuple(items) if applied.primary or (
            lv.spec is not None and lv.spec.primary) else items

    def output_whys(self, out: s.TT, inputs: list[Tensor], applied: s.Applied, lv: LayerValue,
                    pos_text: str) -> tuple[Why | None, ...]:
        source = inputs[0] if inputs else None
        if source is not None and applied.parents is None and source.tt.shape == out.shape:
            return source.whys  # the layer leaves every size alone (activations, norms)
        whys: list[Why | None] = []
        text = f"{lv.label} at {pos_text}"
        for axis, value in enumerate(out.shape):
            if applied.parents is not None:
                parents = applied.parents.get(axis, None)
                if parents is None:
                    parents = [axis] if source is not None and source.tt.rank == out.rank else []
            else:
                parents = [axis] if source is not None and source.tt.rank == out.rank else []
            if source is None:
                whys.append(Why(value, text, kind="arg"))
                continue
            parent_whys = [source.whys[a] if a < len(source.whys) else None for a in parents]
            if len(parents) == 1 and source.shape[parents[0]] == value:
                whys.append(parent_whys[0])
            elif len(parents) > 1:
                whys.append(Why(value, f"{text} of {source.tt}", tuple(parent_whys),
                                kind="flatten"))
            elif parents:
                whys.append(Why(value, text, tuple(parent_whys), kind="layer"))
            else:
                whys.append(Why(value, text, kind="arg"))
        return tuple(whys)

    def shape_error(self, err: s.ShapeError, lv: LayerValue | None, inputs: list[Tensor],
                    pos: Pos | None = None) -> SourceError:
        notes: list[str] = []
        if len(inputs) == 1:
            notes.append(f"input: {inputs[0].tt}")
        elif inputs:
            notes.append("inputs: " + ", ".join(str(t.tt) for t in inputs))
        for index, axis in err.explain:
            if index < len(inputs) and -inputs[index].tt.rank <= axis < inputs[index].tt.rank:
                notes.extend(explain(inputs[index].whys[axis]))
        deduped = list(dict.fromkeys(notes))
        fix = err.fix
        if err.rename and lv is not None and lv.spec is not None and lv.label.startswith(
                lv.spec.name + "("):  # the same call under another name, as the user wrote it
            fix = f"write {err.rename}{lv.label[len(lv.spec.name):]}"
        return SourceError(err.message, lv.pos if lv else pos, notes=deduped, fix=fix)

    # ------------------------------------------------------------ blocks

    def apply_block(self, bv: BlockValue, inputs: list[Tensor], site: Any, frame: Frame,
                    index: int) -> Any:
        d = bv.definition
        if d.name in self.active or len(self.active) >= MAX_BLOCK_DEPTH:
            raise SourceError(f"block {d.name} uses itself, which would never end", bv.pos)
        if len(inputs) != len(d.inputs):
            names = ", ".join(p.name for p in d.inputs)
            fix = f"pass them as a tuple: ({names}) -> {d.name}" if len(d.inputs) > 1 else None
            raise SourceError(f"block {d.name} takes {len(d.inputs)} input"
                              f"{'s' if len(d.inputs) != 1 else ''} ({names}), got "
                              f"{len(inputs)}", bv.pos, fix=fix)
        name = self.attr_name(frame, site, bv, index)
        node = self.new_node("block", d.name, name, bv.label, "", bv.pos, inputs, frame)
        node.meta["params"] = 0  # grows as its layers are checked
        child = Frame(d, prefix=name + ".", scope=frame.scope + (node,),
                      caller_ref=weakref.ref(frame),
                      call_pos=bv.pos, speculative=frame.speculative)
        for p in d.hyperparams:
            self.bind_hyper(child, p.name, bv.hyper[p.name])
            child.hyper_deps[p.name] = bv.hyper_deps.get(p.name, frame.control)
        for p, tensor in zip(d.inputs, inputs, strict=True):
            child.env[p.name] = self.enter_block(p, tensor, child, bv)
            child.kinds[p.name] = "tensor"
            child.bound[p.name] = p.pos
        child.inputs = [child.env[p.name] for p in d.inputs]
        self.active.append(d.name)
        first_node = len(self.nodes)
        try:
            result = self.run_body(child)
        finally:
            self.active.pop()
        if bv.shared and not frame.speculative:
            self.share_block(bv, self.nodes[first_node:], site)
        (self.spec_uses if frame.speculative else self.uses).setdefault(d.name, []).append(child)
        frame.record(bv.site, SiteRecord("block", bv, node, frame=child, index=index))
        if contains_poison(result):
            return POISON
        out = self.leave_block(result, child)
        node.outputs = [t.tt for t in flat_tensors(out)]
        node.params = 0  # the block's layers are counted themselves; meta["params"] totals them
        return out

    def share_block(self, bv: BlockValue, made: list[Node], site: Any) -> None:
        """A block bound to a name is one module, however often it is applied: its layers
        are counted at the first application; later ones must fit the same weights."""
        layers = [node for node in made if node.kind in ("layer", "op") and node.params]
        if bv.instance is None:
            bv.instance = layers
            return
        first: list[Node] = bv.instance
        for node, twin in zip(layers, first, strict=False):
            if node.torch != twin.torch:
                raise SourceError(
                    f"{bv.binding} shares its weights, so every input must fit them: its "
                    f"layer {twin.name} is {twin.torch} at its first use, but here it would be "
                    f"{node.torch}", getattr(site, "pos", None) or bv.pos)
        for node, twin in zip(layers, first, strict=False):
            for block in node.scope:
                block.meta["params"] -= node.params
            node.params = 0
            node.meta["shared_with"] = twin

    def enter_block(self, p: n.Param, tensor: Tensor, child: Frame, bv: BlockValue) -> Tensor:
        shape = list(tensor.shape)
        names: list[str | None] = [None] * len(shape)
        if p.type is not None:
            dims = p.type.shape.dims
            if len(dims) != len(shape):
                raise SourceError(f"block {bv.definition.name} expects {p.name} with "
                                  f"{len(dims)} dimensions, but it got {tensor.tt}", bv.pos,
                                  notes=[f"declared at {p.type.shape.pos}"])
            if p.type.dtype is not None:
                want = self.dtype(p.type)
                if want != tensor.tt.dtype:
                    raise SourceError(f"block {bv.definition.name} expects {p.name} of dtype "
                                      f"{want}, got {tensor.tt}", bv.pos)
            for axis, (expr, actual) in enumerate(zip(dims, shape, strict=True)):
                if isinstance(expr, n.Name) and expr.id not in child.env:
                    validate_name(expr.id, expr.pos, "a dimension")
                    names[axis] = expr.id
                    ref = Ref(expr.id, "dim")
                    child.mapping[ref] = actual
                    child.env[expr.id] = SInt(int(actual), ref) if isinstance(actual, int) \
                        else actual
                    child.kinds[expr.id] = "dim"
                    continue
                expected = self.eval(expr, child)
                if not self.dims_equal(expected, actual):
                    why = tensor.whys[axis] if axis < len(tensor.whys) else None
                    raise SourceError(
                        f"block {bv.definition.name} expects {p.name} of shape "
                        f"{self.header_text(dims, child)}, but dimension {axis} is "
                        f"{dim_str(actual)}, not {dim_str(expected)}", bv.pos,
                        notes=[f"input: {tensor.tt}"] + explain(why))
        new_shape: list[Dim] = []
        for axis, actual in enumerate(shape):
            if isinstance(actual, Sym):
                new_shape.append(actual)
            elif names[axis] is not None:
                new_shape.append(child.env[names[axis] or ""])
            else:
                ref = Ref(f"{p.name}.{axis}", "anon")
                child.mapping[ref] = actual
                new_shape.append(SInt(int(actual), ref))
        return Tensor(s.TT(tuple(new_shape), tensor.tt.dtype), tensor.whys, tensor.producer,
                      tensor.index)

    def header_text(self, dims: list[n.Expr], frame: Frame) -> str:
        return "[" + ", ".join(self.label(d.pos) or "?" for d in dims) + "]"

    @staticmethod
    def dims_equal(a: Any, b: Any) -> bool:
        if isinstance(a, Sym) or isinstance(b, Sym):
            return a == b
        return is_int(a) and is_int(b) and int(a) == int(b)

    def leave_block(self, value: Any, child: Frame) -> Any:
        """Block outputs, with sizes rewritten in the caller's scope."""
        if isinstance(value, Tensor):
            shape = tuple(child.to_caller(d) for d in value.shape)
            return Tensor(s.TT(shape, value.tt.dtype), value.whys, value.producer, value.index)
        if isinstance(value, tuple):
            items = tuple(self.leave_block(v, child) for v in value)
            return PrimaryTuple(items) if isinstance(value, PrimaryTuple) else items
        return value

    # ------------------------------------------------------------ tensors

    def annotate(self, value: Any, spec: n.ShapeSpec, frame: Frame, pos: Pos) -> None:
        value = primary(value)
        if isinstance(value, Poison):
            return
        if not isinstance(value, Tensor):
            raise SourceError(f"a shape annotation needs a tensor, got {describe(value)}",
                              spec.pos)
        shape = value.shape
        if len(spec.dims) != len(shape):
            raise SourceError(f"the annotation says {len(spec.dims)} dimensions, but the shape "
                              f"is {value.tt}", spec.pos)
        for axis, (expr, actual) in enumerate(zip(spec.dims, shape, strict=True)):
            if isinstance(expr, n.Name) and expr.id not in frame.env and expr.id not in LAYERS:
                validate_name(expr.id, expr.pos, "a dimension")
                frame.env[expr.id] = actual
                frame.kinds[expr.id] = "dim"
                continue
            expected = self.eval(expr, frame)
            if not self.dims_equal(expected, actual):
                written = self.label(spec.pos) or self.header_text(spec.dims, frame)
                raise SourceError(
                    f"the annotation {written} does not match the shape {value.tt}: dimension "
                    f"{axis} is {dim_str(actual)}, not {dim_str(expected)}", spec.pos,
                    notes=explain(value.whys[axis]),
                    fix=f"write {shape_str(list(shape))}")

    def tensor_binop(self, e: n.BinOp, left: Any, right: Any, frame: Frame) -> Any:
        ops = {"+": "add", "-": "sub", "*": "mul", "/": "div", "@": "matmul", "//": "floordiv",
               "%": "remainder"}
        op = ops[e.op]
        operands = []
        for value, side in ((left, e.left), (right, e.right)):
            if isinstance(value, Tensor):
                operands.append(value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                if e.op == "@":
                    raise SourceError("'@' multiplies two tensors", side.pos)
            else:
                raise SourceError(f"cannot use {e.op!r} on a tensor and {describe(value)}",
                                  side.pos)
        return self.tensor_op(op, operands, e, frame, scalar=len(operands) == 1,
                              symbol=e.op)

    def tensor_op(self, op: str, operands: list[Tensor], e: n.Expr, frame: Frame,
                  scalar: bool = True, symbol: str = "-") -> Any:
        pos = e.pos
        try:
            if op == "matmul":
                applied = s.matmul(s.Call("@", {}, [t.tt for t in operands], set()))
            elif scalar:
                applied = s.Applied(operands[0].tt, "")
            else:
                shape = least_pinned(s.broadcast([t.shape for t in operands], f"'{symbol}'"),
                                     operands)
                dtype = operands[0].tt.dtype if operands[0].tt.dtype in s.FLOAT_DTYPES else \
                    operands[1].tt.dtype
                applied = s.Applied(s.TT(shape, dtype), "")
        except s.ShapeError as err:
            raise self.shape_error(err, None, operands, pos) from None
        label = self.label(pos) or op
        node = self.new_node("op", op, None, label, f"torch.{op}", pos, operands, frame)
        node.outputs = [applied.outputs]
        node.meta["symbol"] = symbol
        out: s.TT = applied.outputs
        whys: list[Why | None] = []
        for axis in range(out.rank):
            found = None
            for t in operands:
                k = axis - (out.rank - t.tt.rank)
                if 0 <= k < t.tt.rank and t.shape[k] == out.shape[axis]:
                    found = t.whys[k]
                    break
            whys.append(found)
        frame.record(e, SiteRecord("op", None, node))  # type: ignore[arg-type]
        return Tensor(out, tuple(whys), node, 0)

    def eval_Index(self, e: n.Index, frame: Frame) -> Any:
        value = primary(self.eval(e.value, frame))
        if isinstance(value, Poison):
            return POISON
        if isinstance(value, tuple):
            if len(e.items) != 1:
                raise SourceError("a tuple takes one index", e.pos)
            if isinstance(e.items[0], (n.Slice, n.EllipsisExpr)):
                raise SourceError("a tuple takes an integer index, not a slice", e.items[0].pos,
                                  fix="index its items one by one: (t[0], t[1])")
            i = self.eval(e.items[0], frame)
            if not is_int(i) or not -len(value) <= i < len(value):
                raise SourceError(f"index {i!r} is out of range for a tuple of {len(value)}",
                                  e.items[0].pos)
            return value[int(i)]
        if not isinstance(value, Tensor):
            raise SourceError(f"cannot index {describe(value)}", e.pos)
        return self.index_tensor(value, e, frame)

    def index_tensor(self, t: Tensor, e: n.Index, frame: Frame) -> Tensor:
        items = e.items
        consumed = sum(1 for i in items if not isinstance(i, (n.EllipsisExpr,)) and not (
            isinstance(i, n.Constant) and i.value is None))
        if consumed > t.tt.rank:
            raise SourceError(f"too many indices for {t.tt}: {consumed} given", e.pos)
        shape: list[Dim] = []
        whys: list[Why | None] = []
        axis = 0
        label = self.label(e.pos) or "index"
        for item in items:
            if isinstance(item, n.EllipsisExpr):
                skip = t.tt.rank - consumed
                shape.extend(t.shape[axis:axis + skip])
                whys.extend(t.whys[axis:axis + skip])
                axis += skip
                continue
            if isinstance(item, n.Constant) and item.value is None:
                shape.append(1)
                whys.append(None)
                continue
            size = t.shape[axis]
            if isinstance(item, n.Slice):
                bounds = [self.eval(b, frame) if b is not None else None
                          for b in (item.lower, item.upper, item.step)]
                for b, b_expr in zip(bounds, (item.lower, item.upper, item.step), strict=True):
                    if b is not None and not is_int(b):
                        raise SourceError(f"slice bounds must be integers, got {describe(b)}",
                                          b_expr.pos if b_expr else item.pos)
                if bounds[2] is not None and bounds[2] <= 0:
                    raise SourceError("slice step must be positive", item.pos)
                if isinstance(size, Sym):
                    new: Dim = size if bounds == [None, None, None] else Sym.atom(
                        f"len({size}[{self.label(item.pos)}])")
                else:
                    new = slice_size(size, bounds)
                    if new == 0:
                        raise SourceError(f"the slice {self.label(item.pos)} of dimension "
                                          f"{axis} (size {size}) is empty", item.pos)
                shape.append(new)
                whys.append(t.whys[axis] if new == size else Why(new, f"{label} at "
                                                                      f"{e.pos.short}",
                                                                 kind="arg"))
                axis += 1
                continue
            index = self.eval(item, frame)
            if isinstance(index, Tensor):
                raise SourceError("indexing with a tensor is not supported", item.pos)
            if not is_int(index):
                raise SourceError(f"an index must be an integer, got {describe(index)}",
                                  item.pos)
            if is_int(size) and not -size <= index < size:
                raise SourceError(f"index {index} is out of range for dimension {axis} of "
                                  f"size {size}", item.pos, notes=[f"input: {t.tt}"])
            axis += 1
        shape.extend(t.shape[axis:])
        whys.extend(t.whys[axis:])
        tt = s.TT(tuple(shape), t.tt.dtype)
        node = self.new_node("op", "index", None, label, label, e.pos, [t], frame)
        node.outputs = [tt]
        frame.record(e, SiteRecord("op", None, node))  # type: ignore[arg-type]
        return Tensor(tt, tuple(whys), node, 0)

    # ------------------------------------------------------------ attribute names

    def site_names(self, d: n.Definition) -> dict[int, str]:
        """Attribute names for every layer and block site of a definition, in source order,
        over every branch: stable whatever the uses evaluate."""
        if d.name in self._names:
            return self._names[d.name]
        names: dict[int, str] = {}
        taken: set[str] = set()
        counters: dict[str, int] = {}
        sites: list[tuple[Any, str, str | None]] = []
        for stmt in walk_statements(d.body):
            for site, callee in walk_sites(stmt):
                base = self.site_prefix(callee, d)
                if base is None:
                    continue
                alias = site.alias if isinstance(site, n.Stage) else None
                sites.append((site, base, alias))
        # bound names and aliases are claimed first so counters skip them
        for stmt in walk_statements(d.body):
            if isinstance(stmt, n.Assign) and isinstance(stmt.target, n.Name):
                taken.add(stmt.target.id)
        for site, _, alias in sites:
            if alias:
                if alias in MODULE_ATTRIBUTES:
                    raise SourceError(f"`as {alias}` would replace nn.Module's own attribute "
                                      f"{alias!r}", site.alias_pos or site.pos,
                                      fix=f"choose another name, e.g. {alias}_layer")
                validate_name(alias, site.alias_pos or site.pos, "a layer")
                if alias in names.values():
                    raise SourceError(f"two layers are named {alias!r}", site.alias_pos or
                                      site.pos)
                names[id(site)] = alias
                taken.add(alias)
        for site, base, alias in sites:
            if alias:
                continue
            joiner = "_" if base[-1].isdigit() else ""
            while True:
                counters[base] = counters.get(base, 0) + 1
                candidate = f"{base}{joiner}{counters[base]}"
                if candidate not in taken and candidate not in MODULE_ATTRIBUTES:
                    break
            taken.add(candidate)
            names[id(site)] = candidate
        self._names[d.name] = names
        return names

    def site_prefix(self, callee: Sequence[str], d: n.Definition) -> str | None:
        if len(callee) == 2 and callee[0] == "nn":
            spec = TORCH_CLASSES.get(callee[1])
            return spec.prefix if spec else snake(callee[1])
        if len(callee) != 1:
            return None
        name = callee[0]
        if name in LAYERS:
            return LAYERS[name].prefix or name
        if name in self.definitions:
            return snake(name)
        return None


def least_pinned(shape: tuple[Dim, ...], operands: list[Tensor]) -> tuple[Dim, ...]:
    """Operands of an elementwise operation agree on their sizes, so each size of the result
    may be taken from whichever operand holds it most generally: in `x + y`, a residual
    whose shortcut went through a branch of the block, the size y has without the branch."""
    out = list(shape)
    for axis in range(len(out)):
        best = out[axis]
        for t in operands:
            k = axis - (len(out) - t.tt.rank)
            if 0 <= k < t.tt.rank:
                d = t.shape[k]
                if d == best and _pin_count(d) < _pin_count(best):
                    best = d
        out[axis] = best
    return tuple(out)


def _is_tensors(value: Any) -> bool:
    return isinstance(primary(value), Tensor) or (
        isinstance(value, tuple) and any(isinstance(v, Tensor) for v in value))


def _could_be(value: Any, default: Any) -> bool:
    """Whether a positional value can be the argument whose default is `default`: a flag
    takes a bool, a count an int (or a tuple of them), a rate a number, a mode a string."""
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if isinstance(default, int):
        return is_int(value) or (isinstance(value, tuple) and all(map(is_int, value)))
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def _pin_count(d: Any) -> int:
    return len(d.pinned) + len(d.branch) if isinstance(d, SInt) else 0


def pin_branch(value: Any, control: frozenset[Ref]) -> Any:
    """A value bound inside a branch: its sizes hold for that branch only."""
    if isinstance(value, Tensor):
        shape = tuple(pin(d, branch=control) for d in value.shape)
        return Tensor(s.TT(shape, value.tt.dtype), value.whys, value.producer, value.index)
    if isinstance(value, tuple):
        items = tuple(pin_branch(v, control) for v in value)
        return PrimaryTuple(items) if isinstance(value, PrimaryTuple) else items
    return pin(value, branch=control)


def pin_fresh(outputs: Any, inputs: list[Tensor], every: frozenset[Ref],
              flags: frozenset[Ref]) -> Any:
    """A layer's output sizes that it computed (not passed on from an input): one written
    as an expression holds while the layer's flags keep their values; a plain number, which
    says nothing of how it came from the arguments, holds for the arguments as they are."""
    if isinstance(outputs, tuple):
        return tuple(pin_fresh(o, inputs, every, flags) for o in outputs)
    passed = {id(d) for t in inputs for d in t.shape}
    shape = []
    for d in outputs.shape:
        if id(d) in passed or isinstance(d, Sym) or isinstance(d, bool):
            shape.append(d)
        elif isinstance(d, SInt):
            shape.append(pin(d, flags))
        else:
            shape.append(SInt(int(d), Opaque(every)) if every else d)
    return s.TT(tuple(shape), outputs.dtype)


def slice_size(size: int, bounds: list[Any]) -> int:
    """The length of size[lower:upper:step]; an SInt size keeps its expression where the
    slice's length is one (x[:, 1:] of a size C is C - 1), for generated code."""
    lower, upper, step = bounds
    length = len(range(*slice(*bounds).indices(int(size))))
    if isinstance(size, SInt) and step in (None, 1) and upper is None:
        start = lower or 0
        if 0 <= start <= size:
            return size - start
    return length


def generalise_repetition(steps: list[Any], count: Any) -> Any:
    """The output of `stage * n` whose count n is an expression of the class's names, in
    terms of n: a size that every copy changes by the same amount d is `start + n * d`, one
    no copy changes stays as it is, and any other depends on n in a way no expression here
    follows (Opaque: code generation then does not offer n)."""
    from .dims import Opaque, make_op, normal, poly_difference, poly_expr, poly_scale_add

    final = primary(steps[-1])
    if not isinstance(final, Tensor):
        return steps[-1]
    inputs = [primary(v) for v in steps]
    ranks = {len(t.shape) for t in inputs if isinstance(t, Tensor)}
    count_refs = frozenset(r for r in _refs_of(count))
    shape: list[Any] = []
    for axis, last in enumerate(final.shape):
        if isinstance(last, Sym) or not isinstance(last, int):
            shape.append(last)
            continue
        polys = [normal(expr_of(t.shape[axis]))  # type: ignore[arg-type]  # not a Sym here
                 if isinstance(t, Tensor) and len(ranks) == 1
                 else None for t in inputs]
        if any(p is None for p in polys) or len(polys) < 3:
            deps = frozenset(_refs_of(expr_of(last))) | count_refs
            if len(polys) >= 2 and all(p == polys[0] for p in polys if p is not None) and \
                    None not in polys:
                shape.append(last)
            else:
                shape.append(SInt(int(last), Opaque(deps)))
            continue
        start, step = polys[0], poly_difference(polys[1], polys[0])  # type: ignore[arg-type]
        if not step:
            shape.append(last)
        elif all(p == poly_scale_add(start, step, i)  # type: ignore[arg-type]
                 for i, p in enumerate(polys)):
            expr = make_op("+", poly_expr(start),  # type: ignore[arg-type]  # checked above
                           make_op("*", count, poly_expr(step)))
            shape.append(SInt(int(last), expr) if not isinstance(expr, int) else int(last))
        else:
            deps = frozenset(_refs_of(expr_of(last))) | count_refs
            shape.append(SInt(int(last), Opaque(deps)))
    tensor = Tensor(s.TT(tuple(shape), final.tt.dtype), final.whys, final.producer, final.index)
    if isinstance(steps[-1], PrimaryTuple):
        return PrimaryTuple((tensor, *steps[-1][1:]))
    return tensor


def _refs_of(expr: Any) -> list[Ref]:
    from .dims import refs

    return refs(expr) if not isinstance(expr, int) else []


_REPEATABLE = (LayerValue, BlockValue, LayerFactory, BlockFactory, TorchFactory)
_APPLICABLE = (LayerValue, BlockValue, LayerFactory, BlockFactory, TorchFactory, Repeated)


def _mentions_names(e: n.Expr) -> bool:
    stack: list[Any] = [e]
    while stack:
        item = stack.pop()
        if isinstance(item, n.Name):
            return True
        if isinstance(item, n.Expr):
            value: str
            for value in item.__slots__ if hasattr(item, "__slots__") else ():
                child = getattr(item, value, None)
                if isinstance(child, list):
                    stack.extend(c for c in child if isinstance(c, n.Expr))
                elif isinstance(child, n.Expr):
                    stack.append(child)
    return False


def header_dimensions(d: n.Definition) -> set[str]:
    """The names a definition's input shapes bind (`C`, `H` in `x: [B, C, H, W]`)."""
    return {dim.id for p in d.inputs if p.type is not None for dim in p.type.shape.dims
            if isinstance(dim, n.Name)}


def walk_statements(body: list[n.Stmt]) -> list[n.Stmt]:
    out: list[n.Stmt] = []
    stack = list(reversed(body))
    while stack:
        stmt = stack.pop()
        out.append(stmt)
        if isinstance(stmt, n.If):
            nested: list[n.Stmt] = []
            for _, branch in stmt.branches:
                nested.extend(branch)
            if stmt.orelse:
                nested.extend(stmt.orelse)
            stack.extend(reversed(nested))
    return out


def walk_sites(stmt: n.Stmt) -> list[tuple[Any, Sequence[str]]]:
    """Stages and calls that may build a layer or block, in source order."""
    roots: list[Any] = []
    if isinstance(stmt, n.Assign):
        roots = [stmt.value]
    elif isinstance(stmt, (n.ExprStmt, n.Return)):
        roots = [stmt.value]
    elif isinstance(stmt, n.If):
        roots = [cond for cond, _ in stmt.branches]
    found: list[tuple[Any, Sequence[str]]] = []
    stack = list(reversed(roots))
    while stack:
        item = stack.pop()
        if isinstance(item, n.Pipeline):
            stack.extend(reversed([item.head, *item.stages]))
        elif isinstance(item, n.Stage):
            found.append((item, item.callee))
            stack.extend(reversed([*item.args, *[k.value for k in item.kwargs]]))
        elif isinstance(item, n.Call):
            callee = _callee_of(item.func)
            if callee is not None:
                found.append((item, callee))
            stack.extend(reversed([item.func, *item.args, *[k.value for k in item.kwargs]]))
        elif isinstance(item, n.Expr):
            for attr in getattr(type(item), "__slots__", ()):
                child = getattr(item, attr, None)
                if isinstance(child, list):
                    stack.extend(reversed([c for c in child if isinstance(c, n.Expr)]))
                elif isinstance(child, n.Expr):
                    stack.append(child)
    return found


def _callee_of(func: n.Expr) -> list[str] | None:
    if isinstance(func, n.Name):
        return [func.id]
    if isinstance(func, n.Attribute) and isinstance(func.value, n.Name):
        return [func.value.id, func.attr]
    return None


__all__ = [
    "Checker",
    "Frame",
    "LayerSpec",
    "NetworkResult",
    "SiteRecord",
    "render_call",
    "snake",
    "validate_name",
    "walk_sites",
    "walk_statements",
]
