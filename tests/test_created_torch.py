"""Tensors that are not inputs (`arange`, `ones`, `zeros`, `full`, `eye`, the `*_like`
stages), checked against torch: their shapes and dtypes, symbolic sizes, constants kept as
non-persistent buffers, their cost, and the generated module under PyTorch's tools."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

import netdsl
from netdsl.report import to_json

DTYPES = {"float": torch.float32, "long": torch.int64, "bool": torch.bool,
          "int32": torch.int32, "double": torch.float64, "half": torch.float16}


def output(call: str, header: str = "x: [B, 3]") -> tuple[tuple[Any, ...], str]:
    """The shape and dtype netdsl gives the created tensor `call`."""
    program = netdsl.check_source(f"network N({header}):\n    {call}\n")
    tt = program.network("N").outputs[0]
    return tuple(tt.shape), tt.dtype


def same_as_torch(call: str, made: torch.Tensor) -> None:
    shape, dtype = output(call)
    assert shape == tuple(made.shape), call
    assert DTYPES[dtype] == made.dtype, call


def literal(value: Any) -> str:
    return repr(value) if not isinstance(value, bool) else str(value).lower()


numbers = st.one_of(st.integers(-20, 20), st.floats(-20, 20).map(lambda v: round(v, 2)))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(start=numbers, end=numbers, step=numbers)
def test_arange_as_torch(start: Any, end: Any, step: Any) -> None:
    try:
        made = torch.arange(start, end, step)
    except RuntimeError:  # a zero step, or one that goes the wrong way
        with pytest.raises(netdsl.NetDSLError):
            output(f"arange({start!r}, {end!r}, {step!r})")
        return
    same_as_torch(f"arange({start!r}, {end!r}, {step!r})", made)
    if isinstance(end, int) and end >= 0:
        same_as_torch(f"arange({end})", torch.arange(end))


sizes = st.lists(st.integers(0, 5), min_size=1, max_size=4)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(size=sizes, fill=st.one_of(st.booleans(), st.integers(-3, 3), st.floats(-2, 2)),
       dtype=st.sampled_from([None, *DTYPES]))
def test_creators_as_torch(size: list[int], fill: Any, dtype: str | None) -> None:
    extra = f', dtype="{dtype}"' if dtype else ""
    torch_dtype = {"dtype": DTYPES[dtype]} if dtype else {}
    args = ", ".join(map(str, size))
    as_tuple = "(" + args + ("," if len(size) == 1 else "") + ")"
    same_as_torch(f"ones({args}{extra})", torch.ones(*size, **torch_dtype))
    same_as_torch(f"zeros({as_tuple}{extra})", torch.zeros(tuple(size), **torch_dtype))
    same_as_torch(f"full({as_tuple}, {literal(fill)}{extra})",
                  torch.full(tuple(size), fill, **torch_dtype))
    same_as_torch(f"eye({size[0]}{extra})", torch.eye(size[0], **torch_dtype))
    same_as_torch(f"eye({size[0]}, {size[-1]})", torch.eye(size[0], size[-1]))


@pytest.mark.parametrize("name", ["zeros_like", "ones_like", "randn_like", "rand_like",
                                  "full_like(3)"])
@pytest.mark.parametrize("dtype", ["float", "long", "double"])
def test_like_stages_as_torch(name: str, dtype: str) -> None:
    x = torch.zeros(2, 3, 4, dtype=DTYPES[dtype])
    func = getattr(torch, name.split("(")[0])
    try:
        made = func(x, 3) if "(" in name else func(x)
    except RuntimeError:  # random numbers of an integer dtype
        with pytest.raises(netdsl.NetDSLError):
            output(f"x -> {name}", f"x: {dtype}[2, 3, 4]")
        return
    assert output(f"x -> {name}", f"x: {dtype}[2, 3, 4]") == (tuple(made.shape), dtype)


@pytest.mark.parametrize(("call", "message"), [
    ("arange(0, 5, 0)", "step must not be zero"),
    ("arange(5, 0)", "goes the wrong way"),
    ('ones(3, dtype="quad")', "unknown dtype 'quad'"),
    ("ones(3, 2.5)", "a size is a whole number"),
    ("ones(-1)", "cannot be negative"),
    ("full(3, 1.0)", "full's size is a tuple"),
    ("ones(x)", "never tensors"),
    ("eye(2, 3, 4)", "eye takes n"),
    ("zeros(3, step=2)", "zeros has no argument 'step'"),
    ("x -> ones(3)", "ones(...) makes a tensor from sizes, not from an input"),
    ("arange(0.5, B)", "arange with a symbolic bound needs whole numbers"),
])
def test_a_wrong_creation_is_a_located_error(call: str, message: str) -> None:
    with pytest.raises(netdsl.NetDSLError) as info:
        netdsl.check_source(f"network N(x: [B, 3]):\n    y = {call}\n    y\n")
    diag = info.value.diagnostics[0]
    assert message in diag.message and diag.line == 2


SOURCE = """
block Pos(x: [B, T, C]):
    x + (arange(T) -> unsqueeze(1)) + zeros(T, C)

network Mixed(n=4)(x: [B, T, 8], z: [B, 4, 4]):
    w = parameter(1, 1, 8, init="normal", std=0.02)
    mask = ones(n, n) -> transpose(0, 1)
    steps = arange(T)
    y = (x + w) -> Pos
    (y, z * mask, steps, y -> zeros_like)
"""


def built(source: str = SOURCE, name: str = "Mixed") -> tuple[Any, torch.nn.Module]:
    program = netdsl.check_source(source)
    return program, netdsl.build(program, name)().eval()


def test_symbolic_sizes_are_read_from_the_input_at_run_time() -> None:
    program, model = built()
    shapes = [tuple(str(d) for d in tt.shape) for tt in program.network("Mixed").outputs]
    assert shapes[2] == ("T",)
    for t in (1, 5, 9):
        y, masked, steps, zeros = model(torch.zeros(2, t, 8), torch.ones(2, 4, 4))
        assert torch.equal(steps, torch.arange(t))
        assert tuple(y.shape) == (2, t, 8) and torch.equal(zeros, torch.zeros(2, t, 8))
        assert torch.allclose(y[0, :, 0] - model.w[0, 0, 0], torch.arange(t).float())
        assert torch.equal(masked, torch.ones(2, 4, 4))


def test_constants_are_non_persistent_buffers_that_move_with_the_module() -> None:
    program, model = built()
    buffers = dict(model.named_buffers())
    assert list(buffers) == ["mask"] and torch.equal(buffers["mask"], torch.ones(4, 4))
    assert "mask" not in model.state_dict() and "w" in model.state_dict()
    moved = model.to("meta")
    assert moved.mask.device.type == "meta"
    data = to_json("f", program, [], [])["networks"][0]
    assert data["buffer_bytes"] == sum(b.numel() * b.element_size() for b in buffers.values())
    assert data["params"] == sum(p.numel() for p in built()[1].parameters())


def test_the_generated_code_computes_constants_once_and_the_rest_on_the_input_device() -> None:
    code = netdsl.to_pytorch(netdsl.check_source(SOURCE))
    assert 'self.register_buffer("mask", torch.ones(n, n).transpose(0, 1), persistent=False)' \
        in code
    assert "torch.arange(T, device=x.device)" in code
    assert "self.w = nn.Parameter(torch.empty(1, 1, 8).normal_(std=0.02))" in code


def test_created_tensors_cost_no_flops_as_torch_counts() -> None:
    program, model = built()
    inputs = (torch.zeros(2, 5, 8), torch.ones(2, 4, 4))
    with FlopCounterMode(display=False) as counter:
        model(*inputs)
    data = to_json("f", program, [], [])["networks"][0]
    assert counter.get_total_flops() == 0
    assert all(entry["flops"] == 0 for entry in data["layers"])


def test_pytorchs_tools_accept_the_module() -> None:
    _, model = built()
    inputs = (torch.randn(2, 5, 8), torch.randn(2, 4, 4))
    expected = model(*inputs)

    def same(got: Any) -> None:
        for a, b in zip(got, expected, strict=True):
            torch.testing.assert_close(a, b)

    same(torch.fx.symbolic_trace(model)(*inputs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice
        same(torch.jit.script(model)(*inputs))
    same(torch.export.export(model, inputs).module()(*inputs))
    same(torch.compile(model, fullgraph=True, backend="eager")(*inputs))


def test_random_numbers_are_drawn_at_every_call_never_kept() -> None:
    source = ("network R(n=3)(x: [B, 3]):\n    noise = ones(n) -> randn_like\n"
              "    x + noise + (ones(n) -> zeros_like)\n")
    program, model = built(source, "R")
    buffers = dict(model.named_buffers())  # ones(n), and zeros_like of it: no random numbers
    assert [tuple(b.shape) for b in buffers.values()] == [(3,), (3,)]
    assert all(torch.equal(b, torch.ones(3)) or torch.equal(b, torch.zeros(3))
               for b in buffers.values())
    data = to_json("f", program, [], [])["networks"][0]
    assert data["buffer_bytes"] == sum(b.numel() * b.element_size() for b in buffers.values())
    x = torch.zeros(2, 3)
    assert not torch.equal(model(x), model(x))


CALLS = ["arange(T)", 'arange(T, dtype="float")', "arange(1, T, step=2)", "arange(1, T, 3)",
         "ones(T, 2)", 'zeros((2, T), dtype="long")', "full((T, 1), true)", "full((T,), 2)",
         "full((T, T), 0.5)", "eye(T)", 'eye(T, 3, dtype="bool")']


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("known", [False, True])
def test_the_built_module_makes_what_check_says(call: str, known: bool) -> None:
    """Each creation, with a run-time size (made in forward) and a known one (a buffer)."""
    header = "network N(T=4)(x: [B, 4])" if known else "network N(x: [B, T])"
    source = f"{header}:\n    {call}\n"
    _, model = built(source, "N")
    known_source = f"network N(T=4)(x: [B, 4]):\n    {call}\n"  # T = 4 at run time below
    tt = netdsl.check_source(known_source).network("N").outputs[0]
    made = model(torch.zeros(2, 4))
    assert DTYPES[tt.dtype] == made.dtype
    assert tuple(made.shape) == tuple(tt.shape)
    assert len(list(model.buffers())) == known

