"""The PyTorch backend: generated modules are correct, readable, stable and safe."""

from __future__ import annotations

import ast
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import (
    EXAMPLES,
    GOLDEN,
    assert_matches_golden,
    example_files,
    outputs_across_hash_seeds,
)
from test_examples import concrete, make_inputs
from torch import nn

import netdsl

GOLDEN_EXAMPLES = ["cifar10", "mnist_cnn", "mnist_resnet", "inception", "unet",
                   "lstm_classifier", "resnet18", "mobilenet_v2", "seed_recurrent"]


def source_of(name: str) -> str:
    return netdsl.to_pytorch(netdsl.check_file(EXAMPLES / f"{name}.net"))


@pytest.mark.parametrize("name", GOLDEN_EXAMPLES)
def test_golden_code(name: str, update_golden: bool) -> None:
    """Reviewed, committed output; refresh with `pytest --update-golden`."""
    text = source_of(name).replace(str(EXAMPLES), "examples")
    golden = GOLDEN / f"{name}.py"
    assert_matches_golden(golden, text, update_golden)


NETWORKS = [(path, net.definition.name) for path in example_files()
            for net in netdsl.check_file(path).networks]


@pytest.mark.parametrize(("path", "name"), NETWORKS, ids=[f"{p.stem}-{n}" for p, n in NETWORKS])
def test_generated_module_matches_check_at_every_layer(path: Path, name: str) -> None:
    program = netdsl.check_file(path)
    net = program.network(name)
    model = netdsl.build(program, name)()
    assert sum(p.numel() for p in model.parameters()) == net.params
    modules = dict(model.named_modules())
    outputs: dict[str, object] = {}
    for qualified, module in modules.items():
        if qualified:
            module.register_forward_hook(
                lambda mod, args, out, q=qualified: outputs.setdefault(q, out))
    model.eval()
    torch.manual_seed(0)
    with torch.no_grad():
        result = model(*make_inputs(net))
    checked = 0
    for node in net.nodes:
        if node.kind not in ("layer", "block") or node.meta.get("shared_with") is not None:
            continue
        assert node.name in modules, f"no module {node.name}"
        out = outputs[node.name]
        out = out[0] if isinstance(out, tuple) else out
        assert tuple(out.shape) == concrete(node.outputs[0].shape), node.name
        checked += 1
    assert checked > 0
    results = result if isinstance(result, tuple) else (result,)
    flat = []
    for r in results:
        flat.extend(r if isinstance(r, tuple) else [r])
    assert [tuple(r.shape) for r in flat] == [concrete(tt.shape) for tt in net.outputs]


def test_state_dict_keys_are_the_attribute_names() -> None:
    program = netdsl.check_file(EXAMPLES / "cifar10.net")
    model = netdsl.build(program, "Cifar10")()
    assert list(model.state_dict()) == [
        "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "conv3.weight",
        "conv3.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    named = netdsl.check_source("network N(x: [B, 4]):\n    x -> linear(3) as head\n")
    assert list(netdsl.build(named, "N")().state_dict()) == ["head.weight", "head.bias"]


@pytest.mark.parametrize(("file", "name", "shape"), [
    ("cifar10.net", "Cifar10", (16, 3, 32, 32)),
    ("mnist_cnn.net", "MnistCnn", (16, 1, 28, 28)),
    ("mnist_resnet.net", "MnistResNet", (16, 1, 28, 28)),
])
def test_seed_training_loop_lowers_the_loss(file: str, name: str, shape: tuple) -> None:
    """The seeds' loop: SGD and CrossEntropyLoss, a few steps on one synthetic batch."""
    torch.manual_seed(0)
    model = netdsl.build(netdsl.check_file(EXAMPLES / file), name)()
    inputs, targets = torch.randn(shape), torch.randint(0, 10, (shape[0],))
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.8


@pytest.mark.parametrize(("path", "name"), [
    (EXAMPLES / f, n) for f, n in [("cifar10.net", "Cifar10"), ("mnist_resnet.net", "MnistResNet"),
                                   ("inception.net", "InceptionNet"), ("resnet18.net", "ResNet18"),
                                   ("lstm_classifier.net", "LstmClassifier"),
                                   ("mobilenet_v2.net", "MobileNetV2"),
                                   ("seed_recurrent.net", "LstmDemo")]])
# torch.export warns about nn.LSTM's own `_flat_weights` for any module holding an LSTM,
# a hand-written one as much as a generated one: PyTorch's business, not the code's
@pytest.mark.filterwarnings("ignore:The tensor attributes self.*_flat_weights:UserWarning")
def test_torch_export_accepts_generated_networks(path: Path, name: str) -> None:
    program = netdsl.check_file(path)
    net = program.network(name)
    model = netdsl.build(program, name)().eval()
    exported = torch.export.export(model, tuple(make_inputs(net)))
    assert exported.graph_module is not None


def ruff_command() -> list[str]:
    """ruff, from PATH or as the module the test extra installs. Missing, the formatting test
    skips on a developer's machine but fails in CI (CI=true), where it must run."""
    ruff = shutil.which("ruff")
    if ruff is not None:
        return [ruff]
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail("ruff is not installed; CI installs it with netdsl's test extra")
    pytest.skip("ruff is not installed")


def test_code_is_formatted_and_lint_clean(tmp_path: Path) -> None:
    ruff = ruff_command()
    for path in example_files():
        target = tmp_path / f"{path.stem}.py"
        target.write_text(netdsl.to_pytorch(netdsl.check_file(path)))
    # a repeated stage too long for one line: its comprehension is split before `for`, with
    # no trailing comma inside it (atheris found the invalid code this once made)
    long_repeat = ("network N(d_model=128, nhead=4)(x: [B, T, 128]):\n    x -> "
                   "transformer_encoder_layer(nhead, dim_feedforward=256, batch_first=true) * 3\n")
    (tmp_path / "long_repeat.py").write_text(netdsl.to_pytorch(netdsl.check_source(long_repeat)))
    fmt = subprocess.run([*ruff, "format", "--isolated", "--diff", "--no-cache", str(tmp_path)],
                         capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    lint = subprocess.run([*ruff, "check", "--no-cache", "--isolated", "--select", "E,F,W,I",
                           str(tmp_path)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_code_imports_only_torch() -> None:
    for path in example_files():
        tree = ast.parse(netdsl.to_pytorch(netdsl.check_file(path)))
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                imported.add(node.module or "")
        assert imported <= {"torch", "torch.nn.functional"}, (path, imported)


def test_code_starts_with_its_source_and_documents_shapes() -> None:
    text = source_of("cifar10")
    assert text.startswith("# Generated by netdsl from ")
    assert "cifar10.net" in text.splitlines()[0]
    tree = ast.parse(text)
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        doc = ast.get_docstring(cls)
        assert doc and "Input x: [B, 3, 32, 32]" in doc and "Output: [B, 10]" in doc


def test_blocks_are_generic_not_copied() -> None:
    text = source_of("unet")
    assert text.count("class DoubleConv(nn.Module)") == 1
    assert "def __init__(self, in_channels, out_channels, mid_channels=None):" in text
    assert "if mid_channels is None:" in text
    assert "self.down4 = Down(512, 1024 // factor)" in text
    seed = source_of("mnist_resnet")
    assert "class ResidualBlock(nn.Module):" in seed
    assert "def __init__(self, channels):" in seed
    assert "self.residual_block2 = ResidualBlock(32)" in seed


def test_block_hyperparameters_and_branches_follow_the_source() -> None:
    """A compile-time `if` taken differently by different uses stays an `if`."""
    text = source_of("resnet18")
    assert "if stride != 1 or C != planes:" in text
    program = netdsl.check_file(EXAMPLES / "resnet18.net")
    cls = netdsl.build(program, "ResNet18")
    assert sum(p.numel() for p in cls(num_classes=10).parameters()) == 11_181_642


def test_branches_no_use_takes_are_still_generated() -> None:
    """The U-Net is checked with bilinear=false, yet UNet(bilinear=True) must be right too."""
    from torch_models import UNet

    cls = netdsl.build(netdsl.check_file(EXAMPLES / "unet.net"), "UNet")
    for bilinear in (False, True):
        model, reference = cls(bilinear=bilinear), UNet(bilinear=bilinear)
        assert sum(p.numel() for p in model.parameters()) == \
            sum(p.numel() for p in reference.parameters())
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 2, 64, 64)
    assert "C + C2 if bilinear else C2 + C // 2" in source_of("unet")


def test_network_hyperparameters_are_constructor_arguments() -> None:
    program = netdsl.check_file(EXAMPLES / "unet.net")
    cls = netdsl.build(program, "UNet")
    model = cls(n_channels=1, n_classes=3)
    assert model(torch.randn(1, 1, 64, 64)).shape == (1, 3, 64, 64)


def test_byte_identical_across_runs_and_hash_seeds() -> None:
    assert len(outputs_across_hash_seeds("netdsl.to_pytorch(program)",
                                         EXAMPLES / "unet.net")) == 1


def test_build_reports_unknown_networks() -> None:
    program = netdsl.check_file(EXAMPLES / "cifar10.net")
    with pytest.raises(KeyError, match="Cifar10"):
        netdsl.build(program, "Nope")


def test_shared_layers_are_built_once() -> None:
    program = netdsl.check_source("network N(a: [B, 8], b: [B, 8]):\n    enc = linear(4)\n"
                                  "    (a -> enc) + (b -> enc)\n")
    assert program.networks[0].params == 36
    model = netdsl.build(program, "N")()
    assert sum(p.numel() for p in model.parameters()) == 36
    assert model(torch.randn(2, 8), torch.randn(2, 8)).shape == (2, 4)
