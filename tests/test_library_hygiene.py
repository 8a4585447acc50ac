"""What the library owes its callers: no change to process-wide state, a namespace that is
its API, and a README written for users."""

from __future__ import annotations

import gc
import re
import types

import pytest
from conftest import EXAMPLES, ROOT

import netdsl

GC_CHANGES = ("collect", "disable", "enable", "freeze", "unfreeze", "set_threshold",
              "set_debug")


def test_checking_leaves_the_garbage_collector_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the CLI, a process of its own, may switch the collector off (netdsl/cli.py)."""
    calls: list[str] = []
    for name in GC_CHANGES:
        monkeypatch.setattr(gc, name, lambda *args, _name=name, **kwargs: calls.append(_name))
    program = netdsl.check_file(EXAMPLES / "resnet18.net")
    netdsl.to_pytorch(program)
    netdsl.to_dot(program)
    with pytest.raises(netdsl.NetDSLError):
        netdsl.check_source("network N(x: [B, 3]):\n    x -> nope\n")
    assert calls == []


def test_no_library_module_imports_gc() -> None:
    """A static companion of the test above, for paths that example programs do not take."""
    for path in sorted((ROOT / "netdsl").rglob("*.py")):
        if path.name == "cli.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import gc\b|from gc import)", text, re.MULTILINE), path


def test_the_namespace_is_the_api() -> None:
    """`dir(netdsl)` lists the documented API (`__all__`) and the submodules Python binds as
    they load, nothing the package imported for itself (gc, Path, Any, ...). A lazy
    `load_ipython_extension` (for `%load_ext netdsl`) is allowed."""
    program = netdsl.check_file(EXAMPLES / "unet.net")  # loads the checking modules
    netdsl.to_pytorch(program)
    netdsl.to_dot(program)
    public = {name for name in dir(netdsl) if not name.startswith("_")}
    modules = {name for name in public if isinstance(getattr(netdsl, name), types.ModuleType)}
    for name in modules:
        assert getattr(netdsl, name).__name__ == f"netdsl.{name}", name  # not `gc`, say
    extensions = {"load_ipython_extension"}
    api = set(netdsl.__all__) - {"Program"}  # reached through __getattr__, on first use
    assert public - modules - extensions == api - extensions
    assert netdsl.Program is type(program)


def test_readme_speaks_to_users() -> None:
    """No project-internal references ("seed 003's author", "the U-Net of seed 004")."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    internal = re.findall(r"(?i)\bseeds? \d+|\bseed\b[^.\n]*\bauthor", text)
    assert internal == []


def test_readme_does_not_describe_garbage_collector_tricks() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "gc.freeze" not in text and "pauses Python's cyclic garbage collector" not in text
