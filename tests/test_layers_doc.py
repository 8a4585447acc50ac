"""docs/layers.md: generated from the catalogue, every example checked, never stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import netdsl
from netdsl.catalogue import ENTRIES, LAYERS
from netdsl.layers_doc import EXAMPLES, render

ROOT = Path(__file__).resolve().parent.parent
LAYERS_MD = ROOT / "docs" / "layers.md"
REFRESH = "python -m netdsl.layers_doc > docs/layers.md"


def test_docs_layers_md_is_fresh() -> None:
    assert LAYERS_MD.exists(), f"docs/layers.md is missing; make it with `{REFRESH}`"
    assert LAYERS_MD.read_text(encoding="utf-8") == render(), (
        f"docs/layers.md is stale; refresh it with `{REFRESH}`")


def test_every_layer_has_an_example_and_every_example_a_layer() -> None:
    assert set(EXAMPLES) == set(LAYERS)


@pytest.mark.parametrize("layer", [spec.name for spec in ENTRIES])
def test_example_is_a_stage_of_its_layer_that_checks(layer: str) -> None:
    example = EXAMPLES[layer]
    program = netdsl.check_source(example.source, f"{layer}.net")
    (net,) = program.networks
    applied = [node.op for node in net.nodes if node.kind in ("layer", "op")]
    assert applied == [layer], f"{example.line} applies {applied}, not {layer} alone"
    assert not program.warnings, [w.message for w in program.warnings]


def test_every_layer_and_its_classes_are_on_the_page() -> None:
    text = LAYERS_MD.read_text(encoding="utf-8")
    for spec in ENTRIES:
        assert f"### `{spec.name}`" in text
        assert EXAMPLES[spec.name].line in text
        for cls in spec.classes:
            assert f"`nn.{cls}`" in text


def test_generating_the_page_does_not_import_torch() -> None:
    code = ("import sys; from netdsl.layers_doc import render; render(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert out.stdout.strip() == "False"
