"""What `netdsl check` prints: a table per network, or the JSON of docs/cli.md."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .cost import OPTIMISER_STATE, NetworkCost, annotate, per_sample
from .dims import Dim, Sym, shape_json, shape_str
from .errors import Diagnostic
from .ir import Network
from .program import Program
from .values import Node


def layer_rows(net: Network) -> list[Node]:
    """The nodes a reader wants to see: layers, blocks and tensor operations, in order."""
    return [node for node in net.nodes if node.kind in ("layer", "op", "block", "parameter")]


def node_params(node: Node) -> int:
    return node.meta.get("params", 0) if node.kind == "block" else node.params


def signature(net: Network) -> str:
    ins = ", ".join(f"{name}: {tt}" for name, tt in net.inputs)
    outs = ", ".join(str(tt) for tt in net.outputs)
    return f"network {net.name}({ins}) -> {outs}"


MAX_WIDTH = 44  # a column wider than this is cut, so the columns after it stay aligned


def fit(text: str, width: int = MAX_WIDTH) -> str:
    """The cell cut to `width` characters, ending in '...' when cut (as torchinfo does)."""
    return text if len(text) <= width else text[: width - 3] + "..."


UNITS = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"))


def compact(value: int | float) -> str:
    """1234 -> '1.2K', 23027253248 -> '23.0G'."""
    for size, suffix in UNITS:
        if abs(value) >= size:
            return f"{value / size:.1f}{suffix}"
    return f"{value:g}"


def unit_for(value: int | float) -> tuple[float, str]:
    for size, prefix in UNITS:
        if abs(value) >= size:
            return size, f"{prefix}B"
    return 1, "B"


def count(value: Dim | None) -> str:
    """A count for the table, per sample: '4.9M', or a formula in the symbols left
    ('128*S*S + 270.3K*S')."""
    if value is None:
        return "?"
    value = per_sample(value)
    if not isinstance(value, Sym):
        return compact(value)
    return formula(value, lambda c: f"{c:,}" if abs(c) < 10_000 else compact(c))


def size(value: Dim, fixed: tuple[float, str] | None = None) -> str:
    """Bytes per sample in decimal units, as torchinfo counts them: '3.2 MB'; a formula
    in the symbols left gives each term its unit: '(17.3 KB)*S + (128 B)*T'. `fixed`
    gives a number two decimals in that unit, as torchinfo's footer does: '0.58 MB'."""
    value = per_sample(value)
    if not isinstance(value, Sym):
        scale, unit = fixed or unit_for(value)
        return f"{value / scale:.2f} {unit}" if fixed else f"{value / scale:.3g} {unit}"
    parts = []
    for monomial, coeff in value.terms:
        scale, unit = unit_for(coeff)
        amount = f"{coeff / scale:.3g} {unit}"
        parts.append(f"({amount})*{'*'.join(monomial)}" if monomial else amount)
    return " + ".join(parts).replace("+ -", "- ")


def formula(value: Sym, coefficient: Callable[[int], str]) -> str:
    parts = []
    for monomial, coeff in value.terms:
        names = "*".join(monomial)
        text = coefficient(coeff) if not names or coeff != 1 else ""
        parts.append(text + ("*" if text and names else "") + names)
    return " + ".join(parts).replace("+ -", "- ")


def footer(net: Network, cost: NetworkCost, optimizer: str) -> list[str]:
    """torchinfo's summary lines; figures per sample when the batch size is symbolic."""
    per = " per sample" if symbolic_batch(net) else ""
    mb = (1e6, "MB")
    flops = per_sample(cost.flops)
    rows = [("total parameters", f"{net.params:,}"),
            ("trainable parameters", f"{net.params:,}"),
            ("parameter size", size(cost.param_bytes, mb))]
    if cost.buffer_bytes:
        rows.append(("buffer size", size(cost.buffer_bytes, mb)))
    rows += [(f"forward pass size{per}", size(cost.activation_bytes, mb)),
             (f"estimated training memory{per} ({optimizer})",
              size(cost.training_bytes(optimizer), mb)),
             (f"total GFLOPs{per}" if not isinstance(flops, Sym) else f"total FLOPs{per}",
              f"{flops / 1e9:.3f}" if not isinstance(flops, Sym) else count(flops))]
    if cost.unknown:
        rows[-1] = (rows[-1][0], rows[-1][1] + f" (without {', '.join(cost.unknown)})")
    width = max(len(label) for label, _ in rows)
    return ["  " + label.ljust(width) + "  " + value for label, value in rows]


def symbolic_batch(net: Network) -> bool:
    return any(isinstance(d, Sym) and any("B" in monomial for monomial, _ in d.terms)
               for _, tt in net.inputs for d in tt.shape)


def row_cells(node: Node) -> tuple[str, str, str, str, str]:
    """A layer row's name, torch class, source position, output shape and parameters, as the
    text table and the notebook's HTML view both show them."""
    name = node.name if node.name is not None else node.label
    torch = f"block {node.op}" if node.kind == "block" else node.torch
    if node.meta.get("shared_with") is not None:
        torch += "  (shared)"
    output = shape_str(node.outputs[0].shape) if node.outputs else "-"
    if len(node.outputs) > 1:
        output += f" (+{len(node.outputs) - 1})"
    params = node_params(node)
    shown = f"{params:,}" if node.kind == "block" or params else "-"
    return name, torch, node.pos.short if node.pos else "", output, shown


def table(program: Program, depth: int | None = None, optimizer: str = "adam") -> str:
    """A table per network; with `depth`, block uses nested `depth` deep are one row."""
    blocks: list[str] = []
    for net in program.graphs:
        cost = annotate(net)
        rows = [("layer", "torch", "at", "output", "params", "flops", "out size")]
        for node in layer_rows(net):
            if depth is not None and len(node.scope) >= depth:
                continue
            name, torch, at, output, params = row_cells(node)
            flops = node.meta.get("flops")
            rows.append(("  " * len(node.scope) + name, torch, at, output, params,
                         count(flops) if flops != 0 else "-", size(node.meta["output_bytes"])))
        cut = [tuple(fit(cell) for cell in row) for row in rows]
        widths = [max(len(r[i]) for r in cut) for i in range(len(rows[0]))]
        lines = [signature(net)]
        for r in cut:
            cells = [r[i].ljust(widths[i]) for i in range(4)]
            numbers = [r[i].rjust(max(widths[i], 12 if i == 4 else 8)) for i in range(4, 7)]
            lines.append(("  " + "  ".join(cells + numbers)).rstrip())
        lines.extend(footer(net, cost, optimizer))
        blocks.append("\n".join(lines))
    if not program.graphs:
        names = ", ".join(d.name for d in program.blocks)
        blocks.append(f"{program.file}: no networks; blocks checked for syntax and names: "
                      f"{names}")
    return "\n\n".join(blocks)


def cost_json(data: dict[str, Any], key: str, value: Dim | None) -> None:
    """`key`: the figure per sample (B = 1; null while other symbols remain) and, when the
    shapes are symbolic, `key`_formula: the whole polynomial, batch included."""
    if value is None:
        data[key] = None
        return
    sample = per_sample(value)
    data[key] = None if isinstance(sample, Sym) else int(sample)
    if isinstance(value, Sym):
        data[key + "_formula"] = str(value)


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
    if node.kind == "parameter":  # how it starts: {"kind": "normal", "mean": 0.0, "std": 0.02}
        init = node.meta["init"]
        data["init"] = {"kind": init.kind, **({"value": init.fill} if init.kind == "fill"
                                              else dict(init.args))}
    cost_json(data, "flops", node.meta.get("flops"))
    cost_json(data, "output_bytes", node.meta.get("output_bytes"))
    return data


def network_json(net: Network) -> dict[str, Any]:
    cost = annotate(net)
    rows = layer_rows(net)
    data: dict[str, Any] = {
        "name": net.name,
        "inputs": [{"name": name, "shape": shape_json(tt.shape), "dtype": tt.dtype}
                   for name, tt in net.inputs],
        "outputs": [{"shape": shape_json(tt.shape), "dtype": tt.dtype} for tt in net.outputs],
        "params": net.params,
        # layers and tensor operations, each counted once: their params add up to the total
        "layers": [layer_json(node) for node in rows if node.kind != "block"],
        "blocks": [layer_json(node) for node in rows if node.kind == "block"],
        "param_bytes": cost.param_bytes,
        "buffer_bytes": cost.buffer_bytes,
    }
    cost_json(data, "flops", cost.flops)
    if cost.unknown:
        data["flops_unknown"] = cost.unknown
    cost_json(data, "activation_bytes", cost.activation_bytes)
    cost_json(data, "input_bytes", cost.input_bytes)
    for optimizer in OPTIMISER_STATE:
        cost_json(data, f"training_bytes_{optimizer.replace('-', '_')}",
                  cost.training_bytes(optimizer))
    return data


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
        "networks": [network_json(net) for net in program.graphs] if program else [],
        "errors": [d.to_json() for d in errors],
        "warnings": [d.to_json() for d in warnings],
    }
