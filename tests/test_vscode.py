"""The VS Code extension (editors/vscode): its node tests (the TextMate grammar on every
example, the extension's start of `netdsl lsp`), the grammar generated from the current
catalogue, and the language configuration's indentation rules on the examples."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from types import ModuleType

import pytest
from conftest import EXAMPLES, ROOT

EXTENSION = ROOT / "editors" / "vscode"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "netdsl_vscode_grammar", EXTENSION / "syntaxes" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_node_tests_pass() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the VS Code extension's tests need it")
    if not (EXTENSION / "node_modules" / "vscode-textmate").is_dir():
        message = ("editors/vscode/node_modules is missing: run "
                   "`npm ci --prefix editors/vscode --no-audit --no-fund`")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run([node, "--test"], cwd=EXTENSION, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    passed = re.search(r"^# pass (\d+)$", result.stdout, re.MULTILINE)
    assert passed and int(passed.group(1)) > len(list(EXAMPLES.glob("*.net"))), result.stdout


def test_the_grammar_is_generated_from_the_current_catalogue() -> None:
    from netdsl.catalogue import LAYERS
    from netdsl.shapes import DTYPES

    grammar_file = EXTENSION / "syntaxes" / "netdsl.tmLanguage.json"
    assert grammar_file.read_text(encoding="utf-8") == generator().text(), (
        "editors/vscode/syntaxes/netdsl.tmLanguage.json is out of date: run "
        "`PYTHONPATH=. python editors/vscode/syntaxes/generate.py`")
    grammar = json.loads(grammar_file.read_text(encoding="utf-8"))
    layer = re.compile(grammar["repository"]["layer"]["match"])
    for name in LAYERS:
        assert layer.fullmatch(name), name
    for name in ("conv_", "myrelu", "relu1"):
        assert not layer.match(name), name
    dtype = re.compile(grammar["repository"]["dtype"]["match"])
    for name in DTYPES:
        assert dtype.match(f": {name}[B]"), name


def test_the_package_points_at_the_files_it_ships() -> None:
    manifest = json.loads((EXTENSION / "package.json").read_text(encoding="utf-8"))
    assert (EXTENSION / manifest["main"]).is_file()
    for language in manifest["contributes"]["languages"]:
        json.loads((EXTENSION / language["configuration"]).read_text(encoding="utf-8"))
    for grammar in manifest["contributes"]["grammars"]:
        assert json.loads((EXTENSION / grammar["path"]).read_text(encoding="utf-8"))[
            "scopeName"] == grammar["scopeName"]


def test_indentation_rules_indent_after_headers_only() -> None:
    config = json.loads((EXTENSION / "language-configuration.json").read_text(encoding="utf-8"))
    increase = re.compile(config["indentationRules"]["increaseIndentPattern"])
    decrease = re.compile(config["indentationRules"]["decreaseIndentPattern"])
    headers = 0
    for path in EXAMPLES.glob("*.net"):
        lines = path.read_text(encoding="utf-8").splitlines()
        for k, line in enumerate(lines):
            # a line opens a suite exactly when the next line of code is indented deeper
            following = next((text for text in lines[k + 1:]
                              if text.strip() and not text.lstrip().startswith("#")), "")
            opens = bool(following.strip()) and not following.lstrip().startswith("->") \
                and len(following) - len(following.lstrip()) > len(line) - len(line.lstrip()) \
                and not line.lstrip().startswith("#")
            if line.rstrip().endswith(",") or line.count("(") > line.count(")"):
                continue  # an argument list continued on the next line
            assert bool(increase.match(line)) == opens, f"{path.name}: {line!r}"
            headers += opens
            if decrease.match(line):
                assert line.lstrip().startswith(("elif", "else")), line
    assert headers > len(list(EXAMPLES.glob("*.net")))
