"""The Graphviz backend: golden DOT, real rendering with `dot`, collapsing, no-dot fallback."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import (
    EXAMPLES,
    GOLDEN,
    ROOT,
    assert_matches_golden,
    example_files,
    outputs_across_hash_seeds,
)

import netdsl
from netdsl.cli import main

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")

GOLDEN_DIAGRAMS = [("cifar10", False), ("mnist_resnet", False), ("inception", False),
                   ("unet", True), ("resnet18", True), ("lstm_classifier", False)]


def dot_of(name: str, collapse: bool = False) -> str:
    return netdsl.to_dot(netdsl.check_file(EXAMPLES / f"{name}.net"), collapse=collapse)


def declared_nodes(dot: str) -> set[str]:
    return set(re.findall(r"^\s*(\w+) \[label=", dot, re.MULTILINE))


def edges(dot: str) -> list[tuple[str, str]]:
    return re.findall(r"^\s*(\w+) -> (\w+)", dot, re.MULTILINE)


@pytest.mark.parametrize(("name", "collapse"), GOLDEN_DIAGRAMS)
def test_golden_dot(name: str, collapse: bool, update_golden: bool) -> None:
    text = dot_of(name, collapse)
    golden = GOLDEN / f"{name}{'.collapsed' if collapse else ''}.dot"
    assert_matches_golden(golden, text, update_golden)


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.stem)
@pytest.mark.parametrize("collapse", [False, True])
def test_every_edge_joins_declared_nodes(path: Path, collapse: bool) -> None:
    program = netdsl.check_file(path)
    dot = netdsl.to_dot(program, collapse=collapse)
    nodes = declared_nodes(dot)
    for tail, head in edges(dot):
        assert tail in nodes and head in nodes, (tail, head)
    if not collapse:
        # a node per layer, operation, input and output: nothing lost, nothing extra
        expected = sum(1 for net in program.networks for node in net.nodes
                       if node.kind != "block")
        assert len(nodes) == expected


def test_edges_carry_shapes_and_merges_are_drawn() -> None:
    dot = dot_of("mnist_resnet")
    assert 'label=" B×16×12×12 "' in dot
    assert 'label="+"' in dot
    inception = dot_of("inception")
    assert 'label=cat' in inception or 'label="cat"' in inception
    assert "cluster_" in inception and "inception_a1 · InceptionA" in inception


def test_collapse_draws_blocks_as_nodes_and_runs_as_one() -> None:
    dot = dot_of("resnet18", collapse=True)
    assert "cluster_" not in dot
    assert "basic_block1 × 2" in dot
    program = netdsl.check_file(EXAMPLES / "resnet152.net")
    big = netdsl.to_dot(program, collapse=True)
    assert "bottleneck5 × 35" in big
    assert len(declared_nodes(big)) <= 20  # ResNet-152 collapsed fits on a page


@needs_dot
@pytest.mark.parametrize("name", ["cifar10", "mnist_resnet", "inception", "unet", "resnet152"])
def test_svg_has_a_node_per_layer(name: str, tmp_path: Path) -> None:
    for collapse in (False, True):
        target = tmp_path / f"{name}.svg"
        args = ["diagram", str(EXAMPLES / f"{name}.net"), "-o", str(target)]
        result = CliRunner().invoke(main, args + (["--collapse"] if collapse else []))
        assert result.exit_code == 0, result.output
        svg = target.read_text()
        drawn = svg.count('class="node"')
        assert drawn == len(declared_nodes(dot_of(name, collapse)))
        if not collapse:
            program = netdsl.check_file(EXAMPLES / f"{name}.net")
            layers = sum(1 for n in program.networks[0].nodes if n.kind == "layer")
            assert drawn > layers


@needs_dot
@pytest.mark.parametrize("fmt", ["png", "pdf", "dot"])
def test_formats(fmt: str, tmp_path: Path) -> None:
    target = tmp_path / f"m.{fmt}"
    result = CliRunner().invoke(main, ["diagram", str(EXAMPLES / "cifar10.net"), "-o",
                                       str(target), "--rankdir", "LR"])
    assert result.exit_code == 0
    data = target.read_bytes()
    magic = {"png": b"\x89PNG", "pdf": b"%PDF", "dot": b"digraph"}[fmt]
    assert data.startswith(magic)


def test_without_dot_writes_the_source_and_says_how_to_install(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=str(tmp_path / "empty"))
    target = tmp_path / "m.svg"
    script = "from netdsl.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", script, "diagram",
                             str(EXAMPLES / "cifar10.net"), "-o", str(target)],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert not target.exists()
    assert (tmp_path / "m.dot").read_text().startswith("digraph")
    hint = [line for line in result.stderr.splitlines() if "install Graphviz" in line]
    assert len(hint) == 1


def test_dot_is_deterministic_across_hash_seeds() -> None:
    assert len(outputs_across_hash_seeds("netdsl.to_dot(program, collapse=True)",
                                         EXAMPLES / "unet.net")) == 1


def test_labels_escape_source_text() -> None:
    program = netdsl.check_source('network N(x: [B, 1, 4, 4]):\n'
                                  '    x -> upsample(scale_factor=2, mode="bilinear") as up\n')
    dot = netdsl.to_dot(program)
    assert "mode=&quot;bilinear&quot;" in dot


def test_each_layer_is_drawn_in_its_catalogue_categorys_colour() -> None:
    from netdsl.backends.dot import CATEGORY_COLOURS
    from netdsl.catalogue import CATEGORIES, LAYERS

    assert set(CATEGORY_COLOURS) == set(CATEGORIES)
    source = ("network N(x: [B, 3, 8, 8]):\n"
              "    x -> conv(4, 3) -> relu -> zeropad(1) -> flatten -> dropout -> linear(2)\n")
    dot = netdsl.to_dot(netdsl.check_source(source))
    fills = dict(re.findall(r"<B>(\w+)</B>.*fillcolor=\"(#\w+)\"", dot))
    for name, layer in [("conv1", "conv"), ("relu1", "relu"), ("pad1", "zeropad"),
                        ("flatten1", "flatten"), ("dropout1", "dropout"), ("fc1", "linear")]:
        assert fills[name] == CATEGORY_COLOURS[LAYERS[layer].category], name
    # padding and flattening are no activations (they were drawn as such)
    assert fills["flatten1"] != fills["relu1"] and fills["pad1"] != fills["relu1"]
