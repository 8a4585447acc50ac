"""Notebooks: a checked program's HTML (layer table and inline SVG diagram) and the `%%netdsl`
cell magic, run in IPython's InteractiveShell. The table must say what `netdsl check` says,
the totals what torch counts, the bound classes must run in torch with the checked shapes,
and errors must read as the CLI prints them, without a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("IPython")

import torch
from click.testing import CliRunner
from conftest import EXAMPLES, ROOT
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import netdsl
from netdsl.cli import main
from netdsl.htmlview import NO_DOT, program_html
from netdsl.notebook import NetdslCellError
from netdsl.report import layer_json, layer_rows

HAS_DOT = shutil.which("dot") is not None
SIZES = {"B": 2}


class Tables(HTMLParser):
    """The rows of every <table> as lists of cell texts, and the SVG fragments."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None
        self.svgs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "svg":
            self.svgs += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def parsed(html_text: str) -> Tables:
    tables = Tables()
    tables.feed(html_text)
    return tables


def concrete(shape: list[int | str]) -> tuple[int, ...]:
    return tuple(SIZES[d] if isinstance(d, str) else d for d in shape)


@pytest.fixture
def shell():  # type: ignore[no-untyped-def]
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "netdsl")
    before = set(ip.user_ns)
    yield ip
    for name in set(ip.user_ns) - before:
        del ip.user_ns[name]


def run_cell(ip: InteractiveShell, options: str, source: str):  # type: ignore[no-untyped-def]
    with capture_output() as captured:
        result = ip.run_cell(f"%%netdsl {options}\n{source}")
    return result, captured


@pytest.mark.parametrize("example", ["cifar10", "mnist_resnet", "inception", "lstm_classifier"])
def test_the_html_table_says_what_check_says_and_torch_counts(example: str) -> None:
    program = netdsl.check_file(EXAMPLES / f"{example}.net")
    rows = parsed(program._repr_html_()).rows
    for net in program.networks:
        header = rows.index(["layer", "torch", "at", "output", "params"])
        body = rows[header + 1:header + 1 + len(layer_rows(net))]
        total = rows[header + 1 + len(layer_rows(net))]
        del rows[:header + 2 + len(layer_rows(net))]
        for row, node in zip(body, layer_rows(net), strict=True):
            data = layer_json(node)
            assert row[0] == (node.name if node.name is not None else node.label)
            assert row[1].removesuffix("  (shared)") == data["torch"]
            assert row[2] == f"{data['line']}:{data['column']}"
            assert row[3].split(" (+")[0] == "[" + ", ".join(map(str, data["output_shape"])) + "]"
            assert row[4] == (f"{data['params']:,}" if data.get("block") or data["params"]
                              else "-")
        module = netdsl.build(program, net.definition.name)()
        assert total == ["total parameters",
                         f"{sum(p.numel() for p in module.parameters()):,}"]


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
def test_the_diagram_is_inline_svg() -> None:
    program = netdsl.check_file(EXAMPLES / "mnist_resnet.net")
    text = program._repr_html_()
    assert parsed(text).svgs == 1 and "<?xml" not in text and "<!DOCTYPE" not in text
    svg = text[text.index("<svg"):text.index("</svg>") + len("</svg>")]
    root = ET.fromstring(svg)  # well-formed
    labels = "".join(root.itertext())
    assert "MnistResNet" in labels and "ResidualBlock" in labels and "Conv2d" in labels


def test_without_graphviz_the_html_says_how_to_get_the_diagram(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` on it
    text = netdsl.check_file(EXAMPLES / "cifar10.net")._repr_html_()
    assert "<svg" not in text and "Graphviz" in text
    assert parsed(text).rows[1][0] == "conv1"
    assert NO_DOT.split(";")[0] in text.replace("&#x27;", "'")


def test_everything_from_the_source_is_escaped() -> None:
    payload = "<script>alert('&')</script>"
    source = (f'network N(x: [B, 3]):\n    x -> nn.Softmax2d(name="{payload}") : [B, 3]\n'
              f"    y = x -> relu  # <b>unused</b>\n    x\n")
    program = netdsl.check_source(source, "<img src=x>.net")
    assert program.warnings  # `y` is never used: the warning quotes the source
    text = program_html(program)
    assert "<script" not in text and "<b>" not in text and "<img" not in text
    assert "&lt;script&gt;" in text and "&lt;b&gt;unused&lt;/b&gt;" in text
    rows = parsed(text).rows
    assert any(payload in cell for row in rows for cell in row)  # shown as written


def test_the_html_view_imports_no_torch() -> None:
    script = ("import sys, netdsl; p = netdsl.check_file(sys.argv[1]); p._repr_html_(); "
              "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script, str(EXAMPLES / "unet.net")],
                         capture_output=True, text=True, cwd=ROOT, timeout=120, check=True)
    assert out.stdout.strip() == "False"


def test_the_magic_shows_the_table_and_binds_the_classes(shell: InteractiveShell) -> None:
    source = (EXAMPLES / "mnist_resnet.net").read_text(encoding="utf-8")
    result, captured = run_cell(shell, "--name model.net", source)
    assert result.success, captured.stdout
    [output] = captured.outputs
    program = netdsl.check_source(source, "model.net")
    assert output.data["text/html"] == program_html(program)
    assert output.data["text/plain"].startswith("network MnistResNet(x: [B, 1, 28, 28])")
    network, block = shell.user_ns["MnistResNet"], shell.user_ns["ResidualBlock"]
    model = network()
    assert isinstance(model.residual_block1, block)  # one module: the network's own block
    [(_, want)] = program.networks[0].inputs
    out = model(torch.randn(*concrete([int(d) if str(d).isdigit() else str(d)
                                       for d in want.shape])))
    assert tuple(out.shape) == concrete([int(d) if str(d).isdigit() else str(d)
                                         for d in program.networks[0].outputs[0].shape])
    assert sum(p.numel() for p in model.parameters()) == program.networks[0].params


def test_the_magic_options(shell: InteractiveShell) -> None:
    source = (EXAMPLES / "cifar10.net").read_text(encoding="utf-8")
    result, captured = run_cell(shell, "--input x=[8,3,32,32] --no-diagram --no-build", source)
    assert result.success, captured.stdout
    html_text = captured.outputs[0].data["text/html"]
    assert "x: [8, 3, 32, 32]" in html_text and "<svg" not in html_text
    assert "Cifar10" not in shell.user_ns
    result, captured = run_cell(shell, "--input x=oops", source)
    assert isinstance(result.error_in_exec, NetdslCellError)
    assert "--input: expected NAME=[d1, d2, ...]" in captured.stdout
    assert "Traceback" not in captured.stdout


def test_without_torch_nothing_is_bound(shell: InteractiveShell,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("netdsl.notebook.torch_installed", lambda: False)
    result, _ = run_cell(shell, "", (EXAMPLES / "cifar10.net").read_text(encoding="utf-8"))
    assert result.success and "Cifar10" not in shell.user_ns


@pytest.mark.parametrize("source", [
    "network N(x: [B, 3]):\n    x -> linear(4, in_features=5)\n",
    "network N(x: [B, 3]):\n    x -> conv(16, 3\n",
    "network N(x: [B, 3]):\n    y = x -> lineer(4)\n    x -> linear(4, in_features=7)\n",
    'import "missing.net"\nnetwork N(x: [B, 3]):\n    x\n',
])
def test_errors_read_as_the_cli_prints_them(shell: InteractiveShell, tmp_path: Path,
                                            source: str) -> None:
    path = tmp_path / "bad.net"
    path.write_text(source, encoding="utf-8")
    cli = CliRunner().invoke(main, ["check", str(path)])
    assert cli.exit_code == 1
    result, captured = run_cell(shell, f"--name {path}", source)
    assert isinstance(result.error_in_exec, NetdslCellError)
    assert result.error_in_exec.error is not None
    assert captured.stdout.strip() == cli.stderr.strip()
    assert "Traceback" not in captured.stdout and "NetdslCellError" not in captured.stdout
    assert captured.outputs == []  # no table for a program that does not check
    assert "N" not in shell.user_ns


def test_a_cell_of_blocks_only_is_checked_and_binds_nothing(shell: InteractiveShell) -> None:
    result, captured = run_cell(shell, "", "block Res(x):\n    y = x -> relu\n    return x + y\n")
    assert result.success, captured.stdout
    assert "no networks; blocks checked for syntax and names: Res" in \
        captured.outputs[0].data["text/plain"]
    assert "Res" not in shell.user_ns


def test_a_wrong_option_is_a_usage_error(shell: InteractiveShell) -> None:
    result, captured = run_cell(shell, "--bogus", "block Res(x):\n    x\n")
    assert not result.success and "unrecognized arguments: --bogus" in captured.stderr
    assert "Traceback" not in captured.stdout + captured.stderr


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
def test_large_programs_are_drawn_collapsed_unless_asked(shell: InteractiveShell) -> None:
    from netdsl.htmlview import AUTO_COLLAPSE_LAYERS, diagram_html

    large = netdsl.check_file(EXAMPLES / "resnet152.net")
    small = netdsl.check_file(EXAMPLES / "cifar10.net")
    assert sum(len(layer_rows(n)) for n in large.networks) > AUTO_COLLAPSE_LAYERS
    assert diagram_html(large, collapse=True) in large._repr_html_()
    assert "--expand" in large._repr_html_()
    assert diagram_html(small, collapse=False) in small._repr_html_()
    source = (EXAMPLES / "resnet50.net").read_text(encoding="utf-8")
    program = netdsl.check_source(source, "<cell>")
    for options, collapsed in (("", True), ("--expand", False), ("--collapse", True)):
        _, captured = run_cell(shell, f"--no-build {options}", source)
        assert diagram_html(program, collapse=collapsed) in captured.outputs[0].data["text/html"]
