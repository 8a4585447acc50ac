"""The checker: evaluates every network over shapes, with blocks checked at each use.

It is an abstract interpreter: tensors are values.Tensor (a shape, a dtype and where each
size came from), layers and blocks are values, and compile-time arithmetic runs on ints
that remember their expression (dims.SInt). Each evaluation of a network or block body
is a Frame; frames record, per source site, what was built there, which lowering turns
into the IR. Errors are collected per statement, so independent mistakes are all
reported; a failed value becomes POISON and raises nothing more. The work is split by
responsibility into the mixins this class combines (one module each in this package).
"""

from __future__ import annotations

from typing import Any

from .. import nodes as n
from .. import shapes as s
from ..budget import Budget, BudgetExceeded
from ..dims import (
    Dim,
    Ref,
    SInt,
    Sym,
)
from ..errors import Diagnostic, Pos, SourceError
from ..values import (
    POISON,
    LayerValue,
    Node,
    Tensor,
    Why,
    describe,
)
from .bind import Binding
from .blocks import Blocks
from .diagnostics import Diagnostics, did_you_mean, validate_name
from .evaluate import Evaluation
from .layers import Layers
from .naming import Naming
from .pipelines import Pipelines
from .pitfalls import Pitfalls
from .provenance import Provenance
from .replay import Recording, Replays
from .scope import Frame, NetworkResult, flat_tensors, is_int
from .sources import Sources
from .tensors import Tensors


class Checker(Evaluation, Pipelines, Binding, Layers, Blocks, Replays, Tensors, Provenance,
              Pitfalls, Diagnostics, Naming, Sources):
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
        self.network_defaults: dict[str, dict[str, Any]] = {}  # see check_network
        self.budget = Budget()  # all networks together; see budget.py
        # for the warnings about silent pitfalls: the sizes of network inputs declared as the
        # batch `B` (by id, each kept alive), and tensors an in-place layer overwrote
        self.batch_whys: dict[int, Why] = {}
        self.overwritten: dict[int, tuple[Tensor, LayerValue, Frame]] = {}
        # block uses checked once and copied for equal later uses (replay.py); the frames
        # of block uses in the order they were made; how many messages were ever reported
        self.recordings: dict[tuple[Any, ...], Recording | None] = {}  # None: never copied
        self.recorded_blocks: dict[int, tuple[Any, ...]] = {}  # id(block node) -> its key
        self.block_frames: list[Frame] = []
        self.diagnostics_made = 0

    def new_node(self, kind: str, op: str, name: str | None, label: str, torch: Any,
                 pos: Pos | None, inputs: list[Tensor], frame: Frame | None) -> Node:
        self.budget.node(pos, frame)
        self._next_id += 1
        node = Node(self._next_id, kind, op, name, label, torch, pos, inputs, [],
                    scope=frame.scope if frame else ())
        if frame is None or not frame.speculative:
            self.nodes.append(node)
        return node

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
            self.network_frame(frame, network.definition, network.frame.overrides,
                               self.network_defaults.get(network.definition.name, {}))
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

    def check_network(self, d: n.Definition, overrides: dict[str, list[Any]],
                      defaults: dict[str, Any] | None = None) -> NetworkResult:
        """`defaults`: hyperparameter values that replace the header's defaults (compile's
        validation checks a class at other values than the defaults this way)."""
        self.nodes = []
        frame = Frame(d)
        self.network_defaults[d.name] = defaults or {}
        inputs = self.network_frame(frame, d, overrides, defaults or {})
        self.uses.setdefault(d.name, []).append(frame)
        result = self.run_body(frame)
        tensors = flat_tensors(result)
        outputs = [t.tt for t in tensors]
        if tensors:
            out = self.new_node("output", "output", None, "output", "", d.pos, tensors, frame)
            out.outputs = outputs
        nodes = self.nodes
        params = sum(node.params for node in nodes if node.kind in ("layer", "op", "parameter"))
        return NetworkResult(d, frame, inputs, outputs, nodes, params)

    def network_frame(self, frame: Frame, d: n.Definition, overrides: dict[str, list[Any]],
                      defaults: dict[str, Any]) -> list[tuple[str, s.TT]]:
        """Binds a network's hyperparameters and inputs in its frame."""
        frame.overrides = overrides
        for p in d.hyperparams:
            frame.hyper_deps[p.name] = frozenset((Ref(p.name, "hyper"),))
            if p.name in defaults:
                self.bind_hyper(frame, p.name, defaults[p.name])
                continue
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
                # the header's names keep meaning what --input gives them, so the body's
                # `reshape(B, -1)` or `arange(T)` still checks
                if not isinstance(dim_expr, n.Name):
                    continue
                if dim_expr.id not in frame.env:
                    validate_name(dim_expr.id, dim_expr.pos, "a dimension")
                    frame.env[dim_expr.id] = value
                    frame.kinds[dim_expr.id] = "dim"
                elif isinstance(frame.env.get(dim_expr.id), Sym) and \
                        frame.kinds.get(dim_expr.id) == "dim":
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
