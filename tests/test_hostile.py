"""Hostile input: programs that expand without end, paths that are not source files, outputs
that are not plain files or that are the program's own sources.

What could exhaust the machine runs in a child process with a memory limit and a timeout,
so that a regression fails the test instead of taking the machine down."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, example_files

import netdsl
from netdsl import budget
from netdsl.cli import Exit, main

MEMORY_LIMIT = 2 << 30  # address space of a child process: far above what a check needs
LIMITED = (
    "import resource, sys\n"
    f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))\n"
    "sys.argv[0] = 'netdsl'\n"
    "from netdsl.cli import run\n"
    "run()\n"
)


def limited_process(*args: str) -> subprocess.Popen[str]:
    """`netdsl ARGS` in a child process whose address space is limited."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    return subprocess.Popen([sys.executable, "-c", LIMITED, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def finish(process: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str]:
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"netdsl {process.args[3:]} still ran after {timeout} s")
    return process.returncode, stderr


def run(*args: str):
    return CliRunner().invoke(main, list(args))


# ---------------------------------------------------------------- a budget on the whole program

REPEATED = """\
block A0(x: [B, 4]):
    x -> linear(4)

block A1(x: [B, 4]):
    x -> A0 * 10000

block A2(x: [B, 4]):
    x -> A1 * 10000

network Net(x: [B, 4]):
    x -> A2
"""


def doubling(levels: int) -> str:
    """A(i) uses A(i-1) twice: 2**levels layers from a few lines."""
    lines = ["block A0(x: [B, 4]):", "    x -> relu", ""]
    for i in range(1, levels + 1):
        lines += [f"block A{i}(x: [B, 4]):", f"    x -> A{i - 1} -> A{i - 1}", ""]
    return "\n".join([*lines, "network Net(x: [B, 4]):", f"    x -> A{levels}", ""])


def test_programs_that_expand_without_end_stop_at_the_budget(tmp_path: Path) -> None:
    """Each stage is within its own limit (10000 repetitions, 32 nested blocks); together
    they would make 10**8 or 2**30 layers. The check stops at the budget with one located
    error naming the block use where it went over and the uses around it."""
    repeated, doubled = tmp_path / "repeated.net", tmp_path / "doubled.net"
    repeated.write_text(REPEATED)
    doubled.write_text(doubling(30))
    processes = [limited_process("check", str(path)) for path in (repeated, doubled)]
    (code1, err1), (code2, err2) = (finish(p) for p in processes)
    limit = f"the program expands to more than {budget.MAX_NODES:,} layers, operations and"
    assert code1 == Exit.SOURCE, err1
    assert err1.startswith(f"{repeated}:5:10: error: {limit} block uses, netdsl's limit; it "
                           f"goes over in this use of block A0\n"), err1
    assert f"in block A1 used at {repeated}:8:10" in err1
    assert f"in block A2 used at {repeated}:11:10" in err1
    assert code2 == Exit.SOURCE, err2
    assert re.match(rf"{re.escape(str(doubled))}:\d+:10: error: {limit}", err2), err2
    assert f"in block A30 used at {doubled}:95:10" in err2
    assert "Traceback" not in err1 + err2


def test_the_clock_is_part_of_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A check that runs past the time limit stops with a located error (the limit is set to
    nothing here, so that the first reading of the clock, after budget.CLOCK_EVERY steps, is
    past it)."""
    monkeypatch.setattr(budget, "MAX_SECONDS", 0.0)
    source = textwrap.dedent("""\
        block Pair(x: [B, 4]):
            x -> relu -> relu

        network Net(x: [B, 4]):
            x -> Pair * 5000
    """)
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.check_source(source, "clock.net")
    [error] = info.value.diagnostics
    assert error.message == ("checking the program takes more than 0 seconds of processor "
                             "time, netdsl's limit; it goes over in this use of block Pair")
    assert (error.line, error.column) == (5, 10)


def test_the_budget_counts_every_network_of_a_program(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "MAX_NODES", 100)
    networks = "".join(f"network N{i}(x: [B, 4]):\n    x{' -> relu' * 30}\n\n" for i in range(5))
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.check_source(networks, "four.net")
    [error] = info.value.diagnostics  # one error, and the networks after it are not checked
    assert "more than 100 layers" in error.message
    # three networks of 32 nodes (input, 30 relus, output) before the fourth, whose input and
    # first three relus make 100: its fourth relu is over
    assert (error.line, error.column) == (11, 34)


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.stem)
def test_real_networks_are_far_inside_the_budget(path: Path) -> None:
    program = netdsl.check_file(path)
    assert program.checker is not None
    assert 0 < program.checker.budget.nodes * 100 < budget.MAX_NODES


# ---------------------------------------------------------------- only regular files are read

def test_devices_and_fifos_are_refused_without_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.net"
    os.mkfifo(fifo)
    processes = [limited_process("check", path) for path in ("/dev/zero", str(fifo))]
    (code1, err1), (code2, err2) = (finish(p, timeout=60) for p in processes)
    assert (code1, err1) == (Exit.USAGE, "netdsl: cannot read /dev/zero: it is a character "
                                         "device, not a regular file\n")
    assert (code2, err2) == (Exit.USAGE, f"netdsl: cannot read {fifo}: it is a FIFO, not a "
                                         f"regular file\n")


def test_a_large_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """A 3 GB file (sparse: it takes no disk) in a process limited to 2 GB of memory: its
    size is checked before reading, so it is refused instead of exhausting memory."""
    big = tmp_path / "big.net"
    with big.open("wb") as handle:
        handle.truncate(3 << 30)
    code, err = finish(limited_process("check", str(big)), timeout=60)
    assert (code, err) == (Exit.USAGE, f"netdsl: cannot read {big}: it is 3072.0 MB; "
                                       f"netdsl reads source files of at most 4 MB\n")
    with pytest.raises(OSError, match="at most 4 MB"):
        netdsl.check_file(big)


def test_imports_of_what_is_not_a_source_file_are_located_errors(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.net")
    (tmp_path / "folder.net").mkdir()
    with (tmp_path / "big.net").open("wb") as handle:
        handle.truncate(3 << 30)
    main_file = tmp_path / "main.net"
    main_file.write_text(textwrap.dedent("""\
        import "/dev/zero"
        import "pipe.net"
        import "folder.net"
        import "big.net"

        network N(x: [B, 4]):
            x -> relu
    """))
    code, err = finish(limited_process("check", str(main_file)), timeout=60)
    assert code == Exit.SOURCE, err
    for line, (path, reason) in enumerate([
            ("/dev/zero", "it is a character device, not a regular file"),
            ("pipe.net", "it is a FIFO, not a regular file"),
            ("folder.net", "it is a directory, not a regular file"),
            ("big.net", "it is 3072.0 MB; netdsl reads source files of at most 4 MB"),
    ], start=1):
        assert f"{main_file}:{line}:1: error: cannot import '{path}': {reason}\n" in err


def test_the_library_raises_oserror_for_what_it_cannot_read(tmp_path: Path) -> None:
    """In this process only what cannot hang or exhaust it when it regresses; devices and
    FIFOs are tried in a limited process above (the command line calls check_file)."""
    with pytest.raises(FileNotFoundError):
        netdsl.check_file(tmp_path / "missing.net")
    with pytest.raises(OSError, match="it is a directory, not a regular file"):
        netdsl.check_file(tmp_path)


def test_line_ends_are_read_as_text_mode_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "crlf.net"
    path.write_bytes(b"network N(x: [B, 4]):\r\n    x -> relu\r\n")
    assert netdsl.check_file(path).networks[0].outputs[0].shape[1] == 4


def test_the_library_raises_valueerror_for_an_unknown_input() -> None:
    with pytest.raises(ValueError, match=r"no network in n\.net has an input 'y'"):
        netdsl.check_source("network N(x: [B, 4]):\n    x -> relu\n", "n.net", {"y": [1, 4]})


# ---------------------------------------------------------------- outputs: plain files only

@pytest.fixture
def program_with_import(tmp_path: Path) -> Path:
    (tmp_path / "lib.net").write_text("block Act(x):\n    x -> relu\n")
    main_file = tmp_path / "main.net"
    main_file.write_text('import "lib.net"\n\nnetwork N(x: [B, 4]):\n    x -> Act\n')
    return main_file


def test_compile_refuses_to_overwrite_an_imported_source(program_with_import: Path) -> None:
    lib = program_with_import.parent / "lib.net"
    before = lib.read_text()
    result = run("compile", str(program_with_import), "-o", str(lib))
    assert result.exit_code == Exit.USAGE
    assert result.stderr == (f"netdsl: refusing to overwrite the source {lib}; name another "
                             f"output with -o\n")
    assert lib.read_text() == before


def test_diagram_refuses_to_overwrite_its_own_source(tmp_path: Path) -> None:
    """A source whose name ends in .svg is its own default output."""
    source = tmp_path / "net.svg"
    source.write_text("network N(x: [B, 4]):\n    x -> relu\n")
    before = source.read_text()
    for args in (["diagram", str(source)], ["diagram", str(source), "-o", str(source)]):
        result = run(*args)
        assert result.exit_code == Exit.USAGE, result.output
        assert "refusing to overwrite the source" in result.stderr
        assert source.read_text() == before


def special_files(tmp_path: Path) -> list[Path]:
    """A FIFO, a link to /dev/null, and, as root, a character device like /dev/null."""
    os.mkfifo(tmp_path / "fifo.py")
    (tmp_path / "null.py").symlink_to("/dev/null")
    paths = [tmp_path / "fifo.py", tmp_path / "null.py"]
    if os.geteuid() == 0:
        os.mknod(tmp_path / "device.py", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        paths.append(tmp_path / "device.py")
    return paths


@pytest.mark.parametrize("command", ["compile", "diagram"])
def test_outputs_that_are_not_regular_files_are_refused(command: str, tmp_path: Path,
                                                        program_with_import: Path) -> None:
    for target in special_files(tmp_path):
        mode = os.stat(target).st_mode
        output = target.with_suffix(".dot") if command == "diagram" else target
        if command == "diagram":
            target.rename(output)
        result = run(command, str(program_with_import), "-o", str(output))
        assert result.exit_code == Exit.USAGE, result.output
        assert result.stderr == (f"netdsl: refusing to write {output}: it exists and is not a "
                                 f"regular file; name a file or a new path\n")
        assert os.stat(output).st_mode == mode  # still what it was, not replaced by a file


def test_outputs_to_new_paths_regular_files_and_stdout_still_work(
        tmp_path: Path, program_with_import: Path) -> None:
    target = tmp_path / "out.py"
    assert run("compile", str(program_with_import), "-o", str(target)).exit_code == 0
    assert run("compile", str(program_with_import), "-o", str(target)).exit_code == 0
    assert "class N(nn.Module)" in target.read_text()
    printed = run("compile", str(program_with_import), "-o", "-")
    assert printed.exit_code == 0 and printed.stdout == target.read_text()
    assert run("diagram", str(program_with_import), "-o", str(tmp_path / "d.dot")).exit_code == 0

