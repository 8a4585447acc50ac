"""The Graphviz backend: a checked network as a diagram.

A node per layer (its name, PyTorch class with key arguments, parameter count), an edge
per tensor labelled with its shape, block uses as clusters (or, with collapse, as one
node each, runs of the same block as one node marked "x N"), inputs and outputs set
apart, merges (+, cat) drawn as such. Built with the graphviz package; rendered by
Graphviz's own `dot`. The DOT text depends only on the program, never on hashing or
timing, so it is byte-identical from run to run.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import graphviz

from ..catalogue import LAYERS
from ..dims import dim_str
from ..ir import Network
from ..program import Program
from ..values import Node

FORMATS = ("svg", "png", "pdf", "dot")
INSTALL_HINT = ("Graphviz's `dot` was not found, so the DOT source was written instead; "
                "install Graphviz (e.g. `apt-get install graphviz` or `brew install graphviz`) "
                "to render it")

# Fill colours by the catalogue's category of a layer (ColorBrewer Pastel1, readable in
# print and on screen); related categories share a colour.
CATEGORY_COLOURS: dict[str, str] = {
    "conv": "#b3cde3", "linear": "#decbe4", "embedding": "#decbe4", "norm": "#ccebc5",
    "activation": "#fed9a6", "dropout": "#fed9a6", "pool": "#fddaec", "resample": "#fddaec",
    "recurrent": "#e5d8bd", "attention": "#e5d8bd", "reshape": "#f2f2f2",
    "padding": "#f2f2f2", "merge": "#f2f2f2", "split": "#f2f2f2", "reduce": "#f2f2f2",
    "elementwise": "#fed9a6",  # maths and masks, coloured as the activations they resemble
    "create": "#f2f2f2",
}
OTHER_COLOUR = "#f2f2f2"  # an nn class outside the catalogue
PARAMETER_COLOUR = "#ffffcc"  # a learnable tensor, parameter(...)
MERGES = {"add": "+", "sub": "−", "mul": "×", "div": "÷", "matmul": "@", "cat": "cat",
          "stack": "stack", "eq": "==", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥"}


def shape_label(node: Node, index: int = 0) -> str:
    shape = node.outputs[index].shape if index < len(node.outputs) else ()
    return "×".join(dim_str(d) for d in shape) if shape else "scalar"


def fill_colour(node: Node) -> str:
    spec = LAYERS.get(node.op)  # an nn class outside the catalogue is op "nn.Name"
    return CATEGORY_COLOURS[spec.category] if spec is not None else OTHER_COLOUR


@dataclass
class Item:
    """What is drawn for one or more graph nodes."""

    key: str
    nodes: list[Node] = field(default_factory=list)
    count: int = 1  # a run of the same block, collapsed


def generate(program: Program, collapse: bool = False, rankdir: str = "TB",
             cost: bool = False) -> str:
    graph = graphviz.Digraph("netdsl", graph_attr={
        "rankdir": rankdir, "fontname": "Helvetica", "fontsize": "12", "nodesep": "0.25",
        "ranksep": "0.3", "newrank": "true",
    }, node_attr={"fontname": "Helvetica", "fontsize": "11", "shape": "box",
                  "style": "rounded,filled", "fillcolor": "#f2f2f2", "color": "#555555",
                  "penwidth": "0.8"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9", "color": "#555555",
                   "arrowsize": "0.6"})
    many = len(program.graphs) > 1
    for i, net in enumerate(program.graphs):
        if cost:
            write_flops(net)
        if many:
            with graph.subgraph(name=f"cluster_net{i}") as sub:
                sub.attr(label=f"network {net.name} · {net.params:,} parameters",
                         style="dashed", color="#999999", fontsize="13")
                draw_network(sub, net, f"n{i}_", collapse)
        else:
            graph.attr(label=f"{net.name} · {net.params:,} parameters",
                       labelloc="t", fontsize="14")
            draw_network(graph, net, "", collapse)
    return graph.source


def draw_network(graph: Any, net: Network, prefix: str, collapse: bool) -> None:
    nodes = net.nodes
    owner = {node.id: representative(node, collapse) for node in nodes}
    runs = merge_runs(nodes, owner) if collapse else {}

    def drawn_as(node: Node) -> Node:
        rep = owner[node.id]
        return runs.get(rep.id, rep)

    clusters: dict[int, Any] = {}  # block node id -> its cluster, attached at the end
    order: list[Node] = []
    done: set[int] = set()
    for node in nodes:
        rep = drawn_as(node)
        if rep.id in done or (rep.kind == "block" and not collapse):
            continue
        done.add(rep.id)
        target = graph if collapse else cluster_for(graph, rep, clusters, order, prefix)
        emit_node(target, rep, f"{prefix}{rep.id}", run_length(rep, runs))
    # edges: one per tensor, labelled with its shape
    seen: set[tuple[str, str, str]] = set()
    for node in nodes:
        if node.kind == "input" or (node.kind == "block" and not collapse):
            continue
        head = f"{prefix}{drawn_as(node).id}"
        for tensor in node.inputs:
            if tensor.producer is None:
                continue
            tail = f"{prefix}{drawn_as(tensor.producer).id}"
            label = "×".join(dim_str(d) for d in tensor.shape)
            if tail == head or (tail, head, label) in seen:
                continue  # inside one collapsed block, or drawn already
            seen.add((tail, head, label))
            graph.edge(tail, head, label=f" {label} ")
    # innermost clusters first, each into its parent
    for block in reversed(order):
        parent = clusters[block.scope[-1].id] if block.scope else graph
        parent.subgraph(clusters[block.id])


def cluster_for(graph: Any, node: Node, clusters: dict[int, Any], order: list[Node],
                prefix: str) -> Any:
    target = graph
    for block in node.scope:
        if block.id not in clusters:
            sub = graphviz.Digraph(name=f"cluster_{prefix}{block.id}")
            params = block.meta.get("params", 0)
            label = f"{block.name} · {block.label}" if block.name else block.label
            if params:
                label += f" · {params:,} params"
            sub.attr(label=label, style="rounded,filled", fillcolor="#fbfbfb",
                     color="#aaaaaa", fontsize="10", labeljust="l")
            clusters[block.id] = sub
            order.append(block)
        target = clusters[block.id]
    return target


def representative(node: Node, collapse: bool) -> Node:
    """In a collapsed drawing a node inside a block is drawn as the outermost block use."""
    if collapse and node.scope:
        return node.scope[0]
    return node


def merge_runs(nodes: list[Node], owner: dict[int, Node]) -> dict[int, Node]:
    """Consecutive uses of the same block, each feeding only the next, become one node."""
    consumers: dict[int, set[int]] = {}
    for node in nodes:
        for tensor in node.inputs:
            if tensor.producer is not None:
                src = owner[tensor.producer.id].id
                dst = owner[node.id].id
                if src != dst:
                    consumers.setdefault(src, set()).add(dst)
    top_blocks = [node for node in nodes if node.kind == "block" and not node.scope]
    by_id = {node.id: node for node in top_blocks}
    runs: dict[int, Node] = {}
    for node in top_blocks:
        if node.id in runs:
            continue
        head = node
        current = node
        while True:
            nxt = consumers.get(current.id, set())
            if len(nxt) != 1:
                break
            (follower_id,) = nxt
            follower = by_id.get(follower_id)
            if follower is None or follower.label != head.label or len(follower.inputs) != 1:
                break
            runs[follower.id] = head
            current = follower
        if current is not head:
            runs[head.id] = head
            members = [head] + [by_id[k] for k, v in runs.items() if v is head and k != head.id]
            head.meta["run_params"] = sum(m.meta.get("params", 0) for m in members)
    return runs


def run_length(rep: Node, runs: dict[int, Node]) -> int:
    return 1 + sum(1 for key, head in runs.items() if head is rep and key != rep.id)


def emit_node(graph: Any, node: Node, name: str, count: int) -> None:
    if node.kind == "input":
        graph.node(name, label=f"{node.name}\n{shape_label(node)}", shape="box",
                   style="filled", fillcolor="#ffffff", color="#333333", penwidth="1.2",
                   peripheries="2")
        return
    if node.kind == "output":
        label = "output\n" + "\n".join(
            "×".join(dim_str(d) for d in tt.shape) for tt in node.outputs)
        graph.node(name, label=label, shape="box", style="filled", fillcolor="#ffffff",
                   color="#333333", penwidth="1.2", peripheries="2")
        return
    if node.kind == "parameter":  # a learnable tensor of the module: no input, a shape
        title = node.name or node.label
        if node.scope and node.scope[-1].name and title.startswith(node.scope[-1].name + "."):
            title = title[len(node.scope[-1].name) + 1:]
        graph.node(name, label=html_label(title, f"Parameter {shape_label(node)}",
                                          node.params), shape="box", style="filled",
                   fillcolor=PARAMETER_COLOUR)
        return
    if node.kind == "op" and node.op in MERGES:
        graph.node(name, label=MERGES[node.op], shape="circle", style="filled",
                   fillcolor="#ffffff", width="0.3", height="0.3", fixedsize="false",
                   fontsize="10")
        return
    if node.kind == "op":
        graph.node(name, label=html_label(node.label or node.op, "", 0,
                                          node.meta.get("flops_label", "")), shape="box",
                   style="rounded,dashed", fillcolor="#ffffff", fontsize="10")
        return
    if node.kind == "block":
        params = node.meta.get("run_params", 0) if count > 1 else node.meta.get("params", 0)
        shown = node.name or node.op
        if count > 1 and shown.rsplit(".", 1)[-1].isdigit():
            shown = shown.rsplit(".", 1)[0]  # the nn.Sequential that holds the run
        title = f"{shown} × {count}" if count > 1 else shown
        flops = node.meta.get("flops_label", "")
        if flops and count > 1:  # a run of the same block on the same shape: count times one
            from ..report import count as count_text

            flops = f"{count_text(node.meta['flops'] * count)} FLOPs"
        graph.node(name, label=html_label(title, node.label, params, flops), shape="box3d",
                   style="filled", fillcolor="#e0ecf4")
        return
    detail = node.torch.replace("nn.", "", 1) if node.torch else node.label
    if detail.endswith("()"):
        detail = detail[:-2]
    title = node.name or node.op
    if node.scope and node.scope[-1].name and title.startswith(node.scope[-1].name + "."):
        title = title[len(node.scope[-1].name) + 1:]  # the cluster already says whose it is
    graph.node(name, label=html_label(title, detail, node.params,
                                      node.meta.get("flops_label", "")),
               fillcolor=fill_colour(node))


def write_flops(net: Network) -> None:
    """--cost: meta["flops_label"] ('4.9M FLOPs', per sample) on every node that has some."""
    from ..cost import annotate
    from ..report import count

    annotate(net)
    for node in net.nodes:
        flops = node.meta.get("flops", 0)
        if flops != 0:
            node.meta["flops_label"] = f"{count(flops)} FLOPs"


def html_label(title: str, detail: str, params: int, flops: str = "") -> str:
    rows = [f"<B>{html.escape(title)}</B>"]
    if detail:
        rows.append(f'<FONT POINT-SIZE="9">{html.escape(detail)}</FONT>')
    if params:
        rows.append(f'<FONT POINT-SIZE="9" COLOR="#555555">{params:,} params</FONT>')
    if flops:
        rows.append(f'<FONT POINT-SIZE="9" COLOR="#555555">{html.escape(flops)}</FONT>')
    return "<" + "<BR/>".join(rows) + ">"


def render(source: str, fmt: str) -> tuple[bytes | str | None, str | None]:
    """(data, note): the rendered file, or (None, hint) when Graphviz's dot is missing."""
    if fmt == "dot":
        return source, None
    try:
        return graphviz.Source(source).pipe(format=fmt), None
    except graphviz.ExecutableNotFound:
        return None, INSTALL_HINT
