"""Loading and checking: files and imports -> definitions -> checked networks.

This is the one place that turns inner facts (SourceError) into the public
NetDSLError, once, with every diagnostic and the source text to quote.
"""

from __future__ import annotations

import builtins
import keyword
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import ir
from . import nodes as n
from .budget import BudgetExceeded
from .catalogue import LAYERS, MODULE_ATTRIBUTES
from .check import RESERVED_NAMES, Checker, Frame, NetworkResult, validate_name
from .errors import Diagnostic, NetDSLError, Pos, SourceError
from .parser import MAX_SOURCE_BYTES, parse

BUILTIN_NAMES = frozenset(dir(builtins))  # a class named `super` would break super().__init__()
SHAPE_ARG = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*\[(.*)\]\s*$")


@dataclass(eq=False)
class Program:
    """A checked source file: its definitions, one result per network, and warnings."""

    file: str
    sources: dict[str, str]
    definitions: dict[str, n.Definition]
    networks: list[NetworkResult]
    warnings: list[Diagnostic]
    uses: dict[str, list[Frame]] = field(default_factory=dict)
    checker: Checker | None = None
    _graphs: list[ir.Network] | None = field(default=None, repr=False)
    _lowered: ir.Module | None = field(default=None, repr=False)  # see lower.lower

    @property
    def graphs(self) -> list[ir.Network]:
        """The checked networks as the IR's instances: what the report, the diagram and the
        cost model read (they never see the checker's frames or the syntax tree)."""
        if self._graphs is None:
            self._graphs = [ir.Network(net.definition.name, net.definition.pos, net.inputs,
                                       net.outputs, net.nodes, net.params)
                            for net in self.networks]
        return self._graphs

    def network(self, name: str) -> NetworkResult:
        for net in self.networks:
            if net.definition.name == name:
                return net
        raise KeyError(name)

    @property
    def blocks(self) -> list[n.Definition]:
        return [d for d in self.definitions.values() if d.kind == "block"]

    def _repr_html_(self) -> str:
        """How Jupyter shows a checked program: the layer table and the diagram."""
        from .htmlview import program_html

        return program_html(self)


class SourceFileError(OSError):
    """A path that names no source file netdsl reads: a FIFO, a device, a directory, or a file
    over the size limit. An OSError, like the errors of open() for a missing file."""


class UnknownInput(ValueError):
    """`inputs` (--input) names an input that no network of the file declares."""


def read_source(path: str | Path) -> str:
    """The text of a source file, refusing without blocking anything that is not a regular
    file (a FIFO would wait for a writer, /dev/zero never ends) and, before reading, a file
    over the size limit. Line ends are read as Python's text mode reads them."""
    kind = _file_kind(os.stat(path).st_mode)
    if kind:  # refused before opening: opening some devices already does something
        raise SourceFileError(f"it is {kind}, not a regular file")
    # O_NONBLOCK: if the path was replaced by a FIFO since, open returns instead of waiting
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    with open(fd, "rb") as handle:
        info = os.fstat(fd)
        kind = _file_kind(info.st_mode)
        if kind:
            raise SourceFileError(f"it is {kind}, not a regular file")
        if info.st_size > MAX_SOURCE_BYTES:
            raise SourceFileError(_too_large(f"{info.st_size / (1 << 20):.1f} MB"))
        data = handle.read(MAX_SOURCE_BYTES + 1)  # the file may have grown since
    if len(data) > MAX_SOURCE_BYTES:
        raise SourceFileError(_too_large(f"over {MAX_SOURCE_BYTES >> 20} MB"))
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


def _file_kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return ""
    return ("a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else
            "a character device" if stat.S_ISCHR(mode) else
            "a block device" if stat.S_ISBLK(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "not a file")


def _too_large(size: str) -> str:
    return f"it is {size}; netdsl reads source files of at most {MAX_SOURCE_BYTES >> 20} MB"


def parse_input_override(text: str) -> tuple[str, list[int | str]]:
    """'x=[8,3,64,64]' -> ('x', [8, 3, 64, 64]); names stay symbolic ('B')."""
    match = SHAPE_ARG.match(text)
    if not match:
        raise ValueError(f"expected NAME=[d1, d2, ...], got {text!r}")
    dims: list[int | str] = []
    for part in filter(None, (p.strip() for p in match.group(2).split(","))):
        if re.fullmatch(r"\d+", part):
            dims.append(int(part))
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part) and not keyword.iskeyword(part):
            dims.append(part)
        else:
            raise ValueError(f"dimension {part!r} in {text!r} is neither a number nor a name")
    return match.group(1), dims


def load(text: str, filename: str, sources: dict[str, str],
         errors: list[Diagnostic]) -> list[n.Module]:
    """Parse a file and, depth first, the files it imports (each once)."""
    modules: list[n.Module] = []
    _visit(text, filename, sources, errors, modules, set())
    return modules


def _visit(src: str, name: str, sources: dict[str, str], errors: list[Diagnostic],
           modules: list[n.Module], visiting: set[str]) -> None:
    # a module-level function rather than a closure calling itself, which would be a
    # reference cycle holding every syntax tree until the cyclic collector runs
    sources[name] = src
    visiting.add(os.path.realpath(name))  # real paths: a file is read once however named
    try:
        module = parse(src, name)
    except SourceError as err:
        errors.append(err.diagnostic)
        return
    for imp in module.imports:
        target = _resolve_import(name, imp.path)
        key = os.path.normpath(str(target))
        if os.path.realpath(key) in visiting:
            continue
        try:
            imported = read_source(target)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            reason = "not found" if isinstance(exc, FileNotFoundError) else (
                "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else
                "not a file name" if isinstance(exc, ValueError) else
                str(exc) if isinstance(exc, SourceFileError) else
                (exc.strerror or "unreadable").lower())
            errors.append(Diagnostic(f"cannot import {imp.path!r}: {reason}", imp.pos))
            continue
        _visit(imported, key, sources, errors, modules, visiting)
    modules.append(module)


def _resolve_import(importer: str, path: str) -> Path:
    base = Path(importer).parent if importer and not importer.startswith("<") else Path(".")
    return (base / path) if not Path(path).is_absolute() else Path(path)


def collect_definitions(modules: list[n.Module],
                        errors: list[Diagnostic]) -> dict[str, n.Definition]:
    definitions: dict[str, n.Definition] = {}
    for module in modules:
        for d in module.definitions:
            try:
                validate_definition(d)
            except SourceError as err:
                errors.append(err.diagnostic)
                continue
            if d.name in definitions:
                first = definitions[d.name]
                errors.append(Diagnostic(f"{d.kind} {d.name} is defined twice", d.pos,
                                         notes=[f"first defined at {first.pos}"]))
                continue
            definitions[d.name] = d
    return definitions


def validate_definition(d: n.Definition) -> None:
    validate_name(d.name, d.pos, f"a {d.kind}")
    if d.name in LAYERS:
        raise SourceError(f"{d.name!r} is the name of a layer; a {d.kind} needs another name",
                          d.pos, fix=f"e.g. {d.name.capitalize()}Block")
    if d.name in RESERVED_NAMES or d.name in BUILTIN_NAMES:
        raise SourceError(f"{d.name!r} would shadow a name the generated code relies on "
                          f"({'a Python builtin' if d.name in BUILTIN_NAMES else 'reserved'}); "
                          f"choose another name", d.pos)
    seen: dict[str, Pos] = {}
    for p in d.hyperparams:
        if p.name in MODULE_ATTRIBUTES:  # the class may keep it on self, as flags are kept
            raise SourceError(f"hyperparameter {p.name!r} would replace nn.Module's own "
                              f"attribute {p.name!r} in the generated class", p.pos,
                              fix=f"choose another name, e.g. {p.name.strip('_')}_value")
    for p in d.hyperparams + d.inputs:
        validate_name(p.name, p.pos, "a parameter")
        if p.name in seen:
            raise SourceError(f"parameter {p.name!r} appears twice", p.pos)
        seen[p.name] = p.pos
    for p in d.inputs:
        if p.default is not None:
            raise SourceError(f"input {p.name!r} is a tensor and takes no default", p.pos)
    if d.kind == "network" and not d.inputs:
        raise SourceError(f"network {d.name} needs at least one input", d.pos,
                          fix=f"network {d.name}(x: [B, ...]):")


def check(text: str, filename: str, inputs: dict[str, list[Any]] | None = None,
          defaults: dict[str, dict[str, Any]] | None = None) -> Program:
    """`defaults`: per network, hyperparameter values to check it with instead of the
    header's defaults; given, only the networks it names are checked."""
    sources: dict[str, str] = {}
    errors: list[Diagnostic] = []
    modules = load(text, filename, sources, errors)
    if errors:
        raise NetDSLError(errors, sources)
    definitions = collect_definitions(modules, errors)
    checker = Checker(definitions, sources)
    overrides = dict(inputs or {})
    networks: list[NetworkResult] = []
    main = [d for d in modules[-1].definitions if d.kind == "network"] if modules else []
    network_inputs = {p.name for d in main for p in d.inputs}
    for name in overrides:
        if name not in network_inputs:  # a wrong command line, not an error in the source
            from .check import did_you_mean

            hint = did_you_mean(name, network_inputs)
            raise UnknownInput(f"no network in {filename} has an input {name!r}"
                               + (f" ({hint})" if hint else ""))
    try:
        for d in main:
            if definitions.get(d.name) is not d or (defaults and d.name not in defaults):
                continue
            networks.append(checker.check_network(d, {k: v for k, v in overrides.items()
                                                      if any(p.name == k for p in d.inputs)},
                                                  (defaults or {}).get(d.name)))
    except BudgetExceeded as exceeded:  # the whole program is too large: nothing more to check
        errors.append(exceeded.diagnostic)
    if not main and not errors and not checker.errors:
        blocks = [d for d in definitions.values() if d.kind == "block"]
        if not blocks:
            errors.append(Diagnostic(f"{filename} defines no network or block",
                                     Pos(filename, 1, 1, 1, 1)))
    errors.extend(checker.errors)
    if errors:
        raise NetDSLError(errors, sources, checker.warnings)
    return Program(filename, sources, definitions, networks, checker.warnings, checker.uses,
                   checker)
