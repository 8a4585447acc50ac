"""The parser builds nodes inside the LALR parser and joins each span from the tokens it
kept: the text under a node's span must be exactly what the user wrote for it."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES

from netdsl import lalr
from netdsl import nodes as n
from netdsl.parser import parse

SOURCE = """\
import "lib.net"
network N(k=2)(x: [B, 3, 8, 8]):
    y = (x -> conv(4, 3, padding=1) -> relu) * 2
    z = x[..., 0:2, :, ::2]
    if not true or k > 1 and none:
        pass
    elif (1, k) == ():
        return -x
    else:
        return (x, y)
    a, b = x -> relu : [B, 3, 8, 8], (x)
    c = x -> maxpool(2) * 2 as pool
    return nn.Identity()(x) if a else b
"""
LINES = SOURCE.splitlines()


def text(pos) -> str:
    assert pos.line == pos.end_line, pos
    return LINES[pos.line - 1][pos.column - 1: pos.end_column - 1]


@pytest.fixture(scope="module")
def body() -> list[n.Stmt]:
    module = parse(SOURCE, "t.net")
    assert text(module.imports[0].pos) == 'import "lib.net"'
    return module.definitions[0].body


def test_parentheses_belong_to_what_they_enclose(body: list[n.Stmt]) -> None:
    assign = body[0]
    assert text(assign.pos) == "y = (x -> conv(4, 3, padding=1) -> relu) * 2"
    product = assign.value
    assert text(product.pos) == "(x -> conv(4, 3, padding=1) -> relu) * 2"
    assert text(product.left.pos) == "(x -> conv(4, 3, padding=1) -> relu)"
    assert text(product.left.stages[0].pos) == "conv(4, 3, padding=1)"


def test_subscripts_slices_and_ellipsis(body: list[n.Stmt]) -> None:
    index = body[1].value
    assert text(index.pos) == "x[..., 0:2, :, ::2]"
    assert [text(s.pos) for s in index.items] == ["...", "0:2", ":", "::2"]


def test_if_spans_its_header_to_its_last_statement(body: list[n.Stmt]) -> None:
    stmt = body[2]
    assert isinstance(stmt, n.If)
    assert (stmt.pos.line, stmt.pos.column) == (5, 5)
    assert (stmt.pos.end_line, stmt.pos.end_column) == (10, 22)  # the end of `return (x, y)`
    cond = stmt.branches[0][0]
    assert text(cond.pos) == "not true or k > 1 and none"
    assert text(cond.values[0].pos) == "not true"
    assert text(cond.values[0].operand.pos) == "true"
    assert text(stmt.branches[0][1][0].pos) == "pass"
    assert text(stmt.branches[1][0].pos) == "(1, k) == ()"
    assert text(stmt.branches[1][0].comparators[0].pos) == "()"
    assert text(stmt.branches[1][1][0].pos) == "return -x"
    assert text(stmt.orelse[0].value.pos) == "(x, y)"


def test_pipelines_end_with_their_last_stage_and_its_parts(body: list[n.Stmt]) -> None:
    tuple_assign = body[3]
    assert text(tuple_assign.target.pos) == "a, b"
    annotated, paren = tuple_assign.value.items
    assert text(annotated.pos) == "x -> relu : [B, 3, 8, 8]"
    assert text(paren.pos) == "(x)"
    pipeline = body[4].value
    assert text(pipeline.pos) == "x -> maxpool(2) * 2 as pool"
    stage = pipeline.stages[0]
    assert text(stage.pos) == "maxpool(2)"
    assert text(stage.repeat.pos) == "2"
    assert text(stage.alias_pos) == "pool"


def test_calls_attributes_and_ternaries(body: list[n.Stmt]) -> None:
    ret = body[5]
    assert text(ret.pos) == "return nn.Identity()(x) if a else b"
    ternary = ret.value
    assert text(ternary.pos) == "nn.Identity()(x) if a else b"
    call = ternary.then
    assert text(call.pos) == "nn.Identity()(x)"
    assert text(call.func.pos) == "nn.Identity()"
    assert text(call.func.func.pos) == "nn.Identity"


def _check_in_a_process(cache: Path) -> tuple[bool, str]:
    """Checks an example in a new process with its own cache directory; whether Lark was
    imported, and what check printed."""
    script = ("import sys, netdsl\n"
              f"program = netdsl.check_file({str(EXAMPLES / 'cifar10.net')!r})\n"
              "print('lark' in sys.modules, program.networks[0].params)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=dict(os.environ, XDG_CACHE_HOME=str(cache)), timeout=120)
    assert result.returncode == 0, result.stderr
    imported, params = result.stdout.split()
    return imported == "True", params


def test_lark_is_imported_only_to_build_the_cached_tables(tmp_path: Path) -> None:
    assert _check_in_a_process(tmp_path) == (True, "145578")  # cold: Lark makes the tables
    tables = lalr.cache_path_in(tmp_path)
    assert tables.is_file()
    assert _check_in_a_process(tmp_path) == (False, "145578")  # warm: no Lark at all
    tables.write_bytes(b"not marshal data")  # damaged: rebuilt, never trusted
    assert _check_in_a_process(tmp_path) == (True, "145578")
    assert _check_in_a_process(tmp_path) == (False, "145578")


def test_tables_from_another_grammar_are_not_used(tmp_path: Path) -> None:
    _check_in_a_process(tmp_path)
    path = lalr.cache_path_in(tmp_path)
    fmt, grammar, tables = marshal.loads(path.read_bytes())
    path.write_bytes(marshal.dumps((fmt, grammar + "\n// changed", tables)))
    assert lalr.load_tables(grammar + "\n// changed", path) is not None
    assert _check_in_a_process(tmp_path) == (True, "145578")  # the real grammar: rebuilt


def test_an_unusable_cache_directory_only_costs_time(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a cache "directory" under a file cannot be made
    assert _check_in_a_process(blocker / "cache") == (True, "145578")
    assert not (blocker / "cache").exists()
