"""The layout pass between Lark's lexer and parser.

Turns newlines into ``_INDENT``/``_DEDENT`` tokens as Python does, drops the
newline before a line that starts with ``->`` (a continuation), ignores newlines
inside brackets, and reports layout mistakes (tabs, inconsistent dedents,
mismatched or unclosed brackets) as located facts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .errors import Pos, SourceError

OPENERS = {"LPAR": ")", "LSQB": "]"}
CLOSERS = {"RPAR": "(", "RSQB": "["}
OPEN_CHAR = {"LPAR": "(", "LSQB": "["}
MAX_NESTING = 100  # deeper than any real program; keeps every later pass off the recursion limit


def token_pos(file: str, tok: Any) -> Pos:
    return Pos(file, tok.line or 1, tok.column or 1, tok.end_line or tok.line or 1,
               tok.end_column or (tok.column or 1) + 1)


class Layout:
    """Lark's post-lexer interface (`process`, `always_accept`). The tokens it adds are of
    `token_class`, the class of the tokens it is given (lark.Token), so that this module
    does not import Lark itself."""

    always_accept = ("_NL",)

    def __init__(self, token_class: Any) -> None:
        self.file = "<string>"
        self.text = ""
        self.token_class = token_class
        self.open_brackets: list[Any] = []

    def process(self, stream: Iterator[Any]) -> Iterator[Any]:
        levels = [0]
        self.open_brackets = []
        brackets = self.open_brackets
        text = self.text
        last: Any = None
        for tok in stream:
            kind = tok.type
            if kind == "_NL":
                if brackets:
                    continue
                self._check_tabs(tok)
                if text.startswith("->", tok.end_pos):  # a continuation line
                    continue
                yield from self._newline(tok, levels)
                continue
            if last is None and (tok.column or 1) > 1:
                raise SourceError("unexpected indentation at the start of the file",
                                  token_pos(self.file, tok), fix="start the first line in column 1")
            if kind in OPENERS:
                brackets.append(tok)
                if len(brackets) > MAX_NESTING:
                    raise SourceError(f"brackets nested more than {MAX_NESTING} deep",
                                      token_pos(self.file, tok))
            elif kind in CLOSERS:
                if not brackets:
                    raise SourceError(f"unmatched {tok.value!r}", token_pos(self.file, tok))
                opener = brackets.pop()
                if OPENERS[opener.type] != tok.value:
                    raise SourceError(
                        f"{tok.value!r} does not close {OPEN_CHAR[opener.type]!r} "
                        f"opened at {opener.line}:{opener.column}",
                        token_pos(self.file, tok), fix=f"close it with {OPENERS[opener.type]!r}")
            last = tok
            yield tok
        if brackets:
            opener = brackets[-1]
            raise SourceError(f"unclosed {OPEN_CHAR[opener.type]!r}", token_pos(self.file, opener),
                              fix=f"add the matching {OPENERS[opener.type]!r}")
        while len(levels) > 1:
            levels.pop()
            token = self.token_class
            yield token.new_borrow_pos("_DEDENT", "", last) if last else token("_DEDENT", "")

    def _check_tabs(self, nl: Any) -> None:
        indent = nl.value.rsplit("\n", 1)[1]
        if "\t" in indent:
            line = (nl.end_line or nl.line or 1)
            column = indent.index("\t") + 1
            raise SourceError("indentation contains a tab; netdsl indents with spaces",
                              Pos(self.file, line, column, line, column + 1),
                              fix="replace the tab with spaces")

    def _newline(self, nl: Any, levels: list[int]) -> Iterator[Any]:
        yield nl
        last_line = nl.value.rsplit("\n", 1)[1]
        indent = len(last_line) - len(last_line.lstrip(" "))
        # INDENT and DEDENT stand where the next line's text starts, for the caret
        line = nl.end_line or nl.line
        here = self.token_class("_INDENT", last_line, nl.end_pos, line, indent + 1, line,
                                indent + 2, nl.end_pos)
        if indent > levels[-1]:
            levels.append(indent)
            yield here
            return
        if indent not in levels:
            line = nl.end_line or nl.line or 1
            options = " or ".join(str(level) for level in reversed(levels))
            raise SourceError("this line's indentation matches no enclosing block",
                              Pos(self.file, line, indent + 1, line, indent + 2),
                              fix=f"indent it by {options} spaces")
        while indent < levels[-1]:
            levels.pop()
            yield self.token_class.new_borrow_pos("_DEDENT", last_line, here)
