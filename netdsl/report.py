"""What `netdsl check` prints: a table per network, or the JSON of docs/cli.md."""

from __future__ import annotations

from typing import Any

from .checker import NetworkResult
from .dims import shape_json, shape_str
from .errors import Diagnostic
from .program import Program
from .values import Node


def layer_rows(net: NetworkResult) -> list[Node]:
    """The nodes a reader wants to see: layers, blocks and tensor operations, in order."""
    return [node for node in net.nodes if node.kind in ("layer", "op", "block")]


def node_params(node: Node) -> int:
    return node.meta.get("params", 0) if node.kind == "block" else node.params


def signature(net: NetworkResult) -> str:
    ins = ", ".join(f"{name}: {tt}" for name, tt in net.inputs)
    outs = ", ".join(str(tt) for tt in net.outputs)
    return f"network {net.definition.name}({ins}) -> {outs}"


def table(program: Program) -> str:
    blocks: list[str] = []
    for net in program.networks:
        rows = [("layer", "torch", "at", "output", "params")]
        for node in layer_rows(net):
            indent = "  " * len(node.scope)
            name = node.name if node.name is not None else node.label
            if node.kind == "block":
                torch = f"block {node.op}"
            else:
                torch = node.torch
            if node.meta.get("shared_with") is not None:
                torch += "  (shared)"
            output = shape_str(node.outputs[0].shape) if node.outputs else "-"
            if len(node.outputs) > 1:
                output += f" (+{len(node.outputs) - 1})"
            params = node_params(node)
            rows.append((indent + name, torch, node.pos.short if node.pos else "", output,
                         f"{params:,}" if node.kind == "block" or params else "-"))
        widths = [min(max(len(r[i]) for r in rows), 44) for i in range(4)]
        lines = [signature(net)]
        for r in rows:
            cells = [r[i].ljust(widths[i]) for i in range(4)]
            lines.append("  " + "  ".join(cells) + "  " + r[4].rjust(12))
        total = f"{net.params:,}"
        lines.append("  " + "total parameters".ljust(sum(widths) + 6) + "  " + total.rjust(12))
        blocks.append("\n".join(lines))
    if not program.networks:
        names = ", ".join(d.name for d in program.blocks)
        blocks.append(f"{program.file}: no networks; blocks checked for syntax and names: "
                      f"{names}")
    return "\n\n".join(blocks)


def layer_json(node: Node) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": node.name,
        "op": node.op,
        "torch": node.torch if node.kind != "block" else f"block {node.op}",
        "line": node.pos.line if node.pos else 0,
        "column": node.pos.column if node.pos else 0,
        "input_shapes": [shape_json(t.shape) for t in node.inputs],
        "output_shape": shape_json(node.outputs[0].shape) if node.outputs else None,
        "params": node_params(node),
    }
    if len(node.outputs) > 1:
        data["output_shapes"] = [shape_json(tt.shape) for tt in node.outputs]
    if node.kind == "block":
        data["block"] = True
    if node.scope:
        data["scope"] = node.scope[-1].name
    if node.meta.get("shared_with") is not None:
        data["shared_with"] = node.meta["shared_with"].name
    return data


def network_json(net: NetworkResult) -> dict[str, Any]:
    rows = layer_rows(net)
    return {
        "name": net.definition.name,
        "inputs": [{"name": name, "shape": shape_json(tt.shape), "dtype": tt.dtype}
                   for name, tt in net.inputs],
        "outputs": [{"shape": shape_json(tt.shape), "dtype": tt.dtype} for tt in net.outputs],
        "params": net.params,
        # layers and tensor operations, each counted once: their params add up to the total
        "layers": [layer_json(node) for node in rows if node.kind != "block"],
        "blocks": [layer_json(node) for node in rows if node.kind == "block"],
    }


def dumps(value: Any, indent: int = 0) -> str:
    """JSON with two-space indentation, keeping lists of numbers and names (shapes) on one
    line."""
    import json  # only for --json: the table needs none of it

    pad = "  " * indent
    inner = "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value) or all(
                isinstance(v, list) and all(not isinstance(x, (dict, list)) for x in v)
                for v in value):
            return json.dumps(value, separators=(", ", ": "))
        items = [f"{inner}{dumps(v, indent + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value)


def to_json(file: str, program: Program | None, errors: list[Diagnostic],
            warnings: list[Diagnostic]) -> dict[str, Any]:
    return {
        "file": file,
        "networks": [network_json(net) for net in program.networks] if program else [],
        "errors": [d.to_json() for d in errors],
        "warnings": [d.to_json() for d in warnings],
    }
