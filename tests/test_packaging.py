"""PyTorch is an extra (`netdsl[torch]`): the commands that only read a program never import
it, and building a module without it says how to install it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT

RESNET18 = EXAMPLES / "resnet18.net"


def imported_modules(args: list[str], cwd: Path) -> tuple[set[str], subprocess.CompletedProcess]:
    """The modules a `python -m netdsl ...` process imported, read from `-X importtime`
    (written as each import happens, so the command's hard exit does not hide any)."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "netdsl", *args],
                            capture_output=True, text=True, cwd=cwd, timeout=120)
    modules = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    return modules, result


@pytest.mark.parametrize("command", [
    ["check"], ["check", "--json"], ["compile", "-o", "out.py"], ["diagram", "-o", "out.dot"],
    ["diagram", "-o", "out.svg"],
], ids=" ".join)
def test_reading_commands_never_import_torch(command: list[str], tmp_path: Path) -> None:
    if command[-1].endswith(".svg") and shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed")
    modules, result = imported_modules([command[0], str(RESNET18), *command[1:]], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "netdsl.check.checker" in modules  # the import trace did record the real work
    torch_modules = sorted(m for m in modules if m == "torch" or m.startswith("torch."))
    assert torch_modules == []
    if "-o" in command:
        assert (tmp_path / command[-1]).stat().st_size > 0


def test_build_without_torch_names_the_extra(tmp_path: Path) -> None:
    """A torch that is not installed is simulated by a None entry in sys.modules, which
    makes any `import torch` fail as a missing module does."""
    script = ("import sys\n"
              "sys.modules['torch'] = None\n"
              "import netdsl\n"
              f"program = netdsl.check_file({str(RESNET18)!r})\n"
              "try:\n"
              "    netdsl.build(program, 'ResNet18')\n"
              "except ImportError as exc:\n"
              "    print(type(exc).__name__, exc.name, exc, sep='|')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    kind, name, message = result.stdout.strip().split("|")
    assert (kind, name) == ("ModuleNotFoundError", "torch")
    assert "pip install netdsl[torch]" in message


def test_ci_installs_the_cpu_torch_before_netdsl_and_its_test_extra() -> None:
    """The order matters: torch 2.13.0's CPU wheel first satisfies `torch>=2.1`, so that
    installing netdsl pulls no other build of torch."""
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    installs = [line for line in lines if line.startswith("python -m pip install")]
    assert installs[0].endswith("torch==2.13.0")
    assert installs[1].endswith('".[test]"')
