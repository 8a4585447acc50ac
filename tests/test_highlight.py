"""The Pygments lexer (netdsl/highlight.py) against netdsl's own lexer: on every example and
on the programs of the other tests, every token the grammar's lexer (Lark, with
grammar/netdsl.lark) finds is covered by Pygments tokens of the matching kind, with no error
tokens and nothing lost."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest

pygments = pytest.importorskip("pygments")

from conftest import EXAMPLES, ROOT  # noqa: E402
from pygments.token import (  # noqa: E402
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
from test_injection import CORPUS as INJECTION_CORPUS  # noqa: E402
from test_parser import SOURCE as PARSER_SOURCE  # noqa: E402

from netdsl.catalogue import LAYERS  # noqa: E402
from netdsl.highlight import NetdslLexer  # noqa: E402
from netdsl.parser import _lark  # noqa: E402

# every lexical form the examples do not show: dtypes, torch classes, escapes, operators
LEXICAL_SAMPLE = (Path(__file__).parent / "lexical_sample.net").read_text(encoding="utf-8")

LEXER = NetdslLexer(stripnl=False, ensurenl=False)


def corpus() -> list[tuple[str, str]]:
    texts = [(p.name, p.read_text(encoding="utf-8")) for p in sorted(EXAMPLES.glob("*.net"))]
    found = Path(__file__).parent / "fuzz" / "found"
    texts += [(f"found/{p.name}", p.read_text(encoding="utf-8"))
              for p in sorted(found.glob("*.net"))]
    texts += [(f"injection-{i}", text) for i, text in enumerate(INJECTION_CORPUS)]
    texts += [("test_parser.SOURCE", PARSER_SOURCE), ("lexical_sample.net", LEXICAL_SAMPLE)]
    return texts


CORPUS = corpus()
IDS = [name for name, _ in CORPUS]


def tokens(text: str) -> list[tuple[int, object, str]]:
    return list(LEXER.get_tokens_unprocessed(text))


def grammar_tokens(text: str) -> list[object]:
    """Every token netdsl's lexer finds, whitespace and comments included."""
    parser = _lark()[0]
    return [t for t in parser.lex(text, dont_ignore=True)
            if t.type not in ("_INDENT", "_DEDENT")]


def grammar_words() -> set[str]:
    """The grammar's keywords: the terminals that are a plain word."""
    return {t.pattern.value for t in _lark()[0].terminals
            if t.pattern.type == "str" and re.fullmatch(r"[a-z]+", t.pattern.value)}


def expected_kinds(kind: str, value: str) -> tuple[object, ...]:
    if re.fullmatch(r"[a-z]+", value) and value in grammar_words() and kind != "NAME":
        return (Keyword, Operator.Word)
    return {
        "NAME": (Name, Keyword.Type),
        "INT": (Number.Integer,),
        "FLOAT": (Number.Float,),
        "STRING": (String,),
        "COMMENT": (Comment,),
        "__IGNORE_0": (Whitespace,),
        "_ARROW": (Operator,), "COMP_OP": (Operator,), "ADD_OP": (Operator,),
        "MUL_OP": (Operator,), "POW_OP": (Operator,), "EQUAL": (Operator,),
    }.get(kind, (Punctuation,))


def is_a(kind: object, wanted: tuple[object, ...]) -> bool:
    """Whether a token type is one of `wanted` or a subtype of one (String.Escape is a String)."""
    return any(kind in want for want in wanted)  # type: ignore[operator]


@pytest.mark.parametrize("text", [t for _, t in CORPUS], ids=IDS)
def test_tokens_cover_the_input_without_errors(text: str) -> None:
    toks = tokens(text)
    assert "".join(value for _, _, value in toks) == text
    assert [(i, v) for i, kind, v in toks if kind in Error] == []
    # the public entry point, with Pygments' default options, loses nothing but the
    # newlines it is documented to strip and add
    assert "".join(v for _, v in NetdslLexer().get_tokens(text)).strip() == text.strip()


@pytest.mark.parametrize("text", [t for _, t in CORPUS], ids=IDS)
def test_every_grammar_token_is_highlighted_as_its_kind(text: str) -> None:
    toks = tokens(text)
    kind_at: dict[int, object] = {}
    starts = set()
    for start, kind, value in toks:
        starts.add(start)
        for offset in range(start, start + len(value)):
            kind_at[offset] = kind
    starts.add(len(text))
    for tok in grammar_tokens(text):
        begin, end = tok.start_pos, tok.end_pos
        if tok.type == "_NL":  # newlines, indentation and whole-line comments
            for m in re.finditer(r"#[^\n]*|[^#]+", tok.value):
                want = (Comment,) if m.group().startswith("#") else (Whitespace,)
                assert all(is_a(kind_at[begin + m.start() + i], want)
                           for i in range(len(m.group()))), (tok, m.group())
            continue
        assert begin in starts and end in starts, f"{tok.type} {tok.value!r} at {begin} is split"
        want = expected_kinds(tok.type, tok.value)
        got = {kind_at[i] for i in range(begin, end)}
        assert all(is_a(k, want) for k in got), (tok.type, tok.value, got)


def test_every_keyword_of_the_grammar_is_a_keyword() -> None:
    words = grammar_words()
    assert {"network", "block", "import", "if", "elif", "else", "return", "pass", "and", "or",
            "not", "as", "true", "false", "none"} <= words
    for word in sorted(words):
        [(_, kind, value)] = [t for t in tokens(word) if t[2].strip()]
        assert value == word and (kind in Keyword or kind in Operator.Word), (word, kind)


def test_every_catalogue_layer_is_a_builtin_and_other_names_are_not() -> None:
    for layer in LAYERS:
        text = f"network N(x: [B, 3]):\n    x -> {layer}\n"
        assert (Name.Builtin, layer) in [(k, v) for _, k, v in tokens(text)]
    for name in ("x", "conv_1", "relu_", "myrelu", "Residual"):
        assert (Name, name) in [(k, v) for _, k, v in tokens(f"x -> {name}\n")]


def test_layers_after_arrows_in_the_examples_are_builtins() -> None:
    checked = 0
    for path in sorted(EXAMPLES.glob("*.net")):
        toks = [t for t in tokens(path.read_text(encoding="utf-8")) if t[2].strip()]
        for before, (_, kind, value) in itertools.pairwise(toks):
            if before[2] == "->" and value in LAYERS:
                assert kind is Name.Builtin, (path.name, value)
                checked += 1
    assert checked > 100


@pytest.mark.parametrize(("snippet", "expected"), [
    ("network Cifar10(x: [B, 3]):", [(Keyword.Declaration, "network"), (Name.Class, "Cifar10")]),
    ("block Down(c)(x):", [(Keyword.Declaration, "block"), (Name.Class, "Down")]),
    ("x -> nn.Conv2d(3, 8, 3)", [(Name.Namespace, "nn"), (Name.Class, "Conv2d")]),
    ("f(ids: long[B, T])", [(Name, "ids"), (Keyword.Type, "long"), (Name, "B")]),
    ("x -> conv(16, 3, padding=1) : [B, 16, 8, 8]",
     [(Operator, "->"), (Name.Builtin, "conv"), (Number.Integer, "16"),
      (Name.Attribute, "padding"), (Operator, "="), (Number.Integer, "1"), (Punctuation, ":"),
      (Punctuation, "[")]),
    ("y = x", [(Name, "y"), (Operator, "="), (Name, "x")]),  # an assignment, not a keyword arg
    ("m = 1e-5 + 0.5 + 1_000", [(Number.Float, "1e-5"), (Number.Float, "0.5"),
                                (Number.Integer, "1_000")]),
    ('s = "a\\nb"', [(String.Double, '"'), (String.Double, "a"), (String.Escape, "\\n")]),
    ("x[..., ::2]", [(Punctuation, "..."), (Punctuation, ":")]),
    ("# shapes: [B, 10]", [(Comment.Single, "# shapes: [B, 10]")]),
    ('import "lib.net"', [(Keyword.Namespace, "import"), (String.Double, "lib.net")]),
    ("return x if not a and b or c else none",
     [(Keyword, "return"), (Keyword, "if"), (Operator.Word, "not"), (Operator.Word, "and"),
      (Operator.Word, "or"), (Keyword, "else"), (Keyword.Constant, "none")]),
    ("x -> relu as act", [(Keyword, "as"), (Name, "act")]),
    ("x.shape[0] // 2", [(Name.Attribute, "shape"), (Operator, "//")]),
    ("networks = pass_ + iffy", [(Name, "networks"), (Name, "pass_"), (Name, "iffy")]),
])
def test_key_tokens(snippet: str, expected: list[tuple[object, str]]) -> None:
    got = [(kind, value) for _, kind, value in tokens(snippet)]
    position = 0
    for item in expected:  # in this order, others between
        assert item in got[position:], (item, got)
        position = got.index(item, position) + 1


def test_what_the_checker_rejects_is_marked() -> None:
    # an escape Python does not know, a single-quoted string, a stray character
    for text in ('s = "bi\\qlinear"\n', "mode='x'\n", "x $ y\n", "x -> \\\n  relu\n"):
        assert any(kind in Error for _, kind, _ in tokens(text)), text


def test_pygments_finds_the_installed_lexer_by_name_and_file_name(tmp_path: Path) -> None:
    """`pip install .` registers the entry point: Pygments, in a fresh process that sees only
    the installed copy, finds the lexer by its name and by a `.net` file name."""
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(ROOT)],
        capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    code = ("from pygments.lexers import get_lexer_by_name, get_lexer_for_filename; "
            "import netdsl.highlight as h; "
            "a = get_lexer_by_name('netdsl'); b = get_lexer_for_filename('model.net'); "
            "print(type(a).__name__, type(b).__name__, h.__file__)")
    run = subprocess.run([sys.executable, "-I", "-c",
                          f"import sys; sys.path.insert(0, {str(target)!r}); {code}"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    by_name, by_file, location = run.stdout.split()
    assert by_name == by_file == "NetdslLexer"
    assert Path(location).is_relative_to(target)


def test_the_entry_point_names_the_lexer() -> None:
    import importlib

    tomllib = pytest.importorskip("tomllib")  # Python 3.11 and later

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    target = project["entry-points"]["pygments.lexers"]["netdsl"]
    module, _, attribute = target.partition(":")
    assert getattr(importlib.import_module(module), attribute) is NetdslLexer
    assert any(req.startswith("pygments") for req in project["optional-dependencies"]["editor"])
