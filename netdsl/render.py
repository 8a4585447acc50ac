"""Writing values as Python source, the way black formats literals."""

from __future__ import annotations

from typing import Any

from .catalogue import REQUIRED, LayerSpec
from .dims import SInt, Sym, render_expr


def py_str(text: str) -> str:
    """A string literal in double quotes unless that needs more escapes (black's rule)."""
    single = repr(text)
    if '"' in text and "'" not in text:
        return single
    body = single[1:-1].replace("\\'", "'").replace('"', '\\"')
    return f'"{body}"'


def docstring_line(text: str) -> str:
    """One line of a generated docstring: the text as it reads, escaped only where Python
    would read it otherwise, so that no value (a user's string hyperparameter) can end the
    docstring or the line: backslashes doubled, every quote of a run of three escaped, a
    trailing quote escaped (it would join the closing quotes), what is not printable written
    as an escape."""
    line = "".join(ch if ch == "\\" or ch.isprintable() else
                   ch.encode("unicode_escape").decode("ascii")
                   for ch in text.replace("\\", "\\\\"))
    while '"""' in line:
        line = line.replace('"""', '\\"\\"\\"')
    if line.endswith('"'):
        line = line[:-1] + '\\"'
    return line


def py_literal(value: Any, symbolic: bool = False) -> str:
    """A compile-time value as Python source. With symbolic=True, sizes that remember an
    expression (SInt) are written as that expression."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, SInt):
        return render_expr(value.expr) if symbolic else repr(int(value))
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        return float_code(value)
    if isinstance(value, str):
        return py_str(value)
    if isinstance(value, Sym):
        return str(value)
    if isinstance(value, tuple):
        items = [py_literal(v, symbolic) for v in value]
        return f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    raise TypeError(f"not a literal: {value!r}")


def float_code(value: float) -> str:
    """A float as Python source: `inf` is no Python literal, so infinities are spelled
    `float("inf")` (what masked_fill(-inf) writes)."""
    if value != value:
        raise TypeError("NaN is not a netdsl value")
    if value in (float("inf"), float("-inf")):
        return f'float("{value}")'
    return repr(value)


def render_call(name: str, args: list[Any], kwargs: dict[str, Any],
                literal: Any = py_literal) -> str:
    parts = [literal(v) for v in args] + [f"{k}={literal(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def constructor_args(spec: LayerSpec, values: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """PyTorch's own call: required arguments by position, the rest by keyword when they
    differ from PyTorch's default."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for p in spec.torch_signature:
        if p.var_keyword:
            kwargs.update(values.get(p.name, {}))
            continue
        if p.star:
            args.extend(values.get(p.name, ()))
            continue
        value = values.get(p.name, p.default)
        if value is REQUIRED:
            continue
        if p.default is REQUIRED:
            args.append(value)
        elif not _same(value, p.default):
            kwargs[p.name] = value
    return args, kwargs


def _same(a: Any, b: Any) -> bool:
    return (type(a) is type(b) and a == b) or (
        isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool)
        and not isinstance(b, bool) and int(a) == int(b))


def torch_text(spec: LayerSpec, cls: str, values: dict[str, Any]) -> str:
    """The PyTorch call a layer stands for, with concrete values: nn.Conv2d(3, 32, 5, padding=2)."""
    args, kwargs = constructor_args(spec, values)
    if spec.module:
        return render_call(f"nn.{cls}", args, kwargs)
    name = cls if "." in cls else f"torch.{cls}"
    return render_call(name, args, kwargs)
