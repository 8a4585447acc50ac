"""The constructs of the language, each checked for its shapes and run through the generated
PyTorch code: what `check` infers is what the module computes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import netdsl
from netdsl.dims import Sym


def shapes_of(source: str, network: str = "N") -> list[tuple]:
    """Check the source, build the network, run it, and return the output shapes, after
    asserting that they equal what check inferred (B = 2)."""
    program = netdsl.check_source(source, "t.net")
    net = program.network(network)
    inferred = [tuple(2 if isinstance(d, Sym) else int(d) for d in tt.shape)
                for tt in net.outputs]
    model = netdsl.build(program, network)().eval()
    inputs = []
    for _, tt in net.inputs:
        shape = tuple(2 if isinstance(d, Sym) else int(d) for d in tt.shape)
        inputs.append(torch.randint(0, 5, shape) if tt.dtype == "long" else torch.randn(shape))
    with torch.no_grad():
        out = model(*inputs)
    flat: list[torch.Tensor] = []

    def collect(item: object) -> None:
        if isinstance(item, torch.Tensor):
            flat.append(item)
        else:
            for sub in item:  # type: ignore[attr-defined]
                collect(sub)

    collect(out)
    actual = [tuple(t.shape) for t in flat]
    assert actual == inferred
    assert sum(p.numel() for p in model.parameters()) == net.params
    return actual


def test_continuation_lines_and_comments() -> None:
    assert shapes_of("# a comment\nnetwork N(x: [B, 3, 8, 8]):  # trailing\n"
                     "    x -> conv(4, 3)   # the first stage\n"
                     "      # a comment between stages\n"
                     "      -> relu\n"
                     "      -> flatten -> linear(2)\n") == [(2, 2)]


def test_brackets_continue_lines() -> None:
    assert shapes_of("network N(x: [B, 3, 8, 8]):\n    x -> conv(4,\n              3,\n"
                     "              padding=1) -> flatten\n") == [(2, 256)]


def test_crlf_and_bom() -> None:
    source = "\ufeffnetwork N(x: [B, 3]):\r\n    x -> linear(2)\r\n"
    assert shapes_of(source) == [(2, 2)]


def test_underscores_in_integers_and_float_literals() -> None:
    assert shapes_of("network N(x: [B, 1_000]):\n    x -> dropout(0.25) -> linear(1_0)\n") == \
        [(2, 10)]


def test_hyperparameter_defaults_may_refer_to_earlier_ones() -> None:
    source = ("block Mlp(out, hidden=out * 2)(x):\n    x -> linear(hidden) -> relu -> linear(out)\n"
              "network N(x: [B, 5]):\n    x -> Mlp(3)\n")
    assert shapes_of(source) == [(2, 3)]
    assert netdsl.check_source(source).networks[0].params == 5 * 6 + 6 + 6 * 3 + 3


def test_dimension_variables_from_block_headers() -> None:
    source = ("block Half(x: [B, C, H, W]):\n    x -> conv(C // 2, 1)\n"
              "network N(x: [B, 8, 4, 4]):\n    x -> Half -> Half\n")
    assert shapes_of(source) == [(2, 2, 4, 4)]


def test_long_inputs_and_symbolic_lengths() -> None:
    source = ("network N(tokens: long[B, T]):\n    tokens -> embedding(50, 8)"
              " -> gru(16, batch_first=true) : [B, T, 16]\n")
    program = netdsl.check_source(source)
    assert str(program.networks[0].outputs[0]) == "[B, T, 16]"


def test_bindings_and_compile_time_values() -> None:
    source = ("network N(x: [B, 12]):\n    wide = 4 * 3\n    mid = wide // 2 + 1\n"
              "    x -> linear(mid) -> linear(wide)\n")
    assert shapes_of(source) == [(2, 12)]


def test_shared_layer_by_name() -> None:
    source = ("network N(a: [B, 6], b: [B, 6]):\n    enc = linear(4)\n"
              "    x = a -> enc\n    y = enc(b)\n    x * y\n")
    assert shapes_of(source) == [(2, 4)]
    assert netdsl.check_source(source).networks[0].params == 28


def test_return_several_outputs() -> None:
    source = ("network N(x: [B, 6]):\n    a = x -> linear(2)\n    b = x -> linear(3)\n"
              "    return a, b\n")
    assert shapes_of(source) == [(2, 2), (2, 3)]


def test_if_elif_else_on_hyperparameters() -> None:
    template = ("network N(mode={mode})(x: [B, 6]):\n"
                "    if mode == 0:\n        y = x -> linear(1)\n"
                "    elif mode == 1:\n        y = x -> linear(2)\n"
                "    else:\n        y = x -> linear(3)\n    y\n")
    for mode, width in ((0, 1), (1, 2), (5, 3)):
        assert shapes_of(template.format(mode=mode)) == [(2, width)]


def test_conditional_expression() -> None:
    source = ("network N(big=true)(x: [B, 6]):\n    width = 8 if big else 2\n"
              "    x -> linear(width)\n")
    assert shapes_of(source) == [(2, 8)]


def test_tensor_arithmetic_broadcasts() -> None:
    source = ("network N(a: [B, 3, 4], b: [4]):\n    c = a + b\n    d = c - a\n"
              "    e = (d * 2.0) / 4\n    e @ (b -> unsqueeze(-1))\n")
    assert shapes_of(source) == [(2, 3, 1)]


def test_indexing_and_slicing() -> None:
    source = ("network N(x: [B, 10, 6]):\n    a = x[:, -1]\n    b = x[:, :4, ::2]\n"
              "    c = x[..., 0]\n    d = x[:, none]\n    return a, b, c, d\n")
    assert shapes_of(source) == [(2, 6), (2, 4, 3), (2, 10), (2, 1, 10, 6)]


def test_repetition_of_layers_and_blocks() -> None:
    source = ("block Unit(c)(x):\n    x -> conv(c, 3, padding=1) -> relu\n"
              "network N(x: [B, 3, 8, 8]):\n    x -> Unit(8) * 3 -> conv(4, 1) * 2\n")
    assert shapes_of(source) == [(2, 4, 8, 8)]
    text = netdsl.to_pytorch(netdsl.check_source(source))
    assert "nn.Sequential(Unit(3, 8), Unit(8, 8), Unit(8, 8))" in text


def test_repetition_as_a_value() -> None:
    source = "network N(x: [B, 4]):\n    twice = linear(4) * 2\n    x -> twice\n"
    assert shapes_of(source) == [(2, 4)]


def test_as_names_the_attribute() -> None:
    program = netdsl.check_source("network N(x: [B, 4]):\n    x -> linear(3) as head\n")
    assert program.networks[0].nodes[1].name == "head"


def test_annotation_binds_a_new_name() -> None:
    source = ("network N(a: [B, 3, 4, 4], b: [B, 5, 4, 4]):\n"
              "    y = (a, b) -> cat(dim=1) : [B, Cy, H, W]\n    y -> conv(Cy * 2, 1)\n")
    assert shapes_of(source) == [(2, 16, 4, 4)]


def test_application_forms() -> None:
    source = ("block Pair(c)(a, b):\n    (a, b) -> cat(dim=1) -> conv(c, 1)\n"
              "block Id(x):\n    x\n"
              "network N(x: [B, 2, 4, 4], y: [B, 3, 4, 4]):\n"
              "    p = Pair(6)(x, y)\n    q = (x, y) -> Pair(6)\n    r = conv(6, 1)(x)\n"
              "    s = Id(r)\n    p + q + s\n")
    assert shapes_of(source) == [(2, 6, 4, 4)]


def test_multi_output_layers_pass_their_first_output() -> None:
    source = ("network N(x: [B, 5, 4]):\n    y, (h, c) = x -> lstm(3, batch_first=true)\n"
              "    z = x -> gru(3, batch_first=true) -> linear(2)\n    return y, h, c, z\n")
    assert shapes_of(source) == [(2, 5, 3), (1, 2, 3), (1, 2, 3), (2, 5, 2)]


def test_chunk_gives_a_tuple() -> None:
    source = ("network N(x: [B, 8]):\n    a, b = x -> chunk(2, dim=1)\n"
              "    parts = x -> chunk(4, 1)\n"
              "    a + b + parts[0] * 0\n")
    with pytest.raises(netdsl.NetDSLError):  # [B, 4] + [B, 2] do not broadcast
        netdsl.check_source(source)
    fixed = source.replace("parts[0] * 0", "((parts[0], parts[1]) -> cat(dim=1))")
    assert shapes_of(fixed) == [(2, 4)]


def test_exact_torch_classes() -> None:
    source = ("network N(x: [B, 3, 8, 8]):\n    x -> nn.Conv2d(3, 4, 3, padding=1)"
              " -> nn.BatchNorm2d(4) -> nn.ReLU() -> nn.Flatten() -> nn.Linear(256, 2)\n")
    assert shapes_of(source) == [(2, 2)]


def test_exact_torch_class_sizes_are_checked() -> None:
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.check_source("network N(x: [B, 3, 8, 8]):\n    x -> nn.Conv2d(4, 4, 3)\n")
    assert "conv expects 4 input channels, but its input has 3" in info.value.render()
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.check_source("network N(x: [B, 3, 8]):\n    x -> nn.Conv2d(3, 4, 3)\n")
    assert "nn.Conv2d does not fit its input [B, 3, 8]: that input needs nn.Conv1d" in \
        info.value.render()


def test_torch_class_outside_the_catalogue_needs_an_annotation() -> None:
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.check_source("network N(x: [B, 4]):\n    x -> nn.Softmax2d()\n")
    assert "not in netdsl's catalogue" in info.value.render()
    source = "network N(x: [B, 3, 4, 4]):\n    x -> nn.Softmax2d() : [B, 3, 4, 4]\n"
    assert shapes_of(source) == [(2, 3, 4, 4)]
    program = netdsl.check_source(source)
    assert any("outside netdsl's catalogue" in w.message for w in program.warnings)


def test_import_blocks_from_another_file(tmp_path: Path) -> None:
    (tmp_path / "blocks.net").write_text(
        "block Stem(c)(x):\n    x -> conv(c, 3, padding=1) -> batchnorm -> relu\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.net").write_text(
        'import "../blocks.net"\nblock Two(c)(x):\n    x -> Stem(c) -> Stem(c)\n')
    main = tmp_path / "model.net"
    main.write_text('import "sub/more.net"\nimport "blocks.net"\n'
                    "network N(x: [B, 3, 8, 8]):\n    x -> Two(4) -> Stem(2)\n")
    program = netdsl.check_file(main)
    assert program.networks[0].params == (3 * 9 * 4 + 4 + 8) + (4 * 9 * 4 + 4 + 8) + \
        (4 * 9 * 2 + 2 + 4)
    model = netdsl.build(program, "N")()
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 2, 8, 8)


def test_error_in_an_imported_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "blocks.net").write_text("block Bad(x):\n    x -> linear(3, in_features=9)\n")
    main = tmp_path / "model.net"
    main.write_text('import "blocks.net"\nnetwork N(x: [B, 4]):\n    x -> Bad\n')
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.check_file(main)
    diag = info.value.diagnostics[0]
    assert diag.file.endswith("blocks.net") and diag.line == 2
    assert "in block Bad used at" in info.value.render()


def test_check_never_imports_torch() -> None:
    import subprocess
    import sys
    code = ("import sys, netdsl; "
            "netdsl.check_source('network N(x: [B, 3]):\\n    x -> linear(2)\\n');"
            "netdsl.to_dot(netdsl.check_source('network N(x: [B, 3]):\\n    x -> relu\\n'));"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_symbolic_sizes_read_as_written_and_compare_by_value() -> None:
    source = ("network N(x: [B, 3, H, W]):\n    a = x -> conv(8, 3)\n"
              "    b = x -> conv(8, 1) -> conv(8, 3)\n    (a + b) -> flatten(start_dim=2)\n")
    program = netdsl.check_source(source)
    assert str(program.networks[0].outputs[0]) == "[B, 8, H*W - 2*H - 2*W + 4]"
    strided = netdsl.check_source("network N(x: [B, 3, H]):\n    x -> conv(4, 3, stride=2)\n")
    assert str(strided.networks[0].outputs[0]) == "[B, 4, ((H - 3)//2) + 1]"
    same = netdsl.check_source("network N(x: [B, T, 4]):\n"
                               "    y = x -> flatten -> unflatten(1, (T, 4))\n    x + y\n")
    assert str(same.networks[0].outputs[0]) == "[B, T, 4]"
