"""The v2 examples (the transformer era of issue 12) against the hand-written references of
tests/references.py: each example checks, compiles to Python, builds, and its generated
module has the reference's parameters (count and shapes) and output shapes, which are also
the shapes `check` printed.

An example whose file is not in examples/ is skipped, and only that (see
docs/v2-examples.md for the decisions behind each).
"""

from __future__ import annotations

import pytest
import references as ref
import torch
from conftest import EXAMPLES
from torch import nn

import netdsl
from netdsl.dims import Sym

# file: (network, reference builder, device). The large models run on the meta device:
# shapes and counts without the arithmetic.
V2_EXAMPLES = {
    "vit_b_16.net": ("ViTB16", ref.vit_b_16, "meta"),
    "convnext_tiny.net": ("ConvNeXtTiny", ref.convnext_tiny, "meta"),
    "simple_vit.net": ("SimpleViT", ref.SimpleViT, "meta"),
    "nanogpt.net": ("NanoGPT", ref.GPT, "cpu"),
    "vae.net": ("VAE", ref.VAE, "cpu"),
    "gru_decoder.net": ("GruDecoder", ref.GruDecoder, "cpu"),
    "densenet_for.net": ("DenseBlock", ref.DenseBlock, "cpu"),
    "swin_t_stage.net": ("SwinTStage1", ref.SwinTStage1, "cpu"),
}
SIZES = {"B": 2, "T": 7}  # the symbolic dimensions at run time


def concrete(shape: tuple) -> tuple[int, ...]:
    return tuple(d.evaluate(SIZES) if isinstance(d, Sym) else int(d) for d in shape)


def parameter_shapes(model: nn.Module) -> list[tuple[int, ...]]:
    """Every parameter's shape, sorted: the layout, whatever the attribute names."""
    return sorted(tuple(p.shape) for p in model.parameters())


def output_shapes(model: nn.Module, inputs: list[torch.Tensor]) -> list[tuple[int, ...]]:
    with torch.no_grad():
        out = model.eval()(*inputs)
    return [tuple(o.shape) for o in (out if isinstance(out, tuple) else (out,))]


@pytest.mark.parametrize("file", sorted(V2_EXAMPLES))
def test_v2_example_matches_its_reference(file: str) -> None:
    path = EXAMPLES / file
    if not path.exists():
        pytest.skip(f"{file} is not in examples/ yet (see docs/v2-examples.md)")
    name, build_reference, device = V2_EXAMPLES[file]
    program = netdsl.check_file(path)
    net = program.network(name)
    source = netdsl.to_pytorch(program)
    compile(source, file.replace(".net", ".py"), "exec")
    generated_class = netdsl.build(program, name)
    torch.manual_seed(0)
    with torch.device(device):
        generated, reference = generated_class(), build_reference()
        inputs = [torch.randint(0, 100, concrete(tt.shape)) if tt.dtype == "long"
                  else torch.randn(concrete(tt.shape)) for _, tt in net.inputs]
    assert net.params == sum(p.numel() for p in reference.parameters())
    assert sum(p.numel() for p in generated.parameters()) == net.params
    assert parameter_shapes(generated) == parameter_shapes(reference)
    expected = [concrete(tt.shape) for tt in net.outputs]
    assert output_shapes(reference, inputs) == expected
    assert output_shapes(generated, inputs) == expected
