"""Learnable tensors, `parameter(...)`: counted as torch counts the generated module's
parameters, made as their `init` says, named after their binding, one per repetition of a
block, honest for every hyperparameter value, and reported in the table, the JSON and the
diagram."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import netdsl
from netdsl.report import to_json

VIT = """
network Tokens(D=16, T=5)(x: [B, T, D]):
    cls = parameter(1, 1, D)
    pos = parameter(1, T + 1, D, init="normal", std=0.02)
    x + pos[:, 1:] + cls
"""

REPEATED = """
block Scale(dim=8)(x: [B, T, dim]):
    gamma = parameter(dim, init=1e-6)
    x * gamma

network Deep(depth=3)(x: [B, 4, 8]):
    x -> Scale * depth
"""


def build(source: str, name: str, **hyper: Any) -> tuple[Any, torch.nn.Module]:
    program = netdsl.check_source(source)
    torch.manual_seed(0)
    return program, netdsl.build(program, name)(**hyper)


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def check_error(source: str) -> Any:
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.check_source(source)
    return info.value.diagnostics[0]


def test_counts_agree_with_the_generated_module() -> None:
    program, model = build(VIT, "Tokens")
    assert count(model) == program.network("Tokens").params == 16 + 6 * 16
    assert dict(model.named_parameters())["cls"].shape == (1, 1, 16)
    assert dict(model.named_parameters())["pos"].shape == (1, 6, 16)
    out = model(torch.randn(2, 5, 16))
    assert tuple(out.shape) == (2, 5, 16)


def test_the_generated_code_names_each_parameter_after_its_binding() -> None:
    code = netdsl.to_pytorch(netdsl.check_source(VIT))
    assert "self.cls = nn.Parameter(torch.zeros(1, 1, D))" in code
    assert "self.pos = nn.Parameter(torch.empty(1, T + 1, D).normal_(std=0.02))" in code


def test_each_repetition_of_a_block_has_its_own() -> None:
    program, model = build(REPEATED, "Deep")
    names = [name for name, _ in model.named_parameters()]
    assert len(names) == 3 and len(set(names)) == 3
    assert count(model) == program.network("Deep").params


def test_a_shared_block_holds_one() -> None:
    source = REPEATED.replace("    x -> Scale * depth", "    s = Scale()\n    x -> s -> s")
    program, model = build(source, "Deep")
    assert count(model) == program.network("Deep").params == 8


@settings(max_examples=8, deadline=None, derandomize=True)
@given(dim=st.integers(1, 64), depth=st.integers(1, 4))
def test_the_block_class_is_honest_for_other_values(dim: int, depth: int) -> None:
    _, model = build(REPEATED, "Deep")
    scale = type(model).__init__.__globals__["Scale"]  # the block's generated class
    block = scale(dim=dim)
    assert count(block) == dim
    assert tuple(block(torch.randn(2, 3, dim)).shape) == (2, 3, dim)
    source = REPEATED.replace("[B, 4, 8]", f"[B, 4, {dim}]").replace("Scale * depth",
                                                                     f"Scale({dim}) * depth")
    expected = netdsl.check_source(source).network("Deep").params
    _, other = build(source, "Deep", depth=depth)
    assert count(other) == dim * depth
    assert expected == dim * 3


INITS = """
network Inits(n=64)(x: [B, 4]):
    a = parameter(n, n, init=0.25)
    b = parameter(n, n)
    c = parameter(n, n, init="ones")
    d = parameter(n, n, init="normal", mean=1.0, std=0.5)
    e = parameter(n, n, init="trunc_normal", std=0.02)
    f = parameter(n, n, init="uniform", a=-3.0, b=-2.0)
    g = parameter(n, n, init="zeros")
    x + a[:1, :4] + b[:1, :4] + c[:1, :4] + d[:1, :4] + e[:1, :4] + f[:1, :4] + g[:1, :4]
"""


def test_each_init_gives_the_values_torch_draws() -> None:
    _, model = build(INITS, "Inits")
    p = dict(model.named_parameters())
    assert torch.equal(p["a"], torch.full((64, 64), 0.25))
    assert torch.equal(p["b"], torch.zeros(64, 64))
    assert torch.equal(p["c"], torch.ones(64, 64))
    assert torch.equal(p["g"], torch.zeros(64, 64))
    assert abs(p["d"].mean().item() - 1.0) < 0.05 and abs(p["d"].std().item() - 0.5) < 0.05
    assert abs(p["e"].std().item() - 0.02) < 0.003 and p["e"].abs().max() <= 2.0
    assert p["f"].min() >= -3.0 and p["f"].max() <= -2.0 and p["f"].std() > 0.2
    assert all(t.dtype == torch.float32 and t.requires_grad for t in p.values())


def test_an_integer_fill_from_a_hyperparameter_still_makes_a_float_parameter() -> None:
    source = "network N(s=2)(x: [B, 3]):\n    x * parameter(3, init=s)\n"
    _, model = build(source, "N")
    (value,) = model.parameters()
    assert torch.equal(value, torch.full((3,), 2.0))


@pytest.mark.parametrize(("call", "message"), [
    ('parameter(3, init="gaussian")', "unknown init 'gaussian'"),
    ('parameter(3, init="uniform", std=0.1)', 'std= goes with init="normal"'),
    ("parameter(3, init=0.5, a=1.0)", 'a= goes with init="uniform"'),
    ('parameter(3, init="normal", std=-1.0)', "std must be positive"),
    ('parameter(3, init="uniform", a=2.0, b=1.0)', "must not exceed b"),
    ("parameter(3, spread=2)", "parameter has no argument 'spread'"),
    ("parameter(B, 3)", "a parameter's sizes are fixed when the network is built"),
    ("parameter(3 / 2)", "a size is a whole number"),
    ("parameter()", "parameter needs its sizes"),
])
def test_a_wrong_parameter_is_a_located_error(call: str, message: str) -> None:
    diag = check_error(f"network N(x: [B, 3]):\n    p = {call}\n    x + p\n")
    assert message in diag.message
    assert diag.line == 2


def test_a_name_nn_module_owns_is_refused() -> None:
    diag = check_error("network N(x: [B, 3]):\n    training = parameter(3)\n    x + training\n")
    assert "nn.Module's own attribute" in diag.message and diag.line == 2


def test_the_report_has_a_row_the_json_an_entry_and_the_diagram_a_node() -> None:
    program, model = build(VIT, "Tokens")
    rows = [line.split() for line in netdsl.report.table(program).splitlines()]
    row = next(r for r in rows if r and r[0] == "pos")
    assert row[1] == "nn.Parameter" and row[3:6] == ["[1,", "6,", "16]"]
    assert int(row[6].replace(",", "")) == model.pos.numel()
    data = json.loads(json.dumps(to_json("f", program, [], [])))
    entry = next(e for e in data["networks"][0]["layers"] if e["name"] == "pos")
    assert entry["op"] == "parameter" and entry["torch"] == "nn.Parameter"
    assert entry["output_shape"] == list(model.pos.shape) and entry["input_shapes"] == []
    assert entry["params"] == model.pos.numel()
    assert entry["init"] == {"kind": "normal", "mean": 0.0, "std": 0.02}
    assert data["networks"][0]["param_bytes"] == sum(
        p.numel() * p.element_size() for p in model.parameters())
    dot = netdsl.to_dot(program)
    node = next(line for line in dot.splitlines() if "<B>pos</B>" in line)
    assert "Parameter 1×6×16" in node and f"{model.pos.numel()} params" in node


BRANCHED = """
block Scale(dim=8, scale=true)(x: [B, T, dim]):
    if scale:
        g = parameter(dim, init=0.5)
        m = ones(dim) -> unsqueeze(0)
        x = x * g * m
    x

network Both(x: [B, 4, 8]):
    x -> Scale(scale=true) -> Scale(scale=false)
"""


def test_a_parameter_on_one_path_of_an_if_is_none_on_the_other() -> None:
    program, model = build(BRANCHED, "Both")
    assert count(model) == program.network("Both").params == 8
    assert model.scale2.g is None and model.scale2.m is None
    assert torch.equal(model.scale1.m, torch.ones(1, 8))
    x = torch.randn(2, 4, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice
        scripted = torch.jit.script(model)
    torch.testing.assert_close(scripted(x), x * 0.5)
    torch.testing.assert_close(torch.fx.symbolic_trace(model)(x), x * 0.5)


CONVNEXT = """
block CNBlock(layer_scale=1e-6)(x: [B, C, H, W]):
    gamma = parameter(C, 1, 1, init=layer_scale)
    y = x -> conv(C, 7, padding=3, groups=C) -> permute(0, 2, 3, 1) -> layernorm(eps=1e-6)
          -> linear(4 * C) -> gelu -> linear(C) -> permute(0, 3, 1, 2)
    x + gamma * y

network Stage(depth=3)(x: [B, 96, 14, 14]):
    x -> CNBlock * depth
"""


class TorchCNBlock(torch.nn.Module):
    """torchvision's ConvNeXt block, written out (torchvision is not a dependency)."""

    def __init__(self, dim: int, layer_scale: float) -> None:
        super().__init__()
        self.dwconv = torch.nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = torch.nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = torch.nn.Linear(dim, 4 * dim)
        self.fc2 = torch.nn.Linear(4 * dim, dim)
        self.layer_scale = torch.nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.dwconv(x).permute(0, 2, 3, 1))
        y = self.fc2(torch.nn.functional.gelu(self.fc1(y))).permute(0, 3, 1, 2)
        return x + self.layer_scale * y


def test_a_convnext_stage_with_its_layer_scale_is_torchs() -> None:
    program, model = build(CONVNEXT, "Stage")
    reference = torch.nn.Sequential(*[TorchCNBlock(96, 1e-6) for _ in range(3)])
    assert count(model) == count(reference) == program.network("Stage").params
    ours = [p for name, p in model.named_parameters() if name.endswith("gamma")]
    theirs = [p for name, p in reference.named_parameters() if name.endswith("layer_scale")]
    assert [torch.equal(a, b) for a, b in zip(ours, theirs, strict=True)] == [True] * 3
    with torch.no_grad():  # the same weights, in the same order, give the same output
        for a, b in zip(model.parameters(), reference.parameters(), strict=True):
            a.copy_(b)
        x = torch.randn(2, 96, 14, 14)
        torch.testing.assert_close(model(x), reference(x))
