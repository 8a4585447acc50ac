"""The command line: output, JSON, --input, exit codes, and writing files safely."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES

from netdsl.cli import Exit, main

CIFAR = str(EXAMPLES / "cifar10.net")


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_check_prints_a_table_with_totals() -> None:
    result = run("check", CIFAR)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "network Cifar10(x: [B, 3, 32, 32]) -> [B, 10]"
    assert any(line.split()[:2] == ["conv1", "nn.Conv2d(3,"] and "[B, 32, 32, 32]" in line
               and "2,432" in line for line in lines)
    assert any("nn.Linear(1024, 64)" in line and "65,600" in line for line in lines)
    assert any(line.split()[:2] == ["total", "parameters"] and line.split()[-1] == "145,578"
               for line in lines)


def test_check_json_follows_the_contract() -> None:
    result = run("check", CIFAR, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert set(data) == {"file", "networks", "errors", "warnings"}
    [net] = data["networks"]
    assert net["name"] == "Cifar10"
    assert net["inputs"] == [{"name": "x", "shape": ["B", 3, 32, 32], "dtype": "float"}]
    assert net["outputs"][0]["shape"] == ["B", 10]
    assert net["params"] == 145578
    conv1 = net["layers"][0]
    costs = {"flops", "flops_formula", "output_bytes", "output_bytes_formula"}
    assert {k: v for k, v in conv1.items() if k not in costs} == {
        "name": "conv1", "op": "conv", "torch": "nn.Conv2d(3, 32, 5, padding=2)", "line": 3,
        "column": 10, "input_shapes": [["B", 3, 32, 32]], "output_shape": ["B", 32, 32, 32],
        "params": 2432}
    assert sum(layer["params"] for layer in net["layers"]) == 145578


def test_check_json_layers_add_up_with_blocks() -> None:
    result = run("check", str(EXAMPLES / "unet.net"), "--json")
    net = json.loads(result.stdout)["networks"][0]
    assert sum(layer["params"] for layer in net["layers"]) == net["params"] == 31_037_698
    down1 = next(b for b in net["blocks"] if b["name"] == "down1")
    assert down1["op"] == "Down" and down1["params"] == 221_696
    assert down1["output_shape"] == ["B", 128, 286, 286]
    assert any(layer["name"] == "down1.double_conv1.conv1" for layer in net["layers"])


def test_check_json_reports_errors_with_exit_1() -> None:
    result = run("check", str(EXAMPLES / "mnist_resnet_padded.net"), "--json")
    assert result.exit_code == Exit.SOURCE
    data = json.loads(result.stdout)
    assert data["networks"] == []
    [error] = data["errors"]
    assert (error["line"], error["column"]) == (18, 10)
    assert error["message"] == "linear expects 512 input features, but its input has 1568"


def test_input_override() -> None:
    result = run("check", CIFAR, "--input", "x=[8,3,32,32]", "--json")
    assert result.exit_code == 0
    net = json.loads(result.stdout)["networks"][0]
    assert net["inputs"][0]["shape"] == [8, 3, 32, 32]
    assert net["outputs"][0]["shape"] == [8, 10]


def test_input_override_that_does_not_fit_is_a_source_error() -> None:
    result = run("check", CIFAR, "--input", "x=[8,3,64,64]")
    assert result.exit_code == Exit.SOURCE
    assert "the annotation [B, 1024] does not match the shape [8, 4096]" in result.stderr


@pytest.mark.parametrize("args", [
    ["check", CIFAR, "--input", "x=8,3"],
    ["check", CIFAR, "--input", "x=[8,-3]"],
    ["check", CIFAR, "--bogus"],
    ["check"],
    ["frobnicate", CIFAR],
    ["diagram", CIFAR, "-o", "out.gif"],
])
def test_bad_command_lines_exit_2(args: list[str]) -> None:
    assert run(*args).exit_code == Exit.USAGE


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_unknown_input_name_is_a_usage_error(extra: list[str]) -> None:
    """A command-line mistake: exit 2 and no location (there is no source line to point at)."""
    result = run("check", CIFAR, "--input", "y=[8,3,32,32]", *extra)
    assert result.exit_code == Exit.USAGE
    assert result.stderr == f"netdsl: --input: no network in {CIFAR} has an input 'y'\n"
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["check", "compile", "diagram"])
def test_missing_file_is_a_usage_error(command: str) -> None:
    result = run(command, "no/such/file.net")
    assert result.exit_code == Exit.USAGE
    assert result.stderr == "netdsl: cannot read no/such/file.net: no such file\n"


def test_unreadable_file_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "secret.net"
    shutil.copy(EXAMPLES / "cifar10.net", source)
    source.chmod(0)
    if os.geteuid() == 0:  # root reads a file whatever its mode: open() answers as for a user
        real_open = os.open

        def refuse(path: object, *args: object, **kwargs: object) -> int:
            if os.fspath(path) == str(source):  # type: ignore[call-overload]
                raise PermissionError(13, "Permission denied", str(source))
            return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "open", refuse)
    result = run("check", str(source))
    assert result.exit_code == Exit.USAGE
    assert result.stderr == f"netdsl: cannot read {source}: permission denied\n"


def test_help_lists_commands_with_examples() -> None:
    for args in ([], ["--help"]):
        result = run(*args)
        assert result.exit_code == 0
        for command in ("check", "compile", "diagram"):
            assert command in result.stdout
        assert "netdsl compile model.net" in result.stdout


def test_compile_writes_beside_the_source(tmp_path: Path) -> None:
    source = tmp_path / "cifar10.net"
    shutil.copy(EXAMPLES / "cifar10.net", source)
    result = run("compile", str(source))
    assert result.exit_code == 0
    text = (tmp_path / "cifar10.py").read_text()
    assert "class Cifar10(nn.Module):" in text
    assert "nn.Linear(1024, 64)" in text


def test_written_files_get_ordinary_permissions(tmp_path: Path) -> None:
    target = tmp_path / "m.py"
    assert run("compile", CIFAR, "-o", str(target)).exit_code == 0
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_compile_to_stdout() -> None:
    result = run("compile", CIFAR, "-o", "-")
    assert result.exit_code == 0
    assert result.stdout.startswith("# Generated by netdsl from ")


def test_failed_compile_writes_and_overwrites_nothing(tmp_path: Path) -> None:
    source = tmp_path / "bad.net"
    shutil.copy(EXAMPLES / "mnist_resnet_padded.net", source)
    target = tmp_path / "bad.py"
    target.write_text("# precious\n")
    result = run("compile", str(source), "-o", str(target))
    assert result.exit_code == Exit.SOURCE
    assert target.read_text() == "# precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.net", "bad.py"]


def test_compile_into_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    result = run("compile", CIFAR, "-o", str(tmp_path / "nowhere" / "m.py"))
    assert result.exit_code == Exit.USAGE
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_compile_into_an_unwritable_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = run("compile", CIFAR, "-o", str(locked / "m.py"))
        assert result.exit_code == Exit.USAGE
        assert "cannot write" in result.stderr
    finally:
        locked.chmod(0o700)


def test_compile_refuses_to_overwrite_its_source(tmp_path: Path) -> None:
    source = tmp_path / "m.net"
    shutil.copy(EXAMPLES / "cifar10.net", source)
    result = run("compile", str(source), "-o", str(source))
    assert result.exit_code == Exit.USAGE
    assert source.read_text() == (EXAMPLES / "cifar10.net").read_text()


def test_console_script_runs_as_a_process(tmp_path: Path) -> None:
    """The installed entry point, from another directory, with real exit codes."""
    exe = shutil.which("netdsl")
    command = [exe] if exe else [sys.executable, "-m", "netdsl.cli"]
    ok = subprocess.run([*command, "check", CIFAR], cwd=tmp_path, capture_output=True,
                        text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([*command, "check", str(EXAMPLES / "mnist_resnet_padded.net")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr
    assert "1568 = 32 x 7 x 7" in bad.stderr


@pytest.mark.parametrize(("args", "code"), [
    (["check", CIFAR, "--json"], Exit.OK),
    (["check", str(EXAMPLES / "mnist_resnet_padded.net"), "--json"], Exit.SOURCE),
    (["check", CIFAR, "--input", "x=[1"], Exit.USAGE),
    (["frobnicate"], Exit.USAGE),
])
def test_python_m_netdsl_exits_with_the_code_and_all_the_output(args: list[str],
                                                                code: Exit) -> None:
    """`python -m netdsl` ends with a hard exit (no interpreter teardown): the code must
    still be the command's, and everything printed must arrive (a large JSON document
    through a pipe)."""
    result = subprocess.run([sys.executable, "-m", "netdsl", *args], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == code, result.stderr
    if code in (Exit.OK, Exit.SOURCE):
        document = json.loads(result.stdout)
        assert bool(document["errors"]) is (code == Exit.SOURCE)
    if code == Exit.OK:
        assert document["networks"][0]["params"] == 145_578  # the seed's Cifar10
    assert "Traceback" not in result.stderr
