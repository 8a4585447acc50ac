"""`netdsl fmt`: one canonical layout for .net source, every comment kept.

A token-stream formatter. The parser drops comments, so the source is lexed again here with
its comments and blank lines, and the tokens are printed in order with canonical spacing and
line breaks; no token is added, dropped or reordered. Line breaks are only ever put where the
language ignores them (inside brackets, and before a `->` that continues a pipeline) or where
the source had a statement end. That is why formatting preserves the meaning, and
`format_source` does not rely on the argument alone: it parses its own output and compares
the syntax tree, positions aside, with the input's, and the comments, in order, with the
input's; it refuses (an internal error) to return a text that differs in either.

The layout: 4 spaces per block level; spaces around `->`, `=`, binary operators and an
annotation's `:`; arguments spaced as in Python (`conv(32, 5, padding=2)`); a pipeline that
does not fit in 100 columns, or holds a comment, is split one stage per line, each `->` under
the first one, and the `: [shape]` annotations of consecutive stages aligned; an end-of-line
comment two spaces after the code; runs of blank lines at most 2 long at the top level and 1
inside bodies, none at the start of a body or of the file.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, cast

from .errors import Diagnostic, NetDSLError, Pos, SourceError

LINE_LENGTH = 100
INDENT = "    "
MAX_BLANKS_TOP, MAX_BLANKS_BODY = 2, 1

_FLOAT = r"\d(?:_?\d)*\.\d(?:_?\d)*(?:[eE][+-]?\d(?:_?\d)*)?|\d(?:_?\d)*[eE][+-]?\d(?:_?\d)*"
# the grammar's terminals (grammar/netdsl.lark), longest operators first
_TOKEN = re.compile(rf"""
    (?P<space>[ \t]+) | (?P<newline>\n) | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*") | (?P<number>{_FLOAT}|\d(?:_?\d)*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\.\.\.|->|\*\*|//|==|!=|<=|>=|[-+*/%@<>=()\[\],:.])
""", re.VERBOSE)
# words that are not operands: a `(` after them opens a group, a `-` after them is unary
KEYWORDS = frozenset({"import", "block", "network", "return", "pass", "if", "elif", "else",
                      "not", "and", "or", "as"})
OPENERS, CLOSERS = frozenset("(["), frozenset(")]")


@dataclass(slots=True)
class Comment:
    text: str
    own_line: bool  # alone on its line, or after code
    blanks: int  # blank lines just before it
    column: int


@dataclass(slots=True)
class Token:
    kind: str
    text: str
    column: int
    starts_line: bool
    blanks: int  # blank lines just before its line
    before: list[Comment]  # the comments between the previous token and this one
    space: bool = False  # a space between the previous token of its statement and this one
    depth: int = 0  # brackets open before it, within its statement
    annotation: bool = False  # the `:` of a `: [shape]` annotation


@dataclass(slots=True)
class Statement:
    tokens: list[Token]
    level: int  # block nesting
    levels: list[int] = field(default_factory=list)  # the indentations open at it, its own last

    @property
    def opens_block(self) -> bool:
        return self.tokens[-1].text == ":" and not self.tokens[-1].annotation


def format_source(text: str, filename: str = "<string>") -> str:
    """The canonical layout of `text`. Raises NetDSLError (located) when it does not parse."""
    from .parser import parse

    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    try:
        before = parse(text, filename)
    except SourceError as err:
        raise NetDSLError([err.diagnostic], {filename: text}) from None
    tokens, trailing = _lex(text)
    result = _Printer(_statements(tokens), trailing).text()
    try:
        after = parse(result, filename)
    except SourceError as err:
        raise RuntimeError(f"netdsl fmt made {filename} unparsable ({err}); "
                           f"the file was left as it was") from None
    if list(_tree_facts(before)) != list(_tree_facts(after)):
        raise RuntimeError(f"netdsl fmt would change the meaning of {filename}; "
                           f"the file was left as it was")
    if _comments(tokens, trailing) != _comments(*_lex(result)):
        raise RuntimeError(f"netdsl fmt would lose or move a comment of {filename}; "
                           f"the file was left as it was")
    return result


def _comments(tokens: list[Token], trailing: list[Comment]) -> list[str]:
    return [c.text for tok in tokens for c in tok.before] + [c.text for c in trailing]


def format_file(path: str | Path) -> tuple[str, str]:
    """A file's text and its canonical layout; read errors are located as `netdsl check`
    locates them."""
    where = Pos(str(path), 1, 1, 1, 1)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise NetDSLError([Diagnostic("no such file", where)]) from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise NetDSLError([Diagnostic("the file is not UTF-8 text",
                                      Pos(str(path), line, 1, line, 1))]) from None
    except OSError as exc:
        raise NetDSLError([Diagnostic(f"cannot read it: {exc.strerror or exc}", where)]) from None
    return text, format_source(text, str(path))


def unified_diff(before: str, after: str, name: str) -> str:
    """What formatting changes, as `diff -u` shows it."""
    def lines(text: str) -> list[str]:
        return [line + "\n" for line in text.split("\n")][:-1] + (
            [text.rsplit("\n", 1)[-1] + "\n\\ No newline at end of file\n"]
            if text and not text.endswith("\n") else [])
    return "".join(difflib.unified_diff(lines(before), lines(after), f"{name} (original)",
                                        f"{name} (formatted)"))


# ---------------------------------------------------------------- lexing


def _lex(text: str) -> tuple[list[Token], list[Comment]]:
    """The tokens, each with the comments and blank lines before it; and the comments after
    the last token. The text has parsed, so every character belongs to a token."""
    tokens: list[Token] = []
    pending: list[Comment] = []
    line_start, line_has_text, blanks, end = 0, False, 0, 0
    for match in _TOKEN.finditer(text):
        kind, value, start = match.lastgroup or "", match.group(), match.start()
        if start != end:
            raise RuntimeError(f"netdsl fmt cannot read {text[end:start]!r}")
        end = match.end()
        if kind == "space":
            continue
        if kind == "newline":
            blanks = blanks if line_has_text else blanks + 1
            line_start, line_has_text = match.end(), False
            continue
        own_line = not line_has_text
        if kind == "comment":
            pending.append(Comment(value.rstrip(" \t"), own_line, blanks if own_line else 0,
                                   start - line_start))
        else:
            tokens.append(Token(kind, value, start - line_start, own_line,
                                blanks if own_line else 0, pending))
            pending = []
        if own_line:
            blanks = 0
        line_has_text = True
    if end != len(text):
        raise RuntimeError(f"netdsl fmt cannot read {text[end:]!r}")
    return tokens, pending


def _statements(tokens: list[Token]) -> list[Statement]:
    """Cut the tokens into logical lines as netdsl/lexer.py does: a line break outside
    brackets ends a statement unless the next line starts with `->`."""
    statements: list[Statement] = []
    levels = [0]
    depth = 0
    current: list[Token] = []
    for i, tok in enumerate(tokens):
        if not current:
            if tok.column > levels[-1]:
                levels.append(tok.column)
            while tok.column < levels[-1]:
                levels.pop()
            statements.append(Statement(current, len(levels) - 1, list(levels)))
        current.append(tok)
        if tok.text in OPENERS and tok.kind == "op":
            depth += 1
        elif tok.text in CLOSERS and tok.kind == "op":
            depth -= 1
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        if depth == 0 and (following is None or (following.starts_line
                           and following.text != "->")):
            current = []
    for statement in statements:
        _space(statement.tokens)
    return statements


def _operand_end(tok: Token) -> bool:
    if tok.kind == "op":
        return tok.text in (")", "]", "...")
    return tok.text not in KEYWORDS


def _space(tokens: list[Token]) -> None:
    """Decide, for each token of a statement, whether a space separates it from the one
    before, and mark annotation colons."""
    header = tokens[0].text in ("block", "network")
    brackets: list[str] = []
    previous: Token | None = None
    tight_after = False  # the previous token binds to the next: `(`, `.`, unary `-`, kwarg `=`
    for i, tok in enumerate(tokens):
        tok.depth = len(brackets)
        inner = brackets[-1] if brackets else ""
        text = tok.text if tok.kind == "op" else ""
        tight_before = text in (")", "]", ",", ".")
        tight_next = text in ("(", "[", ".")
        if text in ("(", "[") and previous is not None and _operand_end(previous):
            tight_before = True  # a call, an index, a second parameter list, `long[B, T]`
        elif text == "=" and inner == "(":
            tight_before = tight_next = True  # a keyword argument or a default
        elif text == ":":
            if inner == "[":  # a slice: `x[1:-1]`, `x[:, ::2]`
                tight_before, tight_next = previous is None or previous.text != ",", True
            elif header and len(brackets) == 1:
                tight_before = True  # a parameter's type
            elif not brackets and i == len(tokens) - 1:
                tight_before = True  # a block's colon
            else:
                tok.annotation = True
        elif text in ("+", "-") and (previous is None or not _operand_end(previous)):
            tight_next = True  # unary
        tok.space = previous is not None and not (tight_before or tight_after)
        if text in OPENERS:
            brackets.append(text)
        elif text in CLOSERS:
            brackets.pop()
        previous, tight_after = tok, tight_next


# ---------------------------------------------------------------- printing


def _render(prefix: str, tokens: list[Token]) -> list[str]:
    """Tokens printed after `prefix` on one line, except where a comment inside brackets
    forces a break, or where an argument of an outermost `(...)` would pass the line length:
    the text then continues one column right of the innermost open bracket."""
    lines: list[str] = []
    line = prefix
    opened: list[int] = []
    opened_at = 0  # the token that opened the outermost bracket
    fresh = False  # the line holds only indentation
    for i, tok in enumerate(tokens):
        if i and tok.before:
            indent = " " * (opened[-1] + 1 if opened else len(prefix))
            for comment in tok.before:
                if comment.own_line:
                    if not fresh:
                        lines.append(line)
                    lines.append(indent + comment.text)
                else:
                    lines.append(f"{line}  {comment.text}")
                line, fresh = indent, True
        elif (len(opened) == 1 and tokens[i - 1].text == "," and tokens[opened_at].text == "("
              and len(line) + 1 + _argument_length(tokens, i) > LINE_LENGTH
              and opened[0] + 1 < len(line) - 1):
            lines.append(line)
            line, fresh = " " * (opened[0] + 1), True
        line += (" " if tok.space and i and not fresh else "") + tok.text
        fresh = False
        if tok.kind == "op" and tok.text in OPENERS:
            opened.append(len(line) - 1)
            if len(opened) == 1:
                opened_at = i
        elif tok.kind == "op" and tok.text in CLOSERS:
            opened.pop()
    lines.append(line)
    return lines


def _argument_length(tokens: list[Token], start: int) -> int:
    """The printed length of the argument starting at tokens[start] with the `,` or the
    bracket after it."""
    depth, length = tokens[start].depth, 0
    for tok in tokens[start:]:
        length += len(tok.text) + (tok.space and tok is not tokens[start])
        if tok.depth == depth and tok.text in (",", ")", "]"):
            break
    return length


def _split(tokens: list[Token]) -> tuple[list[Token], list[list[Token]], list[list[Comment]]]:
    """A statement cut at its top-level arrows: the head, the stages, and the comments
    written before each arrow."""
    head: list[Token] = []
    stages: list[list[Token]] = []
    gaps: list[list[Comment]] = []
    for tok in tokens:
        if tok.depth == 0 and tok.text == "->" and tok.kind == "op":
            stages.append([])
            gaps.append(tok.before)
        elif stages:
            stages[-1].append(tok)
        else:
            head.append(tok)
    return head, stages, gaps


@dataclass(slots=True)
class _Line:
    text: str
    annotation: str = ""  # aligned with the annotations of the lines around it
    comment: str = ""  # an end-of-line comment


class _Printer:
    def __init__(self, statements: list[Statement], trailing: list[Comment]) -> None:
        self.statements = statements
        self.trailing = trailing
        self.out: list[str] = []
        self.after_header = True  # at the start of the file or of a body: no blank line

    def text(self) -> str:
        previous: Statement | None = None
        for statement in self.statements:
            self._gap(statement.tokens[0].before, previous, statement)
            self._blank(statement.tokens[0].blanks, statement.level)
            self.out.extend(self._statement(statement))
            self.after_header = statement.opens_block
            previous = statement
        self._gap(self.trailing, previous, None)
        return "\n".join(self.out) + "\n" if self.out else ""

    def _blank(self, count: int, level: int) -> None:
        if not self.after_header:
            self.out.extend([""] * min(count, MAX_BLANKS_TOP if level == 0 else MAX_BLANKS_BODY))
        self.after_header = False

    def _gap(self, comments: list[Comment], previous: Statement | None,
             following: Statement | None) -> None:
        """The comments between two statements: the first one's end-of-line comment, then
        own-line comments, each at the deepest block level open there that its indentation
        reaches (never shallower than the following statement)."""
        floor = following.level if following else 0
        levels = [0]
        if following and (previous is None or following.level > previous.level):
            levels = following.levels
        elif previous:
            levels = previous.levels
        for comment in comments:
            if not comment.own_line:
                self.out[-1] += f"  {comment.text}"
                continue
            level = max(floor, max(i for i, col in enumerate(levels) if col <= comment.column))
            self._blank(comment.blanks, level)
            self.out.append(INDENT * level + comment.text)

    def _statement(self, statement: Statement) -> list[str]:
        indent = INDENT * statement.level
        tokens = statement.tokens
        head, stages, gaps = _split(tokens)
        if not stages:
            return _render(indent, tokens)
        one_line = _render(indent, tokens)
        if (len(one_line) == 1 and len(one_line[0]) <= LINE_LENGTH
                and not any(gap for gap in gaps)):
            return one_line
        return self._pipeline(indent, head, stages, gaps)

    def _pipeline(self, indent: str, head: list[Token], stages: list[list[Token]],
                  gaps: list[list[Comment]]) -> list[str]:
        """One stage per line, each `->` under the first; or, when the first stage does not
        fit beside the head but does fit on a line of its own, the head alone and the arrows
        one level deeper."""
        head_lines = _render(indent, head)
        beside = True  # the first stage follows the head on its line
        first = _render(head_lines[-1] + " -> ", stages[0])
        if gaps[0] or len(first) > 1 or len(first[0]) > LINE_LENGTH:
            alone = _render(indent + INDENT + "-> ", stages[0])
            beside = not (gaps[0] or (len(alone) == 1 and len(alone[0]) <= LINE_LENGTH))
        arrow = " " * (len(head_lines[-1]) + 1) if beside else indent + INDENT
        lines = [_Line(text) for text in head_lines]
        for number, (stage, gap) in enumerate(zip(stages, gaps, strict=True)):
            for comment in gap:
                if not comment.own_line:
                    lines[-1].comment = comment.text
                else:
                    lines.append(_Line(arrow + comment.text))
            prefix = lines.pop().text + " -> " if number == 0 and beside else arrow + "-> "
            colon = next((i for i, tok in enumerate(stage) if tok.annotation and
                          tok.depth == 0), None)
            body = _render(prefix, stage[:colon])
            if colon is not None and len(body) == 1:
                annotation = _render("", stage[colon:])
                if len(annotation) == 1:
                    lines.append(_Line(body[0], annotation[0]))
                    continue
            lines.extend(_Line(text) for text in _render(prefix, stage))
        _align(lines)
        return [line.text + (f"  {line.comment}" if line.comment else "") for line in lines]


def _align(lines: list[_Line]) -> None:
    """Start the annotations of consecutive lines in one column, one space after the
    longest code among them."""
    start = 0
    while start < len(lines):
        end = start
        while end < len(lines) and lines[end].annotation:
            end += 1
        if end > start:
            column = max(len(line.text) for line in lines[start:end]) + 1
            for line in lines[start:end]:
                line.text = line.text.ljust(column) + line.annotation
        start = end + 1


# ---------------------------------------------------------------- the meaning-preserving proof


def _tree_facts(node: object) -> Iterator[object]:
    """A syntax tree as a flat sequence of facts, positions left out: two sources with equal
    sequences are the same program. Iterative: a long chain of operators is a deep tree."""
    from . import nodes

    names_of: dict[type, list[str]] = {}
    stack: list[object] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, nodes.SyntaxNode):
            kind = type(item)
            names = names_of.get(kind)
            if names is None:
                names = names_of[kind] = [spec.name for spec in reversed(fields(cast(Any, item)))
                                          if spec.name not in ("pos", "source", "file")]
            yield kind
            stack.extend([getattr(item, name) for name in names])
        elif isinstance(item, (list, tuple)):
            yield len(item)
            stack.extend(reversed(item))
        elif not isinstance(item, Pos):
            yield type(item), item  # a type too: 1 == 1.0 == True
