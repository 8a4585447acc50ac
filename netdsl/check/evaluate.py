"""Evaluation: statements, bindings and compile-time expressions of a body."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import nodes as n
from .. import shapes as s
from ..catalogue import (
    LAYERS,
    MODULE_ATTRIBUTES,
)
from ..dims import (
    ARITHMETIC,
    NO_REFS,
    Opaque,
    Ref,
    SInt,
    Sym,
    expr_of,
    pin,
    refs,
)
from ..errors import Pos, SourceError
from ..parser import NOT_IN_NETDSL
from ..sources import SOURCES
from ..values import (
    POISON,
    BlockFactory,
    BlockValue,
    LayerFactory,
    LayerValue,
    Poison,
    Repeated,
    Tensor,
    TorchFactory,
    describe,
)
from .control import generalise_repetition, pin_branch
from .diagnostics import did_you_mean_layer, pytorch_spelling, validate_name
from .naming import header_dimensions, walk_statements
from .scope import Frame, _local_expr, contains_poison, flat_tensors, is_int, primary

if TYPE_CHECKING:
    from .checker import Checker


_EVAL: dict[type, Any] = {}  # expression class -> Checker.eval_<class>


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


MAX_INT = 1 << 62
MAX_ITERATIONS = 10000  # as for `stage * n`

# Python's functions on compile-time numbers: name -> (fewest, most arguments; None: any)
COMPILE_TIME_FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "max": (1, None), "min": (1, None), "abs": (1, 1), "round": (1, 2), "int": (1, 1),
    "float": (1, 1), "sqrt": (1, 1), "ceil": (1, 1), "floor": (1, 1), "range": (1, 3),
}
TENSOR_STAGES = frozenset("max min abs round sqrt ceil floor".split())


def compute(name: str, values: list[Any]) -> Any:
    """What Python gives, computed so that generated code (netdsl/lower/sizes.py writes
    sqrt as `** 0.5`, ceil and floor with `//`) gives the same number."""
    plain = [int(v) if isinstance(v, int) else v for v in values]
    if name == "max":
        return max(plain)
    if name == "min":
        return min(plain)
    if name == "abs":
        return abs(plain[0])
    if name == "round":
        return round(*plain)
    if name == "int":
        return int(plain[0])
    if name == "float":
        return float(plain[0])
    if name == "sqrt":
        if plain[0] < 0:
            raise ValueError("the square root of a negative number is not real")
        return plain[0] ** 0.5
    if name == "ceil":
        return int(-(-plain[0] // 1))
    assert name == "floor"
    return int(plain[0] // 1)


def opaque(value: int, operands: Sequence[Any]) -> Any:
    """`value`, remembering only which of the class's names the operands depend on."""
    deps: set[Ref] = set()
    for v in operands:
        if isinstance(v, SInt):
            deps.update(refs(v.expr) if not isinstance(v.expr, Opaque) else v.expr.deps)
            deps.update(v.pinned)
            deps.update(v.branch)
    return SInt(value, Opaque(frozenset(deps))) if deps else value

_COMPARISONS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
                ">": operator.gt, ">=": operator.ge}  # built once, not at each comparison


class Evaluation:
    """Scopes and evaluation: statements, bindings and compile-time expressions."""

    def run_body(self: Checker, frame: Frame) -> Any:
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

    def exec_block(self: Checker, body: list[n.Stmt], frame: Frame) -> Any:
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

    def poison_targets(self: Checker, stmt: n.Stmt, frame: Frame) -> None:
        if isinstance(stmt, n.Assign):
            for name in self.target_names(stmt.target):
                frame.env[name] = POISON
                frame.bound.pop(name, None)

    def target_names(self: Checker, target: n.Expr) -> list[str]:
        if isinstance(target, n.Name):
            return [target.id]
        if isinstance(target, n.TupleExpr):
            return [name for item in target.items for name in self.target_names(item)]
        return []

    def exec_stmt(self: Checker, stmt: n.Stmt, frame: Frame, last: bool) -> Any:
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
        if isinstance(stmt, n.For):
            self.exec_for(stmt, frame)
            return None
        return None  # pass

    def exec_for(self: Checker, stmt: n.For, frame: Frame) -> None:
        """Runs the body once per value of the range, at check time: a layer written in the
        body is a new layer each time (recorded with the iteration, see Frame.loop)."""
        values = self.loop_range(stmt, frame)
        validate_name(stmt.target, stmt.target_pos, "a loop variable")
        if stmt.target in LAYERS or stmt.target in self.definitions:
            raise SourceError(f"{stmt.target!r} is the name of a layer or block; choose "
                              f"another name", stmt.target_pos)
        if frame.kinds.get(stmt.target) in ("tensor", "layer", "dim", "hyper"):
            raise SourceError(f"the loop variable {stmt.target!r} would replace the "
                              f"{frame.kinds[stmt.target]} of that name", stmt.target_pos,
                              fix="choose another name, e.g. i")
        if not values:
            self.warn("this loop's range is empty: its body never runs", stmt.iter.pos, frame)
        deps = self.value_refs(stmt.iter, frame) | frame.control
        frame.loops[id(stmt)] = len(values)
        carried = {name: [frame.env.get(name)] for s in walk_statements(stmt.body)
                   if isinstance(s, n.Assign) for name in self.target_names(s.target)}
        outer = frame.loop
        try:
            for k, value in enumerate(values):
                frame.loop = (*outer, k)
                frame.env[stmt.target] = value
                frame.kinds[stmt.target] = "local"
                frame.local_deps[stmt.target] = deps
                frame.local_exprs.pop(stmt.target, None)
                self.exec_block(stmt.body, frame)
                for name, steps in carried.items():
                    steps.append(frame.env.get(name))
                if frame.returned:
                    break
        finally:
            frame.loop = outer
        for name in carried:  # read by a later iteration: the last one's value may go unused
            if name in frame.loop_reads:
                frame.bound.pop(name, None)
        if deps - frame.control:
            self.generalise_loop(stmt, frame, carried, deps)

    def generalise_loop(self: Checker, stmt: n.For, frame: Frame, carried: dict[str, list[Any]],
                        deps: frozenset[Ref]) -> None:
        """A loop whose count depends on the class's names: the tensors it carries out have
        sizes in terms of that count (`C + layers * growth`, as for `stage * n`), or, when
        they change otherwise, depend on it in a way no expression follows."""
        it = stmt.iter
        count = self.eval(it.args[0], frame) if isinstance(it, n.Call) and len(
            it.args) == 1 else None
        for name, steps in carried.items():
            if not all(isinstance(v, Tensor) for v in steps) or len(steps) < 2:
                continue
            if isinstance(count, SInt) and not isinstance(count.expr, (int, Opaque)):
                frame.env[name] = generalise_repetition(steps, count.expr)
                continue
            first, last = steps[0], steps[-1]
            shape = tuple(d if d == first.shape[axis] or isinstance(d, Sym) else SInt(
                int(d), Opaque(frozenset(refs(expr_of(d))) | deps))
                for axis, d in enumerate(last.shape)) if first.tt.rank == last.tt.rank else \
                tuple(d if isinstance(d, Sym) else SInt(int(d), Opaque(deps))
                      for d in last.shape)
            frame.env[name] = Tensor(s.TT(shape, last.tt.dtype), last.whys, last.producer,
                                     last.index)

    def loop_range(self: Checker, stmt: n.For, frame: Frame) -> range:
        it = stmt.iter
        if not (isinstance(it, n.Call) and isinstance(it.func, n.Name) and
                it.func.id == "range" and "range" not in frame.env):
            raise SourceError("a `for` loop runs over range(...) of compile-time integers",
                              it.pos, fix="e.g. for i in range(layers):")
        if it.kwargs or not 1 <= len(it.args) <= 3:
            raise SourceError("range takes 1 to 3 integers: range(stop), range(start, stop) "
                              "or range(start, stop, step)", it.pos)
        bounds = []
        for arg in it.args:
            value = self.eval(arg, frame)
            if isinstance(value, Poison):
                raise SourceError("the loop's range depends on an earlier error", arg.pos)
            if isinstance(value, Sym):
                raise SourceError(f"a loop runs at compile time, but {value} is a symbolic "
                                  f"dimension, unknown until run time", arg.pos,
                                  fix="give it a size in the input shape, or use a "
                                      "hyperparameter")
            if not is_int(value):
                raise SourceError(f"range takes integers, got {describe(value)}", arg.pos)
            bounds.append(int(value))
        if len(bounds) == 3 and bounds[2] == 0:
            raise SourceError("range's step must not be zero", it.args[2].pos)
        values = range(*bounds)
        if len(values) > MAX_ITERATIONS:
            raise SourceError(f"{len(values)} iterations is more than netdsl runs "
                              f"({MAX_ITERATIONS})", it.pos)
        return values

    def condition(self: Checker, cond: n.Expr, frame: Frame) -> bool:
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

    def assign(self: Checker, target: n.Expr, value: Any, frame: Frame, source: n.Expr) -> None:
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

    def bind(self: Checker, name: str, value: Any, frame: Frame, pos: Pos, source: n.Expr) -> None:
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

    def value_refs(self: Checker, e: n.Expr, frame: Frame) -> frozenset[Ref]:
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

    def eval(self: Checker, e: n.Expr, frame: Frame) -> Any:
        method = _EVAL.get(e.__class__)
        if method is None:  # one method per node class, looked up once; kept unbound, as a
            # bound one would tie the checker in a cycle with itself and keep its whole graph
            # for the cyclic collector instead of freeing it when the program goes
            method = _EVAL[e.__class__] = getattr(type(self), "eval_" + type(e).__name__)
        return method(self, e, frame)

    def eval_Name(self: Checker, e: n.Name, frame: Frame) -> Any:
        return self.lookup(e.id, e.pos, frame)

    def lookup(self: Checker, name: str, pos: Pos, frame: Frame) -> Any:
        env = frame.env
        if name in env:
            if frame.bound.pop(name, None) is not None and frame.loop:
                frame.loop_reads.add(name)
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
        if name in NOT_IN_NETDSL:  # `break` alone on a line parses as a name
            raise SourceError(NOT_IN_NETDSL[name], pos)
        options = list(env) + list(LAYERS) + [k for k, d in self.definitions.items()
                                               if d.kind == "block"]
        raise SourceError(f"unknown name {name!r}", pos, fix=did_you_mean_layer(name, options))

    def eval_Number(self: Checker, e: n.Number, frame: Frame) -> Any:
        return e.value

    def eval_String(self: Checker, e: n.String, frame: Frame) -> Any:
        return e.value

    def eval_Constant(self: Checker, e: n.Constant, frame: Frame) -> Any:
        return e.value

    def eval_TupleExpr(self: Checker, e: n.TupleExpr, frame: Frame) -> Any:
        return tuple(primary(v) for v in self.eval_each(e.items, frame))

    def eval_Annotated(self: Checker, e: n.Annotated, frame: Frame) -> Any:
        value = self.eval(e.value, frame)
        self.annotate(value, e.shape, frame, e.value.pos)
        return value

    def eval_Ternary(self: Checker, e: n.Ternary, frame: Frame) -> Any:
        value = self.eval(e.then if self.condition(e.cond, frame) else e.otherwise, frame)
        # the other side is not evaluated, so what comes of the value is right only for
        # this side: pinned to the condition (a local bound to it is written from its
        # source instead, see bind)
        return pin(value, self.value_refs(e.cond, frame))

    def eval_BoolOp(self: Checker, e: n.BoolOp, frame: Frame) -> Any:
        value: Any = None
        for item in e.values:
            value = self.compile_time(self.eval(item, frame), item.pos, e.op)
            if (e.op == "and" and not value) or (e.op == "or" and value):
                return value
        return value

    def eval_UnaryOp(self: Checker, e: n.UnaryOp, frame: Frame) -> Any:
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

    def eval_Compare(self: Checker, e: n.Compare, frame: Frame) -> Any:
        first = primary(self.eval(e.left, frame))
        other: Any = None
        if len(e.ops) == 1:  # a tensor compared with a tensor or a number: a bool tensor
            other = primary(self.eval(e.comparators[0], frame))
            if isinstance(first, Tensor) or isinstance(other, Tensor):
                if isinstance(first, Poison) or isinstance(other, Poison):
                    return POISON
                return self.tensor_operator(e.ops[0], e, e.left, e.comparators[0], first, other,
                                            frame)
        chain = "a chain of comparisons" if len(e.ops) > 1 else "a comparison"
        left = self.compile_time(first, e.left.pos, chain)
        for i, (op, right_e) in enumerate(zip(e.ops, e.comparators, strict=True)):
            right = self.compile_time(other if i == 0 and len(e.ops) == 1 else
                                      primary(self.eval(right_e, frame)), right_e.pos, chain)
            if isinstance(left, Sym) or isinstance(right, Sym):
                if op in ("==", "!=") and isinstance(left, Sym) and isinstance(right, Sym):
                    ok = (left == right) == (op == "==")
                else:
                    raise SourceError("a symbolic dimension has no value until run time; it "
                                      "cannot be compared", e.pos)
            else:
                try:
                    ok = _COMPARISONS[op](left, right)
                except TypeError:
                    raise SourceError(f"cannot compare {describe(left)} with {describe(right)}",
                                      e.pos) from None
            if not ok:
                return False
            left = right
        return True

    def compile_time(self: Checker, value: Any, pos: Pos, where: str) -> Any:
        if isinstance(value, Poison):
            raise SourceError(f"{where} depends on an earlier error", pos)
        if isinstance(value, Tensor):
            raise SourceError(f"{where} works on compile-time values, not tensors" + (
                "; compare tensors one pair at a time" if where.startswith("a chain") else ""),
                pos)
        return value

    def eval_BinOp(self: Checker, e: n.BinOp, frame: Frame) -> Any:
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

    def arith(self: Checker, op: str, left: Any, right: Any, e: n.BinOp) -> Any:
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
        if op == "**":
            return self.power(left, right, e)
        result = ARITHMETIC[op](left, right)
        if isinstance(result, int) and abs(result) > MAX_INT:
            raise SourceError("integer too large", e.pos)
        if isinstance(result, float) and not math.isfinite(result):
            raise SourceError("number too large", e.pos)
        return result

    def power(self: Checker, left: Any, right: Any, e: n.BinOp) -> Any:
        """`a ** b` on compile-time numbers, as Python computes it. A size raised to a
        whole power stays an expression of the class's names (`(size // 4) ** 2`)."""
        if isinstance(left, Sym) or isinstance(right, Sym):
            raise SourceError("'**' on a symbolic dimension has no value until run time",
                              e.pos)
        if is_int(left) and is_int(right) and right >= 0:
            if right > 64 and abs(left) > 1:
                raise SourceError("integer too large", e.pos)
            if isinstance(right, SInt) and not isinstance(right.expr, int):
                # an exponent that is a name: the value is right, but not an expression
                # the normal form can hold, so code generation treats it as opaque
                return opaque(int(left) ** int(right), (left, right))
            result: Any = 1
            for _ in range(int(right)):
                result = result * left
            if abs(result) > MAX_INT:
                raise SourceError("integer too large", e.pos)
            return result
        if left == 0 and right < 0:
            raise SourceError("0 cannot be raised to a negative power", e.pos)
        if left < 0 and not is_int(right):
            raise SourceError(f"{left} ** {right} is not a real number", e.pos)
        try:
            result = float(left) ** float(right)
        except OverflowError:
            raise SourceError("number too large", e.pos) from None
        return result

    def repeat(self: Checker, value: Any, count: Any, count_pos: Pos, pos: Pos) -> Repeated:
        if not is_int(count) or count < 1:
            shown = str(count) if isinstance(count, (int, float)) and not isinstance(
                count, bool) else describe(count)  # a number as written, else what it is
            raise SourceError(f"a stage repeats a positive whole number of times, got "
                              f"{shown}", count_pos)
        if count > 10000:
            raise SourceError(f"{int(count)} repetitions is more than netdsl builds (10000)",
                              count_pos)
        repeated = Repeated(value, int(count), pos)
        if isinstance(count, SInt):  # a count code generation may write as a loop
            repeated.count_expr = count.expr
        return repeated

    def eval_Call(self: Checker, e: n.Call, frame: Frame) -> Any:
        if isinstance(e.func, n.Name) and e.func.id in COMPILE_TIME_FUNCTIONS and (
                e.func.id not in frame.env):
            return self.compile_time_call(e, frame)
        func_name = e.func.id if isinstance(e.func, n.Name) else None
        if func_name in SOURCES and func_name not in frame.env and \
                func_name not in self.definitions:  # parameter(...), ones(n, n) ...
            return self.eval_source(e, func_name, frame)
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

    def compile_time_call(self: Checker, e: n.Call, frame: Frame) -> Any:
        """`max(1, C // 4)`, `1 / sqrt(hd)`: Python's functions on compile-time numbers."""
        name = e.func.id  # type: ignore[attr-defined]
        if name == "range":
            raise SourceError("range(...) gives the values of a `for` loop", e.pos,
                              fix="write `for i in range(...):` with the loop's body indented "
                                  "below it")
        if e.kwargs:
            raise SourceError(f"{name}() takes no keyword arguments here", e.kwargs[0].pos)
        values = [self.eval(a, frame) for a in e.args]
        if any(isinstance(v, Poison) for v in values):
            return POISON
        for value, arg in zip(values, e.args, strict=True):
            if isinstance(primary(value), Tensor):
                stage = "max(dim=...)" if name in ("max", "min") else name
                raise SourceError(f"{name}(...) computes with compile-time numbers; on a tensor "
                                  f"it is a stage", arg.pos,
                                  fix=f"e.g. x -> {stage}" if name in TENSOR_STAGES else None)
            if isinstance(value, Sym):
                raise SourceError(f"{name}(...) needs a value, but {value} is a symbolic "
                                  f"dimension, unknown until run time", arg.pos)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SourceError(f"{name}(...) takes numbers, got {describe(value)}", arg.pos)
        low, high = COMPILE_TIME_FUNCTIONS[name]
        if len(values) < low or (high is not None and len(values) > high):
            count = f"{low}" if low == high else f"at least {low}" if high is None else \
                f"{low} or {high}"
            raise SourceError(f"{name}() takes {count} argument{'s' if high != 1 else ''}, "
                              f"got {len(values)}", e.pos)
        if name in ("max", "min") and len(values) < 2:
            raise SourceError(f"{name}() of numbers takes two or more (of a tensor it is a "
                              f"stage: x -> {name}(dim=...))", e.pos)
        try:
            result = compute(name, values)
        except (ValueError, OverflowError) as err:
            raise SourceError(f"{name}({', '.join(map(str, values))}): {err}", e.pos) from None
        if isinstance(result, float) and not math.isfinite(result) and all(
                math.isfinite(v) for v in values):
            raise SourceError("number too large", e.pos)
        deps = self.value_refs(e, frame)
        if deps and is_int(result):
            # the value depends on the class's names (through a float, too: `width / 5`)
            # by a function the size expressions cannot hold; code generation writes the
            # call where it is written and treats sizes computed from it as opaque
            return SInt(int(result), Opaque(deps))
        return result

    def tensor_args(self: Checker, e: n.Call, frame: Frame) -> list[Any]:
        if e.kwargs:
            raise SourceError("tensors are passed by position; keyword arguments go in the "
                              "first parentheses", e.kwargs[0].pos)
        return [self.eval(a, frame) for a in e.args]

    def eval_Attribute(self: Checker, e: n.Attribute, frame: Frame,
                       call: n.Call | None = None) -> Any:
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

    def eval_each(self: Checker, items: Sequence[n.Expr], frame: Frame) -> list[Any]:
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
