"""A checked program as HTML, for notebooks: the layer table of `netdsl check` and the
Graphviz diagram as inline SVG (when Graphviz's `dot` is installed).

Every text that comes from the source (names, arguments, strings) is escaped with
html.escape; the SVG is Graphviz's own output, which escapes the labels it draws.
Nothing here imports torch.
"""

from __future__ import annotations

import html
import re

from .errors import Diagnostic
from .ir import Network
from .program import Program
from .report import layer_rows, row_cells, signature

STYLE = ("<style>.netdsl table{border-collapse:collapse;font-size:90%}"
         ".netdsl td,.netdsl th{padding:1px 8px;text-align:left;white-space:nowrap}"
         ".netdsl .num{text-align:right;font-variant-numeric:tabular-nums}"
         ".netdsl tfoot td{border-top:1px solid #999;font-weight:bold}"
         ".netdsl .netdsl-diagram svg{max-width:100%;height:auto}</style>")
SVG_START = re.compile(r"<svg\b")
AUTO_COLLAPSE_LAYERS = 150
NO_DOT = ("No diagram: Graphviz's `dot` was not found; install Graphviz (e.g. `apt-get install "
          "graphviz`, `brew install graphviz` or `conda install graphviz`) to see it here.")


def program_html(program: Program, diagram: bool = True, collapse: bool | None = None) -> str:
    """The HTML of a checked program: per network its signature and layer table, then the
    diagram of all networks; the warnings, if any, as `netdsl check` prints them.

    `collapse=None` draws each block use as one node when the program has more than
    AUTO_COLLAPSE_LAYERS layers: ResNet-152 drawn layer by layer is 0.8 MB of SVG and
    seconds of Graphviz, too much for a notebook cell; collapsed it is a seventh of that."""
    parts = [STYLE, '<div class="netdsl">']
    for net in program.graphs:
        parts.append(network_table(net))
    if not program.graphs:
        names = ", ".join(d.name for d in program.blocks)
        parts.append(f"<p>{html.escape(program.file)}: no networks; blocks checked for syntax "
                     f"and names: {html.escape(names)}</p>")
    if program.warnings:
        parts.append(diagnostics_html(program.warnings, program.sources))
    if diagram and program.graphs:
        layers = sum(len(layer_rows(net)) for net in program.graphs)
        if collapse is None:
            collapse = layers > AUTO_COLLAPSE_LAYERS
            if collapse:
                parts.append(f"<p><em>{layers} layers: each block use is drawn as one node "
                             f"(<code>%%netdsl --expand</code> draws every layer).</em></p>")
        parts.append(diagram_html(program, collapse))
    parts.append("</div>")
    return "\n".join(parts)


def network_table(net: Network) -> str:
    rows = []
    for node in layer_rows(net):
        name, torch, at, output, shown = row_cells(node)
        indent = f' style="padding-left:{8 + 16 * len(node.scope)}px"' if node.scope else ""
        rows.append(f"<tr><td{indent}>{html.escape(name)}</td>"
                    f"<td><code>{html.escape(torch)}</code></td>"
                    f"<td>{html.escape(at)}</td>"
                    f"<td><code>{html.escape(output)}</code></td>"
                    f'<td class="num">{shown}</td></tr>')
    return (f"<p><code>{html.escape(signature(net))}</code></p>\n<table>"
            "<thead><tr><th>layer</th><th>torch</th><th>at</th><th>output</th>"
            '<th class="num">params</th></tr></thead>\n<tbody>\n' + "\n".join(rows) +
            "\n</tbody>\n<tfoot><tr><td colspan=\"4\">total parameters</td>"
            f'<td class="num">{net.params:,}</td></tr></tfoot></table>')


def diagram_html(program: Program, collapse: bool = False) -> str:
    """The networks' diagram as inline SVG, or a note saying how to get Graphviz."""
    from .backends.dot import generate, render

    data, _ = render(generate(program, collapse=collapse), "svg")
    if data is None:
        return f"<p><em>{html.escape(NO_DOT)}</em></p>"
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    start = SVG_START.search(text)  # drop the XML declaration and DOCTYPE: not valid in HTML
    return f'<div class="netdsl-diagram">{text[start.start():] if start else ""}</div>'


def diagnostics_text(diagnostics: list[Diagnostic], sources: dict[str, str]) -> str:
    """Errors or warnings exactly as `netdsl check` prints them to standard error."""
    text = "\n\n".join(d.render(sources) for d in diagnostics)
    errors = sum(d.severity == "error" for d in diagnostics)
    if errors > 1:
        text += f"\n\n{errors} errors"
    return text


def diagnostics_html(diagnostics: list[Diagnostic], sources: dict[str, str]) -> str:
    return f"<pre>{html.escape(diagnostics_text(diagnostics, sources))}</pre>"
