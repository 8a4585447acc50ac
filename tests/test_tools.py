"""Generated modules work with PyTorch's tools, as torchvision's models do: torch.fx,
TorchScript, torch.export and torch.compile accept every example, and a generated module
trains under DistributedDataParallel with the gradients of single-process training.

Documented exceptions (docs/language.md, "Generated PyTorch code"): torch.compile with
fullgraph=True cannot trace nn.LSTM / nn.GRU / nn.RNN themselves (a torch limitation that a
hand-written module meets too), so those networks are compiled without fullgraph."""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import EXAMPLES, example_files
from test_examples import make_inputs
from torch import nn

import netdsl

RECURRENT = (nn.LSTM, nn.GRU, nn.RNN)

NETWORKS = [(path, net.definition.name) for path in example_files()
            for net in netdsl.check_file(path).networks]
IDS = [f"{p.stem}-{n}" for p, n in NETWORKS]


def built(path: Path, name: str) -> tuple[nn.Module, list[torch.Tensor]]:
    program = netdsl.check_file(path)
    torch.manual_seed(0)
    model = netdsl.build(program, name)().eval()
    return model, make_inputs(program.network(name))


def seeded(fn: object, inputs: list[torch.Tensor]) -> object:
    """fn(*inputs) from the same random state: a network that samples (randn_like) draws the
    same numbers under each tool."""
    torch.manual_seed(0)
    return fn(*inputs)  # type: ignore[operator]


def same(a: object, b: object) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor)
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    else:
        assert isinstance(a, (tuple, list)) and isinstance(b, (tuple, list))
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same(x, y)


@pytest.mark.parametrize(("path", "name"), NETWORKS, ids=IDS)
def test_fx_symbolic_trace(path: Path, name: str) -> None:
    model, inputs = built(path, name)
    traced = torch.fx.symbolic_trace(model)
    with torch.no_grad():
        same(seeded(traced, inputs), seeded(model, inputs))


@pytest.mark.parametrize(("path", "name"), NETWORKS, ids=IDS)
def test_torchscript(path: Path, name: str) -> None:
    model, inputs = built(path, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice
        scripted = torch.jit.script(model)
    with torch.no_grad():
        same(seeded(scripted, inputs), seeded(model, inputs))


# torch.export warns about nn.LSTM's own `_flat_weights` for any module holding an LSTM,
# a hand-written one as much as a generated one: PyTorch's business, not the code's
@pytest.mark.filterwarnings("ignore:The tensor attributes self.*_flat_weights:UserWarning")
@pytest.mark.parametrize(("path", "name"), NETWORKS, ids=IDS)
def test_torch_export(path: Path, name: str) -> None:
    model, inputs = built(path, name)
    exported = torch.export.export(model, tuple(inputs))
    with torch.no_grad():
        same(seeded(exported.module(), inputs), seeded(model, inputs))


@pytest.mark.parametrize(("path", "name"), NETWORKS, ids=IDS)
def test_torch_compile(path: Path, name: str) -> None:
    model, inputs = built(path, name)
    fullgraph = not any(isinstance(m, RECURRENT) for m in model.modules())
    compiled = torch.compile(model, fullgraph=fullgraph, backend="eager")
    with torch.no_grad():
        same(seeded(compiled, inputs), seeded(model, inputs))
    torch._dynamo.reset()


# ---------------------------------------------------------------- DistributedDataParallel


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ddp_worker(rank: int, world: int, port: int, source: str, name: str, batch: list,
                out_dir: str) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        program = netdsl.check_source(source, "ddp.net")
        torch.manual_seed(0)
        model = netdsl.build(program, name)()
        ddp = nn.parallel.DistributedDataParallel(model)
        x, y = batch
        half = x.shape[0] // world
        out = ddp(x[rank * half:(rank + 1) * half])
        loss = nn.functional.cross_entropy(out, y[rank * half:(rank + 1) * half])
        loss.backward()
        if rank == 0:
            torch.save({k: p.grad for k, p in model.named_parameters()},
                       os.path.join(out_dir, "grads.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("file", ["mnist_resnet.net", "tiny_densenet.net"])
def test_distributed_data_parallel_step(file: str, tmp_path: Path) -> None:
    """Two processes (gloo on loopback) each take half a batch; DDP averages the gradients,
    which must equal the mean of the two half-batch gradients computed in one process."""
    source = (EXAMPLES / file).read_text()
    program = netdsl.check_source(source, "ddp.net")
    net = program.networks[0]
    name = net.definition.name
    torch.manual_seed(1)
    x = make_inputs(net)[0].repeat(2, *([1] * (len(net.inputs[0][1].shape) - 1)))  # batch 4
    classes = net.outputs[0].shape[-1]
    y = torch.randint(0, int(classes), (x.shape[0],))
    mp.spawn(_ddp_worker, args=(2, _free_port(), source, name, [x, y], str(tmp_path)),
             nprocs=2, join=True)
    ddp_grads = torch.load(tmp_path / "grads.pt")
    expected: dict[str, torch.Tensor] = {}
    for part in range(2):
        torch.manual_seed(0)
        model = netdsl.build(program, name)()
        half = x.shape[0] // 2
        out = model(x[part * half:(part + 1) * half])
        nn.functional.cross_entropy(out, y[part * half:(part + 1) * half]).backward()
        for k, p in model.named_parameters():
            expected[k] = expected.get(k, 0) + p.grad / 2
    assert ddp_grads.keys() == expected.keys()
    for k in expected:
        torch.testing.assert_close(ddp_grads[k], expected[k], rtol=1e-4, atol=1e-6)
