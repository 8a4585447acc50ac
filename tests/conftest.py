"""Shared helpers. The suite imports the installed netdsl (CI installs it with `pip install .`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(Path(__file__).resolve().parent))  # torch_models, helpers


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/golden/ from the current output instead of comparing")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def assert_matches_golden(golden: Path, text: str, update: bool) -> None:
    """Reviewed, committed output. A missing golden file fails: a test that wrote its own
    expectation could never fail. `pytest --update-golden` writes or rewrites it."""
    if update:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    elif not golden.exists():
        pytest.fail(f"golden file {golden} is missing; review the output and write it with "
                    f"`pytest --update-golden`")
    assert text == golden.read_text()


def example_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.glob("*.net") if "padded" not in p.name)


def outputs_across_hash_seeds(expression: str, path: Path) -> set[str]:
    """What `expression` (over `netdsl` and `program`) prints in fresh processes with
    different PYTHONHASHSEED values: one element when the output is deterministic."""
    import os
    import subprocess

    script = (f"import netdsl, sys; program = netdsl.check_file(sys.argv[1]); "
              f"sys.stdout.write({expression})")
    outputs = set()
    for seed in ("0", "1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                                text=True, env=env, cwd=ROOT, timeout=120)
        assert result.returncode == 0, result.stderr
        outputs.add(result.stdout)
    return outputs
