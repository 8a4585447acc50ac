"""Tensors that are not inputs: learnable tensors (`parameter`) and created tensors
(`arange`, `ones`, `zeros`, `full`, `eye`, and the `*_like` stages), as PyTorch makes them.

What each source call yields (shape and dtype, torch's rules), how a parameter's `init` is
validated, and which graph nodes hold constants: a tensor that depends on compile-time
values only is computed once when the module is built and kept as a non-persistent buffer.
The checker (check/sources.py), lowering (lower/sources.py) and the cost model read this.
Nothing here imports torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .dims import Dim, Sym
from .shapes import FLOAT_DTYPES, TT, Applied, Call, ShapeError

if TYPE_CHECKING:
    from .values import Node

# the functions that make a tensor from compile-time values (no tensor input)
CREATORS = ("arange", "ones", "zeros", "full", "eye")
SOURCES = frozenset(("parameter", *CREATORS))

# init kind -> the keyword arguments it takes, with torch's defaults
INITS: dict[str, dict[str, float]] = {
    "zeros": {}, "ones": {}, "normal": {"mean": 0.0, "std": 1.0},
    "trunc_normal": {"std": 1.0}, "uniform": {"a": 0.0, "b": 1.0},
}
INIT_KEYWORDS = frozenset(k for keys in INITS.values() for k in keys)

# the stages that make a tensor like their input; the random ones are never constants
RANDOM_LIKE = frozenset(("randn_like", "rand_like"))

# torch's name for each netdsl dtype (every one is an attribute of torch)


def integer_dtype(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def arange_length(start: Any, end: Any, step: Any) -> Dim:
    """len(torch.arange(start, end, step)): ceil((end - start) / step), symbolic when end or
    start is (a symbolic bound needs whole-number arguments and a positive step)."""
    if step == 0:
        raise ShapeError("arange's step must not be zero")
    if isinstance(start, Sym) or isinstance(end, Sym):
        if not (integer_dtype(step) and step > 0) or isinstance(start, float) or isinstance(
                end, float):
            raise ShapeError("arange with a symbolic bound needs whole numbers and a positive "
                             "step (its length would have no expression)")
        span = end - start
        return span if step == 1 else (span + (step - 1)) // step
    if (end - start) * step < 0:
        raise ShapeError(f"arange({start}, {end}, step={step}) goes the wrong way: "
                         f"the step's sign must take start to end")
    return max(0, math.ceil((end - start) / step))


def arange_dtype(start: Any, end: Any, step: Any) -> str:
    """torch: long when every bound is a whole number, else the default float."""
    values = [v for v in (start, end, step) if not isinstance(v, Sym)]
    return "long" if all(integer_dtype(v) for v in values) else "float"


def full_dtype(value: Any) -> str:
    """torch.full infers its dtype from the fill value: bool, long, or float."""
    if isinstance(value, bool):
        return "bool"
    return "long" if integer_dtype(value) else "float"


def like(name: str) -> Any:
    """The shape rule of `x -> zeros_like` and its kin: the input's shape and dtype."""

    def rule(call: Call) -> Applied:
        x = call.inputs[0]
        if name in RANDOM_LIKE and x.dtype not in FLOAT_DTYPES:
            raise ShapeError(f"{name} draws floating-point numbers, but its input is "
                             f"{x.dtype}")
        return Applied(TT(x.shape, x.dtype), f"torch.{name}")

    return rule


@dataclass(frozen=True, slots=True)
class Init:
    """How a parameter starts: a kind of INITS, or "fill" with a number."""

    kind: str
    args: tuple[tuple[str, Any], ...] = ()  # keyword arguments, as written or defaulted
    fill: Any = None  # the number, for kind "fill"


# ---------------------------------------------------------------- constants


def constant(node: Node) -> bool:
    """Whether a node's value depends on compile-time values only, so it can be computed
    once when the module is built: a created tensor whose sizes are known, or a tensor
    operation (a function, not a module: no weights, no training mode) on such tensors.
    A parameter, an input, a random tensor or a block use is never one; neither is a tensor
    that comes into a block through its inputs (the block's class cannot compute it).
    Memoised in node.meta; iterative, as a chain of operations may be long."""
    stack = [node]
    while stack:
        item = stack[-1]
        if "constant" in item.meta:
            stack.pop()
            continue
        if run_time_sizes(item):  # a size read from an input: `mask[:T, :T]`, `arange(T)`
            item.meta["constant"] = False
        elif item.meta.get("created"):
            item.meta["constant"] = True
        elif item.kind != "op" or item.op in RANDOM_LIKE or not item.inputs or any(
                t.producer is None or t.producer.scope != item.scope for t in item.inputs):
            item.meta["constant"] = False
        else:
            pending = [t.producer for t in item.inputs
                       if t.producer is not None and "constant" not in t.producer.meta]
            if pending:
                stack.extend(pending)
                continue
            # a slice whose bounds are run-time sizes (`mask[:T, :T]`) is computed in forward
            item.meta["constant"] = all(t.producer is not None and t.producer.meta["constant"]
                                        for t in item.inputs) and not any(
                isinstance(d, Sym) for tt in item.outputs for d in tt.shape)
        stack.pop()
    return bool(node.meta["constant"])


def run_time_sizes(node: Node) -> bool:
    """Whether a node's shape or arguments hold a size known only at run time."""
    args = node.meta.get("args") or {}
    values = [d for tt in node.outputs for d in tt.shape] + [
        item for value in args.values()
        for item in (value if isinstance(value, tuple) else (value,))]
    return any(isinstance(v, Sym) for v in values)


def buffers(nodes: list[Node]) -> list[Node]:
    """The constants a module holds: each constant with one output that something not
    constant uses (a later computation, a block, the network's output, or an operation
    with several outputs, which forward computes)."""
    used: dict[int, Node] = {}
    for node in nodes:
        if node.kind == "input" or (node.kind != "output" and constant(node)
                                    and len(node.outputs) == 1):
            continue
        for t in node.inputs:
            producer = t.producer
            if producer is not None and len(producer.outputs) == 1 and constant(producer):
                used.setdefault(producer.id, producer)
    return list(used.values())
