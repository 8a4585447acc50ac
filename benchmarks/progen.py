"""The program generator's long run: random programs (tests/progen.py), each one `check`
accepts compiled and held to `check` and torch (tests/differential.py).

    python benchmarks/progen.py --start 0 --count 20000 [--tools fx,jit] [--jobs 2]

Prints how many programs were written, accepted and found to disagree, the disagreements
grouped by class (numbers and names blanked), and one seed of each class to reproduce:
`python -c "import sys; sys.path.insert(0, 'tests'); from progen import program;
print(program(SEED))"`.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import re
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def one(args: tuple[int, tuple[str, ...]]) -> tuple[int, str, list[str]]:
    """(seed, 'accepted' | 'rejected' | 'crashed', findings)."""
    seed, tools = args
    warnings.filterwarnings("ignore")
    from differential import disagreements
    from progen import program

    import netdsl

    source = program(seed)
    try:
        netdsl.check_source(source, "<generated>")
    except netdsl.NetDSLError:
        return seed, "rejected", []
    except Exception as exc:
        return seed, "crashed", [f"(exit3) check: {exc!r}"]
    try:
        findings = [str(f) for f in disagreements(source, seed, tools=tools)]
    except Exception as exc:
        findings = [f"harness: {exc!r}"]
    return seed, "accepted", findings


def category(finding: str) -> str:
    text = re.sub(r"\d+", "N", finding)
    text = re.sub(r"\b(Net|Blk)\w*", "X", text)
    return text[:110]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--tools", default="", help="comma-separated: fx,jit,export,compile")
    parser.add_argument("--jobs", type=int, default=2)
    options = parser.parse_args()
    tools = tuple(t for t in options.tools.split(",") if t)
    started = time.time()
    counts: collections.Counter[str] = collections.Counter()
    classes: collections.Counter[str] = collections.Counter()
    example: dict[str, int] = {}
    bad = 0
    work = [(seed, tools) for seed in range(options.start, options.start + options.count)]
    with multiprocessing.Pool(options.jobs) as pool:
        for seed, status, findings in pool.imap_unordered(one, work, chunksize=20):
            counts[status] += 1
            if findings:
                bad += 1
                key = category(findings[0])
                classes[key] += 1
                example.setdefault(key, seed)
    elapsed = time.time() - started
    accepted = counts["accepted"]
    print(f"seeds {options.start}..{options.start + options.count - 1}: "
          f"{options.count} programs, {accepted} accepted by check, {counts['rejected']} "
          f"rejected, {counts['crashed']} crashed check; {bad} disagree "
          f"({100 * bad / max(1, accepted + counts['crashed']):.1f}%) in {elapsed:.0f} s")
    for key, count in classes.most_common():
        print(f"{count:6d}  seed {example[key]:6d}  {key}")


if __name__ == "__main__":
    main()
