"""How a catalogue layer is written in a generated `forward`, as data.

Six kinds of spelling cover every layer:

- ``module``: an ``nn.Module`` attribute called on its inputs, ``self.conv1(x)``;
- ``function``: a torch function, ``torch.cat([a, b], dim=1)``, ``F.pad(x, (1, 1))``;
- ``method``: a tensor method on the first input, ``x.permute(0, 2, 1)``, ``x.mean(dim=1)``,
  the other inputs its first arguments, ``x.masked_fill(mask, 0.0)``;
- ``operator``: a Python operator between the inputs, ``a + b``;
- ``helper``: a function the generated file defines itself, ``pad_to_match(a, b)``;
- ``chain``: tensor methods one after another, as the entry's shape rule plans them for the
  checked input (``rearrange``: ``x.unflatten(3, (-1, 16)).permute(0, 2, 1, 3)...``; see
  netdsl/rearrange.py).

Each argument is passed by position, by keyword, or spread (a ``*shape`` argument's items
each as its own positional argument), and may be left out when it has netdsl's default. A
module's arguments here are those of its ``forward`` (``need_weights=False``), never its
constructor's. Inputs after the first ``positional_inputs`` go by keyword under torch's name
(``attn_mask=mask``); one written ``none`` in the source is left out of the call.
Nothing here imports torch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Literal, TypeVar

Kind = Literal["module", "function", "method", "operator", "helper", "chain"]
Style = Literal["positional", "keyword", "spread"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ForwardArg:
    """One netdsl argument as the forward call passes it."""

    name: str
    style: Style
    omit_default: bool = False  # left out when it has netdsl's default: `x.mean()`


@dataclass(frozen=True, slots=True)
class Forward:
    """How a layer's application is written: `kind`, then `name` (the function, method or
    operator; empty for a module, whose attribute name the code generator chooses), the
    arguments in call order, and how the inputs are passed."""

    kind: Kind
    name: str = ""
    args: tuple[ForwardArg, ...] = ()
    inputs_as_list: bool = False  # all inputs as one list argument: torch.cat([a, b], dim=1)
    lone_input_repeats: int = 1  # one input passed this many times: self-attention attn(x, x, x)
    inputs_last: bool = False  # the arguments before the inputs: torch.einsum("ij,jk", a, b)
    # torch's names of the tensors taken, in order (empty: any number, all by position); the
    # first `positional_inputs` by position, the others (optional: masks) by keyword
    inputs: tuple[str, ...] = ()
    positional_inputs: int = 0

    @property
    def optional_inputs(self) -> range:
        """The input positions that go by keyword, where `none` leaves the input out."""
        return range(self.positional_inputs, len(self.inputs)) if self.inputs else range(0)

    def code(self, inputs: Sequence[str], args: Mapping[str, str] | None = None,
             defaulted: Set[str] = frozenset(), attribute: str = "") -> str:
        """The Python expression: `inputs` are the input tensors' code, `args` the code of
        every argument in `self.args` (a spread argument's items joined by ", "),
        `defaulted` the arguments whose value is netdsl's default, `attribute` a module's
        attribute name."""
        if self.kind == "chain":
            raise ValueError("a chain is written from its entry's plan for the checked call "
                             "(see lower/exprs.py chain_expr)")
        args = args or {}
        ins = list(inputs)
        if len(ins) == 1 and self.lone_input_repeats > 1:
            ins = ins * self.lone_input_repeats
        if self.kind == "operator":
            return f" {self.name} ".join(operand(i) for i in ins)
        by_keyword = [f"{name}={code}" for name, code in self.keyword_inputs(ins, "None".__eq__)]
        ins = ins[:self.positional_inputs] if self.inputs else ins
        written: list[str] = []
        for arg in self.args:
            if arg.omit_default and arg.name in defaulted:
                continue
            value = args[arg.name]
            if arg.style == "keyword":
                by_keyword.append(f"{arg.name}={value}")
            elif value or arg.style == "positional":
                written.append(value)  # an empty spread writes nothing
        written += by_keyword
        if self.kind == "method":  # further inputs come first: x.masked_fill(mask, value)
            return f"{operand(ins[0])}.{self.name}({', '.join([*ins[1:], *written])})"
        if self.kind == "module":
            return f"self.{attribute}({', '.join([*ins, *written])})"
        passed = [f"[{', '.join(ins)}]"] if self.inputs_as_list else ins
        if self.inputs_last:
            return f"{self.name}({', '.join([*written, *passed])})"
        return f"{self.name}({', '.join([*passed, *written])})"

    def keyword_inputs(self, inputs: Sequence[T],
                       is_none: Callable[[T], bool]) -> list[tuple[str, T]]:
        """The inputs passed by keyword, under torch's names, without those that are `none`."""
        return [(name, code) for name, code in zip(self.inputs[self.positional_inputs:],
                                                    inputs[self.positional_inputs:],
                                                    strict=False) if not is_none(code)]


MODULE = Forward("module")


def operand(code: str) -> str:
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


def positional(*names: str, omit_default: bool = False) -> tuple[ForwardArg, ...]:
    return tuple(ForwardArg(name, "positional", omit_default) for name in names)


def keyword(*names: str, omit_default: bool = False) -> tuple[ForwardArg, ...]:
    return tuple(ForwardArg(name, "keyword", omit_default) for name in names)


def spread(name: str) -> tuple[ForwardArg, ...]:
    return (ForwardArg(name, "spread"),)


# a name, a number or an attribute chain, with or without a unary minus: what black and ruff
# write next to `**` without spaces (x**2, self.scale**-1), as opposed to (a + b) ** 2
_SIMPLE_POWER_OPERAND = re.compile(r"-?(?:[A-Za-z_][A-Za-z0-9_.]*|[0-9][0-9_.]*(?:e[+-]?[0-9]+)?)")


def power(left: str, right: str) -> str:
    """`left ** right` as black and ruff write it: hugged when both operands are simple."""
    hug = all(_SIMPLE_POWER_OPERAND.fullmatch(part) for side in (left, right)
              for part in side.split("**"))  # x**2**2: a chain of simple operands hugs
    return f"{left}**{right}" if hug else f"{left} ** {right}"
