"""`netdsl compile` of files with many networks: the time per network must not grow with
their number (it did: 50,000 networks took 109 s, quadratic in the count).

    python benchmarks/compile_scaling.py            # 1,000 / 4,000 / 16,000 networks
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path


def source(count: int) -> str:
    return "".join(f"network N{i}(x: [B, 4]):\n    x -> linear(8) -> relu -> linear(2)\n"
                   for i in range(count))


def main() -> None:
    counts = [int(a) for a in sys.argv[1:]] or [1000, 4000, 16000]
    with tempfile.TemporaryDirectory() as tmp:
        previous: float | None = None
        for i, count in enumerate(counts):
            path = Path(tmp) / f"many{count}.net"
            path.write_text(source(count))
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "netdsl", "compile", str(path), "-o",
                            str(Path(tmp) / "out.py")], check=True, capture_output=True)
            seconds = time.perf_counter() - start
            per = seconds / count * 1e3
            ratio = "" if previous is None else \
                f"  x{seconds / previous:.2f} for x{count / counts[i - 1]:.0f} networks"
            print(f"{count:>7,} networks: {seconds:6.2f} s, {per:.3f} ms a network{ratio}")
            previous = seconds


if __name__ == "__main__":
    main()
