"""Translation validation: every class `compile` writes is checked against `check` before it
is written (after CompCert and Alive2, which validate each compilation rather than trust
the compiler).

For a network class, and for values of each hyperparameter it offers other than the
default, the class's ``__init__`` is *interpreted* (its IR, not Python: a small evaluator of
the class's compile-time expressions, independent of the checker's control flow), giving
the torch modules and parameters it would build; the program is checked again with those
values as the defaults, and the layers `check` finds there are compared with them. A
hyperparameter for which the two differ is not offered: the class is specialised for it,
and its docstring says why (the first difference found).

What this compares: each torch module's class and its arguments as torch's signature names
them (defaults filled in), and each parameter's shape; then ``forward``, followed through its
``if``s on flags and built submodules, its loops and the block instances it calls, by the
operations other than module calls it runs (where `check` finds other operations than at the
defaults but the class would run the same ones, it cannot follow the value). Nothing is run.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from .. import ir
from ..catalogue import LAYERS, REQUIRED
from ..dims import SInt

Key = tuple[Any, ...]  # a module or parameter as compared: ("Linear", (("bias", True), ...))


class Unvalidated(Exception):
    """The interpreter meets something it does not model; the class is trusted as written."""


class Refused(Exception):
    """The class refuses these values when built (`raise ValueError` in __init__)."""


# ---------------------------------------------------------------- what torch classes take


def _torch_signatures() -> dict[str, tuple[Any, ...]]:
    out: dict[str, tuple[Any, ...]] = {}
    for spec in LAYERS.values():
        for cls in spec.torch_classes.values():
            out.setdefault(cls, spec.torch_signature)
    return out


SIGNATURES = _torch_signatures()


def plain(value: Any) -> Any:
    """A value as compared: ints for SInt, tuples for lists, at any depth."""
    if isinstance(value, bool):
        return value
    if isinstance(value, SInt):
        return int(value)
    if isinstance(value, (list, tuple)):
        return tuple(plain(v) for v in value)
    return value


def module_key(cls: str, args: dict[str, Any]) -> Key:
    return (cls, tuple(sorted((k, plain(v)) for k, v in args.items())))


# ---------------------------------------------------------------- what check built


def checked_modules(nodes: list[Any]) -> Counter[Key]:
    """The torch modules and parameters of a checked network, each once (a shared layer's
    later uses are the same module)."""
    found: Counter[Key] = Counter()
    for node in nodes:
        if node.kind == "layer" and "cls" in node.meta and "shared_with" not in node.meta:
            if node.meta.get("opaque"):
                raise Unvalidated(f"{node.meta['cls']} is a torch class netdsl does not model")
            cls = node.meta["cls"]
            taken = {p.name for p in SIGNATURES.get(cls, ())}
            # only what the constructor takes (need_weights, is_causal go to forward)
            args = {k: v for k, v in node.meta.get("args", {}).items() if k in taken}
            found[module_key(cls, args)] += 1
        elif node.kind == "parameter" and "shared_with" not in node.meta:
            found[("Parameter", plain(node.outputs[0].shape))] += 1
    return found


# ---------------------------------------------------------------- what the class builds

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "max": max, "min": min, "abs": abs, "int": int, "float": float, "round": round,
    "len": len, "range": range, "sum": sum, "tuple": tuple, "list": list, "bool": bool,
    "math.ceil": math.ceil, "math.floor": math.floor, "math.sqrt": math.sqrt,
    "math.log": math.log, "math.exp": math.exp, "math.prod": math.prod,
}
MAX_MAGNITUDE = 2**62  # the checker's bound on sizes: a larger value is no size to build


def evaluate(code: str, env: dict[str, Any]) -> Any:
    """The value of one compile-time expression of the class IR (Python syntax, read with
    `ast`, never executed)."""
    try:
        tree = ast.parse(code, mode="eval")
        return _eval(tree.body, env)
    except SyntaxError as err:
        raise Unvalidated(f"cannot read {code!r}") from err
    except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError,
            OverflowError) as err:  # Python would raise as well: no value to compare
        raise Unvalidated(f"{type(err).__name__} in {code!r}") from None


def _name_of(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name_of(node.value)}.{node.attr}"
    raise Unvalidated(ast.dump(node)[:80])


def _eval(node: ast.expr, env: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = _name_of(node)
        if name in env:
            return env[name]
        if name == "math.pi":
            return math.pi
        raise Unvalidated(f"unknown name {name}")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, env), _eval(node.right, env)
        if isinstance(node.op, ast.Pow) and isinstance(right, int) and abs(right) > 64:
            raise Unvalidated("a large power")
        combined = _BINARY[type(node.op)](left, right)
        if isinstance(combined, int) and abs(combined) > MAX_MAGNITUDE:
            raise Unvalidated("a value beyond the size bound")
        return combined
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, env)
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return +value
        if isinstance(node.op, ast.Not):
            return not value
        raise Unvalidated("~")
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            result: Any = True
            for item in node.values:
                result = _eval(item, env)
                if not result:
                    return result
            return result
        either: Any = False
        for item in node.values:
            either = _eval(item, env)
            if either:
                return either
        return either
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, env)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body if _eval(node.test, env) else node.orelse, env)
    if isinstance(node, (ast.Tuple, ast.List)):
        return tuple(_eval(item, env) for item in node.elts)
    if isinstance(node, ast.Subscript):
        value = _eval(node.value, env)
        index = node.slice
        if isinstance(index, ast.Slice):
            parts = [None if p is None else _eval(p, env)
                     for p in (index.lower, index.upper, index.step)]
            return value[slice(*parts)]
        return value[_eval(index, env)]
    if isinstance(node, ast.Call) and not node.keywords:
        func = _FUNCTIONS.get(_name_of(node.func))
        if func is None:
            raise Unvalidated(f"a call of {_name_of(node.func)}")
        args = [_eval(a, env) for a in node.args]
        if func is range and len(range(*args)) > 100_000:
            raise Unvalidated("a long range")
        return func(*args)
    raise Unvalidated(ast.dump(node)[:80])


class Instantiation:
    """Interprets classes' __init__ at given arguments: the modules they build."""

    def __init__(self, module: ir.Module) -> None:
        self.classes = {cls.name: cls for cls in module.classes}
        self.built: Counter[Key] = Counter()
        self.depth = 0
        self.last_length = 0  # the items of the last container built

    def build(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Interprets class `name`'s __init__; its environment: parameters, locals, and
        `self.attr` for each attribute (a child instance's (class, environment), True for a
        torch module, None where not built, a flag's value, `self.attr#len` for containers)."""
        cls = self.classes[name]
        self.depth += 1
        if self.depth > 64:
            raise Unvalidated("classes nest too deeply")
        env: dict[str, Any] = {}
        params = list(cls.params)
        if len(args) > len(params):
            raise Unvalidated(f"{name} takes {len(params)} arguments")
        for param, value in zip(params, args, strict=False):
            env[param.name] = value
        for key, value in kwargs.items():
            if key not in {p.name for p in params}:
                raise Unvalidated(f"{name} has no parameter {key}")
            env[key] = value
        for param in params:
            if param.name not in env:
                if param.default is None:
                    raise Unvalidated(f"{name} needs {param.name}")
                env[param.name] = evaluate(param.default, env)
        self.statements(cls.init, env)
        self.depth -= 1
        return env

    def statements(self, stmts: list[ir.InitStmt], env: dict[str, Any]) -> None:
        for stmt in stmts:
            if isinstance(stmt, ir.Default):
                if env.get(stmt.name) is None:
                    env[stmt.name] = evaluate(stmt.value, env)
            elif isinstance(stmt, ir.Local):
                env[stmt.name] = evaluate(stmt.value, env)
            elif isinstance(stmt, ir.Flag):
                env[f"self.{stmt.attr}"] = evaluate(stmt.value, env)
            elif isinstance(stmt, ir.Submodule):
                attr = f"self.{stmt.attr}"
                env[attr] = None if stmt.ctor is None else self.ctor(stmt.ctor, env)
                if isinstance(stmt.ctor, (ir.Sequential, ir.Repeat)):
                    env[f"{attr}#len"] = self.last_length
            elif isinstance(stmt, ir.Fail):
                raise Refused(stmt.message)
            elif isinstance(stmt, ir.InitIf):
                for cond, body in stmt.branches:
                    if evaluate(cond, env):
                        self.statements(body, env)
                        break
                else:
                    self.statements(stmt.orelse, env)
            elif isinstance(stmt, ir.Parameter):
                self.built[("Parameter", self.created_shape(stmt.value, env))] += 1
                env[f"self.{stmt.attr}"] = True
            elif isinstance(stmt, ir.Buffer):
                env[f"self.{stmt.attr}"] = True  # no parameter or module: check counts none
            elif isinstance(stmt, ir.TensorLocal):
                continue
            else:
                raise Unvalidated(type(stmt).__name__)

    def ctor(self, ctor: ir.Ctor, env: dict[str, Any]) -> Any:
        """Builds one constructor's modules; what the attribute holds (see build)."""
        if isinstance(ctor, ir.Sequential):
            items = [self.ctor(item, env) for item in ctor.items]
            self.last_length = len(items)
            return items
        if isinstance(ctor, ir.Repeat):
            count = evaluate(f"range({ctor.count})", env)
            copies = []
            for index in count:
                inner = dict(env)
                if ctor.index is not None:
                    inner[ctor.index] = index
                copies.append(self.ctor(ctor.item, inner))
            self.last_length = len(copies)
            return copies
        args = [evaluate(a, env) for a in ctor.args]
        # dtype= is a factory argument (a half network's layers): check's args leave it out
        kwargs = {k: evaluate(v, env) for k, v in ctor.kwargs if k != "dtype"}
        if ctor.func in self.classes:
            return (ctor.func, self.build(ctor.func, args, kwargs))
        if not ctor.func.startswith("nn."):
            raise Unvalidated(f"a call of {ctor.func}")
        cls = ctor.func[3:]
        sig = SIGNATURES.get(cls)
        if sig is None:
            raise Unvalidated(f"nn.{cls} is no class of the catalogue")
        bound: dict[str, Any] = {}
        positional = [p for p in sig if not p.keyword_only and not p.star and not p.var_keyword]
        if len(args) > len(positional):
            raise Unvalidated(f"nn.{cls} takes {len(positional)} positional arguments")
        for p, value in zip(positional, args, strict=False):
            bound[p.name] = value
        bound.update(kwargs)
        for p in sig:
            if p.name not in bound and not p.star and not p.var_keyword:
                if p.default is REQUIRED:
                    raise Unvalidated(f"nn.{cls} needs {p.name}")
                bound[p.name] = p.default
        self.built[module_key(cls, bound)] += 1
        return True

    def created_shape(self, value: ir.Expr, env: dict[str, Any]) -> tuple[int, ...]:
        """The shape of `torch.zeros(1, 1, hidden)`, `torch.empty(...).normal_(...)`."""
        while True:  # to the call that makes the tensor: `torch.ones(C, 1, 1) * scale`,
            # `nn.init.trunc_normal_(torch.empty(n, heads), std=0.02)`
            if isinstance(value, ir.CallMethod):
                value = value.obj
            elif isinstance(value, ir.BinaryOp):
                value = value.left if isinstance(value.left, (ir.CallFunction, ir.CallMethod)) \
                    else value.right
            elif isinstance(value, ir.CallFunction) and value.func.startswith("nn.init.") and \
                    value.args:
                value = value.args[0]
            else:
                break
        if not isinstance(value, ir.CallFunction) or value.func not in (
                "torch.zeros", "torch.ones", "torch.empty", "torch.full", "torch.randn",
                "torch.rand"):
            raise Unvalidated("a parameter made another way")
        items = value.args[:1] if value.func == "torch.full" else value.args
        dims: list[Any] = []
        for item in items:
            if isinstance(item, ir.Const):
                dims.append(evaluate(item.code, env))
            elif isinstance(item, (ir.TupleOf, ir.ListOf)) and all(
                    isinstance(i, ir.Const) for i in item.items):
                dims.extend(evaluate(i.code, env) for i in item.items)  # type: ignore[union-attr]
            else:
                raise Unvalidated("a parameter's size from a tensor")
        flat: list[int] = []
        for d in dims:
            flat.extend(d if isinstance(d, tuple) else (d,))
        return tuple(flat)


def instantiate(module: ir.Module, name: str,
                kwargs: dict[str, Any]) -> tuple[Counter[Key], Counter[Any]]:
    """What class `name` builds with these arguments, and the operations other than module
    calls its forward runs (each kind, how often), block instances' forward included."""
    inst = Instantiation(module)
    try:
        env = inst.build(name, [], kwargs)
        ops: Counter[Any] = Counter()
        forward_ops(inst.classes, name, env, ops, 1)
    except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, OverflowError,
            RecursionError) as err:  # what the interpreter cannot follow: trusted as written
        raise Unvalidated(f"{type(err).__name__}: {err}") from None
    return inst.built, ops


def forward_ops(classes: dict[str, ir.ClassDef], name: str, env: dict[str, Any],
                ops: Counter[Any], times: int) -> None:
    statements(classes, classes[name].forward, env, ops, times)


def statements(classes: dict[str, ir.ClassDef], stmts: list[ir.ForwardStmt],
               env: dict[str, Any], ops: Counter[Any], times: int) -> None:
    """Follows forward's `if`s (on flags and built submodules) and loops (their counts)."""
    for stmt in stmts:
        if isinstance(stmt, ir.If):
            body = stmt.orelse
            for cond, branch in stmt.branches:
                if condition(cond, env):
                    body = branch
                    break
            statements(classes, body, env, ops, times)
        elif isinstance(stmt, ir.For):
            statements(classes, stmt.body, env, ops, times * loop_count(stmt.iterable, env))
            containers = stmt.iterable.args if isinstance(stmt.iterable, ir.CallFunction) \
                else [stmt.iterable]
            for container in containers:  # the block instances the loop calls, each once
                if isinstance(container, ir.Const):
                    instances(classes, env.get(container.code), ops, times)
        else:
            expression_ops(classes, stmt.value, env, ops, times)


def expression_ops(classes: dict[str, ir.ClassDef], e: Any, env: dict[str, Any],
                   ops: Counter[Any], times: int) -> None:
    stack = [e]
    while stack:
        item = stack.pop()
        if isinstance(item, ir.CallModule):
            attr = item.attr.split("[", 1)[0]
            held = env.get(f"self.{attr}")
            for index in re.findall(r"\[(\d+)\]", item.attr):  # `self.layers[2][0](x)`
                if not isinstance(held, list) or int(index) >= len(held):
                    raise Unvalidated(f"an index of {attr}")
                held = held[int(index)]
            instances(classes, held, ops, times)
        elif isinstance(item, ir.BinaryOp):
            ops[("op", item.op)] += times
        elif isinstance(item, ir.UnaryOp):
            ops[("unary", item.op)] += times
        elif isinstance(item, ir.CallFunction):
            ops[("call", item.func)] += times
        elif isinstance(item, ir.CallMethod):
            ops[("method", item.method)] += times
        elif isinstance(item, ir.Subscript):
            ops[("index",)] += times
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif hasattr(item, "__dataclass_fields__"):
            stack.extend(getattr(item, f) for f in item.__dataclass_fields__)


def instances(classes: dict[str, ir.ClassDef], held: Any, ops: Counter[Any],
              times: int) -> None:
    """The operations of the block instances an attribute holds (one, or a container's:
    nn.Sequential runs every copy)."""
    if isinstance(held, tuple) and len(held) == 2 and held[0] in classes:
        forward_ops(classes, held[0], held[1], ops, times)
    elif isinstance(held, list):
        for item in held:
            instances(classes, item, ops, times)


def condition(cond: ir.Expr, env: dict[str, Any]) -> bool:
    """A forward `if`'s condition: a flag of self, or whether a submodule was built."""
    if isinstance(cond, ir.Const):
        return bool(evaluate(cond.code, env))
    if isinstance(cond, ir.UnaryOp) and cond.op == "not":
        return not condition(cond.operand, env)
    if isinstance(cond, ir.BinaryOp) and cond.op in ("is", "is not") and \
            isinstance(cond.left, ir.Const) and isinstance(cond.right, ir.Const):
        is_none = evaluate(cond.left.code, env) is None
        return is_none if cond.op == "is" else not is_none
    raise Unvalidated("a forward condition on tensors")


def loop_count(iterable: ir.Expr, env: dict[str, Any]) -> int:
    """How often forward's `for` runs: a container's length, a range's."""
    if isinstance(iterable, ir.Const):
        if f"{iterable.code}#len" in env:
            return int(env[f"{iterable.code}#len"])
        return len(evaluate(iterable.code, env))
    if isinstance(iterable, ir.CallFunction) and iterable.func == "zip" and iterable.args:
        return min(loop_count(a, env) for a in iterable.args)
    if isinstance(iterable, ir.CallFunction) and iterable.func == "range":
        return len(range(*(evaluate(a.code, env) for a in iterable.args
                           if isinstance(a, ir.Const))))
    raise Unvalidated("a loop over something else")


def checked_ops(nodes: list[Any]) -> Counter[Any]:
    """What check computes besides modules: each operation (slices, arithmetic, reshapes)
    and how often, in the network's nodes."""
    return Counter((node.op, node.meta.get("symbol")) for node in nodes if node.kind == "op")


def first_difference(built: Counter[Key], checked: Counter[Key]) -> str:
    """One module the class builds where check finds another, for the docstring."""
    extra = built - checked
    missing = checked - built
    def show(key: Key) -> str:
        if key[0] == "Parameter":
            return f"a parameter of shape {list(key[1])}"
        return f"nn.{key[0]}({', '.join(f'{k}={safe(v)}' for k, v in key[1])})"
    if extra and missing:
        built_key, checked_key = next(iter(extra)), next(iter(missing))
        if built_key[0] == checked_key[0] != "Parameter":  # the same class: what differs
            same = set(built_key[1]) & set(checked_key[1])
            built_key = (built_key[0], tuple(a for a in built_key[1] if a not in same))
            checked_key = (checked_key[0], tuple(a for a in checked_key[1] if a not in same))
        return f"it would build {show(built_key)} where check finds {show(checked_key)}"
    if extra:
        return f"it would build {show(next(iter(extra)))}, which check does not find"
    return f"it would not build {show(next(iter(missing)))}, which check finds"


SAFE_TEXT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-. ")


def safe(value: Any) -> str:
    """A value for a docstring: numbers as Python writes them, a string only when it holds
    nothing that could end a docstring or a comment (user strings are data, never code)."""
    if isinstance(value, str):
        return repr(value) if set(value) <= SAFE_TEXT and len(value) <= 40 else "<a string>"
    if isinstance(value, tuple):
        return "(" + ", ".join(safe(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)
