"""Source positions, diagnostics and the one exception the public API raises.

Inner code raises :class:`SourceError` carrying a short fact and a position; the
checker collects them as :class:`Diagnostic` objects and the public entry points
raise a single :class:`NetDSLError` holding all of them (``raise ... from None``),
so a user never sees an internal traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True, unsafe_hash=True)
class Pos:
    """A span in a source file; prints as ``file:line:col`` like pycparser's Coord.

    Never changed once made, but not declared frozen: a frozen dataclass sets each field
    through object.__setattr__, which makes it four times slower to create, and a Pos is
    made for every token and node."""

    file: str
    line: int
    column: int
    end_line: int = 0
    end_column: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    @property
    def short(self) -> str:
        return f"{self.line}:{self.column}"


@dataclass(slots=True)
class Diagnostic:
    """One problem in the source: a located message, how it came to be, and a fix."""

    message: str
    pos: Pos | None
    severity: str = "error"
    notes: list[str] = field(default_factory=list)
    fix: str | None = None
    # the text a `write ...` fix replaces, when wider than the span the caret marks: the
    # caret points at the culprit (`1` in `conv(32, 3, 1)`), the fix rewrites the call
    fix_pos: Pos | None = None

    @property
    def line(self) -> int:
        return self.pos.line if self.pos else 0

    @property
    def column(self) -> int:
        return self.pos.column if self.pos else 0

    @property
    def file(self) -> str:
        return self.pos.file if self.pos else ""

    def render(self, sources: dict[str, str] | None = None) -> str:
        """The compiler-style text: location, message, quoted line, caret, notes, fix."""
        where = f"{self.pos}: " if self.pos else ""
        out = [f"{where}{self.severity}: {self.message}"]
        quoted = _quote(self.pos, sources or {})
        out.extend(quoted)
        out.extend(f"  {note}" for note in self.notes)
        if self.fix:
            out.append(f"  fix: {self.fix}")
        return "\n".join(out)

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"file": self.file, "line": self.line, "column": self.column,
                                   "message": self.message}
        if self.notes:
            data["notes"] = list(self.notes)
        if self.fix:
            data["fix"] = self.fix
        return data


def _quote(pos: Pos | None, sources: dict[str, str]) -> list[str]:
    if pos is None or pos.file not in sources or pos.line < 1:
        return []
    lines = sources[pos.file].splitlines()
    if pos.line > len(lines):
        return []
    text = lines[pos.line - 1]
    if len(text) > 200:  # keep a minified 10 MB one-liner from flooding the terminal
        start = max(0, pos.column - 80)
        text = text[start:start + 160]
        column = pos.column - start
    else:
        column = pos.column
    column = max(1, min(column, len(text) + 1))
    end = pos.end_column if pos.end_line == pos.line and pos.end_column > pos.column else 0
    width = max(1, min(end - pos.column, len(text) - column + 1)) if end else 1
    # Copy tabs from the line so the caret lines up however the terminal shows them.
    pad = "".join("\t" if ch == "\t" else " " for ch in text[: column - 1])
    return [f"    {text}", f"    {pad}{'^' * width}"]


class SourceError(Exception):
    """A single located fact about bad source, raised by inner passes."""

    def __init__(self, message: str, pos: Pos | None, *, notes: list[str] | None = None,
                 fix: str | None = None, fix_pos: Pos | None = None) -> None:
        super().__init__(message)
        self.diagnostic = Diagnostic(message, pos, notes=list(notes or []), fix=fix,
                                     fix_pos=fix_pos)
        # independent errors found after this one in the same statement (the later stages
        # of a pipeline), reported with it
        self.later: list[SourceError] = []


class NetDSLError(Exception):
    """Every problem in netdsl source: ``.diagnostics`` lists each with line, column, message."""

    def __init__(self, diagnostics: list[Diagnostic], sources: dict[str, str] | None = None,
                 warnings: list[Diagnostic] | None = None) -> None:
        self.diagnostics = diagnostics
        self.sources = sources or {}
        self.warnings = warnings or []
        super().__init__(self.render())

    def render(self) -> str:
        return "\n\n".join(d.render(self.sources) for d in self.diagnostics)
