"""netdsl installed non-editably (`pip install .`) works from any directory, grammar included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT


def test_wheel_install_carries_the_grammar(tmp_path: Path) -> None:
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(ROOT)],
        capture_output=True, text=True, timeout=300)
    if build.returncode != 0:
        pytest.fail(f"pip install . failed:\n{build.stderr[-2000:]}")
    assert (target / "netdsl" / "grammar" / "netdsl.lark").is_file()
    (metadata,) = target.glob("netdsl-*.dist-info/METADATA")
    requires = [line.removeprefix("Requires-Dist:").strip()
                for line in metadata.read_text().splitlines() if line.startswith("Requires-Dist:")]
    torch = [r for r in requires if r.startswith("torch")]
    # torch only through the extras, with no upper bound (pip would downgrade a newer torch)
    assert sorted(torch) == ['torch>=2.1; extra == "test"', 'torch>=2.1; extra == "torch"']
    code = ("import netdsl, sys; p = netdsl.check_file(sys.argv[1]); "
            "print(netdsl.__file__); print(p.networks[0].params)")
    run = subprocess.run([sys.executable, "-I", "-c",
                          f"import sys; sys.path.insert(0, {str(target)!r}); {code}",
                          str(EXAMPLES / "cifar10.net")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    location, params = run.stdout.split()
    assert Path(location).is_relative_to(target)
    assert params == "145578"
