"""Honest constructors: for hyperparameter values `check` accepts, the generated class built
with those values is the network `check` describes for them (the same parameter count and
output shapes). Each case draws values, checks the source with them written in as the
defaults, and builds the class generated from the unchanged source with them."""

from __future__ import annotations

import inspect
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import example_files
from differential import with_defaults
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_examples import concrete, make_inputs

import netdsl

GENERIC = Path(__file__).resolve().parent / "generic"
CASES = sorted(GENERIC.glob("*.net")) + example_files()


@cache
def compiled(path: Path) -> tuple[Any, dict[str, type]]:
    program = netdsl.check_file(path)
    classes = {net.definition.name: netdsl.build(program, net.definition.name)
               for net in program.networks}
    return program, classes


def strategy_for(default: Any) -> st.SearchStrategy[Any] | None:
    if isinstance(default, bool):
        return st.booleans()
    if isinstance(default, int):
        low = max(1, default // 2)
        return st.integers(low, max(low + 2, default * 2))
    return None  # strings and floats are passed through, not varied here


NETWORK_CASES = []
for path in CASES:
    program = netdsl.check_file(path)
    for net in program.networks:
        d = net.definition
        defaults = {name: value for name, value in net.frame.mapping.items()}
        varied = {p.name: strategy_for(net.frame.env[p.name]) for p in d.hyperparams}
        varied = {k: v for k, v in varied.items() if v is not None}
        if varied:
            NETWORK_CASES.append((path, d.name))


def total_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("path", "name"), NETWORK_CASES,
                         ids=[f"{p.stem}-{n}" for p, n in NETWORK_CASES])
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_generated_class_honours_every_hyperparameter(path: Path, name: str, data: Any) -> None:
    program, classes = compiled(path)
    net = program.network(name)
    d = net.definition
    cls = classes[name]
    offered = set(inspect.signature(cls.__init__).parameters) - {"self"}
    strategies = {p.name: strategy_for(net.frame.env[p.name]) for p in d.hyperparams
                  if p.name in offered}  # a specialised class does not offer some
    values = {k: data.draw(s, label=k) for k, s in strategies.items() if s is not None}
    text = path.read_text()
    try:
        expected = netdsl.check_source(with_defaults(text, d, values), str(path)).network(name)
    except netdsl.NetDSLError:
        assume(False)  # values `check` rejects promise nothing
        return
    with torch.device("meta"):  # shapes and counts only: nothing is computed
        model = cls(**values).eval()
        inputs = [t.to("meta") for t in make_inputs(expected)]
    assert total_params(model) == expected.params, values
    with torch.no_grad():
        out = model(*inputs)
    outputs = out if isinstance(out, tuple) else (out,)
    assert [tuple(o.shape) for o in outputs] == [concrete(tt.shape) for tt in expected.outputs]


def test_a_hyperparameter_no_expression_follows_is_not_offered() -> None:
    """bidirectional decides the LSTM's output width in a way no size expression follows:
    the class is specialised for it (not offered, and the docstring says so), while the
    widths that are expressions stay constructor arguments."""
    _, classes = compiled(GENERIC / "recurrent_width.net")
    cls = classes["TextClassifier"]
    offered = set(inspect.signature(cls.__init__).parameters) - {"self"}
    assert offered == {"vocab", "embed", "hidden", "classes"}
    assert "Specialised for bidirectional=True" in (cls.__doc__ or "")
