"""Source text -> syntax tree (netdsl/nodes.py), with labelled syntax errors.

The Lark LALR parser is built once per process from ``grammar/netdsl.lark``; the
tree-builder runs inside the parser (no intermediate parse tree is kept), so deep
or long inputs cost no recursion. Only syntax is checked here: names, types and
shapes are the checker's business (a Transformer that raised would have its
errors wrapped by Lark).
"""

from __future__ import annotations

import ast
import functools
import os
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer_NonRecursive
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import nodes as n
from .errors import Pos, SourceError
from .lexer import Layout, token_pos

GRAMMAR_FILE = "netdsl.lark"
MAX_EXPRESSION_DEPTH = 100  # like bracket nesting: beyond any real program
MAX_SOURCE_BYTES = 4 << 20  # a network description of more than 4 MB is not one

# How the parser's terminal names read in a message.
TERMINAL_WORDS = {
    "NAME": "a name", "INT": "an integer", "FLOAT": "a number", "STRING": "a string",
    "_NL": "the end of the line", "_INDENT": "an indented line", "_DEDENT": "the end of the block",
    "$END": "the end of the file", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'",
    "COMMA": "','", "COLON": "':'", "EQUAL": "'='", "_ARROW": "'->'", "DOT": "'.'",
    "COMP_OP": "a comparison", "ADD_OP": "'+' or '-'", "MUL_OP": "an operator",
    "BLOCK": "'block'", "NETWORK": "'network'", "IMPORT": "'import'", "RETURN": "'return'",
    "IF": "'if'", "ELIF": "'elif'", "ELSE": "'else'", "AS": "'as'", "NOT": "'not'",
    "AND": "'and'", "OR": "'or'", "TRUE": "'true'", "FALSE": "'false'", "NONE": "'none'",
    "PASS": "'pass'", "__ANON_0": "'...'",
}

# Known mistakes, recognised by the parser state they leave behind (lark's match_examples).
KNOWN_MISTAKES: dict[str, list[str]] = {
    "a header ends with ':'": [
        "network N(x: [B, 1])\n", "block B(x)\n", "block B(c)(x)\n", "network N(x: [B])\n    x\n",
    ],
    "missing ',' between arguments": [
        "network N(x: [B, 1]):\n    x -> conv(16 3)\n",
        "network N(x: [B, 1]):\n    x -> f(a=1 b)\n",
    ],
    "`->` binds loosest, so a pipeline stage cannot be followed by an operator; "
    "put the pipeline in parentheses: `(x -> f) + y`": [
        "network N(x: [B, 1]):\n    x -> relu + x\n", "network N(x: [B, 1]):\n    x -> relu - x\n",
        "network N(x: [B, 1]):\n    x -> relu @ x\n",
    ],
    "a pipeline stage is a layer, a block or a name; "
    "apply tensors with `(a, b) -> f` or `f(a, b)`": [
        "network N(x: [B, 1]):\n    x -> (relu)\n", "network N(x: [B, 1]):\n    x -> 3\n",
    ],
}


def grammar_path() -> Path:
    """The grammar ships inside the package (installed) or sits beside it (source checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "grammar" / GRAMMAR_FILE, here.parent / "grammar" / GRAMMAR_FILE):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"netdsl grammar {GRAMMAR_FILE} not found beside {here}")


def _cache_file(grammar: str) -> str | bool:
    """Where the analysed grammar is kept between runs (building it costs ~90 ms, loading it
    ~8 ms): a per-user cache directory, never a shared temporary one; False if unwritable."""
    import hashlib

    import lark

    digest = hashlib.sha256(f"{grammar}{lark.__version__}".encode()).hexdigest()[:16]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "netdsl"
    try:
        base.mkdir(parents=True, exist_ok=True)
        probe = base / f".probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError:
        return False
    return str(base / f"grammar-{digest}.lark-cache")


@functools.cache
def _lark() -> tuple[Lark, Layout]:
    layout = Layout()
    grammar = grammar_path().read_text(encoding="utf-8")
    options: dict[str, Any] = dict(parser="lalr", lexer="contextual", postlex=layout,
                                   propagate_positions=True, maybe_placeholders=True,
                                   start="start")
    try:
        parser = Lark(grammar, cache=_cache_file(grammar), **options)
    except Exception:  # a damaged cache file must not stop netdsl: build afresh
        parser = Lark(grammar, **options)
    return parser, layout


def parse(text: str, file: str = "<string>") -> n.Module:
    """Parse one source file. Raises SourceError on the first syntax error."""
    if len(text) > MAX_SOURCE_BYTES:
        raise SourceError(f"the file is {len(text) / (1 << 20):.1f} MB; netdsl reads network "
                          f"descriptions of at most {MAX_SOURCE_BYTES >> 20} MB", Pos(file, 1, 1))
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise SourceError("the file contains a NUL byte; netdsl source is text", Pos(file, line, 1))
    if not text.endswith("\n"):
        text += "\n"
    parser, layout = _lark()
    layout.file = file
    layout.text = text
    try:
        tree = parser.parse(text)
    except UnexpectedInput as err:
        raise _syntax_error(err, file, parser, layout) from None
    builder = ToNodes(file)
    module = builder.transform(tree)
    if builder.problems:  # facts the tree-builder noted; raised here, outside Lark's visitor
        raise builder.problems[0]
    if builder.too_deep is not None:
        raise SourceError(f"expression nested more than {MAX_EXPRESSION_DEPTH} deep; split it "
                          f"into named steps", builder.too_deep)
    return module


# ---------------------------------------------------------------- syntax errors


def _syntax_error(err: UnexpectedInput, file: str, parser: Lark, layout: Layout) -> SourceError:
    line, column = err.line if err.line > 0 else 1, err.column if err.column > 0 else 1
    pos = Pos(file, line, column, line, column + 1)
    if isinstance(err, UnexpectedCharacters):
        char = err.char
        if char == "'":
            return SourceError("strings are written in double quotes", pos,
                               fix='write "..." instead of \'...\'')
        if char == "\t":
            return SourceError("a tab here is not allowed; netdsl indents with spaces", pos)
        if char == "=" and layout.open_brackets == [] and _next_char(err) == ">":
            return SourceError("'=>' is not an arrow", pos, fix="write '->'")
        if not char.isascii():
            return SourceError(f"unexpected character {char!r}; names use ASCII letters, "
                               "digits and '_'", pos)
        return SourceError(f"unexpected character {char!r}", pos)
    if isinstance(err, UnexpectedToken):
        tok = err.token
        if tok.type != "$END":
            pos = token_pos(file, tok)
        opened = [b for b in layout.open_brackets if b.line < (tok.line or 0)]
        if opened:  # the statement ran on past the end of its line: a bracket was left open
            opener = opened[-1]
            closer = ")" if opener.value == "(" else "]"
            return SourceError(f"unclosed {opener.value!r}", token_pos(file, opener),
                               fix=f"add the matching {closer!r}")
        label = _known_mistake(err, parser)
        if label:
            return SourceError(label, pos)
        if tok.type == "_INDENT":
            return SourceError("unexpected indentation", pos,
                               fix="indent only the body of a block, network, if, elif or else")
        if tok.type == "COMP_OP" and tok.value == ">" and _previous_is_equal(err):
            arrow = Pos(file, pos.line, pos.column - 1, pos.line, pos.column + 1)
            return SourceError("'=>' is not an arrow", arrow, fix="write '->'")
        if "_INDENT" in err.expected and tok.type != "_INDENT":
            return SourceError("expected an indented body on the next line", pos)
        expected = sorted({TERMINAL_WORDS.get(t, repr(t)) for t in err.expected})
        shown = ", ".join(expected[:6]) + (", ..." if len(expected) > 6 else "")
        what = TERMINAL_WORDS.get(tok.type, repr(str(tok.value)))
        if tok.type == "NAME":
            what = f"name {tok.value!r}"
        elif tok.type in ("INT", "FLOAT", "STRING"):
            what = f"{TERMINAL_WORDS[tok.type]} {tok.value}"
        return SourceError(f"unexpected {what}; expected {shown}", pos)
    if isinstance(err, UnexpectedEOF):
        return SourceError("unexpected end of file", pos)
    return SourceError(f"syntax error: {err}", pos)


def _next_char(err: UnexpectedCharacters) -> str:
    text = getattr(err, "_netdsl_text", None) or ""
    return text[err.pos_in_stream + 1: err.pos_in_stream + 2] if text else ""


def _previous_is_equal(err: UnexpectedToken) -> bool:
    state = err.state
    stack = getattr(state, "value_stack", None) or []
    return bool(stack) and isinstance(stack[-1], Token) and stack[-1].value == "="


def _known_mistake(err: UnexpectedToken, parser: Lark) -> str | None:
    try:
        return err.match_examples(parser.parse, KNOWN_MISTAKES, use_accepts=True)
    except Exception:  # an example that fails differently must never hide the real error
        return None


# ---------------------------------------------------------------- tree -> nodes


def _span(file: str, meta: Any) -> Pos:
    if getattr(meta, "empty", True):
        return Pos(file, 1, 1, 1, 2)
    return Pos(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _join(file: str, first: Pos, last: Pos) -> Pos:
    return Pos(file, first.line, first.column, last.end_line, last.end_column)


class ToNodes(Transformer_NonRecursive):
    """Builds nodes bottom-up; carries no semantics (see module docstring). It raises
    nothing: Lark would wrap the exception in VisitError. Problems are noted in
    `problems` and raised by `parse`."""

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file
        self.problems: list[SourceError] = []
        self.depths: dict[int, int] = {}  # id(expression) -> nesting depth, when above 1
        self.too_deep: Pos | None = None

    def nest(self, node: Any, *children: Any) -> Any:
        """Records how deeply an expression nests (later passes recurse over expressions, so
        deep ones are refused here, without recursion, rather than there)."""
        get = self.depths.get
        depth = 1 + max((get(id(c), 1) for c in children if c is not None), default=0)
        if depth > 1:
            self.depths[id(node)] = depth
            if depth > MAX_EXPRESSION_DEPTH and self.too_deep is None:
                self.too_deep = node.pos
        return node

    def problem(self, message: str, pos: Pos) -> None:
        self.problems.append(SourceError(message, pos))

    def _call_userfunc(self, tree: Any, new_children: Any = None) -> Any:
        # every method takes (meta, children): call it directly, without Lark's per-call
        # v_args wrappers (they cost a functools.update_wrapper per node)
        children = new_children if new_children is not None else tree.children
        method = getattr(self, tree.data, None)
        if method is None:
            return self.__default__(tree.data, children, tree.meta)
        return method(tree.meta, children)

    def _pos(self, meta: Any) -> Pos:
        return _span(self.file, meta)

    # files and definitions
    def start(self, meta: Any, items: list[Any]) -> n.Module:
        module = n.Module(self.file)
        for item in items:
            if isinstance(item, n.Import):
                module.imports.append(item)
            elif isinstance(item, n.Definition):
                module.definitions.append(item)
        return module

    def import_stmt(self, meta: Any, items: list[Any]) -> n.Import:
        return n.Import(ast.literal_eval(items[0].value), self._pos(meta))

    def definition(self, meta: Any, items: list[Any]) -> n.Definition:
        kind, name, first, second, body = items
        hyper, inputs = (first, second) if second is not None else ([], first)
        return n.Definition(kind.value, name.value, hyper, inputs, body, token_pos(self.file, name),
                            self.file)

    def param_list(self, meta: Any, items: list[Any]) -> list[n.Param]:
        return [p for p in items if p is not None]

    def param(self, meta: Any, items: list[Any]) -> n.Param:
        name, ttype, default = items
        return n.Param(name.value, ttype, default, token_pos(self.file, name))

    def tensor_type(self, meta: Any, items: list[Any]) -> n.TensorType:
        dtype, shape = items
        return n.TensorType(dtype.value if dtype else None,
                            token_pos(self.file, dtype) if dtype else None, shape)

    def shape(self, meta: Any, items: list[Any]) -> n.ShapeSpec:
        return n.ShapeSpec([d for d in items if d is not None], self._pos(meta))

    # statements
    def suite(self, meta: Any, items: list[Any]) -> list[n.Stmt]:
        return list(items)

    def assign(self, meta: Any, items: list[Any]) -> n.Assign:
        return n.Assign(self._pos(meta), items[0], items[1])

    def expr_stmt(self, meta: Any, items: list[Any]) -> n.ExprStmt:
        return n.ExprStmt(self._pos(meta), items[0])

    def return_stmt(self, meta: Any, items: list[Any]) -> n.Return:
        return n.Return(self._pos(meta), items[0])

    def pass_stmt(self, meta: Any, items: list[Any]) -> n.Pass:
        return n.Pass(self._pos(meta))

    def if_stmt(self, meta: Any, items: list[Any]) -> n.If:
        cond, body, *rest = items
        branches = [(cond, body)]
        orelse = None
        for clause in rest:
            if clause is None:
                continue
            if clause[0] == "elif":
                branches.append((clause[1], clause[2]))
            else:
                orelse = clause[1]
        return n.If(self._pos(meta), branches, orelse)

    def elif_clause(self, meta: Any, items: list[Any]) -> tuple[str, Any, Any]:
        return ("elif", items[0], items[1])

    def else_clause(self, meta: Any, items: list[Any]) -> tuple[str, Any]:
        return ("else", items[0])

    # pipelines
    def pipeline(self, meta: Any, items: list[Any]) -> n.Pipeline:
        # stages are a flat list: only the head and the stages' arguments add depth
        inner = [items[0]] + [a for st in items[1:] for a in st.args]
        return self.nest(n.Pipeline(self._pos(meta), items[0], items[1:]), *inner)

    def annotation(self, meta: Any, items: list[Any]) -> n.Annotated:
        return self.nest(n.Annotated(self._pos(meta), items[0], items[1]), items[0])

    def stage(self, meta: Any, items: list[Any]) -> n.Stage:
        (names, first, last), call, repeat, alias, shape = items
        args, kwargs = call[0] if call else ([], [])
        end = call[1] if call else last
        alias_name, alias_pos = alias if alias else (None, None)
        return n.Stage(names, args, kwargs, call is not None, repeat, alias_name, alias_pos, shape,
                       _join(self.file, first, end))

    def dotted_name(self, meta: Any, items: list[Token]) -> tuple[list[str], Pos, Pos]:
        return ([t.value for t in items], token_pos(self.file, items[0]),
                token_pos(self.file, items[-1]))

    def call_args(self, meta: Any, items: list[Any]) -> tuple[tuple[list[Any], list[Any]], Pos]:
        arglist = items[0] if items and items[0] is not None else ([], [])
        return arglist, self._pos(meta)

    def arglist(self, meta: Any, items: list[Any]) -> tuple[list[n.Expr], list[n.Keyword]]:
        args = [a for a in items if isinstance(a, n.Expr)]
        kwargs = [a for a in items if isinstance(a, n.Keyword)]
        if kwargs:
            first_kw = items.index(kwargs[0])
            for late in items[first_kw:]:
                if isinstance(late, n.Expr):
                    self.problem("a positional argument cannot follow a keyword argument",
                                 late.pos)
                    break
        return args, kwargs

    def kwarg(self, meta: Any, items: list[Any]) -> n.Keyword:
        return n.Keyword(items[0].value, items[1], token_pos(self.file, items[0]))

    def repeat(self, meta: Any, items: list[Any]) -> n.Expr:
        op, count = items
        if op.value != "*":
            self.problem(f"{op.value!r} cannot follow a pipeline stage; `* n` repeats it",
                         token_pos(self.file, op))
        return count

    def alias(self, meta: Any, items: list[Token]) -> tuple[str, Pos]:
        return items[0].value, token_pos(self.file, items[0])

    def stage_shape(self, meta: Any, items: list[Any]) -> n.ShapeSpec:
        return items[0]

    # expressions
    def tuple(self, meta: Any, items: list[Any]) -> n.TupleExpr:
        return self.nest(n.TupleExpr(self._pos(meta), [i for i in items if i is not None]),
                         *items)

    def empty_tuple(self, meta: Any, items: list[Any]) -> n.TupleExpr:
        return n.TupleExpr(self._pos(meta), [])

    def ternary(self, meta: Any, items: list[Any]) -> n.Ternary:
        return self.nest(n.Ternary(self._pos(meta), items[0], items[1], items[2]), *items)

    def or_test(self, meta: Any, items: list[Any]) -> n.BoolOp:
        return self.nest(n.BoolOp(self._pos(meta), "or", list(items)), *items)

    def and_test(self, meta: Any, items: list[Any]) -> n.BoolOp:
        return self.nest(n.BoolOp(self._pos(meta), "and", list(items)), *items)

    def not_op(self, meta: Any, items: list[Any]) -> n.UnaryOp:
        return self.nest(n.UnaryOp(self._pos(meta), "not", items[0]), items[0])

    def comparison(self, meta: Any, items: list[Any]) -> n.Compare:
        return self.nest(n.Compare(self._pos(meta), items[0], [t.value for t in items[1::2]],
                                   list(items[2::2])), *items[0::2])

    def _binary_chain(self, meta: Any, items: list[Any]) -> n.Expr:
        result = items[0]
        for op, right in zip(items[1::2], items[2::2], strict=True):
            result = self.nest(n.BinOp(Pos(self.file, result.pos.line, result.pos.column,
                                           right.pos.end_line, right.pos.end_column),
                                       op.value, result, right), result, right)
        return result

    arith = _binary_chain
    term = _binary_chain

    def unary(self, meta: Any, items: list[Any]) -> n.Expr:
        op, operand = items
        if isinstance(operand, n.Number) and op.value == "-":
            return n.Number(self._pos(meta), -operand.value)
        return self.nest(n.UnaryOp(self._pos(meta), op.value, operand), operand)

    def call(self, meta: Any, items: list[Any]) -> n.Call:
        func, ((args, kwargs), _) = items
        return self.nest(n.Call(self._pos(meta), func, args, kwargs), func, *args,
                         *[k.value for k in kwargs])

    def index(self, meta: Any, items: list[Any]) -> n.Index:
        subs = [i for i in items[1:] if i is not None]
        return self.nest(n.Index(self._pos(meta), items[0], subs), *items)

    def attribute(self, meta: Any, items: list[Any]) -> n.Attribute:
        return self.nest(n.Attribute(self._pos(meta), items[0], items[1].value), items[0])

    def slice(self, meta: Any, items: list[Any]) -> n.Slice:
        return n.Slice(self._pos(meta), items[0], items[1], items[2])

    def ellipsis(self, meta: Any, items: list[Any]) -> n.EllipsisExpr:
        return n.EllipsisExpr(self._pos(meta))

    def name(self, meta: Any, items: list[Token]) -> n.Name:
        return n.Name(token_pos(self.file, items[0]), items[0].value)

    def int(self, meta: Any, items: list[Token]) -> n.Number:
        tok = items[0]
        text = tok.value.replace("_", "")
        if len(text) > 40:  # beyond any size; also keeps int() off Python's digit limit
            self.problem("integer literal too large", token_pos(self.file, tok))
            return n.Number(token_pos(self.file, tok), 0)
        return n.Number(token_pos(self.file, tok), int(text))

    def float(self, meta: Any, items: list[Token]) -> n.Number:
        value = float(items[0].value.replace("_", ""))
        if value != value or value in (float("inf"), float("-inf")):
            self.problem("number too large", token_pos(self.file, items[0]))
            value = 0.0
        return n.Number(token_pos(self.file, items[0]), value)

    def string(self, meta: Any, items: list[Token]) -> n.String:
        tok = items[0]
        try:
            value = ast.literal_eval(tok.value)
        except (ValueError, SyntaxError):
            self.problem("invalid escape in string", token_pos(self.file, tok))
            value = ""
        return n.String(token_pos(self.file, tok), value)

    def true(self, meta: Any, items: list[Any]) -> n.Constant:
        return n.Constant(self._pos(meta), True)

    def false(self, meta: Any, items: list[Any]) -> n.Constant:
        return n.Constant(self._pos(meta), False)

    def none(self, meta: Any, items: list[Any]) -> n.Constant:
        return n.Constant(self._pos(meta), None)
