"""Attribute names of generated modules and the reserved words they avoid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import nodes as n
from ..catalogue import (
    LAYERS,
    MODULE_ATTRIBUTES,
    TORCH_CLASSES,
)
from ..errors import SourceError
from .diagnostics import validate_name

if TYPE_CHECKING:
    from .checker import Checker


def snake(name: str) -> str:
    """ConvBNReLU -> conv_bn_relu, InceptionA -> inception_a, DoubleConv -> double_conv."""
    for word in ("ReLU", "GELU", "SiLU", "PReLU", "ELU"):
        name = name.replace(word, word[0] + word[1:].lower())
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper() or (
                i + 1 < len(name) and name[i + 1].islower())) and name[i - 1] != "_":
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def header_dimensions(d: n.Definition) -> set[str]:
    """The names a definition's input shapes bind (`C`, `H` in `x: [B, C, H, W]`)."""
    return {dim.id for p in d.inputs if p.type is not None for dim in p.type.shape.dims
            if isinstance(dim, n.Name)}


def walk_statements(body: list[n.Stmt]) -> list[n.Stmt]:
    out: list[n.Stmt] = []
    stack = list(reversed(body))
    while stack:
        stmt = stack.pop()
        out.append(stmt)
        if isinstance(stmt, n.If):
            nested: list[n.Stmt] = []
            for _, branch in stmt.branches:
                nested.extend(branch)
            if stmt.orelse:
                nested.extend(stmt.orelse)
            stack.extend(reversed(nested))
        elif isinstance(stmt, n.For):
            stack.extend(reversed(stmt.body))
    return out


def walk_sites(stmt: n.Stmt) -> list[tuple[Any, Sequence[str]]]:
    """Stages and calls that may build a layer or block, in source order."""
    roots: list[Any] = []
    if isinstance(stmt, n.Assign):
        roots = [stmt.value]
    elif isinstance(stmt, (n.ExprStmt, n.Return)):
        roots = [stmt.value]
    elif isinstance(stmt, n.If):
        roots = [cond for cond, _ in stmt.branches]
    elif isinstance(stmt, n.For):
        roots = [stmt.iter]
    found: list[tuple[Any, Sequence[str]]] = []
    stack = list(reversed(roots))
    while stack:
        item = stack.pop()
        if isinstance(item, n.Pipeline):
            stack.extend(reversed([item.head, *item.stages]))
        elif isinstance(item, n.Stage):
            found.append((item, item.callee))
            stack.extend(reversed([*item.args, *[k.value for k in item.kwargs]]))
        elif isinstance(item, n.Call):
            callee = _callee_of(item.func)
            if callee is not None:
                found.append((item, callee))
            stack.extend(reversed([item.func, *item.args, *[k.value for k in item.kwargs]]))
        elif isinstance(item, n.Expr):
            for attr in getattr(type(item), "__slots__", ()):
                child = getattr(item, attr, None)
                if isinstance(child, list):
                    stack.extend(reversed([c for c in child if isinstance(c, n.Expr)]))
                elif isinstance(child, n.Expr):
                    stack.append(child)
    return found


def _callee_of(func: n.Expr) -> list[str] | None:
    if isinstance(func, n.Name):
        return [func.id]
    if isinstance(func, n.Attribute) and isinstance(func.value, n.Name):
        return [func.value.id, func.attr]
    return None


RESERVED_NAMES = frozenset({"self", "torch", "nn", "F"})


class Naming:
    """Attribute names for every layer and block site of a definition."""

    def site_names(self: Checker, d: n.Definition) -> dict[int, str]:
        """Attribute names for every layer and block site of a definition, in source order,
        over every branch: stable whatever the uses evaluate."""
        if d.name in self._names:
            return self._names[d.name]
        names: dict[int, str] = {}
        taken: set[str] = set()
        counters: dict[str, int] = {}
        sites: list[tuple[Any, str, str | None]] = []
        for stmt in walk_statements(d.body):
            for site, callee in walk_sites(stmt):
                base = self.site_prefix(callee, d)
                if base is None:
                    continue
                alias = site.alias if isinstance(site, n.Stage) else None
                sites.append((site, base, alias))
        # bound names and aliases are claimed first so counters skip them
        for stmt in walk_statements(d.body):
            if isinstance(stmt, n.Assign) and isinstance(stmt.target, n.Name):
                taken.add(stmt.target.id)
        self.name_parameters(d, names)
        for site, _, alias in sites:
            if alias:
                if alias in MODULE_ATTRIBUTES:
                    raise SourceError(f"`as {alias}` would replace nn.Module's own attribute "
                                      f"{alias!r}", site.alias_pos or site.pos,
                                      fix=f"choose another name, e.g. {alias}_layer")
                validate_name(alias, site.alias_pos or site.pos, "a layer")
                if alias in names.values():
                    raise SourceError(f"two layers are named {alias!r}", site.alias_pos or
                                      site.pos)
                names[id(site)] = alias
                taken.add(alias)
        for site, base, alias in sites:
            if alias or id(site) in names:
                continue
            joiner = "_" if base[-1].isdigit() else ""
            while True:
                counters[base] = counters.get(base, 0) + 1
                candidate = f"{base}{joiner}{counters[base]}"
                if candidate not in taken and candidate not in MODULE_ATTRIBUTES:
                    break
            taken.add(candidate)
            names[id(site)] = candidate
        self._names[d.name] = names
        return names

    def site_prefix(self: Checker, callee: Sequence[str], d: n.Definition) -> str | None:
        if len(callee) == 2 and callee[0] == "nn":
            spec = TORCH_CLASSES.get(callee[1])
            return spec.prefix if spec else snake(callee[1])
        if len(callee) != 1:
            return None
        name = callee[0]
        if name in LAYERS:
            return LAYERS[name].prefix or name
        if name in self.definitions:
            return snake(name)
        if name == "parameter":  # a parameter bound to no name: param1, param2 ...
            return "param"
        return None

    def name_parameters(self: Checker, d: n.Definition, names: dict[int, str]) -> None:
        """A parameter bound to a name is the module's attribute of that name
        (`cls = parameter(1, 1, D)` is `self.cls`)."""
        for stmt in walk_statements(d.body):
            if not isinstance(stmt, n.Assign):
                continue
            value = stmt.value
            if not (isinstance(value, n.Call) and isinstance(value.func, n.Name) and
                    value.func.id == "parameter" and isinstance(stmt.target, n.Name)):
                continue
            name = stmt.target.id
            if name in MODULE_ATTRIBUTES:
                raise SourceError(f"{name!r} would replace nn.Module's own attribute {name!r} "
                                  f"in the generated module", stmt.target.pos,
                                  fix=f"choose another name, e.g. {name}_param")
            if name in names.values():
                raise SourceError(f"{name!r} is bound to two parameters; each is the module's "
                                  f"attribute of its name", stmt.target.pos,
                                  fix=f"choose another name, e.g. {name}2")
            names[id(value)] = name
