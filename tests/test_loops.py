"""v2 control: `for` loops, repetition with several inputs, `**`, `inf`, compile-time
functions, and the messages for Python that netdsl does not have.

Every network here is checked, compiled and built with torch; the module's parameter count
and output shapes must equal what `check` says, and the module must pass torch.fx,
TorchScript, torch.export and torch.compile(fullgraph=True) as the examples do.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_examples import make_inputs

import netdsl
from netdsl.errors import NetDSLError


def value_of(expr: str, hyper: str = "") -> Any:
    """The compile-time value of `expr` in a network body."""
    source = f"network N({hyper})(x: [B, 4]):\n    v = {expr}\n    _w = v\n    x\n"
    return netdsl.check_source(source).network("N").frame.env["_w"]


def error_of(source: str) -> NetDSLError:
    with pytest.raises(NetDSLError) as info:
        netdsl.check_source(source)
    return info.value


def built(source: str, name: str = "Net") -> tuple[Any, torch.nn.Module, list[torch.Tensor]]:
    program = netdsl.check_source(source, "loops.net")
    torch.manual_seed(0)
    model = netdsl.build(program, name)().eval()
    return program, model, make_inputs(program.network(name))


def shapes(out: Any) -> list[tuple[int, ...]]:
    return [tuple(o.shape) for o in (out if isinstance(out, tuple) else (out,))]


def agrees_with_check(source: str, name: str = "Net") -> str:
    """Builds the generated module, compares it with check, runs PyTorch's tools on it;
    returns the generated source."""
    program, model, inputs = built(source, name)
    net = program.network(name)
    assert sum(p.numel() for p in model.parameters()) == net.params
    with torch.no_grad():
        out = model(*inputs)
    batch = inputs[0].shape[0]
    expected = [tuple(batch if not isinstance(d, int) else d for d in tt.shape)
                for tt in net.outputs]
    assert shapes(out) == expected
    torch.fx.symbolic_trace(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice
        scripted = torch.jit.script(model)
    exported = torch.export.export(model, tuple(inputs))
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        for other in (scripted(*inputs), exported.module()(*inputs), compiled(*inputs)):
            for a, b in zip(shapes(other), shapes(out), strict=True):
                assert a == b
    torch._dynamo.reset()
    return netdsl.to_pytorch(program)


def flat(code: str) -> str:
    """Code without whitespace: what a line break in a long call does not change."""
    return "".join(code.split())


# ---------------------------------------------------------------- `**`, inf, functions


@pytest.mark.parametrize("expr", ["2 ** 3 ** 2", "-2 ** 2", "(-2) ** 2", "2 ** -1",
                                  "3 * 2 ** 2", "2 ** 2 * 3", "10 // 3 ** 1", "2.0 ** 0.5",
                                  "-3 ** 2 + 1", "4 ** 0.5 ** 2"])
def test_power_binds_as_in_python(expr: str) -> None:
    assert value_of(expr) == eval(expr)


def test_inf_is_a_number() -> None:
    assert value_of("-inf") == -math.inf
    assert value_of("inf > 1e308") is True


@settings(max_examples=60, deadline=None)
@given(a=st.integers(-1000, 1000), b=st.integers(-1000, 1000),
       f=st.floats(-1e6, 1e6, allow_nan=False))
def test_compile_time_functions_are_pythons(a: int, b: int, f: float) -> None:
    assert value_of(f"max({a}, {b}, 7)") == max(a, b, 7)
    assert value_of(f"min({a}, {b})") == min(a, b)
    assert value_of(f"abs({a})") == abs(a)
    assert value_of(f"round({f!r})") == round(f)
    assert value_of(f"round({f!r}, 2)") == round(f, 2)
    assert value_of(f"int({f!r})") == int(f)
    assert value_of(f"float({a})") == float(a)
    assert value_of(f"ceil({f!r})") == math.ceil(f)
    assert value_of(f"floor({f!r})") == math.floor(f)
    assert value_of(f"sqrt({abs(a)})") == pytest.approx(math.sqrt(abs(a)), rel=1e-15)


def test_a_size_must_be_an_integer() -> None:
    err = error_of("network N(x: [B, 16, 8, 8]):\n    x -> conv(16 / 4, 1)\n")
    assert "16 / 4 is 4.0" in str(err) and "conv(16 // 4, 1)" in str(err)


@pytest.mark.parametrize(("expr", "message"), [
    ("sqrt(-1)", "not real"),
    ("max(3)", "two or more"),
    ("max(x, 1)", "stage"),
    ("abs(1, 2)", "takes 1 argument"),
    ("range(3)", "`for` loop"),
    ("0 ** -1", "negative power"),
    ("B ** 2", "symbolic"),
])
def test_compile_time_function_errors(expr: str, message: str) -> None:
    err = error_of(f"network N(x: [B, 4]):\n    v = {expr}\n    x -> linear(4)\n")
    assert message in str(err)
    assert ":2:" in str(err)


def test_compile_time_functions_in_generated_code_compute_the_same() -> None:
    source = ("block SE(squeeze=4)(x: [B, C, H, W]):\n"
              "    hidden = max(8, C // squeeze)\n"
              "    s = x -> adaptive_avgpool(1) -> conv(hidden, 1) -> relu -> conv(C, 1)\n"
              "      -> sigmoid\n"
              "    x * s\n\n"
              "network Net(width=48, heads=4)(x: [B, 3, 8, 8]):\n"
              "    scale = 1 / sqrt(width // heads)\n"
              "    y = x -> conv(width, 3, padding=1) -> SE(squeeze=16)\n"
              "      -> conv(ceil(width / 7) + floor(width / 7), 1)\n"
              "    y * scale\n")
    agrees_with_check(source)
    program = netdsl.check_source(source, "loops.net")
    classes: dict[str, Any] = {}
    exec(netdsl.to_pytorch(program), classes)  # our own generated code
    for squeeze in (1, 2, 3, 16, 100):  # the block's hidden size, for other values
        block = classes["SE"](48, squeeze=squeeze)
        assert block.conv1.out_channels == max(8, 48 // squeeze)
    net = classes["Net"](width=64)
    assert net.scale == 1 / math.sqrt(16)
    assert net.conv2.out_channels == math.ceil(64 / 7) + math.floor(64 / 7)


# ---------------------------------------------------------------- for loops

DENSE = """
block DenseLayer(growth)(x: [B, C, H, W]):
    x -> batchnorm -> relu -> conv(growth, 3, padding=1, bias=false)

block DenseBlock(layers=4, growth=12)(x: [B, C, H, W]):
    for i in range(layers):
        x = (x, x -> DenseLayer(growth)) -> cat(dim=1)
    x

network Net(layers=3)(x: [B, 8, 8, 8]):
    x -> DenseBlock(layers, 4) -> adaptive_avgpool(1) -> flatten -> linear(10)
"""


def test_a_loop_builds_new_layers_each_iteration_one_generic_body() -> None:
    code = agrees_with_check(DENSE)
    assert flat("nn.ModuleList([DenseLayer(C + i * growth, growth) for i in range(layers)])") \
        in flat(code)
    assert "for dense_layer in self.dense_layer1:" in code
    assert "nn.Linear(4 * layers + 8, 10)" in code  # the count carried into later sizes
    program = netdsl.check_source(DENSE, "loops.net")
    net = program.network("Net")
    names = [node.name for node in net.nodes]
    assert "dense_block1.dense_layer1.0" in names and "dense_block1.dense_layer1.2" in names


@pytest.mark.parametrize("layers", [1, 2, 5])
def test_the_loop_count_is_honoured(layers: int) -> None:
    program = netdsl.check_source(DENSE, "loops.net")
    cls = netdsl.build(program, "Net")
    expected = netdsl.check_source(DENSE.replace("Net(layers=3)", f"Net(layers={layers})"),
                                   "loops.net").network("Net")
    model = cls(layers=layers)
    assert sum(p.numel() for p in model.parameters()) == expected.params
    assert model(torch.randn(2, 8, 8, 8)).shape == (2, 10)


def test_a_layer_bound_before_the_loop_is_shared() -> None:
    source = ("network Net(steps=4)(x: [B, 16]):\n"
              "    cell = linear(16)\n"
              "    for k in range(steps):\n"
              "        x = x -> cell -> tanh\n"
              "    x\n")
    program = netdsl.check_source(source)
    assert program.network("Net").params == 16 * 16 + 16
    code = agrees_with_check(source)
    assert "self.cell = nn.Linear(16, 16)" in code
    assert "for tanh in self.tanh1:" in code


def test_carried_tuples_and_changing_shapes_are_written_out() -> None:
    source = ("network Net(x: [B, 3, 16, 16]):\n"
              "    outs = ()\n"
              "    for i in range(3):\n"
              "        x = x -> conv(8 * 2 ** i, 3, stride=2, padding=1) -> relu\n"
              "        outs = outs + (x -> adaptive_avgpool(1) -> flatten,)\n"
              "    outs -> cat(dim=1)\n")
    net = netdsl.check_source(source).network("Net")
    assert [str(tt) for tt in net.outputs] == ["[B, 56]"]
    code = agrees_with_check(source)
    assert "self.conv1 = nn.ModuleList(" in code
    assert "self.conv1[2](" in code  # written out: one constant index per iteration


def test_the_loop_variable_in_forward_is_a_constant_per_iteration() -> None:
    source = ("network Net(x: [B, 4, 6]):\n"
              "    for i in range(1, 4):\n"
              "        x = x + x[:, i:i + 1] -> linear(6)\n"
              "    x\n")
    code = agrees_with_check(source)
    assert "x[:, 1:1 + 1]" in code or "x[:, 1:2]" in code


def test_nested_loops() -> None:
    source = ("network Net(x: [B, 4]):\n"
              "    for i in range(2):\n"
              "        for j in range(3):\n"
              "            x = x -> linear(4 + i + j)\n"
              "    x\n")
    net = netdsl.check_source(source).network("Net")
    assert [str(tt) for tt in net.outputs] == ["[B, 7]"]
    agrees_with_check(source)


def test_a_block_repeated_with_several_inputs_threads_the_first() -> None:
    source = ("block Mixer(x: [B, T, D], context: [B, S, D]):\n"
              "    x + ((x, context) -> cat(dim=1) -> linear(D) -> mean(dim=1, keepdim=true))\n\n"
              "network Net(depth=3)(x: [B, 5, 16], context: [B, 4, 16]):\n"
              "    (x, context) -> Mixer * depth\n")
    net = netdsl.check_source(source).network("Net")
    assert net.params == 3 * (16 * 16 + 16)
    code = agrees_with_check(source)
    assert "h = layer(h, context)" in code


@pytest.mark.parametrize(("body", "message"), [
    ("    for i in range(B):\n        x = x -> relu\n", "symbolic dimension"),
    ("    for i in range(x):\n        x = x -> relu\n", "range takes integers"),
    ("    for i in (1, 2):\n        x = x -> relu\n", "range(...)"),
    ("    for i in range(20000):\n        x = x -> relu\n", "more than netdsl runs"),
    ("    for x in range(2):\n        pass\n", "would replace the tensor"),
    ("    for i in range(0, 4, 0):\n        x = x -> relu\n", "step must not be zero"),
])
def test_loop_errors(body: str, message: str) -> None:
    err = error_of(f"network N(x: [B, 4]):\n{body}    x\n")
    assert message in str(err)


def test_an_empty_loop_is_a_warning() -> None:
    program = netdsl.check_source("network N(x: [B, 4]):\n    for i in range(0):\n"
                                  "        x = x -> relu\n    x\n")
    assert any("never runs" in d.message for d in program.warnings)


# ---------------------------------------------------------------- Python that is not netdsl


@pytest.mark.parametrize(("line", "message"), [
    ("while true:\n        x = x -> relu", "no `while`"),
    ("def f(a):\n        a", "no functions"),
    ("y = [x for i in range(3)]", "list comprehensions"),
    ("lambda a: a", "no lambdas"),
    ("break", "no `break`"),
])
def test_python_that_is_not_netdsl_names_what_to_write(line: str, message: str) -> None:
    err = error_of(f"network N(x: [B, 4]):\n    {line}\n    x\n")
    assert message in str(err)
    assert ":2:5" in str(err)


def test_the_fix_for_augmented_assignment_applies() -> None:
    source = "network N(x: [B, 4]):\n    x *= 2 + 1\n    x\n"
    err = error_of(source)
    fix = err.diagnostics[0].fix
    assert fix is not None
    assert fix == "write x = x * (2 + 1)"
    fixed = source.replace("x *= 2 + 1", fix.removeprefix("write "))
    netdsl.check_source(fixed)


def test_compile_time_functions_inside_tensor_expressions() -> None:
    source = ("network Net(hs=10)(x: [B, 4]):\n"
              "    x * (1 / sqrt(hs)) + ceil(hs / 3) - floor(2.5) + max(1, hs)\n")
    _, model, _ = built(source)
    x = torch.ones(2, 4)
    expected = 1 / math.sqrt(10) + math.ceil(10 / 3) - math.floor(2.5) + max(1, 10)
    torch.testing.assert_close(model(x), torch.full((2, 4), expected))
    agrees_with_check(source)


def test_a_tensor_the_next_iteration_reads_is_not_unused() -> None:
    source = ("network Net(x: [B, 4]):\n"
              "    token = x -> linear(4)\n"
              "    for k in range(3):\n"
              "        h = token -> linear(4) -> relu\n"
              "        token = h -> linear(4)\n"
              "    h\n")
    assert not netdsl.check_source(source).warnings
    unused = source.replace("        h = token", "        h = x")
    assert any("'token' is computed but never used" in w.message
               for w in netdsl.check_source(unused).warnings)


def test_a_block_ending_in_a_multi_output_layer_passes_on_the_first() -> None:
    source = ("block Attend(x: [B, T, 16]):\n"
              "    x -> multihead_attention(4, batch_first=true)\n\n"
              "network Net(x: [B, 5, 16]):\n"
              "    x -> Attend -> linear(3)\n")
    code = agrees_with_check(source)
    assert "x, _ = self.attend1(x)" in code


def test_a_parameter_in_a_loop_is_refused_and_the_fix_works() -> None:
    err = error_of("network Net(x: [B, 8]):\n    for i in range(2):\n"
                   "        g = parameter(8, init=1.0)\n        x = x * g -> linear(8)\n    x\n")
    assert "inside a `for` loop" in str(err) and ":3:13" in str(err)
    fixed = ("block Scale(x: [B, D]):\n    g = parameter(D, init=1.0)\n    x * g\n\n"
             "network Net(depth=2)(x: [B, 8]):\n    for i in range(depth):\n"
             "        x = x -> Scale -> linear(8)\n    x\n")
    net = netdsl.check_source(fixed).network("Net")
    assert net.params == 2 * (8 + 72)
    agrees_with_check(fixed)


DEEP = """
block Deep(n=3)(x: [B, D]):
    outs = ()
    for i in range(n):
        x = x -> linear(D)
        outs = outs + (x,)
    outs -> cat(dim=1)

network Net(x: [B, 4]):
    x -> Deep -> linear(5)
"""


def test_a_block_that_cannot_follow_a_hyperparameter_refuses_other_values() -> None:
    """Its callers pass the value, so the block keeps the parameter; written out for one
    value, it refuses the others when built, and says so, instead of ignoring them."""
    program = netdsl.check_source(DEEP, "loops.net")
    classes: dict[str, Any] = {}
    exec(netdsl.to_pytorch(program), classes)
    deep = classes["Deep"]
    assert "Written for n=3 only" in (deep.__doc__ or "")
    assert sum(p.numel() for p in deep(4, n=3).parameters()) == 3 * 20
    with pytest.raises(ValueError, match="Deep is written for n=3 only"):
        deep(4, n=4)
    agrees_with_check(DEEP)


def test_a_block_used_with_two_values_it_cannot_follow_gets_a_class_per_value() -> None:
    source = DEEP.replace("    x -> Deep -> linear(5)\n",
                          "    (x -> Deep, x -> Deep(n=2)) -> cat(dim=1)\n")
    program = netdsl.check_source(source, "loops.net")
    classes: dict[str, Any] = {}
    exec(netdsl.to_pytorch(program), classes)
    three, two = classes["Deep_n3"], classes["Deep_n2"]
    assert "Written for n=3" in (three.__doc__ or "")
    assert sum(p.numel() for p in three(4).parameters()) == 3 * 20
    assert sum(p.numel() for p in two(4).parameters()) == 2 * 20
    with pytest.raises(ValueError, match="Deep is written for n=2 only"):
        two(4, n=3)
    agrees_with_check(source)


def test_a_rearrange_pattern_from_a_block_hyperparameter_is_refused_when_changed() -> None:
    source = ('block P(pattern="b c h w -> b (h w) c")(x: [B, C, H, W]):\n'
              "    x -> rearrange(pattern)\n\n"
              "network Net(x: [B, 3, 4, 4]):\n    x -> P -> linear(5)\n")
    classes: dict[str, Any] = {}
    exec(netdsl.to_pytorch(netdsl.check_source(source)), classes)
    classes["P"]()
    with pytest.raises(ValueError, match="only"):
        classes["P"](pattern="b c h w -> b c (h w)")
    agrees_with_check(source)
