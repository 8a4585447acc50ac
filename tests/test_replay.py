"""A replayed block use (netdsl/check/replay.py) makes exactly what checking it again makes:
the same nodes, edges, frames, derivations of sizes, messages and generated output."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, example_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netdsl
from netdsl import budget
from netdsl.check import Checker, Frame, SiteRecord, flat_tensors
from netdsl.check.replay import Replays
from netdsl.values import BlockValue, LayerValue, Node, Tensor, Why, explain

GENERIC = Path(__file__).resolve().parent / "generic"


class Snapshot:
    """Everything a check leaves for the backends and for later messages, with identities
    (nodes, frames, syntax sites) numbered in the order they are met, so that two checks
    of the same text compare equal exactly when they built the same structure."""

    def __init__(self) -> None:
        self.numbers: dict[int, int] = {}

    def number(self, obj: Any) -> int:
        return self.numbers.setdefault(id(obj), len(self.numbers))

    def why(self, why: Why | None) -> Any:
        return None if why is None else (self.number(why), explain(why, limit=100))

    def tensor(self, t: Tensor) -> Any:
        return (str(t.tt), repr(t.tt.shape), t.index,
                None if t.producer is None else t.producer.id,
                tuple(self.why(w) for w in t.whys))

    def value(self, value: Any) -> Any:
        if isinstance(value, Tensor):
            return ("tensor", self.tensor(value))
        if isinstance(value, tuple):
            return (type(value).__name__, tuple(self.value(v) for v in value))
        if isinstance(value, Node):
            return ("node", value.id)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, LayerValue):  # configured layers and blocks, by what they say
            return ("layer", value.spec.name if value.spec else None, repr(value.args),
                    sorted(value.given), value.label, str(value.pos), value.torch_cls,
                    repr(value.torch_args), value.shared, sorted(map(repr, value.arg_refs)),
                    sorted(map(repr, value.flag_refs)))
        if isinstance(value, BlockValue):
            return ("block", value.definition.name, repr(value.hyper), sorted(value.given),
                    value.label, str(value.pos), value.shared, repr(value.hyper_deps))
        text = repr(value)
        if " at 0x" in text:  # no text of its own: by identity
            return ("object", type(value).__name__, self.number(value))
        return (type(value).__name__, text)

    def node(self, node: Node) -> Any:
        return (node.id, node.kind, node.op, node.name, node.label, node.torch, str(node.pos),
                [self.tensor(t) for t in node.inputs], [repr(tt.shape) for tt in node.outputs],
                node.params, [b.id for b in node.scope], self.value(node.meta))

    def frame(self, frame: Frame) -> Any:
        caller = frame.caller
        return {
            "frame": self.number(frame), "prefix": frame.prefix, "call": str(frame.call_pos),
            "caller": None if caller is None else self.number(caller),
            "scope": [b.id for b in frame.scope],
            "env": {k: self.value(v) for k, v in frame.env.items()},
            "kinds": frame.kinds, "mapping": repr(frame.mapping),
            "locals": repr(frame.local_exprs), "deps": repr((frame.hyper_deps,
                                                            frame.local_deps)),
            "control": repr(frame.control),
            "sites": [(self.number_site(key), rec.kind, self.value(rec.value), rec.node.id,
                       repr(dict(rec.inferred)), rec.cls,
                       None if rec.frame is None else self.number(rec.frame), rec.index,
                       rec.loop)
                      for key, rec in zip(frame.site_ids, frame.site_records, strict=True)],
            "branches": [(self.number_site(k), v) for k, v in frame.branches.items()],
            "loops": [(self.number_site(k), v) for k, v in frame.loops.items()],
            "loop_reads": sorted(frame.loop_reads), "bound": repr(frame.bound),
            "inputs": [self.tensor(t) for t in frame.inputs],
            "output": self.value(frame.output), "returned": frame.returned,
        }

    def number_site(self, key: int) -> int:  # an id(syntax node) taken by the frame
        return self.numbers.setdefault(key, len(self.numbers))

    def program(self, program: Any) -> dict[str, Any]:
        checker: Checker = program.checker
        return {
            "nodes": [[self.node(node) for node in net.nodes] for net in program.networks],
            "outputs": [[self.value(t) for t in flat_tensors(net.frame.output)]
                        for net in program.networks],
            "uses": {name: [self.frame(f) for f in frames]
                     for name, frames in checker.uses.items()},
            "warnings": [w.render(program.sources) for w in program.warnings],
            "pytorch": netdsl.to_pytorch(program),
            "dot": netdsl.to_dot(program), "collapsed": netdsl.to_dot(program, collapse=True),
        }


def checked(text: str, name: str, replaying: bool, monkeypatch: pytest.MonkeyPatch,
            inputs: dict[str, list[Any]] | None) -> Any:
    """The program, or the rendered errors."""
    monkeypatch.setattr(Replays, "replaying", replaying)
    try:
        return netdsl.check_source(text, name, inputs)
    except netdsl.NetDSLError as err:
        return err.render()


def compare(text: str, name: str, monkeypatch: pytest.MonkeyPatch,
            inputs: dict[str, list[Any]] | None = None) -> Any:
    """('error', text) or ('ok', snapshot, how many uses were copies), the same either way.
    Whether both checks succeed is compared before anything is generated from either."""
    with_copies = checked(text, name, True, monkeypatch, inputs)
    without = checked(text, name, False, monkeypatch, inputs)
    if isinstance(with_copies, str) or isinstance(without, str):
        assert with_copies == without
        return ("error", with_copies)
    copies = sum(len(frames) for frames in with_copies.checker.uses.values()) - len(
        with_copies.checker.recordings)
    snapshot = Snapshot().program(with_copies)
    assert snapshot == Snapshot().program(without)
    return ("ok", snapshot, copies)


@pytest.mark.parametrize("path", example_files() + sorted(GENERIC.glob("*.net")),
                         ids=lambda p: p.name)
def test_a_replayed_use_is_what_checking_it_again_makes(
        path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compare(path.read_text(), str(path), monkeypatch)


def test_a_copy_fills_every_field_of_a_frame_and_a_node() -> None:
    """replay.py copies a frame and a node field by field: a field added to either must be
    copied there too (and then listed here)."""
    assert [f.name for f in dataclasses.fields(Frame)] == [
        "definition", "prefix", "scope", "caller_ref", "call_pos", "speculative", "env",
        "kinds", "mapping", "local_exprs", "hyper_deps", "local_deps", "control", "site_ids",
        "site_records", "_sites", "branches", "loops", "loop", "loop_reads", "bound", "inputs",
        "output", "returned", "overrides"]
    assert [f.name for f in dataclasses.fields(Node)] == [
        "id", "kind", "op", "name", "label", "torch_source", "pos", "inputs", "outputs",
        "params", "scope", "meta"]
    assert [f.name for f in dataclasses.fields(Tensor)] == ["tt", "whys", "producer", "index"]
    assert [f.name for f in dataclasses.fields(SiteRecord)] == [
        "kind", "value", "node", "inferred", "cls", "frame", "index", "loop"]


def test_resnet152_checks_each_distinct_use_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """50 Bottleneck uses, of 8 distinct hyperparameters and input shapes: 42 are copies."""
    monkeypatch.setattr(Replays, "replaying", True)
    program = netdsl.check_file(EXAMPLES / "resnet152.net")
    assert len(program.checker.uses["Bottleneck"]) == 50
    assert len(program.checker.recordings) == 8
    assert program.networks[0].params == 60_192_808  # torchvision's resnet152


TRICKY = """\
block Pair(x: [B, C]):
    y = x -> linear(C)
    (x + y) -> relu

block Two(a: [B, C], b: [B, D]):
    (a -> linear(D), b) -> cat(dim=1)

block Sum(a: [B, C], b: [B, C]):
    y = (a, b) -> cat(dim=1) -> linear(C)
    a + b + y

block Seq(x: [B, T, F]):
    out, _ = x -> lstm(F)
    out -> linear(F)

block Outer(width)(x: [B, C]):
    x -> Pair -> Pair -> linear(width) -> Pair

block Branchy(k=1)(x: [B, C]):
    if k > 1:
        x = x -> linear(C * k) -> linear(C)
    x -> relu

block Looped(n)(x: [B, C]):
    for i in range(n):
        x = x -> linear(C + i) -> linear(C)
    x

block Learned(x: [B, C]):
    x + parameter(1, C)

block Bound(x: [B, C]):
    f = linear(C)
    x -> f -> f

network Net(x: [B, 8], s: [B, 5, 8], t: [5, B, 8]):
    x = x -> Pair * 3 -> Outer(8) * 2 -> Branchy -> Branchy(2) -> Branchy(2)
    x = x -> Looped(2) * 2 -> Learned * 2 -> Bound * 2
    z = x -> linear(8)
    x = ((x, x -> relu) -> Sum) + ((x, z) -> Sum) + ((x, x) -> Sum) + ((z, z) -> Sum)
    x = (x, x) -> Two
    x = (x, x -> linear(4)) -> Two
    x = (x, x -> linear(4)) -> Two
    (x, s -> Seq, t -> Seq)
"""


def test_aliases_batches_branches_loops_and_shared_weights(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Inputs passed twice, nested uses, branches, loops, learnable tensors, a block holding
    shared weights (never copied) and one whose first use warns (never recorded)."""
    result = compare(TRICKY, "tricky.net", monkeypatch)
    assert result[0] == "ok", result
    assert result[2] > 10  # most of these uses are copies
    warnings = "\n".join(result[1]["warnings"])
    assert warnings.count("lstm reads dimension 0") == 1, warnings  # s's batch, not t's


def test_a_use_over_the_batch_is_no_copy_of_one_over_a_number(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """s and t are both [4, 5, 8] once --input gives the batch B of s as 4, but only s's first
    dimension is the batch, which lstm without batch_first mixes: checked after t's, its use
    of Seq must warn, not copy t's use, which did not."""
    text = ("block Seq(x: [N, T, F]):\n    out, _ = x -> lstm(F)\n    out\n\n"
            "network Net(t: [4, 5, 8], s: [B, 5, 8]):\n    (t -> Seq, s -> Seq)\n")
    result = compare(text, "batch.net", monkeypatch, {"s": [4, 5, 8]})
    assert result[0] == "ok", result
    [warning] = result[1]["warnings"]
    assert "dimension 0 of [4, 5, 8] is the batch" in warning and ":6:21" in warning, warning


def test_what_a_key_tells_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """Uses equal in sizes that a copy would still get wrong: two outputs of one layer passed
    where two layers' were, or another output of a layer (a tensor rebound in a branch keeps
    its producer and its place among the producer's outputs), another dtype, the same
    hyperparameter value under another condition, and the same block nested deeper or inside
    other blocks."""
    text = """\
block Pick(k=2)(a: [L, N, H], b: [L, N, H]):
    if k > 1:
        a = a
        b = b
    (a, b) -> cat(dim=2)

block Scale(w)(x: [B, C]):
    x -> linear(w)

block Twice(x: [B, C]):
    x * 2

network Net(deep=true)(s: [5, B, 8], t: [5, B, 8], u: [5, B, 8], x: [B, 8], i: long[B, 8]):
    out, (h, c) = s -> lstm(8)
    out2, (h2, c2) = t -> lstm(8)
    out3, (h3, c3) = u -> lstm(8)
    p = (h, c) -> Pick
    q = (h2, c3) -> Pick
    r = (h, h2) -> Pick
    v = (h3, c2) -> Pick
    y = x -> Scale(8)
    if deep:
        y = y -> Scale(8)
    (out, out2, out3, p, q, r, v, y, x -> Twice, i -> Twice)
"""
    result = compare(text, "keys.net", monkeypatch)
    assert result[0] == "ok", result
    deep = "".join(f"block C{i}(x: [B, 4]):\n    x -> C{i - 1}\n\n" for i in range(1, 33))
    deep = "block C0(x: [B, 4]):\n    x -> relu\n\n" + deep
    result = compare(deep + "network Net(x: [B, 4]):\n    x -> C2 -> C32\n", "deep.net",
                     monkeypatch)
    assert result[0] == "error" and "which would never end" in result[1], result
    # Bb is used inside Xx, then inside Cc at the same depth: there it uses Cc, which is
    # running, an error a copy of the first use would not see (found by a review)
    loop = ("block Bb(x: [N, K]):\n    x -> Cc(0)\n\n"
            "block Cc(k=0)(x: [N, D]):\n    if k > 0:\n        x = x -> Bb\n    x -> relu\n\n"
            "block Xx(x: [N, D]):\n    x -> Bb\n\n"
            "network Net(x: [N, 4]):\n    x -> Xx -> Cc(1)\n")
    result = compare(loop, "loop.net", monkeypatch)
    assert result[0] == "error" and "block Cc uses itself" in result[1], result


def test_a_use_inside_a_shared_block_applied_again_is_not_copied(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`o` shares its weights, so its second application counts no parameters: the use of
    Inner recorded inside it has its layers' counts set to 0 afterwards, and the later
    unshared use of Outer must count them again, not copy the zeros."""
    text = ("block Inner(x):\n    x -> linear(4)\n\n"
            "block Outer(n)(x):\n    x -> Inner -> linear(n)\n\n"
            "network Net(a: [B, 4], b: [B, 3, 4]):\n"
            "    o = Outer(4)\n"
            "    (a -> o, b -> o, b -> Outer(4))\n")
    result = compare(text, "shared.net", monkeypatch)
    assert result[0] == "ok", result
    monkeypatch.setattr(Replays, "replaying", True)
    assert netdsl.check_source(text, "shared.net").networks[0].params == 2 * 2 * (4 * 4 + 4)


@pytest.mark.parametrize("mistake", [
    "-> flatten : [B, 3]",  # the derivation of a size after copied uses
    "-> linear(8) : [B, 9]",
    "-> Pair * 3 -> linear(8) : [B, 7]",
])
def test_messages_after_copied_uses_explain_sizes_alike(
        mistake: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = ("block Pair(x: [B, C, H, W]):\n"
            "    y = x -> conv(C, 3, padding=1) -> batchnorm -> relu\n"
            "    (x + y) -> maxpool(1)\n\n"
            "network Net(x: [B, 3, 32, 32]):\n"
            f"    x -> conv(8, 3) -> Pair * 4 -> adaptive_avgpool(1) -> flatten {mistake}\n")
    result = compare(text, "mistake.net", monkeypatch)
    assert result[0] == "error"


def test_the_node_budget_stops_a_copy_where_it_stops_a_check(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "MAX_NODES", 500)
    text = ("block Pair(x: [B, 4]):\n    x -> relu -> relu\n\n"
            "block Quad(x: [B, 4]):\n    x -> Pair -> Pair\n\n"
            "network Net(x: [B, 4]):\n    x -> Quad * 200\n")
    result = compare(text, "budget.net", monkeypatch)
    assert result[0] == "error" and "more than 500 layers" in result[1], result
    assert "in block Quad used at" in result[1]


MUTABLE = ["resnet18.net", "resnet50.net", "mobilenet_v2.net", "densenet_for.net",
           "convnext_tiny.net", "unet.net", "inception.net", "vit_b_16.net"]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(MUTABLE), where=st.integers(0, 10_000),
       number=st.sampled_from([0, 1, 2, 3, 4, 7, 8, 16, 63, 64, 255, 256, 1000, 1024]))
def test_a_changed_number_is_reported_alike(name: str, where: int, number: int,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Any number of an example changed: whatever the check says, copied uses say it too."""
    text = (EXAMPLES / name).read_text()
    numbers = list(re.finditer(r"\b\d+\b", text))
    found = numbers[where % len(numbers)]
    compare(text[:found.start()] + str(number) + text[found.end():], name, monkeypatch)
