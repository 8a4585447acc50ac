"""What a generated module defines never collides with nn.Module, and names bound in the
source mean one module each: counted once by `check`, built once by the generated code."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import netdsl
from netdsl.catalogue import MODULE_ATTRIBUTES


def test_module_attributes_cover_everything_nn_module_has() -> None:
    module = nn.Module()
    # dunders, and the markers torch.compile sets on nn.Module once it has run in this
    # process (`___needs_generation_tag_patch`): netdsl refuses every name starting with `__`
    every = {name for name in dir(module) if not name.startswith("__")}
    assert every <= MODULE_ATTRIBUTES, sorted(every - MODULE_ATTRIBUTES)


def error_of(text: str) -> netdsl.Diagnostic:
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.check_source(text, "t.net")
    return info.value.diagnostics[0]


@pytest.mark.parametrize("name", ["train", "eval", "to", "forward", "parameters", "_modules"])
def test_a_layer_bound_to_a_module_attribute_is_refused(name: str) -> None:
    diag = error_of(f"network N(x: [B, 4]):\n    {name} = linear(4)\n    x -> {name}\n")
    assert f"nn.Module's own attribute {name!r}" in diag.message
    assert (diag.line, diag.column) == (2, 5)


@pytest.mark.parametrize("name", ["_modules", "training", "_parameters", "_buffers"])
def test_a_hyperparameter_named_as_a_module_attribute_is_refused(name: str) -> None:
    diag = error_of(f"network N({name}=3)(x: [B, 4]):\n    x -> linear({name})\n")
    assert f"nn.Module's own attribute {name!r}" in diag.message


def test_a_header_dimension_cannot_be_rebound() -> None:
    text = ("block Blk(x: [B, C]):\n    C = 3\n    x -> linear(C)\n"
            "network N(x: [B, 4]):\n    x -> Blk\n")
    diag = error_of(text)
    assert "dimension of Blk's input" in diag.message and (diag.line, diag.column) == (2, 5)
    fixed = text.replace("C = 3", "C_out = 3").replace("linear(C)", "linear(C_out)")
    program = netdsl.check_source(fixed, "t.net")  # the fix, applied, checks
    model = netdsl.build(program, "N")()
    assert model(torch.randn(2, 4)).shape == (2, 3)


def test_binding_a_layer_kind_is_refused_with_a_fix_that_checks() -> None:
    text = "network A(x: [B, 8]):\n    l = linear\n    x -> l(4) -> l(8)\n"
    diag = error_of(text)
    assert "names a kind of layer, not a layer" in diag.message
    fixed = "network A(x: [B, 8]):\n    l = linear(8)\n    x -> l -> l\n"
    program = netdsl.check_source(fixed, "t.net")
    assert program.networks[0].params == 8 * 8 + 8


def test_keywords_of_torch_classes_outside_the_catalogue_are_identifiers() -> None:
    diag = error_of("network N(x: [B, 4]):\n    x -> nn.Hardshrink(class=0.5) : [B, 4]\n")
    assert "Python keyword" in diag.message and (diag.line, diag.column) == (2, 24)
    diag = error_of("network N(x: [B, 4]):\n"
                    "    x -> nn.Hardshrink(lambd=0.5, lambd=0.2) : [B, 4]\n")
    assert "twice" in diag.message


def test_a_bound_block_is_one_module_counted_once() -> None:
    text = ("block K(n)(x):\n    x -> linear(n)\n"
            "network N(x: [B, 4]):\n    k = K(4)\n    x -> k -> k\n")
    program = netdsl.check_source(text, "t.net")
    net = program.networks[0]
    assert net.params == 4 * 4 + 4
    model = netdsl.build(program, "N")()
    assert sum(p.numel() for p in model.parameters()) == net.params
    assert model(torch.randn(2, 4)).shape == (2, 4)


def test_a_bound_block_must_fit_its_weights_at_every_use() -> None:
    text = ("block K(n)(x):\n    x -> linear(n)\n"
            "network N(x: [B, 4]):\n    k = K(8)\n    x -> k -> k\n")
    diag = error_of(text)
    assert "shares its weights" in diag.message


def test_a_tuple_sliced_is_a_located_error_not_a_crash() -> None:
    diag = error_of("network N(x: [B, 4]):\n    y = (x, x)[:]\n    y[0]\n")
    assert "integer index, not a slice" in diag.message and (diag.line, diag.column) == (2, 16)
