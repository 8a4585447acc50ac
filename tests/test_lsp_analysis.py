"""The editor answers of netdsl/lsp_analysis.py, in process: what hover shows of a cost
pass's FLOPs (counted by torch) and of a layer used once per block use."""

from __future__ import annotations

from pathlib import Path

import pytest

from netdsl import lsp_analysis as la

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def position_of(text: str, needle: str) -> tuple[int, int]:
    """The 1-based line and column of the first `needle` in `text`."""
    index = text.index(needle)
    return text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)


def test_flops_show_in_hover_when_a_cost_pass_has_recorded_them() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    path = EXAMPLES / "cifar10.net"
    text = path.read_text()
    analysis = la.analyse(text, str(path))
    assert analysis.program is not None
    line, column = position_of(text, "conv(32, 5")
    [node] = la.nodes_at(analysis.program, str(path), line, column)
    with FlopCounterMode(display=False) as counter:
        torch.nn.Conv2d(3, 32, 5, padding=2)(torch.zeros(1, 3, 32, 32))
    node.meta["flops"] = counter.get_total_flops()
    found = la.hover(analysis, analysis.program, line, column)
    assert found is not None and f"FLOPs {counter.get_total_flops():,}" in found[0]


def test_a_layer_in_a_block_body_shows_each_use() -> None:
    path = EXAMPLES / "unet.net"
    text = path.read_text()
    analysis = la.analyse(text, str(path))
    assert analysis.program is not None
    line, column = position_of(text, "conv(mid_channels")
    nodes = la.nodes_at(analysis.program, str(path), line, column)
    double_convs = [node for node in analysis.program.networks[0].nodes
                    if node.op == "DoubleConv"]
    assert [node.scope[-1] for node in nodes] == double_convs  # its first conv, in each use
    found = la.hover(analysis, analysis.program, line, column)
    assert found is not None and found[0].startswith(f"used {len(nodes)} times")
    assert found[0].count("nn.Conv2d(") == min(len(nodes), la.MAX_USES_SHOWN)


def unet() -> tuple[la.Analysis, str]:
    path = EXAMPLES / "unet.net"
    text = path.read_text()
    analysis = la.analyse(text, str(path))
    assert analysis.program is not None
    return analysis, text


def test_a_name_read_and_a_name_assigned_on_one_line_show_their_own_tensors() -> None:
    analysis, text = unet()
    assert analysis.program is not None
    nodes = analysis.program.networks[0].nodes
    ups = [node for node in nodes if node.op == "Up"]
    upconvs = [node for node in nodes if node.op == "convtranspose"]
    line, column = position_of(text, "x1 = x1 -> convtranspose")
    read = la.hover(analysis, analysis.program, line, column + len("x1 = "))
    assigned = la.hover(analysis, analysis.program, line, column)
    assert read is not None and assigned is not None
    assert read[0] == f"(tensor) **x1**, in {len(ups)} uses:\n" + "\n".join(
        f"- `{up.inputs[0].tt}`" for up in ups)
    assert assigned[0] == f"(tensor) **x1**, in {len(ups)} uses:\n" + "\n".join(
        f"- `{upconv.outputs[0]}`" for upconv in upconvs)
    assert assigned[1].column == column and read[1].column == column + len("x1 = ")


def test_a_compile_time_name_shows_its_value_in_each_use() -> None:
    analysis, text = unet()
    assert analysis.program is not None
    line, column = position_of(text, "mid = out_channels")
    found = la.hover(analysis, analysis.program, line, column)
    values = [frame.env["out_channels"] for frame in analysis.program.uses["Up"]]
    assert found is not None
    assert found[0] == (f"(value) **mid** = {' | '.join(str(int(v)) for v in values)} "
                        f"(in {len(values)} uses)")
    line, column = position_of(text, "factor = 2 if bilinear")
    found = la.hover(analysis, analysis.program, line, column + len("factor = 2 if "))
    assert found is not None and found[0] == "(hyperparameter) **bilinear** = false"
