"""Expressions for lowering: compile-time operators as constructor-time Python, and how
each tensor function of the catalogue is spelled in a generated forward."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import ir
from .. import nodes as n
from ..rearrange import Size, Step, call_steps
from ..spelling import Forward, power

# The planners of the catalogue's `chain` spellings, by the spelling's name: each returns, for
# a checked call, the tensor methods that compute it; with every_rank=True, methods that serve
# inputs of any rank the check accepted (netdsl/rearrange.py)
PLANNERS: dict[str, Callable[..., list[Step]]] = {"rearrange": call_steps}

PRECEDENCE = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "//": 6,
              "%": 6, "@": 6, "unary": 7, "**": 8}


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
        if e.op == "**":  # binds from the right, and tighter than a unary minus on its left
            text = power(sub(e.left, p + 1), sub(e.right, PRECEDENCE["unary"]))
        else:
            text = f"{sub(e.left, p)} {e.op} {sub(e.right, p + 1)}"
    elif isinstance(e, n.UnaryOp):
        p = PRECEDENCE["not" if e.op == "not" else "unary"]
        # -(x**2): ruff parenthesises a power under a unary minus, though Python needs none
        inner = PRECEDENCE["**"] + 1 if isinstance(e.operand, n.BinOp) and (
            e.operand.op == "**") else p
        text = f"not {sub(e.operand, p)}" if e.op == "not" else f"{e.op}{sub(e.operand, inner)}"
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


def compile_time_code(name: str, args: list[str], operands: list[str], prec: int) -> str:
    """A compile-time function call as Python computing the same number without imports
    (the checker computes sqrt, ceil and floor this way too: netdsl/check/evaluate.py):
    `args` are the arguments' code, `operands` the same parenthesised as operands of `**`."""
    if name == "sqrt":
        text, p = power(operands[0], "0.5"), PRECEDENCE["**"]
        return f"({text})" if p < prec else text
    if name == "ceil":
        return f"int(-(-{operands[0]} // 1))"
    if name == "floor":
        return f"int({operands[0]} // 1)"
    return f"{name}({', '.join(args)})"


# ---------------------------------------------------------------- forward spellings


def forward_expr(spelling: Forward, inputs: list[ir.Expr], args: dict[str, Any],
                 defaulted: set[str], attribute: str = "") -> ir.Expr:
    """A catalogue layer's application in forward, as its entry spells it (netdsl/spelling.py):
    `args` holds each argument's expression (a list for a spread argument), `defaulted` the
    arguments left at netdsl's default, `attribute` a module's attribute name."""
    ins = list(inputs)
    if len(ins) == 1 and spelling.lone_input_repeats > 1:
        ins = ins * spelling.lone_input_repeats
    if spelling.kind == "operator":
        out = ins[0]
        for item in ins[1:]:
            out = ir.BinaryOp(spelling.name, out, item)
        return out
    positional: list[ir.Expr] = []
    keywords = spelling.keyword_inputs(ins, _is_none)  # masks: attn_mask=mask
    if spelling.inputs:
        ins = ins[:spelling.positional_inputs]
    for arg in spelling.args:
        if arg.omit_default and arg.name in defaulted:
            continue
        value = args[arg.name]
        if arg.style == "keyword":
            keywords.append((arg.name, value))
        elif arg.style == "spread":
            positional.extend(value)
        else:
            positional.append(value)
    if spelling.kind == "module":
        return ir.CallModule(attribute, [*ins, *positional], kwargs=keywords)
    if spelling.kind == "method":  # further inputs come first: x.masked_fill(mask, value)
        return ir.CallMethod(ins[0], spelling.name, [*ins[1:], *positional], keywords)
    passed: list[ir.Expr] = [ir.ListOf(ins)] if spelling.inputs_as_list else ins
    if spelling.inputs_last:
        return ir.CallFunction(spelling.name, [*positional, *passed], keywords)
    return ir.CallFunction(spelling.name, [*passed, *positional], keywords)


def _is_none(e: ir.Expr) -> bool:
    """An input written `none`: left out of the call (a mask not given)."""
    return isinstance(e, ir.Const) and e.code == "None"


def chain_expr(steps: list[Step], first: ir.Expr, size: Callable[[str], ir.Expr]) -> ir.Expr:
    """`x.unflatten(3, (-1, p)).permute(0, 2, 1, 3)`: each step a method call on the last;
    `size(axis)` is the code of a size the plan takes from the keyword argument `axis=`."""
    def arg(value: Any) -> ir.Expr:
        if isinstance(value, tuple):
            return ir.TupleOf([arg(v) for v in value])
        if isinstance(value, Size):
            return size(value.axis)
        return ir.Const(repr(int(value)))

    code = first
    for step in steps:
        code = ir.CallMethod(code, step.method, [arg(a) for a in step.args])
    return code
