"""The cost report of a network as a process: netdsl against torchinfo and FlopCounterMode.

    PYTHONPATH=. python benchmarks/cost_bench.py [--repeat 3] [--skip-cpu]

For ResNet-152 (examples/resnet152.net) and ViT-B/16 (benchmarks/vit_b16.net) at 224x224
and 1024x1024, one batch of one image, each tool runs as its own process, in turn, each
`--repeat` times (the fastest run is kept):

* netdsl: `python -m netdsl check FILE --input x=[1,3,R,R] --json` (no torch);
* torchinfo: `torchinfo.summary(model, input_size=...)`, on the CPU as it runs by default
  (a real forward pass) and on the meta device (shapes only);
* FlopCounterMode: the module built on the meta device, one forward pass counted.

The peers import torch and the module netdsl generated (written once, before timing, with
`netdsl compile`), build it, and print their figures as JSON. The table gives the wall time
and the CPU time (user + system) of each process, the FLOPs each reports (torchinfo's
mult-adds doubled), and netdsl's time as a share of the fastest peer's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = [("ResNet-152", ROOT / "examples" / "resnet152.net", "ResNet152"),
         ("ViT-B/16", ROOT / "benchmarks" / "vit_b16.net", "ViTB16")]
RESOLUTIONS = (224, 1024)

TORCHINFO = """
import json, sys, torch, torchinfo
sys.path.insert(0, {folder!r})
from {module} import {cls}
model = {cls}()
stats = torchinfo.summary(model, input_size=(1, 3, {r}, {r}), verbose=0, device={device!r})
print(json.dumps({{"flops": 2 * stats.total_mult_adds, "params": stats.total_params}}))
"""

FLOP_COUNTER = """
import json, sys, torch
from torch.utils.flop_counter import FlopCounterMode
sys.path.insert(0, {folder!r})
from {module} import {cls}
with torch.device("meta"):
    model = {cls}()
x = torch.empty(1, 3, {r}, {r}, device="meta")
with FlopCounterMode(display=False) as counter:
    model(x)
print(json.dumps({{"flops": counter.get_total_flops(),
                  "params": sum(p.numel() for p in model.parameters())}}))
"""


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds of the child, its JSON output)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])}... failed:\n{result.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(result.stdout)


def best(command: list[str], env: dict[str, str], repeat: int) -> tuple[float, float, dict]:
    runs = [timed(command, env) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs), runs[0][2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-cpu", action="store_true",
                        help="leave out torchinfo's real forward pass on the CPU")
    options = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    folder = tempfile.mkdtemp(prefix="netdsl-cost-bench-")
    for _, path, _ in CASES:
        subprocess.run([sys.executable, "-m", "netdsl", "compile", str(path), "-o",
                        f"{folder}/{path.stem}.py"], env=env, check=True, capture_output=True)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, best of {options.repeat}")
    print("| model | input | tool | wall s | CPU s | GFLOPs | params | netdsl / tool: wall, CPU |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for label, path, cls in CASES:
        for r in RESOLUTIONS:
            netdsl_cmd = [sys.executable, "-m", "netdsl", "check", str(path), "--input",
                          f"x=[1,3,{r},{r}]", "--json"]
            wall, cpu, data = best(netdsl_cmd, env, options.repeat)
            net = data["networks"][0]
            rows = [("netdsl check --json", wall, cpu, net["flops"], net["params"])]
            peers = [("FlopCounterMode (meta)", FLOP_COUNTER, "meta"),
                     ("torchinfo (meta)", TORCHINFO, "meta")]
            if not options.skip_cpu:
                peers.append(("torchinfo (cpu)", TORCHINFO, "cpu"))
            for name, template, device in peers:
                script = template.format(folder=folder, module=path.stem, cls=cls, r=r,
                                         device=device)
                repeat = 1 if device == "cpu" and r > 224 else options.repeat
                p_wall, p_cpu, p_data = best([sys.executable, "-c", script], env, repeat)
                rows.append((name, p_wall, p_cpu, p_data["flops"], p_data["params"]))
            for name, t_wall, t_cpu, flops, params in rows:
                share = f"{wall / t_wall:.1%}, {cpu / t_cpu:.1%}" if name != rows[0][0] else ""
                print(f"| {label} | {r}x{r} | {name} | {t_wall:.3f} | {t_cpu:.3f} | "
                      f"{flops / 1e9:.3f} | {params:,} | {share} |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
