"""Source text -> syntax tree (netdsl/nodes.py), with labelled syntax errors.

Lark parses ``grammar/netdsl.lark`` with its LALR parser. Analysing the grammar costs
~90 ms, so Lark keeps the analysed parser in a per-user cache file (see `_cache_file`)
and loads it from there on later starts. The tree-builder (ToNodes) runs inside the
parser, as Lark reduces each rule, so no parse tree is built and deep or long inputs cost
no recursion. Lark's errors are turned into the labelled messages below. Only syntax is
checked here: names, types and shapes are the checker's business.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from . import nodes as n
from .errors import Pos, SourceError
from .lexer import Layout, token_pos

if TYPE_CHECKING:
    from lark import Lark, Token
    from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

GRAMMAR_FILE = "netdsl.lark"
# a stage written without parentheses (`-> relu`, most of them) shares these: a long chain
# keeps a stage's nodes in memory, and two lists apiece made it slower to walk
NO_ARGUMENTS: tuple[tuple[n.Expr, ...], tuple[n.Keyword, ...]] = ((), ())
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
    "PASS": "'pass'", "ELLIPSIS": "'...'",
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


def cache_home() -> Path:
    """Per user ($XDG_CACHE_HOME or ~/.cache), never a shared temporary directory: the cache
    is a pickle, and loading another user's pickle would run their code."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def _cache_file(grammar: str) -> Path | None:
    """Where Lark keeps the analysed grammar between runs (building it costs ~90 ms, loading
    it ~8 ms): `<cache home>/netdsl/grammar-<digest>.lark-cache`, or None (no cache) if that
    directory cannot be made. The digest lets versions that alternate (two Pythons, two
    checkouts) keep a file each instead of rewriting one."""
    import lark

    key = f"{grammar}{lark.__version__}{sys.version_info[:2]}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    base = cache_home() / "netdsl"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return base / f"grammar-{digest}.lark-cache"


@functools.cache
def _grammar() -> str:
    return grammar_path().read_text(encoding="utf-8")


@functools.cache
def _lark() -> tuple[Lark, Layout, ToNodes]:
    """Lark's parser for the grammar, with Lark's own cache (`cache=` a file path). Lark
    checks that the file was made from the same grammar, options (the path among them), Lark
    and Python; from a stale, damaged or half-written one (two first runs at once) it
    analyses the grammar afresh and rewrites the file; when it cannot write, it carries on."""
    from lark import Lark, Token

    layout, builder = Layout(Token), ToNodes()
    grammar = _grammar()
    options: dict[str, Any] = dict(parser="lalr", lexer="contextual", postlex=layout,
                                   transformer=builder, maybe_placeholders=True, start="start")
    cached = _cache_file(grammar)
    try:
        parser = Lark(grammar, cache=str(cached) if cached else False, **options)
    except Exception:  # Lark rebuilds from a damaged cache itself; this is the last resort
        parser = Lark(grammar, **options)
    return parser, layout, builder


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
    from lark.exceptions import UnexpectedInput

    parser, layout, builder = _lark()
    layout.file = file
    layout.text = text
    builder.reset(file)
    try:
        module = cast(n.Module, parser.parse(text))  # what ToNodes.start returns
    except UnexpectedInput as err:
        raise _syntax_error(err, file, parser, layout) from None
    if builder.problems:  # facts the tree-builder noted; raised here, once the parser is done
        raise builder.problems[0]
    if builder.too_deep is not None:
        raise SourceError(f"expression nested more than {MAX_EXPRESSION_DEPTH} deep; split it "
                          f"into named steps", builder.too_deep)
    return module


# ---------------------------------------------------------------- syntax errors


def _syntax_error(err: UnexpectedInput, file: str, parser: Lark, layout: Layout) -> SourceError:
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    line, column = err.line if err.line > 0 else 1, err.column if err.column > 0 else 1
    pos = Pos(file, line, column, line, column + 1)
    if isinstance(err, UnexpectedCharacters):
        char = err.char
        if char == "'":
            return SourceError("strings are written in double quotes", pos,
                               fix='write "..." instead of \'...\'')
        if char == "\t":
            return SourceError("a tab here is not allowed; netdsl indents with spaces", pos)
        if char == "=" and layout.open_brackets == [] and _next_char(err, layout.text) == ">":
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


def _next_char(err: UnexpectedCharacters, text: str) -> str:
    at = err.pos_in_stream
    return text[at + 1: at + 2] if at is not None else ""


def _previous_is_equal(err: UnexpectedToken) -> bool:
    from lark import Token

    state = err.state
    stack = getattr(state, "value_stack", None) or []
    return bool(stack) and isinstance(stack[-1], Token) and stack[-1].value == "="


def _known_mistake(err: UnexpectedToken, parser: Lark) -> str | None:
    try:
        return err.match_examples(parser.parse, KNOWN_MISTAKES, use_accepts=True)
    except Exception:  # an example that fails differently must never hide the real error
        return None


# ---------------------------------------------------------------- reductions -> nodes


def _join(file: str, first: Any, last: Any) -> Pos:
    """The span from the start of `first` to the end of `last`: tokens and Pos alike carry
    line, column, end_line and end_column."""
    return Pos(file, first.line, first.column, last.end_line, last.end_column)


class ToNodes:
    """Builds nodes inside the LALR parser: Lark calls the method named after each rule as
    the rule is reduced, with its children (tokens, nodes, None for an absent optional
    part), so no parse tree is built and nothing recurses. A node's span is joined from its
    first and last child, which is why the grammar keeps the punctuation and keywords that
    spans start or end with (LPAR, RSQB, RETURN, ...).

    It carries no semantics (see the module docstring) and raises nothing, since Lark
    would wrap the exception: problems are noted in `problems` and raised by `parse`."""

    def __init__(self) -> None:
        self.reset("<string>")

    def reset(self, file: str) -> None:
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

    def _tok(self, tok: Token) -> Pos:
        return token_pos(self.file, tok)

    # files and definitions
    def start(self, items: list[Any]) -> n.Module:
        module = n.Module(self.file)
        for item in items:
            if isinstance(item, n.Import):
                module.imports.append(item)
            elif isinstance(item, n.Definition):
                module.definitions.append(item)
        return module

    def import_stmt(self, items: list[Any]) -> n.Import:
        keyword, path = items
        return n.Import(self._string_value(path), _join(self.file, keyword, path))

    def definition(self, items: list[Any]) -> n.Definition:
        kind, name, first, second, body = items
        hyper, inputs = (first, second) if second is not None else ([], first)
        return n.Definition(kind.value, name.value, hyper, inputs, body, self._tok(name),
                            self.file)

    def param_list(self, items: list[Any]) -> list[n.Param]:
        return [p for p in items if p is not None]

    def param(self, items: list[Any]) -> n.Param:
        name, ttype, default = items
        return n.Param(name.value, ttype, default, self._tok(name))

    def tensor_type(self, items: list[Any]) -> n.TensorType:
        dtype, shape = items
        return n.TensorType(dtype.value if dtype else None,
                            self._tok(dtype) if dtype else None, shape)

    def shape(self, items: list[Any]) -> n.ShapeSpec:
        return n.ShapeSpec([d for d in items[1:-1] if d is not None],
                           _join(self.file, items[0], items[-1]))

    # statements
    def suite(self, items: list[Any]) -> list[n.Stmt]:
        return list(items)

    def assign(self, items: list[Any]) -> n.Assign:
        target, value = items
        return n.Assign(_join(self.file, target.pos, value.pos), target, value)

    def expr_stmt(self, items: list[Any]) -> n.ExprStmt:
        return n.ExprStmt(items[0].pos, items[0])

    def return_stmt(self, items: list[Any]) -> n.Return:
        keyword, value = items
        return n.Return(_join(self.file, keyword, value.pos), value)

    def pass_stmt(self, items: list[Any]) -> n.Pass:
        return n.Pass(self._tok(items[0]))

    def if_stmt(self, items: list[Any]) -> n.If:
        keyword, cond, body, *rest = items
        branches = [(cond, body)]
        orelse = None
        for clause in rest:
            if clause is None:
                continue
            if clause[0] == "elif":
                branches.append((clause[1], clause[2]))
            else:
                orelse = clause[1]
        last = (orelse or branches[-1][1])[-1]
        return n.If(_join(self.file, keyword, last.pos), branches, orelse)

    def elif_clause(self, items: list[Any]) -> tuple[str, Any, Any]:
        return ("elif", items[0], items[1])

    def else_clause(self, items: list[Any]) -> tuple[str, Any]:
        return ("else", items[0])

    # pipelines
    def pipeline(self, items: list[Any]) -> n.Pipeline:
        # stages are a flat list: only the head and the stages' arguments add depth
        head, stages = items[0], items[1:]
        inner = [head] + [a for st in stages for a in st.args]
        last = stages[-1]  # the pipeline ends with its last stage's `* n`, alias or shape
        end = next(pos for pos in (last.shape and last.shape.pos, last.alias_pos,
                                   last.repeat and last.repeat.pos, last.pos) if pos)
        return self.nest(n.Pipeline(_join(self.file, head.pos, end), head, stages), *inner)

    def annotation(self, items: list[Any]) -> n.Annotated:
        value, shape = items
        return self.nest(n.Annotated(_join(self.file, value.pos, shape.pos), value, shape),
                         value)

    def stage(self, items: list[Any]) -> n.Stage:
        *names, call, repeat, alias, shape = items  # NAME ("." NAME)* and the optional parts
        args, kwargs = call[0] if call else NO_ARGUMENTS
        end = call[1] if call else names[-1]
        alias_name, alias_pos = alias if alias else (None, None)
        return n.Stage(tuple(t.value for t in names), args, kwargs, call is not None, repeat,
                       alias_name, alias_pos, shape, _join(self.file, names[0], end))

    def call_args(self, items: list[Any]) -> tuple[tuple[list[Any], list[Any]], Pos]:
        opener, arglist, closer = items
        return arglist or ([], []), _join(self.file, opener, closer)

    def arglist(self, items: list[Any]) -> tuple[list[n.Expr], list[n.Keyword]]:
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

    def kwarg(self, items: list[Any]) -> n.Keyword:
        return n.Keyword(items[0].value, items[1], self._tok(items[0]))

    def repeat(self, items: list[Any]) -> n.Expr:
        op, count = items
        if op.value != "*":
            self.problem(f"{op.value!r} cannot follow a pipeline stage; `* n` repeats it",
                         self._tok(op))
        return count

    def alias(self, items: list[Token]) -> tuple[str, Pos]:
        return items[0].value, self._tok(items[0])

    def stage_shape(self, items: list[Any]) -> n.ShapeSpec:
        return items[0]

    # expressions
    def tuple(self, items: list[Any]) -> n.TupleExpr:
        # `(a, b)` keeps its parentheses as tokens; `a, b` (an exprlist) has none
        exprs = [i for i in items if isinstance(i, n.Expr)]
        first = exprs[0].pos if isinstance(items[0], n.Expr) else items[0]
        last = exprs[-1].pos if isinstance(items[-1], n.Expr) else items[-1]
        return self.nest(n.TupleExpr(_join(self.file, first, last), exprs), *exprs)

    def paren(self, items: list[Any]) -> n.Expr:
        opener, inner, closer = items  # `(x)` is x, spanning its parentheses too
        inner.pos = _join(self.file, opener, closer)
        return inner

    def empty_tuple(self, items: list[Token]) -> n.TupleExpr:
        return n.TupleExpr(_join(self.file, items[0], items[1]), [])

    def ternary(self, items: list[Any]) -> n.Ternary:
        pos = _join(self.file, items[0].pos, items[2].pos)
        return self.nest(n.Ternary(pos, items[0], items[1], items[2]), *items)

    def _bool_op(self, op: str, items: list[Any]) -> n.BoolOp:
        pos = _join(self.file, items[0].pos, items[-1].pos)
        return self.nest(n.BoolOp(pos, op, list(items)), *items)

    def or_test(self, items: list[Any]) -> n.BoolOp:
        return self._bool_op("or", items)

    def and_test(self, items: list[Any]) -> n.BoolOp:
        return self._bool_op("and", items)

    def not_op(self, items: list[Any]) -> n.UnaryOp:
        keyword, operand = items
        return self.nest(n.UnaryOp(_join(self.file, keyword, operand.pos), "not", operand),
                         operand)

    def comparison(self, items: list[Any]) -> n.Compare:
        pos = _join(self.file, items[0].pos, items[-1].pos)
        return self.nest(n.Compare(pos, items[0], [t.value for t in items[1::2]],
                                   list(items[2::2])), *items[0::2])

    def _binary_chain(self, items: list[Any]) -> n.Expr:
        result = items[0]
        for op, right in zip(items[1::2], items[2::2], strict=True):
            result = self.nest(n.BinOp(_join(self.file, result.pos, right.pos), op.value,
                                       result, right), result, right)
        return result

    arith = _binary_chain
    term = _binary_chain
    pow_op = _binary_chain

    def unary(self, items: list[Any]) -> n.Expr:
        op, operand = items
        pos = _join(self.file, op, operand.pos)
        if isinstance(operand, n.Number) and op.value == "-":
            return n.Number(pos, -operand.value)
        return self.nest(n.UnaryOp(pos, op.value, operand), operand)

    def call(self, items: list[Any]) -> n.Call:
        func, ((args, kwargs), args_pos) = items
        return self.nest(n.Call(_join(self.file, func.pos, args_pos), func, args, kwargs), func,
                         *args, *[k.value for k in kwargs])

    def index(self, items: list[Any]) -> n.Index:
        subs = [i for i in items[1:-1] if i is not None]
        return self.nest(n.Index(_join(self.file, items[0].pos, items[-1]), items[0], subs),
                         items[0], *subs)

    def attribute(self, items: list[Any]) -> n.Attribute:
        value, attr = items
        return self.nest(n.Attribute(_join(self.file, value.pos, attr), value, attr.value), value)

    def slice(self, items: list[Any]) -> n.Slice:
        lower, _, upper, _, step = items
        parts = [p.pos if isinstance(p, n.Expr) else p for p in items if p is not None]
        return n.Slice(_join(self.file, parts[0], parts[-1]), lower, upper, step)

    def ellipsis(self, items: list[Token]) -> n.EllipsisExpr:
        return n.EllipsisExpr(self._tok(items[0]))

    def name(self, items: list[Token]) -> n.Name:
        return n.Name(self._tok(items[0]), items[0].value)

    def int(self, items: list[Token]) -> n.Number:
        tok = items[0]
        text = tok.value.replace("_", "")
        if len(text) > 40:  # beyond any size; also keeps int() off Python's digit limit
            self.problem("integer literal too large", self._tok(tok))
            return n.Number(self._tok(tok), 0)
        return n.Number(self._tok(tok), int(text))

    def float(self, items: list[Token]) -> n.Number:
        value = float(items[0].value.replace("_", ""))
        if value != value or value in (float("inf"), float("-inf")):
            self.problem("number too large", self._tok(items[0]))
            value = 0.0
        return n.Number(self._tok(items[0]), value)

    def string(self, items: list[Token]) -> n.String:
        return n.String(self._tok(items[0]), self._string_value(items[0]))

    def _string_value(self, tok: Token) -> str:
        """What a string literal stands for: Python's escapes, and only those."""
        body = tok.value[1:-1]
        if "\\" not in body:  # the common case needs no evaluating
            return body
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # "\q" is only a warning to Python
                return ast.literal_eval(tok.value)
        except (ValueError, SyntaxError, Warning):
            self.problem("invalid escape in string", self._tok(tok))
            return ""

    def true(self, items: list[Token]) -> n.Constant:
        return n.Constant(self._tok(items[0]), True)

    def false(self, items: list[Token]) -> n.Constant:
        return n.Constant(self._tok(items[0]), False)

    def none(self, items: list[Token]) -> n.Constant:
        return n.Constant(self._tok(items[0]), None)
