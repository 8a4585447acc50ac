"""Syntax highlighting of netdsl source with Pygments.

Registered under the `pygments.lexers` entry point (pyproject.toml), so that Pygments and the
tools built on it (Sphinx, MkDocs, Jupyter, `pygmentize`) find it by the name `netdsl` or by a
`*.net` file name once netdsl is installed. Pygments is an optional dependency (the `editor`
extra): nothing else in netdsl imports this module.

The token rules follow grammar/netdsl.lark. The layer names and dtypes are read from the
catalogue and from netdsl.shapes when the lexer is first used (not when this module is
imported: Pygments imports every plugin lexer while it looks one up by name).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pygments.lexer import Future, RegexLexer, bygroups, default, include, words
from pygments.regexopt import regex_opt
from pygments.token import (
    Comment,
    Error,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

__all__ = ["NetdslLexer"]

IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
END_OF_WORD = r"(?![A-Za-z0-9_])"
DIGITS = r"\d(?:_?\d)*"  # the grammar's INT: underscores only between digits
# Python's escapes, and only those (netdsl/parser.py evaluates strings as Python does)
ESCAPE = (r'\\(?:[\\\'"abfnrtv]|[0-7]{1,3}|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}'
          r"|N\{[^}\n]+\})")


class _NetdslNames(Future):
    """A regex of names from netdsl itself (the catalogue's layers or the dtypes), built when
    Pygments compiles the lexer's rules."""

    def __init__(self, which: str, prefix: str = "", suffix: str = "") -> None:
        self.which = which
        self.prefix = prefix
        self.suffix = suffix

    def get(self) -> str:
        if self.which == "layers":
            from .catalogue import LAYERS

            names: list[str] = list(LAYERS)
        else:
            from .shapes import DTYPES

            names = list(DTYPES)
        return self.prefix + str(regex_opt(sorted(names), suffix=END_OF_WORD)) + self.suffix


class NetdslLexer(RegexLexer):
    """Lexer for netdsl, the language of neural networks described in `.net` files."""

    name = "netdsl"
    aliases: ClassVar[list[str]] = ["netdsl", "net-dsl"]
    filenames: ClassVar[list[str]] = ["*.net"]
    mimetypes: ClassVar[list[str]] = ["text/x-netdsl"]

    tokens: ClassVar[dict[str, Any]] = {
        "root": [
            include("common"),
            (r"[)\]]", Punctuation),  # unbalanced: the checker reports it, not the highlighter
            (r"=", Operator),
        ],
        # inside ( ... ) and [ ... ]: the same, plus keyword arguments (`padding=2`)
        "brackets": [
            (rf"({IDENTIFIER})([ \t]*)(=)(?!=)",
             bygroups(Name.Attribute, Whitespace, Operator)),
            include("common"),
            (r"[)\]]", Punctuation, "#pop"),
            (r"=", Operator),
        ],
        "common": [
            (r"[ \t\f]+", Whitespace),
            (r"\r?\n", Whitespace),
            (r"#[^\r\n]*", Comment.Single),
            (r'"', String.Double, "string"),
            # definitions: the keyword, then the name it defines
            (rf"(network|block)([ \t]+)({IDENTIFIER})",
             bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (words(("network", "block"), suffix=END_OF_WORD), Keyword.Declaration),
            (rf"import{END_OF_WORD}", Keyword.Namespace),
            (words(("if", "elif", "else", "return", "pass", "as"), suffix=END_OF_WORD), Keyword),
            (words(("and", "or", "not"), suffix=END_OF_WORD), Operator.Word),
            (words(("true", "false", "none"), suffix=END_OF_WORD), Keyword.Constant),
            # an exact torch class: nn.Conv2d
            (rf"(nn)(\.)({IDENTIFIER})", bygroups(Name.Namespace, Punctuation, Name.Class)),
            # a dtype stands between an input's `:` and its shape: `ids: long[B, T]`
            (_NetdslNames("dtypes", prefix=r"(:)([ \t]*)(", suffix=r")(?=[ \t]*\[)"),
             bygroups(Punctuation, Whitespace, Keyword.Type)),
            (_NetdslNames("layers"), Name.Builtin),
            (rf"(\.)({IDENTIFIER})", bygroups(Punctuation, Name.Attribute)),
            (IDENTIFIER, Name),
            (rf"{DIGITS}\.{DIGITS}(?:[eE][+-]?{DIGITS})?", Number.Float),
            (rf"{DIGITS}[eE][+-]?{DIGITS}", Number.Float),
            (DIGITS, Number.Integer),
            (r"->", Operator),
            (r"\.\.\.", Punctuation),
            (r"==|!=|<=|>=|//|\*\*|[<>+\-*/%@]", Operator),
            (r"[(\[]", Punctuation, "brackets"),
            (r"[:,.]", Punctuation),
        ],
        "string": [
            (r'"', String.Double, "#pop"),
            (ESCAPE, String.Escape),
            (r"\\[^\r\n]", Error),  # an escape Python does not know: the checker rejects it
            (r'[^"\\\r\n]+', String.Double),
            default("#pop"),  # unterminated at the end of the line: the checker says so
        ],
    }
