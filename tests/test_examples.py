"""Every example checks, and its shapes and parameter counts equal PyTorch's own, computed
by running the hand-written models of tests/torch_models.py."""

from __future__ import annotations

import pytest
import torch
from conftest import EXAMPLES, example_files
from test_v2_examples import V2_EXAMPLES
from torch import nn
from torch_models import REFERENCES

import netdsl
from netdsl.dims import Sym

# Layers whose output shapes are compared one by one, in execution order.
COMPARED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear, nn.BatchNorm2d,
            nn.LSTM, nn.GRU, nn.Embedding, nn.MaxPool2d, nn.TransformerEncoderLayer,
            nn.TransformerDecoderLayer, nn.MultiheadAttention)
COMPARED_NAMES = {cls.__name__ for cls in COMPARED}
SIZES = {"B": 2, "T": 7, "S": 5}  # the symbolic dimensions at run time in these tests


def concrete(shape: tuple) -> tuple[int, ...]:
    return tuple(d.evaluate(SIZES) if isinstance(d, Sym) else int(d) for d in shape)


def make_inputs(net) -> list[torch.Tensor]:
    out = []
    for _, tt in net.inputs:
        shape = concrete(tt.shape)
        out.append(torch.randint(0, 100, shape) if tt.dtype == "long" else torch.randn(shape))
    return out


def layer_shapes(model: nn.Module, inputs: list[torch.Tensor]) -> tuple[list, tuple]:
    """(class name, output shape) of each compared layer as the model runs, and the output."""
    seen: list[tuple[str, tuple[int, ...]]] = []
    compared_prefixes: list[str] = []
    handles = []
    for name, module in model.named_modules():
        if not isinstance(module, COMPARED):
            continue
        if any(name.startswith(p + ".") for p in compared_prefixes):
            continue  # inside another compared layer (an encoder layer's linears)
        compared_prefixes.append(name)

        def hook(mod, args, output):
            out = output[0] if isinstance(output, tuple) else output
            seen.append((type(mod).__name__, tuple(out.shape)))

        handles.append(module.register_forward_hook(hook))
    model.eval()
    with torch.no_grad():
        output = model(*inputs)
    for h in handles:
        h.remove()
    outputs = output if isinstance(output, tuple) else (output,)
    return seen, tuple(tuple(o.shape) for o in outputs)


CASES = [(file, name) for file, nets in REFERENCES.items() for name in nets]


@pytest.mark.parametrize(("file", "network"), CASES)
def test_example_matches_handwritten_torch(file: str, network: str) -> None:
    program = netdsl.check_file(EXAMPLES / file)
    net = program.network(network)
    reference = REFERENCES[file][network]()
    assert net.params == sum(p.numel() for p in reference.parameters())
    torch.manual_seed(0)
    seen, outputs = layer_shapes(reference, make_inputs(net))
    expected = [(node.meta["cls"], concrete(node.outputs[0].shape)) for node in net.nodes
                if node.kind == "layer" and node.meta.get("cls") in COMPARED_NAMES]
    assert seen == expected
    assert outputs == tuple(concrete(tt.shape) for tt in net.outputs)


def test_every_example_has_a_reference_or_annotations() -> None:
    annotated = {"seed_layers.net", "seed_conv_layers.net", "seed_recurrent.net"}
    names = {p.name for p in example_files()}
    assert names == set(REFERENCES) | annotated | (set(V2_EXAMPLES) & names)


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_examples_check_cleanly(path) -> None:
    program = netdsl.check_file(path)
    assert program.networks
    for net in program.networks:
        assert net.params >= 0 and net.outputs


def test_seed_bug_is_explained() -> None:
    """Seed 003's author wrote Linear(512, 10) after padded convolutions."""
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.check_file(EXAMPLES / "mnist_resnet_padded.net")
    [diag] = info.value.diagnostics
    assert (diag.line, diag.column) == (18, 10)
    assert diag.message == "linear expects 512 input features, but its input has 1568"
    text = info.value.render()
    assert "1568 = 32 x 7 x 7: flatten at 17:10 of [B, 32, 7, 7]" in text
    assert "7 comes from maxpool(2) at 15:10 on 14" in text
    assert "in_features=1568" in text
    # and PyTorch agrees: the padded network really has 1568 features
    model = __import__("torch_models").MnistResNet(padding=2, features=1568)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(RuntimeError):
        __import__("torch_models").MnistResNet(padding=2, features=512)(torch.randn(2, 1, 28, 28))


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_a_checked_program_is_freed_without_the_cyclic_collector(path) -> None:
    """No reference cycles in what check builds: a program that is dropped is freed at once
    (a long-running caller, an editor say, need not wait for the cyclic collector)."""
    import gc

    from netdsl import program

    text = path.read_text()
    netdsl.check_source(text, str(path))  # caches of the first use are not garbage
    while gc.collect():  # until nothing is left of earlier tests (torch's finalizers free
        pass  # more garbage as they run), so that what is found below is check's own
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        checked = program.check(text, str(path))
        del checked
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert left == []
