"""`netdsl lsp`: a Language Server over standard input and output, on pygls.

Each open document is checked on open and on every change (a check takes milliseconds, so
nothing is debounced) and its errors and warnings are published with their exact spans,
the derivation as related information and the fix in the message. Hover, go to definition,
completion, symbols and formatting answer from netdsl/lsp_analysis.py, which knows nothing
of the protocol; this module only converts between its positions and the client's.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from lsprotocol import types as t
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from . import __version__
from . import lsp_analysis as la
from .errors import Diagnostic, NetDSLError, Pos

SEVERITY = {"error": t.DiagnosticSeverity.Error, "warning": t.DiagnosticSeverity.Warning}
COMPLETION_KIND = {"layer": t.CompletionItemKind.Function, "block": t.CompletionItemKind.Class,
                   "argument": t.CompletionItemKind.Property,
                   "class": t.CompletionItemKind.Class}
SYMBOL_KIND = {"network": t.SymbolKind.Class, "block": t.SymbolKind.Function,
               "input": t.SymbolKind.Variable, "hyperparameter": t.SymbolKind.Constant}


class NetDSLServer(LanguageServer):
    """The server with what it remembers per document: the latest analysis, and the latest
    one whose program checked (hover falls back on it while the text does not check)."""

    def __init__(self) -> None:
        super().__init__("netdsl", __version__)
        self.latest: dict[str, la.Analysis] = {}
        self.last_checked: dict[str, la.Analysis] = {}
        self.last_parsed: dict[str, la.Analysis] = {}
        self.shutdown_requested = False

    def analyse(self, uri: str) -> la.Analysis:
        document = self.workspace.get_text_document(uri)
        analysis = la.analyse(document.source, filename_of(uri))
        self.latest[uri] = analysis
        if analysis.program is not None:
            self.last_checked[uri] = analysis
        return analysis

    def parsed(self, uri: str) -> la.Analysis | None:
        """The latest version of the document that parsed (the current one, when it does)."""
        analysis = self.current(uri)
        if analysis.own_module is not None:
            self.last_parsed[uri] = analysis
        return self.last_parsed.get(uri)

    def current(self, uri: str) -> la.Analysis:
        analysis = self.latest.get(uri)
        document = self.workspace.get_text_document(uri)
        if analysis is None or analysis.text != document.source:
            analysis = self.analyse(uri)
        return analysis

    def forget(self, uri: str) -> None:
        self.latest.pop(uri, None)
        self.last_checked.pop(uri, None)
        self.last_parsed.pop(uri, None)


def filename_of(uri: str) -> str:
    """The file a URI names (imports resolve beside it), or the URI itself for an unsaved
    buffer."""
    path = to_fs_path(uri) if uri.startswith("file:") else None
    return os.path.normpath(path) if path else uri


def uri_of(filename: str, document_uri: str) -> str:
    if not filename or not (os.path.isabs(filename) or os.path.exists(filename)):
        return document_uri
    return from_fs_path(os.path.abspath(filename)) or document_uri


# ---------------------------------------------------------------- positions


def to_range(document: TextDocument | None, pos: Pos) -> t.Range:
    """A netdsl span (1-based, in characters) as an LSP range (0-based, in the client's
    code units). A span without an end covers one character."""
    start = ServerTextPosition(max(pos.line - 1, 0), max(pos.column - 1, 0))
    if pos.end_line:
        end = ServerTextPosition(pos.end_line - 1, max(pos.end_column - 1, 0))
    else:
        end = ServerTextPosition(start.line, start.character + 1)
    if document is None:
        return t.Range(t.Position(start.line, start.character),
                       t.Position(end.line, end.character))
    return document.range_to_client_units(ServerTextRange(start, end))


def from_position(document: TextDocument, position: t.Position) -> tuple[int, int]:
    server = document.position_from_client_units(position)
    return server.line + 1, server.character + 1


def document_for(server: NetDSLServer, filename: str) -> TextDocument | None:
    """A document for converting positions in `filename`: the open one, or the file read
    from disk; None when neither exists (positions then go out as characters)."""
    uri = from_fs_path(os.path.abspath(filename)) if os.path.isfile(filename) else None
    if not uri:
        return None
    try:
        return server.workspace.get_text_document(uri)
    except Exception:  # an unreadable file: the positions go out unconverted
        return None


# ---------------------------------------------------------------- diagnostics


def to_diagnostic(server: NetDSLServer, uri: str, analysis: la.Analysis,
                  diagnostic: Diagnostic) -> t.Diagnostic:
    document = server.workspace.get_text_document(uri)
    where = la.located_in(analysis, diagnostic)
    message = diagnostic.message
    if diagnostic.pos is not None and where is not diagnostic.pos:
        message = f"{diagnostic.pos}: {message}"  # a problem in an imported file
    if diagnostic.fix:
        message += f"\nfix: {diagnostic.fix}"
    info = []
    for note, pos in la.related(diagnostic):
        own = la.same_file(pos.file, analysis.filename)
        target = document if own else document_for(server, pos.file)
        info.append(t.DiagnosticRelatedInformation(
            t.Location(uri if own else uri_of(pos.file, uri), to_range(target, pos)), note))
    return t.Diagnostic(to_range(document, where), message,
                        severity=SEVERITY.get(diagnostic.severity, t.DiagnosticSeverity.Error),
                        source="netdsl", related_information=info or None)


def publish(server: NetDSLServer, uri: str) -> None:
    analysis = server.analyse(uri)
    diagnostics = [to_diagnostic(server, uri, analysis, d)
                   for d in analysis.errors + analysis.warnings]
    document = server.workspace.get_text_document(uri)
    server.text_document_publish_diagnostics(
        t.PublishDiagnosticsParams(uri, diagnostics, version=document.version))
    server.parsed(uri)  # remembered for completion while later versions do not parse


# ---------------------------------------------------------------- formatting


def format_edits(text: str, filename: str) -> list[t.TextEdit]:
    """One edit replacing the whole text with `netdsl fmt`'s layout; none when the text is
    already formatted, does not parse, or this netdsl has no formatter."""
    try:
        from .fmt import format_source  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return []
    try:
        formatted = format_source(text, filename)
    except NetDSLError:
        return []
    if formatted == text:
        return []
    lines = text.split("\n")
    end = t.Position(len(lines) - 1, len(lines[-1].encode("utf-16-le")) // 2)
    return [t.TextEdit(t.Range(t.Position(0, 0), end), formatted)]


# ---------------------------------------------------------------- the server


def make_server() -> NetDSLServer:
    server = NetDSLServer()

    @server.feature(t.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: NetDSLServer, params: t.DidOpenTextDocumentParams) -> None:
        publish(ls, params.text_document.uri)

    @server.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: NetDSLServer, params: t.DidChangeTextDocumentParams) -> None:
        publish(ls, params.text_document.uri)

    @server.feature(t.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: NetDSLServer, params: t.DidSaveTextDocumentParams) -> None:
        publish(ls, params.text_document.uri)  # an imported file may have changed on disk

    @server.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: NetDSLServer, params: t.DidCloseTextDocumentParams) -> None:
        ls.forget(params.text_document.uri)
        ls.text_document_publish_diagnostics(
            t.PublishDiagnosticsParams(params.text_document.uri, []))

    @server.feature(t.TEXT_DOCUMENT_HOVER)
    def hover(ls: NetDSLServer, params: t.HoverParams) -> t.Hover | None:
        uri = params.text_document.uri
        document = ls.workspace.get_text_document(uri)
        line, column = from_position(document, params.position)
        analysis = ls.current(uri)
        program, source = analysis.program, analysis
        if program is None and uri in ls.last_checked:
            # while the text does not check, the last version that did answers for the
            # lines that have not changed since
            previous = ls.last_checked[uri]
            old, new = previous.text.split("\n"), analysis.text.split("\n")
            if line <= min(len(old), len(new)) and old[line - 1] == new[line - 1]:
                program, source = previous.program, previous
        if program is None:
            return None
        found = la.hover(source, program, line, column)
        if found is None:
            return None
        text, span = found
        return t.Hover(t.MarkupContent(t.MarkupKind.Markdown, text), to_range(document, span))

    @server.feature(t.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: NetDSLServer, params: t.DefinitionParams) -> t.Location | None:
        uri = params.text_document.uri
        document = ls.workspace.get_text_document(uri)
        analysis = ls.current(uri)
        target = la.definition_at(analysis, *from_position(document, params.position))
        if target is None:
            return None
        own = la.same_file(target.file, analysis.filename)
        target_document = document if own else document_for(ls, target.file)
        return t.Location(uri if own else uri_of(target.file, uri),
                          to_range(target_document, target))

    @server.feature(t.TEXT_DOCUMENT_COMPLETION,
                    t.CompletionOptions(trigger_characters=["(", ",", ".", ">"]))
    def completion(ls: NetDSLServer, params: t.CompletionParams) -> t.CompletionList:
        uri = params.text_document.uri
        document = ls.workspace.get_text_document(uri)
        analysis = ls.current(uri)
        items = [t.CompletionItem(c.label, kind=COMPLETION_KIND[c.kind], detail=c.detail,
                                  documentation=c.documentation or None)
                 for c in la.completions(analysis, *from_position(document, params.position),
                                         parsed=ls.parsed(uri))]
        return t.CompletionList(is_incomplete=False, items=items)

    @server.feature(t.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def document_symbol(ls: NetDSLServer, params: t.DocumentSymbolParams
                        ) -> list[t.DocumentSymbol]:
        uri = params.text_document.uri
        document = ls.workspace.get_text_document(uri)

        def convert(symbol: la.Symbol) -> t.DocumentSymbol:
            return t.DocumentSymbol(
                symbol.name, SYMBOL_KIND[symbol.kind], to_range(document, symbol.span),
                to_range(document, symbol.name_span), detail=symbol.detail or None,
                children=[convert(c) for c in symbol.children] or None)

        return [convert(s) for s in la.symbols(ls.current(uri))]

    @server.feature(t.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: NetDSLServer, params: t.DocumentFormattingParams) -> list[t.TextEdit]:
        uri = params.text_document.uri
        document = ls.workspace.get_text_document(uri)
        return format_edits(document.source, filename_of(uri))

    @server.feature(t.SHUTDOWN)
    def shutdown(ls: NetDSLServer, params: Any = None) -> None:
        ls.shutdown_requested = True

    return server


def serve() -> int:
    """Serve over standard input and output until the client says `exit` (or goes away);
    the exit status is 0 when a `shutdown` came first, 1 otherwise, as the protocol asks."""
    server = make_server()
    # pygls closes the stream it writes to on `exit`; it gets its own handle on standard
    # output, so that the caller's sys.stdout stays open and flushes cleanly afterwards
    with os.fdopen(os.dup(sys.stdout.fileno()), "wb") as out:
        server.start_io(sys.stdin.buffer, out)
    return 0 if server.shutdown_requested else 1
