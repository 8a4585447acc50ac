"""netdsl's speed against its peers, side by side in one run. Run by hand:

    python benchmarks/bench.py            # everything (a few minutes on 2 cores)
    python benchmarks/bench.py --quick    # fewer repetitions

Needs torchinfo (pip install torchinfo) for the torchinfo rows. Reports medians; the
machines are shared and noisy, so compare rows of one run, not runs of different days.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(ROOT / "tests"))  # the hand-written torch models

NETWORKS = {  # example file, network, hand-written model, input shape
    "ResNet-50": ("resnet50.net", "ResNet50", "resnet50", (1, 3, 224, 224)),
    "ResNet-152": ("resnet152.net", "ResNet152", "resnet152", (1, 3, 224, 224)),
    "U-Net": ("unet.net", "UNet", "UNet", (1, 3, 572, 572)),
    "Transformer": ("transformer_classifier.net", "TransformerClassifier",
                    "TransformerClassifier", (1, 64)),
}


def median_time(fn: Callable[[], object], repeat: int) -> float:
    """The median time until `fn` returns; what it returns is let go after the clock stops
    (freeing a checked program is its holder's business, whenever it lets go)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        del result
    return statistics.median(times)


def process_time(args: list[str], repeat: int) -> float:
    # An installed package has its bytecode compiled (pip does it at install time), so the
    # first run may write it; PYTHONDONTWRITEBYTECODE would charge compiling every module
    # to every run.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT / "tests")

    def run() -> None:
        subprocess.run([sys.executable, *args], check=True, capture_output=True, cwd=ROOT,
                       env=env)
    run()  # warm the file cache, write bytecode and netdsl's grammar cache
    return median_time(run, repeat)


def peers_code(kind: str, model: str, shape: tuple) -> str:
    dtype = "torch.long" if model == "TransformerClassifier" else "torch.float"
    make = (f"torch.randint(0, 100, {shape})" if dtype == "torch.long"
            else f"torch.randn{shape}")
    head = f"import torch, torch_models; m = getattr(torch_models, {model!r})(); x = {make}\n"
    if kind == "torchinfo":
        return head + "import torchinfo; torchinfo.summary(m, input_data=x, verbose=0)\n"
    if kind == "meta":
        meta = (f"torch.randint(0, 100, {shape}, device='meta')" if dtype == "torch.long"
                else f"torch.empty{shape}".replace(")", ", device='meta')"))
        return (f"import torch, torch_models\nwith torch.device('meta'):\n"
                f"    m = getattr(torch_models, {model!r})()\n"
                f"    x = {meta}\n    y = m(x)\n")
    if kind == "shapeprop":
        return head + ("from torch.fx import symbolic_trace\n"
                       "from torch.fx.passes.shape_prop import ShapeProp\n"
                       "g = symbolic_trace(m); ShapeProp(g).propagate(x)\n")
    raise ValueError(kind)


def netdsl_command(file: str) -> list[str]:
    return ["-m", "netdsl", "check", str(EXAMPLES / file)]  # what the `netdsl` script runs


def whole_processes(repeat: int) -> list[str]:
    try:
        import torchinfo  # noqa: F401
        kinds = ["torchinfo", "meta", "shapeprop"]
    except ImportError:
        kinds = ["meta", "shapeprop"]
    start = process_time(["-c", "pass"], repeat)
    lines = [f"Python itself (`python -c pass`): {start * 1000:.0f} ms", "",
             "| network | netdsl check | " + " | ".join(kinds) + " | netdsl / torchinfo |",
             "|---|---:|" + "---:|" * len(kinds) + "---:|"]
    target_line = ""
    for label, (file, _, model, shape) in NETWORKS.items():
        ours = process_time(netdsl_command(file), repeat)
        cells = []
        peer = {}
        for kind in kinds:
            try:
                peer[kind] = process_time(["-c", peers_code(kind, model, shape)],
                                          max(3, repeat // 2))
                cells.append(f"{peer[kind] * 1000:.0f} ms")
            except subprocess.CalledProcessError:
                cells.append("fails")
        ratio = f"{ours / peer['torchinfo'] * 100:.1f}%" if "torchinfo" in peer else "-"
        if label == "ResNet-152":
            target_line = f"ResNet-152: netdsl / torchinfo {ratio} (target at most 8%)"
        lines.append(f"| {label} | {ours * 1000:.0f} ms | " + " | ".join(cells) + f" | {ratio} |")
    return [*lines, "", target_line]


def in_process(repeat: int) -> list[str]:
    import torch
    import torch_models

    import netdsl

    lines = ["| network | netdsl check_source | meta-device forward | fx ShapeProp |",
             "|---|---:|---:|---:|"]
    target_line = ""
    for label, (file, _, model, shape) in NETWORKS.items():
        text = (EXAMPLES / file).read_text()
        netdsl.check_source(text, file)
        ours = median_time(lambda text=text, file=file: netdsl.check_source(text, file), repeat)
        with torch.device("meta"):
            meta_model = getattr(torch_models, model)()
        if model == "TransformerClassifier":
            meta_x = torch.randint(0, 100, shape, device="meta")
            x = torch.randint(0, 100, shape)
        else:
            meta_x = torch.empty(shape, device="meta")
            x = torch.randn(shape)
        meta = median_time(lambda m=meta_model, x=meta_x: m(x), repeat)
        try:
            from torch.fx import symbolic_trace
            from torch.fx.passes.shape_prop import ShapeProp
            traced = symbolic_trace(getattr(torch_models, model)())
            prop = median_time(lambda traced=traced, x=x: ShapeProp(traced).propagate(x),
                               max(3, repeat // 4))
            prop_cell = f"{prop * 1000:.1f} ms"
        except Exception as exc:  # fx cannot trace every model
            prop_cell = f"fails ({type(exc).__name__})"
        lines.append(f"| {label} | {ours * 1000:.1f} ms | {meta * 1000:.1f} ms | {prop_cell} |")
        if label == "ResNet-152":
            target_line = f"ResNet-152: check_source {ours * 1000:.1f} ms (target under 20 ms)"
    return [*lines, "", target_line]


def scaling(repeat: int) -> list[str]:
    """check_source as a library caller runs it (the collector on, as Python sets it by
    default; netdsl leaves it alone), and as the `netdsl` command runs it (the collector off
    for the whole process). Each timed check starts from a collected heap (`gc.collect()`
    before the clock starts), so that what one size left behind does not decide when the
    collector runs during the next. The sizes are timed in turn, round after round, so that
    drift in the machine's speed hits each alike rather than whichever size ran while a
    neighbour was busy. Full collections during a check are counted: they walk every object
    in the process, and are what makes the collector's cost grow faster than the input."""
    import gc

    import netdsl

    sizes = (1_000, 5_000, 20_000, 90_000)  # under netdsl's budget of 100,000 layers
    texts = {n: "network Chain(x: [B, 16]):\n    x" + " -> relu" * n + "\n" for n in sizes}
    times: dict[tuple[int, bool], list[float]] = {(n, off): [] for n in sizes
                                                  for off in (False, True)}
    full: dict[int, list[int]] = {n: [] for n in sizes}
    full_now = [0]

    def count_full(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            full_now[0] += 1

    gc.callbacks.append(count_full)
    try:
        for round_ in range(repeat):
            for n in sizes:
                if n > 20_000 and round_ % 5:
                    continue  # the longest input a fifth as often: it takes as long as the rest
                for off in (False, True):
                    gc.collect()
                    full_now[0] = 0
                    if off:
                        gc.disable()
                    try:
                        times[n, off].append(median_time(
                            lambda text=texts[n]: netdsl.check_source(text, "chain.net"), 1))
                    finally:
                        gc.enable()
                    if not off:
                        full[n].append(full_now[0])
    finally:
        gc.callbacks.remove(count_full)
    results = {key: statistics.median(values) for key, values in times.items()}
    lines = ["| stages | collector on | per stage | full collections | "
             "collector off (the command) | per stage |",
             "|---:|---:|---:|---:|---:|---:|"]
    for n in sizes:
        on_time, off_time = results[n, False], results[n, True]
        lines.append(f"| {n:,} | {on_time * 1000:.0f} ms | {on_time / n * 1e6:.1f} µs "
                     f"| {statistics.median(full[n]):g} "
                     f"| {off_time * 1000:.0f} ms | {off_time / n * 1e6:.1f} µs |")
    lines.append("")
    for off, label in ((False, "collector on"), (True, "collector off")):
        ratio = results[20_000, off] / results[5_000, off]
        lines.append(f"20,000 / 5,000 stages, {label}: {ratio:.2f}x (linear would be 4.00x; "
                     f"target at most 4.5x)  ")
    return lines


def forward_speed(repeat: int) -> list[str]:
    import torch
    import torch_models

    import netdsl

    torch.manual_seed(0)
    program = netdsl.check_file(EXAMPLES / "resnet50.net")
    generated = netdsl.build(program, "ResNet50")().eval()
    hand = torch_models.resnet50().eval()
    x = torch.randn(4, 3, 224, 224)
    times: dict[str, list[float]] = {"generated": [], "hand-written": []}
    with torch.inference_mode():
        for model in (generated, hand):
            model(x)  # warm up
        for _ in range(repeat):  # interleaved, so drift hits both alike
            for name, model in (("generated", generated), ("hand-written", hand)):
                start = time.perf_counter()
                model(x)
                times[name].append(time.perf_counter() - start)
    gen, ref = statistics.median(times["generated"]), statistics.median(times["hand-written"])
    return ["| ResNet-50, batch 4, 224x224, CPU | median forward |", "|---|---:|",
            f"| generated by netdsl | {gen * 1000:.0f} ms |",
            f"| hand-written (torchvision's layout) | {ref * 1000:.0f} ms |",
            "", f"generated / hand-written: {gen / ref:.3f} (target within 3%)"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["process", "inprocess", "scaling", "forward"])
    parser.add_argument("--network", choices=list(NETWORKS), action="append",
                        help="only these networks in the process and in-process sections")
    args = parser.parse_args()
    if args.network:
        for name in set(NETWORKS) - set(args.network):
            del NETWORKS[name]
    repeat = 5 if args.quick else 15
    sections = {
        "process": ("Whole processes (median wall time)", whole_processes),
        "inprocess": ("In-process (median)", in_process),
        "scaling": ("Scaling with the number of stages", scaling),
        "forward": ("Generated code against hand-written code", forward_speed),
    }
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    for key, (title, fn) in sections.items():
        if args.only and key != args.only:
            continue
        print(f"### {title}\n")
        print("\n".join(fn(repeat)))
        print(flush=True)


if __name__ == "__main__":
    main()
