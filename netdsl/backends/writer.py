"""A small code writer (jinja2's CodeGenerator in spirit): indent, outdent, writeline,
black-style wrapping of long calls, and a map from generated lines to source lines."""

from __future__ import annotations

import keyword
from collections.abc import Iterator

from ..errors import Pos

LINE_LENGTH = 88  # black's and ruff format's default


class Namespace:
    """Hands out safe, unique Python identifiers (torch.fx's Namespace in spirit)."""

    def __init__(self, reserved: set[str] | frozenset[str] = frozenset()) -> None:
        self.reserved = set(reserved)
        self.taken: set[str] = set()
        self.names: dict[str, str] = {}

    def name(self, wanted: str) -> str:
        """The identifier for a source name: the same name unless it collides."""
        if wanted in self.names:
            return self.names[wanted]
        base = wanted if wanted.isidentifier() and not keyword.iskeyword(wanted) else "v"
        candidate = base
        if candidate in self.reserved or candidate in self.taken:
            candidate = f"{base}_"
            counter = 1
            while candidate in self.reserved or candidate in self.taken:
                counter += 1
                candidate = f"{base}_{counter}"
        self.taken.add(candidate)
        self.names[wanted] = candidate
        return candidate

    def fresh(self, base: str) -> str:
        """A new identifier never handed out before (for temporaries)."""
        candidate = base
        counter = 1
        while candidate in self.reserved or candidate in self.taken:
            counter += 1
            candidate = f"{base}{counter}"
        self.taken.add(candidate)
        return candidate


class Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.level = 0
        self.line_map: list[tuple[int, Pos]] = []  # (generated line number, source position)

    def indent(self) -> None:
        self.level += 1

    def outdent(self) -> None:
        self.level -= 1

    def blank(self, count: int = 1) -> None:
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        self.lines.extend([""] * count)

    def writeline(self, text: str, pos: Pos | None = None) -> None:
        prefix = "    " * self.level
        if pos is not None:
            self.line_map.append((len(self.lines) + 1, pos))
        for line in wrap(prefix, text):
            self.lines.append(line)

    def extend(self, other: Writer) -> None:
        offset = len(self.lines)
        for number, pos in other.line_map:
            self.line_map.append((number + offset, pos))
        prefix = "    " * self.level
        self.lines.extend(prefix + line if line else "" for line in other.lines)

    def text(self) -> str:
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        return "\n".join(self.lines) + "\n"


def _top_level(text: str) -> Iterator[int]:
    """The indices of the characters of `text` that stand outside brackets and strings."""
    depth = 0
    quote = ""
    escaped = False
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0:
            yield i


def split_args(text: str) -> list[str]:
    """Top-level comma-separated parts of an argument list."""
    parts: list[str] = []
    start = 0
    for i in _top_level(text):
        if text[i] == ",":
            parts.append(text[start:i].strip())
            start = i + 1
    if text[start:].strip():
        parts.append(text[start:].strip())
    return parts


def _outer_call(text: str) -> tuple[str, str, str] | None:
    """'a = f(x, y)' -> ('a = f(', 'x, y', ')') for the last top-level bracket pair."""
    if not text.endswith((")", "]")):
        return None
    closer = text[-1]
    opener = "(" if closer == ")" else "["
    depth = 0
    quote = ""
    for i in range(len(text) - 1, -1, -1):
        ch = text[i]
        if quote:
            if ch == quote and (i == 0 or text[i - 1] != "\\"):
                quote = ""
            continue
        if ch in "\"'":
            quote = ch
        elif ch == closer:
            depth += 1
        elif ch == opener:
            depth -= 1
            if depth == 0:
                if i == 0 and closer == ")":
                    return None  # a parenthesised expression or tuple as a whole
                return text[: i + 1], text[i + 1: -1], closer
    return None


# Binary operators by black's delimiter priority, the loosest first: a line inside brackets
# that does not fit is split before every top-level operator of the loosest kind it has
BINARY_OPERATORS = (
    (" or ",), (" and ",),
    (" not in ", " is not ", " in ", " is ", " == ", " != ", " <= ", " >= ", " < ", " > "),
    (" | ",), (" ^ ",), (" & ",), (" << ", " >> "), (" + ", " - "),
    (" // ", " * ", " / ", " % ", " @ "),
)


def _operator_split(text: str) -> list[str] | None:
    """`a * 1 + b * 1` -> ['a * 1', '+ b * 1']: split before each top-level operator of the
    loosest kind present (None when there is none)."""
    top = set(_top_level(text))
    for group in BINARY_OPERATORS:
        cuts: list[int] = []
        for i in sorted(top):
            if any(text.startswith(op, i) and all(j in top for j in range(i, i + len(op)))
                   for op in group) and (not cuts or i > cuts[-1] + 2):
                cuts.append(i)
        if cuts:
            pieces, start = [], 0
            for i in cuts:
                pieces.append(text[start:i].strip())
                start = i + 1
            pieces.append(text[start:].strip())
            return pieces
    return None


def wrap(prefix: str, text: str, nested: bool = False, reserve: int = 0) -> list[str]:
    """Lay out one statement as black would: on one line if it fits, else the outermost
    trailing call's arguments on their own line, else one per line with a trailing comma.
    `nested`: the text is inside brackets, where a long expression is split before its
    loosest operators first; `reserve`: characters that will follow the text on its last
    line (a trailing comma)."""
    line = prefix + text
    if len(line) + reserve <= LINE_LENGTH or "#" in text:
        return [line]
    for suffix in (",", ":"):
        if text.endswith(suffix):
            lines = wrap(prefix, text[:-1], nested, reserve + len(suffix))
            lines[-1] += suffix
            return lines
    pieces = _operator_split(text) if nested else None
    if pieces is not None:
        return [prefix + piece for piece in pieces]
    fluent = _fluent(text)
    if fluent is not None:  # x = (\n    x.unflatten(...)\n    .permute(...)\n)
        head, links = fluent
        inner_prefix = prefix + "    "
        if len(inner_prefix + "".join(links)) <= LINE_LENGTH:
            return [f"{prefix}{head}(", inner_prefix + "".join(links), prefix + ")"]
        return [f"{prefix}{head}(", *(inner_prefix + link for link in links), prefix + ")"]
    split = _outer_call(text)
    if split is None:
        assigned = _assigned_expression(prefix, text)
        return assigned if assigned is not None else [line]
    head, inner, closer = split
    inner_prefix = prefix + "    "
    before = head[:-1].rstrip()
    grouping = closer == ")" and not (before and (before[-1].isalnum() or before[-1] in "_)]"))
    if grouping:  # `... + (window - 1)`: parentheses around an expression, where a trailing
        # comma would make a tuple
        return [prefix + head, *wrap(inner_prefix, inner, nested=True), prefix + closer]
    if len(inner_prefix + inner) <= LINE_LENGTH and not inner.endswith(","):
        return [prefix + head, inner_prefix + inner, prefix + closer]
    parts = split_args(inner)
    lines = [prefix + head]
    comprehension = _comprehension(inner) if len(parts) == 1 else None
    if comprehension is not None:  # no trailing comma in one; its `for` gets a line of its own
        for part in comprehension:
            lines.extend(wrap(inner_prefix, part, nested=True))
    else:
        for part in parts:
            lines.extend(wrap(inner_prefix, part + ",", nested=True))
    lines.append(prefix + closer)
    return lines


def _assigned_expression(prefix: str, text: str) -> list[str] | None:
    """`name = a * 1 + (b) * 1`, too long and not ending in a bracket, as ruff lays it out:
    with one operator of the loosest kind, split inside the last bracket pair (`... + (`,
    its contents, `) * 1`); with more, the value in parentheses, one line if it fits."""
    top = list(_top_level(text))
    at = next((i for i in top if text.startswith(" = ", i)), None)
    if at is None:
        return None
    target, value = text[:at], text[at + 3:]
    pieces = _operator_split(value)
    inner = prefix + "    "
    if pieces is not None and len(pieces) == 2 and value.startswith("("):
        outside = set(_top_level(value))  # an opener at depth 0 follows such a character
        opener = max((i for i, ch in enumerate(value) if ch == "(" and (
            i == 0 or i - 1 in outside)), default=None)
        if opener is not None and opener > 0 and value[opener - 1] == " ":
            close = _matching(value, opener)
            if close is not None:
                head = f"{target} = {value[:opener + 1]}"
                body, tail = value[opener + 1:close], value[close:]
                return [prefix + head, *wrap(inner, body, nested=True), prefix + tail]
    return [f"{prefix}{target} = (", *wrap(inner, value, nested=True), prefix + ")"]


def _matching(text: str, opener: int) -> int | None:
    """The index of the bracket that closes the one at `opener`."""
    depth = 0
    for i in range(opener, len(text)):
        if text[i] in "([{":
            depth += 1
        elif text[i] in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return None


def _fluent(text: str) -> tuple[str, list[str]] | None:
    """'y = x.a(1).b(2).c(3)' -> ('y = ', ['x.a(1)', '.b(2)', '.c(3)']): a statement whose
    value is a chain of two or more method calls on a call's result, which black lays out
    in parentheses, one call a line; None for any other statement."""
    head = ""
    if text.startswith("return "):
        head = "return "
    else:
        for i in _top_level(text):
            if text.startswith(" = ", i):
                head = text[:i + 3]
                break
    value = text[len(head):]
    cuts = [i for i in _top_level(value) if value[i] == "." and i > 0 and value[i - 1] in ")]"]
    if len(cuts) < 2 or not head:
        return None
    links = [value[a:b] for a, b in zip([0, *cuts], [*cuts, len(value)], strict=True)]
    return head, links


def _comprehension(text: str) -> tuple[str, str] | None:
    """'f(x) for _ in range(3)' -> ('f(x)', 'for _ in range(3)'): split at the first ` for `
    outside brackets and strings; None when `text` is not a comprehension."""
    for i in _top_level(text):
        if text.startswith(" for ", i):
            return text[:i], text[i + 1:]
    return None
