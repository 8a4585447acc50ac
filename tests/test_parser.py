"""The parser builds nodes inside the LALR parser and joins each span from the tokens it
kept: the text under a node's span must be exactly what the user wrote for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES

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

def _check_in_a_process(cache: Path) -> str:
    """Checks an example in a new process with its own cache directory; what check found."""
    script = ("import netdsl\n"
              f"program = netdsl.check_file({str(EXAMPLES / 'cifar10.net')!r})\n"
              "print(program.networks[0].params)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=dict(os.environ, XDG_CACHE_HOME=str(cache)), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # nothing about the cache reaches the user
    return result.stdout.strip()


def _cache_files(cache: Path) -> list[Path]:
    return sorted((cache / "netdsl").glob("grammar-*.lark-cache"))


def test_lark_keeps_the_analysed_grammar_in_the_users_cache(tmp_path: Path) -> None:
    params = _check_in_a_process(tmp_path)
    assert int(params) > 0
    (cached,) = _cache_files(tmp_path)  # cold: Lark analysed the grammar and saved it
    written = cached.read_bytes()
    os.utime(cached, (1, 1))
    assert _check_in_a_process(tmp_path) == params  # warm: loaded, not written again
    assert cached.stat().st_mtime == 1 and cached.read_bytes() == written


@pytest.mark.parametrize("damage", [b"not a cache", b"0" * 64 + b"\n", b""])
def test_a_damaged_or_stale_cache_is_rebuilt_not_trusted(tmp_path: Path, damage: bytes) -> None:
    params = _check_in_a_process(tmp_path)
    (cached,) = _cache_files(tmp_path)
    written = cached.read_bytes()
    cached.write_bytes(damage if damage else written[: len(written) // 2])  # b"": truncated
    assert _check_in_a_process(tmp_path) == params
    repaired = cached.read_bytes()  # analysed again and saved over the damage
    assert repaired.split(b"\n", 1)[0] == written.split(b"\n", 1)[0]
    os.utime(cached, (1, 1))
    assert _check_in_a_process(tmp_path) == params
    assert cached.stat().st_mtime == 1  # and the repaired file is loaded, not rebuilt


def test_an_unusable_cache_directory_only_costs_time(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a cache "directory" under a file cannot be made
    assert int(_check_in_a_process(blocker / "cache")) > 0
    assert not (blocker / "cache").exists()


def test_first_runs_at_once_all_check_and_leave_a_usable_cache(tmp_path: Path) -> None:
    script = ("import netdsl\n"
              f"print(netdsl.check_file({str(EXAMPLES / 'cifar10.net')!r}).networks[0].params)\n")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    runs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env) for _ in range(4)]
    outputs = {run.communicate(timeout=120) for run in runs}
    assert all(run.returncode == 0 for run in runs), outputs
    (params,) = {out.strip() for out, _ in outputs}
    # Lark writes its cache file in place, so runs that write it at the same moment can leave
    # it damaged; the next run then analyses the grammar again and saves a whole file (costing
    # time, never a wrong parse), and from then on the file loads
    assert _check_in_a_process(tmp_path) == params
    (cached,) = _cache_files(tmp_path)
    os.utime(cached, (1, 1))
    assert _check_in_a_process(tmp_path) == params
    assert cached.stat().st_mtime == 1
