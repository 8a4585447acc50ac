"""How long an editor waits for diagnostics: from a `didChange` of examples/resnet152.net to
the server's `publishDiagnostics` for that version, measured through `netdsl lsp` over
stdio, as an editor talks to it. Run by hand:

    python benchmarks/lsp_bench.py            # 200 edits of each kind
    python benchmarks/lsp_bench.py --edits 50

Each round alternates edits that keep the file valid (a new class count) with edits that
make it wrong (an in_features that does not match, reported with its derivation), so both
the quiet path and the error path are timed. After each edit the same text is checked in
this process with `check_source`, so that both see the same load of a shared machine: the
difference is what the server and the protocol add.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "examples" / "resnet152.net"


def send(stream: IO[bytes], message: dict[str, Any]) -> None:
    body = json.dumps({"jsonrpc": "2.0", **message}).encode()
    stream.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    stream.flush()


def receive(stream: IO[bytes]) -> dict[str, Any]:
    length = 0
    while True:
        line = stream.readline()
        if not line:
            raise EOFError("the server closed its output")
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    message: dict[str, Any] = json.loads(stream.read(length))
    return message


def wait_for(stream: IO[bytes], predicate: Any) -> dict[str, Any]:
    while True:
        message = receive(stream)
        if predicate(message):
            return message


def diagnostics_of(version: int) -> Any:
    def match(message: dict[str, Any]) -> bool:
        return (message.get("method") == "textDocument/publishDiagnostics"
                and message["params"].get("version") == version)
    return match


def variants(text: str, count: int) -> list[tuple[str, bool]]:
    """`count` edited texts, alternately valid and wrong, each different from the last."""
    out = []
    for i in range(count):
        if i % 2 == 0:
            out.append((text.replace("num_classes=1000", f"num_classes={1000 + i}"), True))
        else:
            out.append((text.replace("-> linear(num_classes)",
                                     f"-> linear(num_classes, in_features={1000 + i})"), False))
    return out


def summary(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p90 = ms[int(len(ms) * 0.9) - 1]
    return (f"median {statistics.median(ms):6.1f} ms   p90 {p90:6.1f} ms   "
            f"min {ms[0]:6.1f} ms   max {ms[-1]:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=200, help="edits of each kind")
    args = parser.parse_args()

    text = SOURCE.read_text()
    edits = variants(text, 2 * args.edits)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    server = subprocess.Popen([sys.executable, "-m", "netdsl", "lsp"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, env=env)
    assert server.stdin is not None and server.stdout is not None
    into, out = server.stdin, server.stdout
    uri = SOURCE.resolve().as_uri()
    started = time.perf_counter()
    send(into, {"id": 1, "method": "initialize", "params": {"capabilities": {}}})
    wait_for(out, lambda m: m.get("id") == 1)
    send(into, {"method": "initialized", "params": {}})
    send(into, {"method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": uri, "languageId": "netdsl", "version": 1, "text": text}}})
    first = wait_for(out, diagnostics_of(1))
    assert first["params"]["diagnostics"] == [], first
    print(f"start, initialize, open and first diagnostics: "
          f"{(time.perf_counter() - started) * 1000:.0f} ms")

    sys.path.insert(0, str(ROOT))
    import netdsl

    times: dict[bool, list[float]] = {True: [], False: []}
    in_process: dict[bool, list[float]] = {True: [], False: []}
    for version, (edited, valid) in enumerate(edits, start=2):
        change = {"textDocument": {"uri": uri, "version": version},
                  "contentChanges": [{"text": edited}]}
        start = time.perf_counter()
        send(into, {"method": "textDocument/didChange", "params": change})
        message = wait_for(out, diagnostics_of(version))
        times[valid].append(time.perf_counter() - start)
        assert bool(message["params"]["diagnostics"]) != valid, message
        start = time.perf_counter()
        try:
            netdsl.check_source(edited, str(SOURCE))
        except netdsl.NetDSLError:
            pass
        in_process[valid].append(time.perf_counter() - start)

    send(into, {"id": 2, "method": "shutdown"})
    wait_for(out, lambda m: m.get("id") == 2)
    send(into, {"method": "exit"})
    status = server.wait(timeout=30)

    print(f"didChange -> publishDiagnostics, ResNet-152 ({args.edits} edits of each kind):")
    print(f"  valid edit      {summary(times[True])}")
    print(f"  edit w/ error   {summary(times[False])}")
    print("check_source in this process, the same texts, each right after its edit:")
    print(f"  valid           {summary(in_process[True])}")
    print(f"  with the error  {summary(in_process[False])}")
    print(f"server exit status after shutdown and exit: {status}")
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
