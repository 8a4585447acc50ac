"""What an editor asks of a netdsl source, answered as plain data (no LSP types here).

netdsl/lsp.py turns these answers into the Language Server Protocol. Positions in and out
are netdsl's own: 1-based lines and columns counted in characters, spans ending one past
their last character (a :class:`~netdsl.errors.Pos`).

Hover reads the checked program's instance graph (one node per layer, block use and
operation, per use of a block); everything else reads the parsed syntax trees, so that
go to definition, completion and symbols keep working while the shapes do not check.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import nodes as n
from .catalogue import LAYERS, REQUIRED, TORCH_CLASSES, LayerSpec
from .dims import Sym, dim_str
from .errors import Diagnostic, NetDSLError, Pos
from .layers_doc import netdsl_literal, netdsl_signature
from .program import Program, load
from .values import Node

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
HEADER = re.compile(r"(block|network)\s")  # a definition starts at the line's start
NOTE_POSITION = re.compile(r"\bat (\d+):(\d+)\b")
MAX_USES_SHOWN = 6  # a layer in a block used 36 times would fill the screen


@dataclass(eq=False)
class Analysis:
    """One version of a document: the checked program (or the errors) and its syntax trees."""

    filename: str
    text: str
    program: Program | None
    errors: list[Diagnostic]
    warnings: list[Diagnostic]
    _modules: list[n.Module] | None = field(default=None, repr=False)

    @property
    def modules(self) -> list[n.Module]:
        """The document's syntax tree and those of the files it imports, the document's last;
        parsed when first asked (publishing diagnostics does not need them)."""
        if self._modules is None:
            try:
                self._modules = load(self.text, self.filename, {}, [])
            except Exception:  # a file that does not parse has no tree to offer
                self._modules = []
        return self._modules

    @property
    def own_module(self) -> n.Module | None:
        mods = [m for m in self.modules if m.file == self.filename]
        return mods[-1] if mods else None

    @property
    def definitions(self) -> dict[str, n.Definition]:
        found: dict[str, n.Definition] = {}
        for module in self.modules:
            for d in module.definitions:
                found.setdefault(d.name, d)  # the first wins, as in the checker
        return found


def analyse(text: str, filename: str) -> Analysis:
    import netdsl

    try:
        program = netdsl.check_source(text, filename)
    except NetDSLError as error:
        return Analysis(filename, text, None, list(error.diagnostics), list(error.warnings))
    return Analysis(filename, text, program, [], list(program.warnings))


# ---------------------------------------------------------------- diagnostics


def same_file(a: str, b: str) -> bool:
    return os.path.normpath(a) == os.path.normpath(b)


def located_in(analysis: Analysis, diagnostic: Diagnostic) -> Pos:
    """Where the document shows a diagnostic: its own span, or, for a problem in an imported
    file, the import that brought that file in (else the first line)."""
    pos = diagnostic.pos
    if pos is not None and same_file(pos.file, analysis.filename):
        return pos
    module = analysis.own_module
    for imp in module.imports if module else []:
        base = os.path.dirname(analysis.filename)
        if pos is not None and same_file(os.path.join(base, imp.path), pos.file):
            return imp.pos
    return Pos(analysis.filename, 1, 1, 1, 1)


def related(diagnostic: Diagnostic) -> list[tuple[str, Pos]]:
    """The derivation notes, each at the position it names ('... at 10:44 on 14') or, when
    it names none, at the diagnostic itself."""
    out = []
    base = diagnostic.pos or Pos("", 1, 1, 1, 1)
    for note in diagnostic.notes:
        match = NOTE_POSITION.search(note)
        if match:
            line, column = int(match.group(1)), int(match.group(2))
            out.append((note, Pos(base.file, line, column, line, column + 1)))
        else:
            out.append((note, base))
    return out


# ---------------------------------------------------------------- hover


def covers(pos: Pos | None, filename: str, line: int, column: int) -> bool:
    if pos is None or not same_file(pos.file, filename):
        return False
    end_line = pos.end_line or pos.line
    end_column = pos.end_column if pos.end_line else pos.column + 1
    return (pos.line, pos.column) <= (line, column) < (end_line, max(end_column, pos.column + 1))


def graph_nodes(program: Program) -> Iterator[Node]:
    """Every node of the program's instance graph. The one place that knows where the graph
    lives: re-point it here when the graph moves."""
    for network in program.networks:
        yield from network.nodes


def nodes_at(program: Program, filename: str, line: int, column: int) -> list[Node]:
    """The innermost nodes whose span covers the position: one per use when the position is
    in a block's body, so a layer there shows what each use made of it."""
    hits = [node for node in graph_nodes(program) if covers(node.pos, filename, line, column)]
    if not hits:
        return []

    def size(node: Node) -> tuple[int, int]:
        assert node.pos is not None
        return (node.pos.end_line - node.pos.line, node.pos.end_column - node.pos.column)

    smallest = min(size(node) for node in hits)
    return [node for node in hits if size(node) == smallest]


def node_params(node: Node) -> int:
    """A layer counts its own weights; a block use carries its total in meta."""
    return node.params or int(node.meta.get("params", 0))


def describe_node(node: Node) -> str:
    """Markdown for one node: what it is in PyTorch, its shapes, parameters and FLOPs."""
    title = {"layer": "layer", "block": "block", "op": "operation", "input": "input",
             "output": "output"}.get(node.kind, node.kind)
    head = f"({title}) **{node.label}**"
    if node.name:
        head += f" as `{node.name}`"
    lines = [head]
    torch_text = node.torch if node.kind != "input" else ""
    if torch_text:
        lines.append(f"`{torch_text}`")
    elif node.kind == "block":
        lines.append(f"block `{node.op}`")
    shapes = ", ".join(str(t.tt) for t in node.inputs)
    outputs = ", ".join(str(tt) for tt in node.outputs)
    if shapes:
        lines.append(f"input `{shapes}` → output `{outputs}`")
    elif outputs:
        lines.append(f"shape `{outputs}`")
    if node.kind in ("layer", "block", "parameter"):
        lines.append(f"parameters {node_params(node):,}")
    flops = node.meta.get("flops")
    if flops is not None:
        lines.append(f"FLOPs {flops:,}" if isinstance(flops, int) else f"FLOPs {flops}")
    return "  \n".join(lines)


def describe_nodes(nodes: list[Node]) -> str:
    parts = [describe_node(node) for node in nodes[:MAX_USES_SHOWN]]
    if len(nodes) > 1:
        parts.insert(0, f"used {len(nodes)} times")
    if len(nodes) > MAX_USES_SHOWN:
        parts.append(f"… and {len(nodes) - MAX_USES_SHOWN} more uses")
    return "\n\n---\n\n".join(parts)


def word_at(text: str, line: int, column: int) -> tuple[str, Pos] | None:
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return None
    for match in WORD.finditer(lines[line - 1]):
        if match.start() + 1 <= column <= match.end():
            return match.group(), Pos("", line, match.start() + 1, line, match.end() + 1)
    return None


def definition_around(analysis: Analysis, line: int) -> n.Definition | None:
    module = analysis.own_module
    if module is None:
        return None
    before = [d for d in module.definitions if d.pos.line <= line]
    return before[-1] if before else None


def statements(body: list[n.Stmt]) -> Iterator[n.Stmt]:
    for stmt in body:
        yield stmt
        if isinstance(stmt, n.If):
            for _, branch in stmt.branches:
                yield from statements(branch)
            if stmt.orelse:
                yield from statements(stmt.orelse)
        elif isinstance(stmt, n.For):
            yield from statements(stmt.body)


def frames_of(program: Program, name: str) -> list[Any]:
    """The checker's evaluations of a definition's body: the network's own, or one per use
    of a block. Like graph_nodes, the one place that knows where they live."""
    frames = [net.frame for net in program.networks if net.definition.name == name]
    return frames or list(program.uses.get(name, []))


def assigned_nodes(analysis: Analysis, program: Program, definition: n.Definition,
                   name: str, line: int, column: int) -> list[Node] | None:
    """The nodes of the last stage of the assignment that gave `name` its value at the
    position (one per use of a block): the latest one that ends before it, or the one whose
    target it is on; None when there is none."""
    def gives(stmt: n.Stmt) -> bool:
        if not (isinstance(stmt, n.Assign) and isinstance(stmt.target, n.Name)
                and stmt.target.id == name):
            return False
        end = (stmt.pos.end_line, stmt.pos.end_column)
        return end <= (line, column) or covers(stmt.target.pos, stmt.target.pos.file, line,
                                               column)

    for stmt in reversed([s for s in statements(definition.body) if gives(s)]):
        assert isinstance(stmt, n.Assign)
        inside = [node for node in graph_nodes(program) if node.kind != "output"
                  and node.pos is not None and covers(stmt.value.pos, analysis.filename,
                                                      node.pos.line, node.pos.column)]
        if inside:  # else a branch no evaluation took: the value comes from further up
            last = max((node.pos.end_line, node.pos.end_column) for node in inside if node.pos)
            return [node for node in inside
                    if node.pos and (node.pos.end_line, node.pos.end_column) == last]
    return None


def value_text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return netdsl_literal(value)
    return dim_str(value) if isinstance(value, (int, Sym)) else str(value)


KIND_TITLES = {"hyper": "hyperparameter", "dim": "dimension", "local": "value"}


def describe_name(analysis: Analysis, program: Program, word: str, line: int, column: int
                  ) -> str | None:
    """A name in a body: a tensor's shape where it was last assigned, a bound layer's uses,
    or the value a hyperparameter, dimension or local takes, in each evaluation."""
    definition = definition_around(analysis, line)
    if definition is None:
        return None
    frames = [f for f in frames_of(program, definition.name) if word in f.kinds]
    kinds = {f.kinds[word] for f in frames}
    if not frames or len(kinds) != 1:
        return None
    kind = kinds.pop()
    if kind in KIND_TITLES:
        values = list(dict.fromkeys(value_text(f.env.get(word)) for f in frames))
        uses = f" (in {len(frames)} uses)" if len(frames) > 1 else ""
        return f"({KIND_TITLES[kind]}) **{word}** = {' | '.join(values)}{uses}"
    nodes = assigned_nodes(analysis, program, definition, word, line, column)
    if kind == "layer":
        return describe_nodes(nodes) if nodes else None
    if kind != "tensor":
        return None
    if nodes is not None:
        shapes = [", ".join(str(tt) for tt in node.outputs) for node in nodes]
    else:  # an input not yet reassigned
        index = [p.name for p in definition.inputs].index(word) if any(
            p.name == word for p in definition.inputs) else -1
        shapes = [str(f.inputs[index].tt) for f in frames if 0 <= index < len(f.inputs)]
    shapes = list(dict.fromkeys(shapes))
    if len(shapes) <= 1:
        return f"(tensor) **{word}**: `{shapes[0]}`" if shapes else None
    return f"(tensor) **{word}**, in {len(frames)} uses:\n" + "\n".join(
        f"- `{shape}`" for shape in shapes)


def hover(analysis: Analysis, program: Program, line: int, column: int
          ) -> tuple[str, Pos] | None:
    """Markdown for what is under the cursor and the span it describes."""
    nodes = nodes_at(program, analysis.filename, line, column)
    if nodes:
        assert nodes[0].pos is not None
        return describe_nodes(nodes), nodes[0].pos
    found = word_at(analysis.text, line, column)
    if found is None:
        return None
    word, span = found
    text = describe_name(analysis, program, word, line, column)
    if text is not None:
        return text, span
    definition = analysis.definitions.get(word)
    if definition is not None:
        return f"({definition.kind}) **{header(definition)}**", span
    return None


# ---------------------------------------------------------------- definitions and symbols


def header(d: n.Definition) -> str:
    def params(items: list[n.Param]) -> str:
        return ", ".join(p.name for p in items)

    hyper = f"({params(d.hyperparams)})" if d.hyperparams else ""
    return f"{d.name}{hyper}({params(d.inputs)})"


def definition_at(analysis: Analysis, line: int, column: int) -> Pos | None:
    """Where the block or network under the cursor is defined, or the file an import names
    (its first line)."""
    module = analysis.own_module
    for imp in module.imports if module else []:
        if covers(imp.pos, analysis.filename, line, column):
            target = os.path.join(os.path.dirname(analysis.filename), imp.path)
            return Pos(os.path.normpath(target), 1, 1, 1, 1)
    found = word_at(analysis.text, line, column)
    definition = analysis.definitions.get(found[0]) if found else None
    if definition is None:
        return None
    return Pos(definition.source or analysis.filename, definition.pos.line,
               definition.pos.column, definition.pos.end_line, definition.pos.end_column)


@dataclass
class Symbol:
    name: str
    kind: str  # 'network', 'block', 'input', 'hyperparameter'
    detail: str
    span: Pos  # the whole definition
    name_span: Pos
    children: list[Symbol] = field(default_factory=list)


def symbols(analysis: Analysis) -> list[Symbol]:
    """The document's networks and blocks, each spanning its header and body, with their
    parameters as children."""
    module = analysis.own_module
    if module is None:
        return []
    lines = analysis.text.splitlines()
    starts = [d.pos.line for d in module.definitions] + [len(lines) + 1]
    out = []
    for d, following in zip(module.definitions, starts[1:], strict=True):
        last = following - 1
        while last > d.pos.line and not lines[last - 1].split("#")[0].strip():
            last -= 1
        span = Pos(analysis.filename, d.pos.line, 1, last, len(lines[last - 1]) + 1)
        children = [Symbol(p.name, "hyperparameter", "", p.pos, p.pos) for p in d.hyperparams]
        children += [Symbol(p.name, "input", "", p.pos, p.pos) for p in d.inputs]
        out.append(Symbol(d.name, d.kind, header(d), span, d.pos, children))
    return out


# ---------------------------------------------------------------- completion


@dataclass
class Completion:
    label: str
    kind: str  # 'layer', 'block', 'argument', 'class'
    detail: str
    documentation: str = ""


def open_call(prefix: str) -> tuple[str | None, bool]:
    """The callee of the innermost parenthesis still open at the end of `prefix` (None when
    there is none), and whether the end is inside a comment or a string."""
    stack: list[str | None] = []
    last_word: str | None = None
    i = 0
    while i < len(prefix):
        ch = prefix[i]
        if ch == "#":
            end = prefix.find("\n", i)
            if end < 0:
                return None, True
            i = end
        elif ch == '"':
            end = i + 1
            while end < len(prefix) and prefix[end] != '"' and prefix[end] != "\n":
                end += 2 if prefix[end] == "\\" else 1
            if end >= len(prefix):
                return None, True
            i = end
            last_word = None
        elif ch.isalpha() or ch == "_":
            match = DOTTED_NAME.match(prefix, i)
            assert match is not None
            last_word = match.group()
            i = match.end()
            continue
        elif ch in "([":
            stack.append(last_word if ch == "(" else None)
        elif ch in ")]" and stack:
            stack.pop()
        if not ch.isspace():
            last_word = None
        i += 1
    return (stack[-1] if stack else None), False


def completions(analysis: Analysis, line: int, column: int,
                parsed: Analysis | None = None) -> list[Completion]:
    """Inside `conv(`: conv's arguments not yet given; after `nn.`: the torch classes the
    catalogue knows; elsewhere: layer and block names. The text being typed seldom parses,
    so the blocks come from `parsed`, the latest version that did, when given."""
    lines = analysis.text.split("\n")
    if not 1 <= line <= len(lines):
        return []
    first = next((i for i in range(line, 0, -1) if HEADER.match(lines[i - 1])), 1)
    prefix = "\n".join(lines[first - 1:line - 1] + [lines[line - 1][:column - 1]])
    callee, quoted = open_call(prefix)
    if quoted:
        return []
    definitions = (parsed or analysis).definitions
    if re.search(r"\bnn\.[A-Za-z0-9_]*$", prefix):
        return [Completion(cls, "class", f"nn.{cls}", f"netdsl: {spec.name}")
                for cls, spec in sorted(TORCH_CLASSES.items())]
    if callee is not None:
        call_text = prefix[prefix.rfind(callee + "("):]
        given = set(re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)", call_text))
        return [c for c in argument_completions(definitions, callee) if c.label[:-1] not in given]
    items = [Completion(spec.name, "layer", layer_detail(spec), netdsl_signature(spec))
             for spec in LAYERS.values()]
    items += [Completion(d.name, "block", f"{d.kind} {header(d)}") for d in definitions.values()]
    return items


def layer_detail(spec: LayerSpec) -> str:
    if spec.classes:
        return " / ".join(f"nn.{cls}" for cls in spec.classes)
    return "a tensor function"


def argument_completions(definitions: dict[str, n.Definition], callee: str
                         ) -> list[Completion]:
    spec = LAYERS.get(callee) or TORCH_CLASSES.get(callee.removeprefix("nn."))
    if spec is not None:
        names = spec.torch_signature if callee.startswith("nn.") else spec.signature
        return [Completion(f"{p.name}=", "argument",
                           "required" if p.default is REQUIRED
                           else f"default {netdsl_literal(p.default)}",
                           netdsl_signature(spec))
                for p in names if not p.star]
    definition = definitions.get(callee)
    if definition is not None:
        return [Completion(f"{p.name}=", "argument",
                           "required" if p.default is None else "has a default",
                           f"{definition.kind} {header(definition)}")
                for p in definition.hyperparams]
    return []
