"""Indices check knows (a created `arange`) index an embedding only where torch lets them:
check refuses exactly the programs whose forward torch refuses."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import netdsl


@settings(max_examples=60, deadline=None)
@given(start=st.integers(0, 6), end=st.integers(1, 12), step=st.integers(1, 3),
       rows=st.integers(1, 10))
def test_arange_into_embedding(start: int, end: int, step: int, rows: int) -> None:
    if not range(start, end, step):
        return  # an empty index tensor: nothing to look up
    source = (f"network N(x: [B, 4]):\n"
              f"    pos = arange({start}, {end}, step={step}) -> embedding({rows}, 4)\n"
              f"    x + (pos -> sum(dim=0))\n")
    table = torch.nn.Embedding(rows, 4)
    try:
        table(torch.arange(start, end, step))
        torch_runs = True
    except IndexError:
        torch_runs = False
    try:
        netdsl.check_source(source)
        check_accepts = True
    except netdsl.NetDSLError as err:
        check_accepts = False
        assert "num_embeddings" in str(err)
    if check_accepts != torch_runs:
        raise AssertionError(f"{source}check accepts: {check_accepts}, torch runs: {torch_runs}")


def test_a_symbolic_length_is_checked_once_input_gives_it() -> None:
    source = ("network N(x: [B, T, 4]):\n    pos = arange(T) -> embedding(16, 4)\n"
              "    x + pos\n")
    netdsl.check_source(source)  # T unknown: torch decides at run time
    netdsl.check_source(source, inputs={"x": [2, 16, 4]})
    try:
        netdsl.check_source(source, inputs={"x": [2, 17, 4]})
    except netdsl.NetDSLError as err:
        assert "go up to 16" in str(err)
    else:
        raise AssertionError("T=17 indexes past 16 rows")
