"""Expressions for lowering: compile-time operators as constructor-time Python, and how
each tensor function of the catalogue is spelled in a generated forward."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ir
from . import nodes as n
from .dims import Op, Opaque, Ref

PRECEDENCE = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "//": 6,
              "%": 6, "@": 6, "unary": 7}


class Unsupported(Exception):
    """An expression that has no static (constructor-time) translation."""


def operator_code(e: n.Expr, prec: int, sub: Callable[[n.Expr, int], str]) -> str:
    """Python for tuples and operators, with only the parentheses needed; `sub(expr, prec)`
    translates the operands."""
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
        text = f"{sub(e.then, 1)} if {sub(e.cond, 1)} else {sub(e.otherwise, 0)}"
        return f"({text})" if prec > 0 else text
    return f"({text})" if p < prec else text


def render_tree(expr: Any, names: dict[Ref, str], parent: int = 0, right: bool = False) -> str:
    """An expression tree as written (for what has no normal form: division by a name)."""
    if isinstance(expr, Ref):
        return names.get(expr, expr.name)
    if isinstance(expr, int):
        return repr(int(expr))
    if isinstance(expr, Opaque):
        raise Unsupported("an opaque size")
    assert isinstance(expr, Op)
    p = PRECEDENCE[expr.op]
    text = f"{render_tree(expr.left, names, p)} {expr.op} {render_tree(expr.right, names, p, True)}"
    return f"({text})" if p < parent or (p == parent and right) else text


# ---------------------------------------------------------------- forward spellings

Args = dict[str, Any]  # argument name -> ir.Expr (a list of them for *args)


def _is(value: Any, code: str) -> bool:
    return isinstance(value, ir.Const) and value.code == code


def _reduction(method: str) -> Callable[[list[ir.Expr], Args], ir.Expr]:
    def write(ins: list[ir.Expr], a: Args) -> ir.Expr:
        kwargs = [] if _is(a["dim"], "None") else [("dim", a["dim"])]
        if not _is(a["keepdim"], "False"):
            kwargs.append(("keepdim", a["keepdim"]))
        return ir.CallMethod(ins[0], method, [], kwargs)
    return write


def _pad(ins: list[ir.Expr], a: Args) -> ir.Expr:
    kwargs = [] if _is(a["mode"], '"constant"') else [("mode", a["mode"])]
    if not _is(a["value"], "None"):
        kwargs.append(("value", a["value"]))
    return ir.CallFunction("F.pad", [ins[0], a["pad"]], kwargs)


def _chain(op: str) -> Callable[[list[ir.Expr], Args], ir.Expr]:
    def write(ins: list[ir.Expr], a: Args) -> ir.Expr:
        out = ins[0]
        for item in ins[1:]:
            out = ir.BinaryOp(op, out, item)
        return out
    return write


def _method(name: str, *params: str) -> Callable[[list[ir.Expr], Args], ir.Expr]:
    def write(ins: list[ir.Expr], a: Args) -> ir.Expr:
        args: list[ir.Expr] = []
        for p in params:
            value = a[p]
            args.extend(value if isinstance(value, list) else [value])
        return ir.CallMethod(ins[0], name, args)
    return write


def _squeeze(ins: list[ir.Expr], a: Args) -> ir.Expr:
    return ir.CallMethod(ins[0], "squeeze", [] if _is(a["dim"], "None") else [a["dim"]])


def _split(func: str, size: str) -> Callable[[list[ir.Expr], Args], ir.Expr]:
    def write(ins: list[ir.Expr], a: Args) -> ir.Expr:
        return ir.CallFunction(func, [ins[0], a[size]], [("dim", a["dim"])])
    return write


def _joined(func: str) -> Callable[[list[ir.Expr], Args], ir.Expr]:
    def write(ins: list[ir.Expr], a: Args) -> ir.Expr:
        return ir.CallFunction(func, [ir.ListOf(list(ins))], [("dim", a["dim"])])
    return write


# One entry per catalogue layer that is not an nn.Module: how forward writes it.
FORWARD_FUNCTIONS: dict[str, Callable[[list[ir.Expr], Args], ir.Expr]] = {
    "cat": _joined("torch.cat"),
    "stack": _joined("torch.stack"),
    "add": _chain("+"),
    "mul": _chain("*"),
    "mean": _reduction("mean"),
    "sum": _reduction("sum"),
    "amax": _reduction("amax"),
    "reshape": _method("reshape", "shape"),
    "view": _method("view", "shape"),
    "permute": _method("permute", "dims"),
    "transpose": _method("transpose", "dim0", "dim1"),
    "squeeze": _squeeze,
    "unsqueeze": _method("unsqueeze", "dim"),
    "chunk": _split("torch.chunk", "chunks"),
    "split": _split("torch.split", "split_size_or_sections"),
    "pad": _pad,
    "pad_to_match": lambda ins, a: ir.CallFunction("pad_to_match", list(ins)),
}
