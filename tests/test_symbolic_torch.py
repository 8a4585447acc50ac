"""Sizes `check` prints for a symbolic length are formulas whose value, at every length, is
the size torch gives: step slices and ceil_mode pooling, against torch with hypothesis."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import netdsl


def formula_at(source: str, length: int) -> list[int]:
    """The output shape `check` prints, with T set to `length` in its formula."""
    out = netdsl.check_source(source).networks[0].outputs[0]
    return [d if isinstance(d, int) else eval(str(d), {"__builtins__": {}}, {"T": length, "B": 2})
            for d in out.shape]


@settings(max_examples=60, deadline=None)
@given(start=st.one_of(st.none(), st.integers(0, 3)), step=st.integers(1, 4),
       length=st.integers(4, 40))
def test_step_slice_of_a_symbolic_length(start: int | None, step: int, length: int) -> None:
    lower = "" if start is None else str(start)
    source = f"network N(x: [B, 4, T]):\n    x[:, :, {lower}::{step}]\n"
    want = list(torch.zeros(2, 4, length)[:, :, start::step].shape)
    got = formula_at(source, length)
    assert got[1:] == want[1:]


@settings(max_examples=80, deadline=None)
@given(kernel=st.integers(1, 4), stride=st.integers(1, 4), padding=st.integers(0, 2),
       length=st.integers(6, 40), pool=st.sampled_from(["maxpool", "avgpool"]))
def test_ceil_mode_pooling_of_a_symbolic_length(kernel: int, stride: int, padding: int,
                                                length: int, pool: str) -> None:
    if padding * 2 > kernel:
        return  # torch refuses padding over half the window
    source = (f"network N(x: [B, 3, T]):\n    x -> {pool}({kernel}, stride={stride}, "
              f"padding={padding}, ceil_mode=true)\n")
    layer = (torch.nn.MaxPool1d if pool == "maxpool" else torch.nn.AvgPool1d)(
        kernel, stride=stride, padding=padding, ceil_mode=True)
    want = list(layer(torch.zeros(2, 3, length)).shape)
    try:
        got = formula_at(source, length)
    except netdsl.NetDSLError as err:
        # refused only where the size is no formula: a last window may start in the padding
        assert stride > kernel - padding, str(err)
        assert "ceil_mode=true on the symbolic" in str(err)
        return
    assert got == want


def test_ceil_mode_refusal_says_what_to_do() -> None:
    with pytest.raises(netdsl.NetDSLError) as err:
        netdsl.check_source("network N(x: [B, 3, T]):\n    x -> maxpool(1, stride=2, "
                            "ceil_mode=true)\n")
    assert "fix: give the size a value (--input), or use ceil_mode=false" in str(err.value)


@settings(max_examples=40, deadline=None)
@given(per=st.integers(1, 4), chunks=st.integers(2, 4), length=st.integers(1, 12))
def test_chunk_of_a_symbolic_size_that_divides_evenly(per: int, chunks: int,
                                                      length: int) -> None:
    width = per * chunks  # the flattened size width*T divides into `chunks` for every T
    names = ", ".join(f"p{i}" for i in range(chunks))
    source = (f"network N(x: [B, T, {width}]):\n    {names} = x -> flatten -> "
              f"chunk({chunks}, dim=1)\n    p0\n")
    want = list(torch.zeros(2, length, width).flatten(1).chunk(chunks, dim=1)[0].shape)
    assert formula_at(source, length) == want
