"""Diagnostics: suggestions, name validation, and how errors are collected."""

from __future__ import annotations

import keyword
import re
from typing import TYPE_CHECKING, Any

from .. import nodes as n
from .. import shapes as s
from ..catalogue import (
    LAYERS,
    TORCH_CLASSES,
)
from ..errors import Diagnostic, Pos, SourceError
from ..values import (
    LayerValue,
    Tensor,
    explain,
)
from .scope import Frame

if TYPE_CHECKING:
    from .checker import Checker


def suggest(name: str, options: Any) -> str | None:
    import difflib  # only when something is misspelt

    close = difflib.get_close_matches(name, sorted(set(options)), n=1, cutoff=0.6)
    return close[0] if close else None


def pytorch_spelling(name: str) -> str | None:
    """The netdsl layer for a PyTorch function or method name: max_pool2d -> maxpool,
    adaptive_avg_pool2d -> adaptive_avgpool, interpolate -> upsample, view -> view."""
    def plain(text: str) -> str:
        return re.sub(r"[123]d$", "", text).replace("_", "").lower()

    if name == "interpolate":
        return "upsample"
    wanted = plain(name)
    for layer in LAYERS:
        if plain(layer) == wanted:
            return layer
    return None


def did_you_mean(name: str, options: Any) -> str | None:
    close = suggest(name, options)
    return f"did you mean {close!r}?" if close else None


def did_you_mean_layer(name: str, options: Any) -> str | None:
    """For an unknown layer: the netdsl spelling of a torch class (ReLU, MaxPool2d) or of a
    name that differs only by case, before the closest spelling ('Relu' is not 'elu')."""
    layer = name.lower() if name.lower() in LAYERS else next(
        (spec.name for spec in LAYERS.values() if name in spec.classes), None)
    if layer is None and name in TORCH_CLASSES:
        layer = pytorch_spelling(name)
    return f"did you mean {layer!r}?" if layer else did_you_mean(name, options)


def validate_name(name: str, pos: Pos, what: str) -> None:
    if keyword.iskeyword(name) or (keyword.issoftkeyword(name) and name in ("match", "case")):
        if keyword.iskeyword(name):
            raise SourceError(f"{name!r} is a Python keyword and cannot name {what}", pos,
                              fix=f"rename it, e.g. {name}_")
    if name.startswith("__"):
        raise SourceError(f"names starting with '__' are reserved; {name!r} cannot name {what}",
                          pos)
    if name == "self":
        raise SourceError(f"'self' cannot name {what}: the generated module uses it", pos)


class Diagnostics:
    """Reporting: errors and warnings collected once, with the block uses they happened in."""

    def _add(self: Checker, diag: Diagnostic, into: list[Diagnostic]) -> None:
        self.diagnostics_made += 1  # counted before the dedupe: a replay must say nothing
        key = (diag.message, diag.file, diag.line, diag.column)
        if key not in self._seen:
            self._seen.add(key)
            into.append(diag)

    def error(self: Checker, err: SourceError, frame: Frame | None) -> None:
        if frame is not None and frame.speculative:
            raise err
        diag = err.diagnostic
        self._add_context(diag, frame)
        self._add(diag, self.errors)

    def warn(self: Checker, message: str, pos: Pos | None, frame: Frame | None,
             fix: str | None = None) -> None:
        if frame is not None and frame.speculative:
            return
        diag = Diagnostic(message, pos, severity="warning", fix=fix)
        self._add_context(diag, frame)
        self._add(diag, self.warnings)

    @staticmethod
    def _add_context(diag: Diagnostic, frame: Frame | None) -> None:
        while frame is not None and frame.caller is not None:
            if frame.call_pos is not None:
                diag.notes.append(f"in block {frame.definition.name} used at {frame.call_pos}")
            frame = frame.caller

    def label(self: Checker, pos: Pos) -> str:
        """The source text at a one-line span, e.g. 'conv(32, 5, padding=2)'."""
        if pos.end_line != pos.line:
            return ""
        lines = self._lines.get(pos.file)
        if lines is None:  # split each file once: labels are asked for every layer
            lines = self._lines[pos.file] = self.sources.get(pos.file, "").splitlines()
        if pos.line > len(lines):
            return ""
        return lines[pos.line - 1][pos.column - 1: pos.end_column - 1]

    def shape_error(self: Checker, err: s.ShapeError, lv: LayerValue | None, inputs: list[Tensor],
                    pos: Pos | None = None) -> SourceError:
        notes: list[str] = []
        if len(inputs) == 1:
            notes.append(f"input: {inputs[0].tt}")
        elif inputs:
            notes.append("inputs: " + ", ".join(str(t.tt) for t in inputs))
        for index, axis in err.explain:
            if index < len(inputs) and -inputs[index].tt.rank <= axis < inputs[index].tt.rank:
                notes.extend(explain(inputs[index].whys[axis]))
        deduped = list(dict.fromkeys(notes))
        fix = err.fix
        if err.rename and lv is not None and lv.spec is not None and lv.label.startswith(
                lv.spec.name + "("):  # the same call under another name, as the user wrote it
            fix = f"write {err.rename}{lv.label[len(lv.spec.name):]}"
        return SourceError(err.message, lv.pos if lv else pos, notes=deduped, fix=fix)

    def header_text(self: Checker, dims: list[n.Expr], frame: Frame) -> str:
        return "[" + ", ".join(self.label(d.pos) or "?" for d in dims) + "]"
