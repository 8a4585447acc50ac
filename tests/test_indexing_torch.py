"""Indexing (v2): slices with symbolic bounds and integer-tensor indices, held to torch.

A random tensor type and index are checked by netdsl, with the sequence dimension symbolic
(`T`) or known; torch then indexes a tensor of that shape (T given a value) and the shapes
must agree. Generated code is run on the same inputs.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import netdsl
from netdsl.cost import at_sizes
from netdsl.errors import NetDSLError


def checked_shape(index: str, symbolic: bool, t: int) -> tuple[int, ...]:
    """netdsl's shape of x[index] for x: [B, T, 6], evaluated at B = 2, T = t."""
    size = "T" if symbolic else str(t)
    source = (f"network N(x: [B, {size}, 6]):\n"
              f"    x[{index}]\n")
    tt = netdsl.check_source(source).network("N").outputs[0]
    if any("len(" in str(d) for d in tt.shape):  # a length netdsl says it cannot know
        return ()
    return tuple(int(at_sizes(d, {"B": 2, "T": t})) for d in tt.shape)


def torch_shape(index: str, t: int) -> tuple[int, ...]:
    # the same index text, as Python reads it, with netdsl's names: T, and `none` for None
    names = {"x": torch.zeros(2, t, 6), "T": t, "none": None}
    return tuple(eval(f"x[{index}]", names).shape)


BOUNDS = st.one_of(st.none(), st.integers(-5, 5))


@settings(max_examples=150, deadline=None)
@given(lower=BOUNDS, upper=BOUNDS, t=st.integers(6, 12), symbolic=st.booleans())
def test_slices_agree_with_torch(lower: int | None, upper: int | None, t: int,
                                 symbolic: bool) -> None:
    text = f":, {'' if lower is None else lower}:{'' if upper is None else upper}"
    expected = torch_shape(text, t)
    if 0 in expected and not symbolic:
        with pytest.raises(NetDSLError):  # an empty slice is always a mistake
            checked_shape(text, symbolic, t)
        return
    if 0 in expected:  # empty at this size: netdsl refuses, or its formula gives <= 0 here
        try:
            got = checked_shape(text, symbolic, t)
        except NetDSLError:
            return
        assert got == () or min(got) <= 0
        return
    got = checked_shape(text, symbolic, t)
    assert got in (expected, ()) and (got or symbolic)


@pytest.mark.parametrize("index", [":, :T", ":, :T - 1", ":, 1:", ":, 1:T", "..., 0", ":, 0",
                                   ":, -1", ":, -3:", "none, :, 2:T", ":, T - 4:T - 1"])
def test_symbolic_bounds(index: str) -> None:
    for t in (5, 9):
        assert checked_shape(index, True, t) == torch_shape(index, t)


@pytest.mark.parametrize(("table", "index"), [((13, 3), (2, 5)), ((169, 4), (49 * 49,)),
                                              ((10, 2, 3), (4,))])
def test_an_integer_tensor_index_takes_its_shape(table: tuple[int, ...],
                                                 index: tuple[int, ...]) -> None:
    dims = ", ".join(map(str, table))
    idims = ", ".join(map(str, index))
    source = (f"network N(table: [{dims}], index: long[{idims}]):\n"
              f"    table[index]\n")
    got = netdsl.check_source(source).network("N").outputs[0]
    expected = torch.zeros(table)[torch.zeros(index, dtype=torch.long)].shape
    assert tuple(got.shape) == tuple(expected)
    program = netdsl.check_source(source)
    model = netdsl.build(program, "N")()
    out = model(torch.randn(table), torch.randint(0, table[0], index))
    assert tuple(out.shape) == tuple(expected)


def test_a_bool_mask_index_is_refused_with_what_to_write() -> None:
    with pytest.raises(NetDSLError) as info:
        netdsl.check_source("network N(x: [B, 4], m: bool[B, 4]):\n    x[m]\n")
    assert "run time" in str(info.value) and "masked_fill" in str(info.value)


def test_generated_slices_with_symbolic_bounds_run() -> None:
    source = ("network N(n=16)(x: [B, T, 8]):\n"
              "    mask = x[0, :, :1] -> flatten(0)\n"
              "    (x[:, :T - 1], x[:, 1:], mask[:T])\n")
    program = netdsl.check_source(source)
    model = netdsl.build(program, "N")()
    for t in (3, 7):
        outs = model(torch.randn(2, t, 8))
        assert [tuple(o.shape) for o in outs] == [(2, t - 1, 8), (2, t - 1, 8), (t,)]
    torch.jit.script(model)
    torch.fx.symbolic_trace(model)


def test_upsample_to_another_tensors_symbolic_size() -> None:
    """A size-generic segmentation head: the sizes are only known at run time, so the
    generated forward interpolates with them (no module can hold them)."""
    source = ("network Seg(x: [B, 3, H, W]):\n"
              "    y = x -> conv(8, 3, stride=4, padding=1) -> relu\n"
              "    y -> upsample(size=(H, W), mode=\"bilinear\") -> conv(2, 1)\n")
    program = netdsl.check_source(source)
    assert [str(tt) for tt in program.network("Seg").outputs] == ["[B, 2, H, W]"]
    assert "F.interpolate(y, size=(H, W), mode=\"bilinear\")" in netdsl.to_pytorch(program)
    model = netdsl.build(program, "Seg")().eval()
    for h, w in ((32, 48), (17, 9)):
        x = torch.randn(2, 3, h, w)
        assert tuple(model(x).shape) == (2, 2, h, w)
    x = torch.randn(1, 3, 20, 28)
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(torch.fx.symbolic_trace(model)(x), expected)
        torch.testing.assert_close(torch.jit.script(model)(x), expected)
        torch.testing.assert_close(torch.export.export(model, (x,)).module()(x), expected)
        compiled = torch.compile(model, fullgraph=True, backend="eager")
        torch.testing.assert_close(compiled(x), expected)
    torch._dynamo.reset()
