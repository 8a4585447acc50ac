"""A small LALR(1) driver over the tables Lark computes from ``grammar/netdsl.lark``.

Lark stays the source of truth: it analyses the grammar, and it parses whatever this
driver does not accept, so every syntax error is still Lark's, labelled by
netdsl/parser.py. What this module adds is speed for correct programs. Importing Lark
and loading its parser costs ~30 ms on every start of netdsl, a quarter of a `check`;
this driver loads the same tables from a cache (plain data, `marshal`) in well under a
millisecond, and its loop builds nodes with fewer calls per token than Lark's.

It reproduces exactly what Lark does with these tables, and tests/test_fuzz.py holds
it to that on every example and on fuzzed programs:
- the lexer is Lark's basic lexer: the terminals in Lark's order, as one regular
  expression; a keyword matched as a NAME becomes the keyword; ignored terminals skipped;
- a reduction filters its children as Lark's tree-builder does (anonymous tokens and
  `_`-named terminals dropped, `_rule`s inlined into their parent, None where an optional
  part `[...]` is absent, a `?rule` with one child replaced by that child) and hands them
  to the method of netdsl.parser.ToNodes named after the rule or its alias.
"""

from __future__ import annotations

import itertools
import marshal
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

FORMAT = 1  # bump when the layout of the exported tables changes


class NotAccepted(Exception):
    """The driver cannot take this input; Lark parses it and reports what is wrong."""


class Token:
    """A token with Lark's attributes, without Lark (netdsl.lexer.Layout makes these too)."""

    __slots__ = ("column", "end_column", "end_line", "end_pos", "line", "start_pos", "type",
                 "value")

    def __init__(self, type: str, value: str, start_pos: int | None = None,
                 line: int | None = None, column: int | None = None,
                 end_line: int | None = None, end_column: int | None = None,
                 end_pos: int | None = None) -> None:
        self.type = type
        self.value = value
        self.start_pos = start_pos
        self.line = line
        self.column = column
        self.end_line = end_line
        self.end_column = end_column
        self.end_pos = end_pos

    @classmethod
    def new_borrow_pos(cls, type: str, value: str, borrow: Any) -> Token:
        return cls(type, value, borrow.start_pos, borrow.line, borrow.column, borrow.end_line,
                   borrow.end_column, borrow.end_pos)

    def __repr__(self) -> str:
        return f"Token({self.type!r}, {self.value!r})"


END = Token("$END", "")  # what the parser is fed after the last token, as Lark does


# ---------------------------------------------------------------- tables, from Lark


def export_tables(lark_parser: Any) -> dict[str, Any]:
    """The LALR tables and the lexer of a Lark parser (lalr, contextual lexer) as plain data.
    Reads Lark's objects, so it runs only when the cache is cold."""
    lexer = lark_parser.parser.lexer
    lexer = getattr(lexer, "lexer", lexer)  # behind the post-lexer
    root = getattr(lexer, "root_lexer", lexer)  # the basic lexer over every terminal
    scanner = root.scanner
    # names are copied with str(): Lark may hand out its own str subclasses, which marshal
    # refuses
    keywords = {str(name): {str(t.pattern.value): str(t.name) for t in callback.scanner.terminals}
                for name, callback in root.callback.items()}
    table = lark_parser.parser.parser._parse_table
    rules: list[Any] = []
    rule_index: dict[int, int] = {}
    states: dict[int, dict[str, int]] = {}
    for state, actions in table.states.items():
        row: dict[str, int] = {}
        for symbol, (action, arg) in actions.items():
            if action.name == "Shift":
                row[str(symbol)] = int(arg)
            else:
                if id(arg) not in rule_index:
                    rule_index[id(arg)] = len(rules)
                    rules.append(_export_rule(arg))
                row[str(symbol)] = ~rule_index[id(arg)]
        states[int(state)] = row
    return {
        "terminals": [(str(t.name), str(t.pattern.to_regexp())) for t in scanner.terminals],
        "ignore": sorted(map(str, root.ignore_types)),
        "newline_types": sorted(map(str, root.newline_types)),
        "keywords": keywords,
        "states": states,
        "rules": rules,
        "start": int(table.start_states["start"]),
        "end": int(table.end_states["start"]),
    }


def _export_rule(rule: Any) -> tuple[Any, ...]:
    """(origin, length, callback name, expand1, [(index, inline, nones before)], nones after),
    the child filter Lark's ParseTreeBuilder would build for the rule."""
    expansion = rule.expansion
    options = rule.options
    empty = list(options.empty_indices) if options.empty_indices else []
    if empty:  # where absent optional parts stand: counts of Nones between the symbols
        runs = [len(ones) for ones in "".join(str(int(b)) for b in empty).split("0")]
    else:
        runs = [0] * (len(expansion) + 1)
    include: list[tuple[int, bool, int]] = []
    nones = 0
    for i, sym in enumerate(expansion):
        nones += runs[i]
        if options.keep_all_tokens or not (sym.is_term and sym.filter_out):
            include.append((i, bool(not sym.is_term and sym.name.startswith("_")), nones))
            nones = 0
    nones += runs[len(expansion)]
    name = rule.alias or options.template_source or rule.origin.name
    expand1 = bool(options.expand1) and not rule.alias
    return (str(rule.origin.name), len(expansion), str(name), expand1, include, nones)


# ---------------------------------------------------------------- the cache


def cache_path_in(cache_home: Path) -> Path:
    return cache_home / "netdsl" / f"lalr-v{FORMAT}.marshal"


def cache_home() -> Path:
    """Per user ($XDG_CACHE_HOME or ~/.cache), never a shared temporary directory; netdsl's
    caches go in its `netdsl` folder."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def cache_path() -> Path:
    return cache_path_in(cache_home())


def load_tables(grammar: str, path: Path | None = None) -> dict[str, Any] | None:
    """The cached tables, if they were made from exactly this grammar text (compared whole:
    no hash to compute, nothing stale trusted)."""
    try:
        data = marshal.loads((path or cache_path()).read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not (isinstance(data, tuple) and len(data) == 3 and data[0] == FORMAT
            and data[1] == grammar and isinstance(data[2], dict)):
        return None
    return data[2]


def save_tables(grammar: str, tables: dict[str, Any]) -> None:
    """Written atomically; a cache that cannot be written is only a slower start."""
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_bytes(marshal.dumps((FORMAT, grammar, tables)))
        os.replace(tmp, path)
    except OSError:
        pass


# ---------------------------------------------------------------- the driver


def _inlined(children: list[Any]) -> list[Any]:
    """A `_rule` stands for its children; the parent splices them into its own."""
    return children


def _no_method(name: str) -> Callable[[list[Any]], Any]:
    def missing(children: list[Any]) -> Any:
        raise NotAccepted(f"no tree-builder method for rule {name!r}")
    return missing


class Driver:
    def __init__(self, tables: dict[str, Any], builder: Any) -> None:
        self.master = re.compile("|".join(f"(?P<{name}>{regexp})"
                                          for name, regexp in tables["terminals"]))
        self.ignore = frozenset(tables["ignore"])
        self.newline_types = frozenset(tables["newline_types"])
        self.keywords: dict[str, dict[str, str]] = tables["keywords"]
        self.states: dict[int, dict[str, int]] = tables["states"]
        self.start: int = tables["start"]
        self.end: int = tables["end"]
        self.rules = [self._reduction(rule, builder) for rule in tables["rules"]]

    @staticmethod
    def _reduction(rule: tuple[Any, ...], builder: Any) -> tuple[str, int, Callable[..., Any]]:
        """What reducing by `rule` does: (the symbol it makes, how many values it takes, the
        function from those values to the new one)."""
        origin, size, name, expand1, include, trailing = rule
        method = getattr(builder, name, None)
        if method is None:
            # a `_rule` is spliced into its parent; any other rule without a method is a
            # `?rule` reached only with one child (`?not_test: ... | comparison`)
            method = _inlined if name.startswith("_") else _no_method(name)
        as_is = len(include) == size and not trailing and all(
            not inline and not nones for _, inline, nones in include)
        if as_is and not expand1:
            return origin, size, method

        def build(children: list[Any]) -> Any:
            if as_is:
                kept = children
            else:
                kept = []
                for i, inline, nones in include:
                    if nones:
                        kept += [None] * nones
                    if inline:
                        if kept:
                            kept += children[i]
                        else:  # take the list over: left recursion (`x+`) stays linear
                            kept = children[i]
                    else:
                        kept.append(children[i])
                if trailing:
                    kept += [None] * trailing
            if expand1 and len(kept) == 1:  # a `?rule` with one child is that child
                return kept[0]
            return method(kept)

        return origin, size, build

    def tokens(self, text: str) -> Iterator[Token]:
        """Lark's basic lexer: line and column from 1, end columns exclusive."""
        match = self.master.match
        ignore, newline_types, keywords = self.ignore, self.newline_types, self.keywords
        pos, line, line_start, length = 0, 1, 0, len(text)
        while pos < length:
            m = match(text, pos)
            if m is None or m.end() == pos:
                raise NotAccepted("no terminal matches")
            kind = m.lastgroup
            assert kind is not None
            end = m.end()
            column = pos - line_start + 1
            end_line, end_column = line, column + end - pos
            if kind in newline_types:
                breaks = text.count("\n", pos, end)
                if breaks:
                    end_line = line + breaks
                    line_start = text.rfind("\n", pos, end) + 1
                    end_column = end - line_start + 1
            if kind not in ignore:
                value = m.group()
                if kind in keywords:
                    kind = keywords[kind].get(value, kind)
                yield Token(kind, value, pos, line, column, end_line, end_column, end)
            line, pos = end_line, end

    def parse(self, tokens: Iterator[Token]) -> Any:
        states, rules, end = self.states, self.rules, self.end
        state_stack = [self.start]
        value_stack: list[Any] = []
        for token in itertools.chain(tokens, (END,)):
            kind = token.type
            while True:
                action = states[state_stack[-1]].get(kind)
                if action is None:
                    raise NotAccepted(f"unexpected {kind}")
                if action >= 0:  # shift
                    state_stack.append(action)
                    value_stack.append(token)
                    break
                origin, size, build = rules[~action]  # reduce
                if size:
                    children = value_stack[-size:]
                    del state_stack[-size:]
                    del value_stack[-size:]
                else:
                    children = []
                value_stack.append(build(children))
                state_stack.append(states[state_stack[-1]][origin])
                if kind == "$END" and state_stack[-1] == end:
                    return value_stack[-1]
        raise NotAccepted("unexpected end of input")
