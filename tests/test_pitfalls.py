"""Warnings for programs that check and run but do not compute what they seem to; each
pitfall is shown real by running the generated module in torch."""

from __future__ import annotations

import torch

import netdsl


def warnings_of(source: str, **inputs: list[object]) -> list[netdsl.Diagnostic]:
    return netdsl.check_source(source, "t.net", inputs or None).warnings


def run(source: str, *tensors: torch.Tensor) -> torch.Tensor:
    module = netdsl.build(netdsl.check_source(source, "t.net"), "N")()
    with torch.no_grad():
        out = module(*tensors)
    return out[0] if isinstance(out, tuple) else out


RECURRENT = "network N(x: [B, 10, 16]):\n    x -> {layer}\n"


def test_recurrent_layer_without_batch_first_on_a_batch_first_input() -> None:
    for kind in ("lstm", "gru", "rnn"):
        found = warnings_of(RECURRENT.format(layer=f"{kind}(32)"))
        assert [(w.line, w.column) for w in found] == [(2, 10)]
        assert found[0].message.startswith(f"{kind} reads dimension 0 of its input as time")
        assert found[0].fix == f"add batch_first=true to {kind}"
        assert warnings_of(RECURRENT.format(layer=f"{kind}(32, batch_first=true)")) == []


def test_the_batch_given_by_input_still_counts_as_the_batch() -> None:
    found = warnings_of(RECURRENT.format(layer="lstm(32)"), x=[4, 10, 16])
    assert [w.line for w in found] == [2]


def test_no_recurrent_warning_when_time_comes_first() -> None:
    assert warnings_of("network N(x: [T, B, 16]):\n    x -> lstm(32)\n") == []


def test_without_batch_first_the_samples_of_a_batch_are_mixed() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 10, 16)
    changed = x.clone()
    changed[0] += 1.0  # only the first sample
    for layer, mixed in (("lstm(32)", True), ("lstm(32, batch_first=true)", False)):
        torch.manual_seed(1)
        before = run(RECURRENT.format(layer=layer), x)
        torch.manual_seed(1)
        after = run(RECURRENT.format(layer=layer), changed)
        assert before.shape == (4, 10, 32)  # the same shape either way: nothing fails
        # the last sample's output depends on the first sample only when they are mixed
        assert (not torch.equal(before[3], after[3])) is mixed


def test_linear_on_a_rank_4_input() -> None:
    source = "network N(x: [B, 3, 8, 8]):\n    x -> linear(10)\n"
    found = warnings_of(source)
    assert [(w.line, w.column) for w in found] == [(2, 10)]
    assert "a flatten before it may be missing" in found[0].message
    torch.manual_seed(0)
    out = run(source, torch.randn(2, 3, 8, 8))
    assert out.shape == (2, 3, 8, 10)  # torch keeps the image: no [B, 10] of class scores
    assert warnings_of("network N(x: [B, 3, 8, 8]):\n    x -> flatten -> linear(10)\n") == []


def test_linear_on_channels_last_is_no_pitfall() -> None:
    """ConvNeXt's and Swin's MLPs apply linear to [N, H, W, C] on purpose."""
    for source in ("network N(x: [B, 8, 8, 96]):\n    x -> linear(10)\n",
                   "network N(x: [B, 3, 8, 8]):\n    x -> permute(0, 2, 3, 1) -> linear(10)\n"):
        assert not netdsl.check_source(source).warnings


IN_PLACE = ("network N(x: [B, 8]):\n    h = x -> tanh\n    y = h -> relu(inplace=true)\n"
            "    h + y\n")


def test_in_place_layer_whose_input_is_used_again() -> None:
    found = warnings_of(IN_PLACE)
    assert [(w.line, w.column) for w in found] == [(3, 14)]
    assert found[0].message.startswith("relu(inplace=true) overwrites 'h' in place, and 'h' "
                                       "is used again at 4:5")
    torch.manual_seed(0)
    x = torch.randn(5, 8)
    out = run(IN_PLACE, x)
    h = torch.tanh(x)
    assert torch.equal(out, 2 * torch.relu(h))  # what it computes
    assert not torch.allclose(out, h + torch.relu(h))  # what it seems to


def test_no_in_place_warning_without_a_later_use() -> None:
    assert warnings_of("network N(x: [B, 8]):\n    h = x -> tanh\n"
                       "    h -> relu(inplace=true)\n") == []
    assert warnings_of("network N(x: [B, 8]):\n    x -> tanh -> relu(inplace=true)\n") == []
    assert warnings_of("network N(x: [B, 8]):\n    h = x -> tanh\n    y = h -> relu\n"
                       "    h + y\n") == []
