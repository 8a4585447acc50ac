"""Cost figures against PyTorch itself: FlopCounterMode on the meta device, forward hooks,
the module's own parameters and buffers, an optimiser's own state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import example_files
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import netdsl
from netdsl.cost import NetworkCost, annotate, at_sizes
from netdsl.dims import Sym

SIZES = {"B": 2, "T": 7, "S": 5}  # the symbolic dimensions at run time in these tests
META = torch.device("meta")

NETWORKS = [(path, net.definition.name) for path in example_files()
            for net in netdsl.check_file(path).networks]


def evaluate(value: Any) -> int:
    value = at_sizes(value, SIZES)
    assert not isinstance(value, Sym), value
    return int(value)


def meta_inputs(net: Any) -> list[torch.Tensor]:
    out = []
    for _, tt in net.inputs:
        shape = tuple(evaluate(d) for d in tt.shape)
        dtype = torch.long if tt.dtype == "long" else torch.float32
        out.append(torch.zeros(shape, dtype=dtype, device=META))
    return out


def count_flops(model: nn.Module, inputs: list[torch.Tensor]) -> FlopCounterMode:
    with FlopCounterMode(display=False) as counter:
        model(*inputs)
    return counter


def hooked_output_bytes(model: nn.Module, inputs: list[torch.Tensor]) -> int:
    """The bytes of the outputs of every module call during which no submodule ran: the
    innermost modules as forward hooks see them, each call counted."""
    stack: list[list[bool]] = []
    seen = [0]

    def before(module: nn.Module, args: Any) -> None:
        if stack:
            stack[-1][0] = True  # the caller is not innermost
        stack.append([False])

    def after(module: nn.Module, args: Any, output: Any) -> None:
        ran_inside = stack.pop()[0]
        if not ran_inside:
            seen[0] += sum(t.numel() * t.element_size() for t in flat_tensors(output))

    for module in model.modules():
        module.register_forward_pre_hook(before)
        module.register_forward_hook(after)
    model(*inputs)
    return seen[0]


def flat_tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in flat_tensors(v)]
    return []


def build_meta(path: Path, name: str) -> tuple[Any, NetworkCost, nn.Module]:
    program = netdsl.check_file(path)
    net = program.network(name)
    cost = annotate(net)
    cls = netdsl.build(program, name)
    with META:
        model = cls()
    return net, cost, model


@pytest.mark.parametrize(("path", "name"), NETWORKS, ids=[f"{p.stem}-{n}" for p, n in NETWORKS])
def test_flops_equal_flop_counter_mode_in_total_and_per_layer(path: Path, name: str) -> None:
    net, cost, model = build_meta(path, name)
    counter = count_flops(model, meta_inputs(net))
    assert not cost.unknown
    assert evaluate(cost.flops) == counter.get_total_flops()
    per_module = {key.split(".", 1)[1]: sum(ops.values())
                  for key, ops in counter.get_flop_counts().items() if "." in key}
    own: dict[str, int] = {}  # a shared layer's applications all count under its one name
    for node in net.nodes:
        if node.kind in ("layer", "block") and node.name is not None:
            home = node.meta["shared_with"].name if node.meta.get("shared_with") else node.name
            own[home] = own.get(home, 0) + evaluate(node.meta["flops"])
    compared = 0
    for module_name, flops in own.items():
        assert per_module.get(module_name, 0) == flops, module_name
        compared += 1
    assert compared


@pytest.mark.parametrize(("path", "name"), NETWORKS, ids=[f"{p.stem}-{n}" for p, n in NETWORKS])
def test_memory_figures_equal_the_modules(path: Path, name: str) -> None:
    net, cost, model = build_meta(path, name)
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    assert cost.param_bytes == params
    assert cost.buffer_bytes == buffers
    inputs = meta_inputs(net)
    assert evaluate(cost.input_bytes) == sum(t.numel() * t.element_size() for t in inputs)
    assert evaluate(cost.activation_bytes) == hooked_output_bytes(model, inputs)


def test_figures_are_polynomials_in_the_symbolic_sizes() -> None:
    program = netdsl.check_file(Path(__file__).parent.parent / "examples" / "seq2seq.net")
    cost = annotate(program.networks[0])
    assert isinstance(cost.flops, Sym)
    names = {name for monomial, _ in cost.flops.terms for name in monomial}
    assert names == {"B", "S", "T"}


@pytest.mark.parametrize("optimiser", ["sgd", "sgd-momentum", "adam", "adamw"])
def test_optimiser_state_is_what_torch_keeps(optimiser: str) -> None:
    """The estimate's optimiser term against the state a real step leaves (Adam's scalar
    step counters aside: 4 bytes a parameter tensor, left out of the estimate)."""
    program = netdsl.check_file(Path(__file__).parent.parent / "examples" / "mnist_resnet.net")
    net = program.networks[0]
    cost = annotate(net)
    model = netdsl.build(program, net.definition.name)()
    make = {"sgd": lambda p: torch.optim.SGD(p, lr=0.1),
            "sgd-momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
            "adam": lambda p: torch.optim.Adam(p), "adamw": lambda p: torch.optim.AdamW(p)}
    optim = make[optimiser](model.parameters())
    model(torch.randn(2, 1, 28, 28)).sum().backward()
    optim.step()
    grads = sum(p.grad.numel() * p.grad.element_size() for p in model.parameters())
    state = sum(t.numel() * t.element_size() for s in optim.state.values()
                for t in s.values() if isinstance(t, torch.Tensor) and t.dim() > 0)
    estimate = evaluate(cost.training_bytes(optimiser))
    rest = cost.param_bytes + cost.buffer_bytes + evaluate(cost.activation_bytes) + evaluate(
        cost.input_bytes)
    assert estimate == rest + grads + state


# ---------------------------------------------------------------- one layer, many shapes


def one_layer_flops(inputs: str, stage: str) -> int:
    source = f"network N({inputs}):\n    {stage}\n"
    program = netdsl.check_source(source)
    return int(annotate(program.networks[0]).flops)  # type: ignore[arg-type]


def torch_flops(layer: nn.Module, *shapes: tuple[int, ...]) -> int:
    layer = layer.to(META)
    return count_flops(layer, [torch.zeros(s, device=META) for s in shapes]).get_total_flops()


def shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


@settings(max_examples=40, deadline=None)
@given(n=st.sampled_from([1, 2, 3]), batch=st.sampled_from([1, 3]),
       groups=st.sampled_from([1, 2]), c_in=st.integers(1, 3), c_out=st.integers(1, 3),
       kernel=st.integers(1, 3), stride=st.integers(1, 3), padding=st.integers(0, 2),
       dilation=st.integers(1, 2), size=st.integers(5, 9), transposed=st.booleans())
def test_conv_flops(n: int, batch: int, groups: int, c_in: int, c_out: int, kernel: int,
                    stride: int, padding: int, dilation: int, size: int,
                    transposed: bool) -> None:
    c_in, c_out = c_in * groups, c_out * groups
    shape = (batch, c_in) + (size,) * n
    kind = ("ConvTranspose" if transposed else "Conv") + f"{n}d"
    layer = getattr(nn, kind)(c_in, c_out, kernel, stride=stride, padding=padding,
                              dilation=dilation, groups=groups)
    name = "convtranspose" if transposed else "conv"
    stage = (f"x -> {name}({c_out}, {kernel}, stride={stride}, padding={padding}, "
             f"dilation={dilation}, groups={groups})")
    assert one_layer_flops(f"x: {shape_text(shape)}", stage) == torch_flops(layer, shape)


@settings(max_examples=30, deadline=None)
@given(lead=st.lists(st.integers(1, 4), max_size=3), fin=st.integers(1, 9),
       fout=st.integers(1, 9), bias=st.booleans())
def test_linear_flops(lead: list[int], fin: int, fout: int, bias: bool) -> None:
    shape = (*lead, fin)
    stage = f"x -> linear({fout}, bias={str(bias).lower()})"
    expected = torch_flops(nn.Linear(fin, fout, bias=bias), shape)
    assert one_layer_flops(f"x: {shape_text(shape)}", stage) == expected


@settings(max_examples=30, deadline=None)
@given(a=st.lists(st.integers(1, 4), min_size=1, max_size=4),
       b=st.lists(st.integers(1, 4), min_size=1, max_size=4), k=st.integers(1, 5),
       broadcast=st.booleans())
def test_matmul_flops(a: list[int], b: list[int], k: int, broadcast: bool) -> None:
    a_shape = (*a[:-1], k) if len(a) > 1 else (k,)
    if len(b) == 1:
        b_shape: tuple[int, ...] = (k,)
    else:
        batch = tuple(a[:-2][-(len(b) - 2):]) if broadcast and len(b) > 2 else tuple(b[:-2])
        batch = tuple(1 if broadcast and i == 0 else d for i, d in enumerate(batch))
        b_shape = (*batch, k, b[-1])
    try:
        torch.broadcast_shapes(a_shape[:-2], b_shape[:-2])
    except RuntimeError:
        return
    flops = one_layer_flops(f"a: {shape_text(a_shape)}, b: {shape_text(b_shape)}", "a @ b")
    with FlopCounterMode(display=False) as counter:
        torch.matmul(torch.zeros(a_shape, device=META), torch.zeros(b_shape, device=META))
    assert flops == counter.get_total_flops()


@settings(max_examples=30, deadline=None)
@given(heads=st.integers(1, 3), head_dim=st.integers(1, 3), q_len=st.integers(1, 5),
       k_len=st.integers(1, 5), batch=st.sampled_from([0, 1, 2]), batch_first=st.booleans(),
       cross=st.booleans(), kdim=st.sampled_from([None, 3]), bias_kv=st.booleans(),
       zero_attn=st.booleans())
def test_attention_flops(heads: int, head_dim: int, q_len: int, k_len: int, batch: int,
                         batch_first: bool, cross: bool, kdim: int | None, bias_kv: bool,
                         zero_attn: bool) -> None:
    e = heads * head_dim
    k_len = k_len if cross else q_len
    kv_dim = kdim if cross and kdim else e

    def shape(length: int, dim: int) -> tuple[int, ...]:
        if not batch:
            return (length, dim)
        return (batch, length, dim) if batch_first else (length, batch, dim)

    q, k = shape(q_len, e), shape(k_len, kv_dim)
    extra = f", kdim={kdim}, vdim={kdim}" if cross and kdim else ""
    flags = f"batch_first={str(batch_first).lower()}, add_bias_kv={str(bias_kv).lower()}, " \
            f"add_zero_attn={str(zero_attn).lower()}"
    if cross:
        inputs = f"q: {shape_text(q)}, k: {shape_text(k)}"
        stage = f"(q, k, k) -> multihead_attention({heads}, {flags}{extra})"
    else:
        inputs, stage = f"q: {shape_text(q)}", f"(q, q, q) -> multihead_attention({heads}, {flags})"
    layer = nn.MultiheadAttention(e, heads, batch_first=batch_first, add_bias_kv=bias_kv,
                                  add_zero_attn=zero_attn, kdim=kv_dim, vdim=kv_dim).to(META)
    qt, kt = torch.zeros(q, device=META), torch.zeros(k, device=META)
    with FlopCounterMode(display=False) as counter:
        layer(qt, kt, kt)
    assert one_layer_flops(inputs, stage) == counter.get_total_flops()


@settings(max_examples=20, deadline=None)
@given(d_head=st.integers(1, 3), heads=st.integers(1, 3), ff=st.integers(1, 9),
       length=st.integers(1, 5), mem=st.integers(1, 5), batch=st.sampled_from([0, 2]),
       decoder=st.booleans(), norm_first=st.booleans())
def test_transformer_layer_flops(d_head: int, heads: int, ff: int, length: int, mem: int,
                                 batch: int, decoder: bool, norm_first: bool) -> None:
    d = d_head * heads
    x = (batch, length, d) if batch else (length, d)
    m = (batch, mem, d) if batch else (mem, d)
    args = f"{heads}, dim_feedforward={ff}, batch_first=true, norm_first={str(norm_first).lower()}"
    cls = nn.TransformerDecoderLayer if decoder else nn.TransformerEncoderLayer
    layer = cls(d, heads, ff, batch_first=True, norm_first=norm_first)
    if decoder:
        flops = one_layer_flops(f"x: {shape_text(x)}, m: {shape_text(m)}",
                                f"(x, m) -> transformer_decoder_layer({args})")
        assert flops == torch_flops(layer, x, m)
    else:
        flops = one_layer_flops(f"x: {shape_text(x)}", f"x -> transformer_encoder_layer({args})")
        assert flops == torch_flops(layer, x)


@settings(max_examples=30, deadline=None)
@given(kind=st.sampled_from(["RNN", "GRU", "LSTM"]), size=st.integers(1, 4),
       hidden=st.integers(2, 5), layers=st.integers(1, 3), bidirectional=st.booleans(),
       batch=st.sampled_from([0, 1, 3]), steps=st.integers(1, 4), batch_first=st.booleans(),
       proj=st.integers(0, 1))
def test_recurrent_flops_are_their_matmuls(kind: str, size: int, hidden: int, layers: int,
                                          bidirectional: bool, batch: int, steps: int,
                                          batch_first: bool, proj: int) -> None:
    """On the meta device PyTorch runs nn.RNN/GRU/LSTM as one addmm per gate matrix and step,
    which FlopCounterMode counts (on CPU the fused LSTM kernel hides them)."""
    extra = {"proj_size": proj} if kind == "LSTM" and proj else {}
    layer = getattr(nn, kind)(size, hidden, layers, batch_first=batch_first,
                              bidirectional=bidirectional, **extra)
    if not batch:
        shape: tuple[int, ...] = (steps, size)
    else:
        shape = (batch, steps, size) if batch_first else (steps, batch, size)
    words = "".join(f", {k}={v}" for k, v in extra.items())
    stage = (f"x -> {kind.lower()}({hidden}, num_layers={layers}, batch_first="
             f"{str(batch_first).lower()}, bidirectional={str(bidirectional).lower()}{words})")
    assert one_layer_flops(f"x: {shape_text(shape)}", stage) == torch_flops(layer, shape)


@settings(max_examples=20, deadline=None)
@given(kind=st.sampled_from(["RNNCell", "GRUCell", "LSTMCell"]), size=st.integers(1, 5),
       hidden=st.integers(1, 5), batch=st.sampled_from([0, 1, 3]))
def test_cell_flops(kind: str, size: int, hidden: int, batch: int) -> None:
    shape = (batch, size) if batch else (size,)
    stage = f"x -> {kind.lower()}({hidden})"
    layer = getattr(nn, kind)(size, hidden)
    assert one_layer_flops(f"x: {shape_text(shape)}", stage) == torch_flops(layer, shape)


# ---------------------------------------------------------------- what the user sees


def run_cli(*args: str) -> Any:
    from click.testing import CliRunner

    from netdsl.cli import main

    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


EXAMPLES = Path(__file__).parent.parent / "examples"


def test_json_at_an_input_size_equals_flop_counter_mode() -> None:
    """--input x=[2, 3, 96, 96]: the JSON's figures are torch's at that size."""
    import json

    data = json.loads(run_cli("check", str(EXAMPLES / "resnet18.net"), "--input",
                              "x=[2,3,96,96]", "--json"))
    [net] = data["networks"]
    program = netdsl.check_file(EXAMPLES / "resnet18.net")
    with META:
        model = netdsl.build(program, "ResNet18")()
    inputs = [torch.zeros(2, 3, 96, 96, device=META)]
    assert net["flops"] == count_flops(model, inputs).get_total_flops()
    assert net["activation_bytes"] == hooked_output_bytes(model, inputs)
    assert net["param_bytes"] == sum(p.numel() * 4 for p in model.parameters())
    assert net["buffer_bytes"] == sum(b.numel() * b.element_size() for b in model.buffers())
    assert "flops_formula" not in net
    assert all("flops" in layer and "output_bytes" in layer for layer in net["layers"])


def test_json_gives_the_formula_and_the_number_per_sample() -> None:
    import json

    data = json.loads(run_cli("check", str(EXAMPLES / "cifar10.net"), "--json"))
    [net] = data["networks"]
    program = netdsl.check_file(EXAMPLES / "cifar10.net")
    with META:
        model = netdsl.build(program, "Cifar10")()
    one = count_flops(model, [torch.zeros(1, 3, 32, 32, device=META)]).get_total_flops()
    assert net["flops"] == one
    assert net["flops_formula"] == f"{one}*B"
    seq = json.loads(run_cli("check", str(EXAMPLES / "seq2seq.net"), "--json"))["networks"][0]
    assert seq["flops"] is None  # S and T are still unknown
    assert set(seq["flops_formula"].replace("*", " ").split()) >= {"B", "S", "T"}


def table_rows(text: str) -> list[str]:
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["layer", "torch"])
    end = next(i for i, line in enumerate(lines) if line.split()[:2] == ["total", "parameters"])
    return lines[header:end]


@pytest.mark.parametrize("example", ["seq2seq", "unet", "transformer_classifier"])
def test_long_torch_calls_keep_the_columns_aligned(example: str) -> None:
    rows = table_rows(run_cli("check", str(EXAMPLES / f"{example}.net")))
    header = rows[0]
    for column in (" torch ", " at ", " output "):
        start = header.index(column) + 1
        assert all(row[start - 2: start] == "  " and row[start] != " " for row in rows[1:])
    params_end = header.index("params") + len("params")
    assert all(row[params_end - 1] != " " and row[params_end] == " " for row in rows)
    if example == "seq2seq":  # its transformer layers' calls are longer than the column
        assert any("nn.TransformerEncoderLayer(32, 4, batch_f..." in row for row in rows)


def test_depth_folds_block_uses_into_one_row() -> None:
    full = run_cli("check", str(EXAMPLES / "resnet18.net"))
    folded = run_cli("check", str(EXAMPLES / "resnet18.net"), "--depth", "1")
    rows = table_rows(folded)[1:]
    assert all(not row.startswith("    ") for row in rows)  # nothing nested is shown
    assert any("block BasicBlock" in row for row in rows)
    assert len(rows) < len(table_rows(full)) - 1
    assert full.splitlines()[-1] == folded.splitlines()[-1]  # the totals do not change


def test_footer_gives_torchinfo_figures() -> None:
    text = run_cli("check", str(EXAMPLES / "resnet18.net"), "--optimizer", "sgd")
    program = netdsl.check_file(EXAMPLES / "resnet18.net")
    with META:
        model = netdsl.build(program, "ResNet18")()
    one = count_flops(model, [torch.zeros(1, 3, 224, 224, device=META)]).get_total_flops()
    params = sum(p.numel() for p in model.parameters())
    lines = {line.rsplit("  ", 1)[0].strip(): line.rsplit("  ", 1)[1].strip()
             for line in text.splitlines()[-7:]}
    assert lines["total GFLOPs per sample"] == f"{one / 1e9:.3f}"
    assert lines["total parameters"] == f"{params:,}"
    assert lines["parameter size"] == f"{params * 4 / 1e6:.2f} MB"
    assert "estimated training memory per sample (sgd)" in lines


def test_diagram_cost_writes_flops_on_each_layer() -> None:
    program = netdsl.check_file(EXAMPLES / "cifar10.net")
    plain = netdsl.to_dot(program)
    dot = netdsl.to_dot(program, cost=True)
    assert "FLOPs" not in plain
    with META:
        model = netdsl.build(program, "Cifar10")()
    counter = count_flops(model, [torch.zeros(1, 3, 32, 32, device=META)])
    conv1 = counter.get_flop_counts()["Cifar10.conv1"]
    from netdsl.report import compact

    assert f"{compact(sum(conv1.values()))} FLOPs" in dot
    assert dot.count("FLOPs") == 5  # three convolutions, two linear layers


@settings(max_examples=15, deadline=None)
@given(kind=st.sampled_from(["RNN", "GRU", "LSTM"]), size=st.integers(1, 4),
       hidden=st.integers(1, 4), layers=st.integers(1, 2), bidirectional=st.booleans(),
       batch=st.integers(1, 3), steps=st.integers(1, 4))
def test_recurrent_flops_equal_the_unrolled_cells(kind: str, size: int, hidden: int,
                                                  layers: int, bidirectional: bool, batch: int,
                                                  steps: int) -> None:
    """On the CPU FlopCounterMode sees nothing of a fused nn.LSTM; the same computation
    written out with nn.LSTMCell (nn.GRUCell, nn.RNNCell), one cell per layer and
    direction applied at every step, is counted: it equals netdsl's figure."""
    dirs = 2 if bidirectional else 1
    cell = getattr(nn, f"{kind}Cell")
    cells = [[cell(size if layer == 0 else hidden * dirs, hidden) for _ in range(dirs)]
             for layer in range(layers)]
    x = torch.randn(steps, batch, size)
    with FlopCounterMode(display=False) as counter:
        for layer_cells in cells:
            outputs = []
            for direction, c in enumerate(layer_cells):
                state = None
                seq = []
                for t in (range(steps) if direction == 0 else reversed(range(steps))):
                    state = c(x[t], state)
                    seq.append(state[0] if isinstance(state, tuple) else state)
                outputs.append(torch.stack(seq if direction == 0 else seq[::-1]))
            x = torch.cat(outputs, dim=-1)
    stage = (f"x -> {kind.lower()}({hidden}, num_layers={layers}, "
             f"bidirectional={str(bidirectional).lower()})")
    flops = one_layer_flops(f"x: {shape_text((steps, batch, size))}", stage)
    assert flops == counter.get_total_flops()
