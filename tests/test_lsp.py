"""`netdsl lsp` end to end: a real server process spoken to over JSON-RPC (pytest-lsp),
on the examples. Expected shapes and parameter counts come from torch; expected spans come
from the source text; expected diagnostics from netdsl's own API (the server must carry
them to the editor unchanged)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")
pytest_lsp = pytest.importorskip("pytest_lsp")

from lsprotocol import types as t  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient  # noqa: E402

import netdsl  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
# the server runs the same netdsl as the tests, installed or not
SERVER_ENV = {**os.environ, "PYTHONPATH": str(Path(netdsl.__file__).resolve().parent.parent)}
SERVER = [sys.executable, "-m", "netdsl", "lsp"]

pytestmark = pytest.mark.asyncio(loop_scope="module")
INITIALIZED: list[t.InitializeResult] = []


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER, server_env=SERVER_ENV),
                    scope="module")
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    result = await lsp_client.initialize_session(
        t.InitializeParams(capabilities=t.ClientCapabilities()))
    INITIALIZED.append(result)
    yield
    await lsp_client.shutdown_session()


def uri(path: Path) -> str:
    return path.resolve().as_uri()


_versions: dict[str, int] = {}


async def open_text(client: LanguageClient, path: Path, text: str | None = None
                    ) -> list[t.Diagnostic]:
    """Open a document (the file's text unless given) and wait for its diagnostics."""
    text = path.read_text() if text is None else text
    _versions[uri(path)] = 1
    client.text_document_did_open(t.DidOpenTextDocumentParams(
        t.TextDocumentItem(uri(path), "netdsl", 1, text)))
    await client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return list(client.diagnostics[uri(path)])


async def change_text(client: LanguageClient, path: Path, text: str) -> list[t.Diagnostic]:
    _versions[uri(path)] += 1
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        t.VersionedTextDocumentIdentifier(_versions[uri(path)], uri(path)),
        [t.TextDocumentContentChangeWholeDocument(text)]))
    await client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return list(client.diagnostics[uri(path)])


def position_of(text: str, needle: str, offset: int = 0) -> t.Position:
    """The position of the first `needle` (plus `offset` characters) in `text`."""
    index = text.index(needle) + offset
    line = text.count("\n", 0, index)
    return t.Position(line, index - (text.rfind("\n", 0, index) + 1))


async def test_initialize_announces_every_feature(client: LanguageClient) -> None:
    [result] = INITIALIZED
    caps = result.capabilities
    assert result.server_info is not None and result.server_info.name == "netdsl"
    assert caps.hover_provider and caps.definition_provider and caps.document_symbol_provider
    assert caps.document_formatting_provider and caps.completion_provider


async def test_an_error_is_published_with_its_exact_span_derivation_and_fix(
        client: LanguageClient) -> None:
    path = EXAMPLES / "mnist_resnet_padded.net"
    text = path.read_text()
    with pytest.raises(netdsl.NetDSLError) as raised:
        netdsl.check_file(path)
    [expected] = raised.value.diagnostics
    [diagnostic] = await open_text(client, path)
    start = position_of(text, "linear(10, in_features=512)")
    end = t.Position(start.line, start.character + len("linear(10, in_features=512)"))
    assert diagnostic.range == t.Range(start, end)
    assert diagnostic.severity == t.DiagnosticSeverity.Error
    assert diagnostic.message == f"{expected.message}\nfix: {expected.fix}"
    related = diagnostic.related_information or []
    assert [r.message for r in related] == expected.notes
    maxpool = next(r for r in related if r.message.startswith("7 comes from maxpool(2) at "))
    line, column = (int(v) for v in maxpool.message.split(" at ")[1].split()[0].split(":"))
    assert maxpool.location.uri == uri(path)
    assert maxpool.location.range.start == t.Position(line - 1, column - 1)
    assert text.split("\n")[line - 1][column - 1:].startswith("maxpool(2)")


async def test_warnings_are_published_as_warnings(client: LanguageClient, tmp_path: Path
                                                  ) -> None:
    text = "network N(x: [B, 4]):\n    y = x -> linear(3)\n    x -> linear(2)\n"
    [expected] = netdsl.check_source(text, "n.net").warnings
    [diagnostic] = await open_text(client, tmp_path / "n.net", text)
    assert diagnostic.severity == t.DiagnosticSeverity.Warning
    assert diagnostic.message == expected.message
    assert diagnostic.range.start == position_of(text, "y =")


async def test_a_change_republishes(client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "change.net"
    good = "network N(x: [B, 4]):\n    x -> linear(3)\n"
    assert await open_text(client, path, good) == []
    bad = good.replace("linear(3)", "linear(3, in_features=5)")
    [diagnostic] = await change_text(client, path, bad)
    assert "5" in diagnostic.message and "4" in diagnostic.message
    assert diagnostic.range.start == position_of(bad, "linear(3, in")
    assert await change_text(client, path, good) == []


async def test_an_error_in_an_imported_file_is_shown_at_the_import(
        client: LanguageClient, tmp_path: Path) -> None:
    (tmp_path / "blocks.net").write_text("block Head(x):\n    x -> linear(2, in_features=9)\n")
    text = 'import "blocks.net"\n\nnetwork N(x: [B, 4]):\n    x -> Head\n'
    with pytest.raises(netdsl.NetDSLError) as raised:
        netdsl.check_source(text, str(tmp_path / "main.net"))
    [expected] = raised.value.diagnostics
    [diagnostic] = await open_text(client, tmp_path / "main.net", text)
    assert diagnostic.range.start == t.Position(0, 0)
    assert diagnostic.message.startswith(f"{expected.pos}: {expected.message}")


async def test_hover_on_a_conv_shows_the_torch_class_shapes_and_parameters(
        client: LanguageClient) -> None:
    torch = pytest.importorskip("torch")
    path = EXAMPLES / "cifar10.net"
    text = path.read_text()
    await open_text(client, path)
    hover = await client.text_document_hover_async(t.HoverParams(
        t.TextDocumentIdentifier(uri(path)), position_of(text, "conv(32, 5", 2)))
    assert hover is not None and isinstance(hover.contents, t.MarkupContent)
    conv = torch.nn.Conv2d(3, 32, 5, padding=2)
    out = conv(torch.zeros(2, 3, 32, 32))
    shape = ", ".join(["B", *map(str, out.shape[1:])])
    assert "nn.Conv2d(3, 32, 5, padding=2)" in hover.contents.value
    assert f"input `[B, 3, 32, 32]` → output `[{shape}]`" in hover.contents.value
    assert f"parameters {sum(p.numel() for p in conv.parameters()):,}" in hover.contents.value
    assert "FLOPs" not in hover.contents.value  # no cost pass has run
    start = position_of(text, "conv(32, 5")
    assert hover.range == t.Range(start, t.Position(start.line, start.character + len(
        "conv(32, 5, padding=2)")))


async def test_hover_answers_from_the_last_checked_version_while_the_text_does_not_check(
        client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "cifar10.net"
    text = ("network Cifar10(x: [B, 3, 32, 32]):\n"
            "    x -> conv(32, 5, padding=2) -> maxpool(2)\n"
            "      -> conv(32, 5, padding=2) -> maxpool(2)\n"
            "      -> flatten -> linear(10)\n")
    await open_text(client, path, text)
    broken = text.replace("linear(10)", "linear(10, in_features=3)")
    assert await change_text(client, path, broken)
    at = position_of(broken, "conv(32, 5", 2)
    hover = await client.text_document_hover_async(t.HoverParams(
        t.TextDocumentIdentifier(uri(path)), at))
    assert hover is not None and isinstance(hover.contents, t.MarkupContent)
    assert "nn.Conv2d(3, 32, 5, padding=2)" in hover.contents.value
    edited = broken.replace("conv(32, 5, padding=2) -> maxpool(2)\n      -> conv(32",
                            "conv(32, 5, padding=2) -> maxpool(3)\n      -> conv(32")
    assert await change_text(client, path, edited)
    # the line under the cursor changed since the last version that checked: no stale answer
    assert await client.text_document_hover_async(t.HoverParams(
        t.TextDocumentIdentifier(uri(path)), at)) is None


async def test_hover_on_a_tensor_name_and_a_block_use(client: LanguageClient) -> None:
    path = EXAMPLES / "unet.net"
    text = path.read_text()
    program = netdsl.check_file(path)
    await open_text(client, path)
    hover = await client.text_document_hover_async(t.HoverParams(
        t.TextDocumentIdentifier(uri(path)), position_of(text, "x2 = x1")))
    down = next(node for node in program.networks[0].nodes if node.name == "down1")
    assert hover is not None and isinstance(hover.contents, t.MarkupContent)
    assert hover.contents.value == f"(tensor) **x2**: `{down.outputs[0]}`"
    hover = await client.text_document_hover_async(t.HoverParams(
        t.TextDocumentIdentifier(uri(path)), position_of(text, "Down(128)")))
    assert hover is not None and isinstance(hover.contents, t.MarkupContent)
    assert f"input `{down.inputs[0].tt}` → output `{down.outputs[0]}`" in hover.contents.value
    assert f"parameters {down.meta['params']:,}" in hover.contents.value


async def test_definition_of_a_block_use(client: LanguageClient) -> None:
    path = EXAMPLES / "unet.net"
    text = path.read_text()
    await open_text(client, path)
    location = await client.text_document_definition_async(t.DefinitionParams(
        t.TextDocumentIdentifier(uri(path)), position_of(text, "x1 -> Down(128)", 8)))
    assert isinstance(location, t.Location) and location.uri == uri(path)
    start = position_of(text, "Down(out_channels)(x)")
    assert location.range == t.Range(start, t.Position(start.line, start.character + 4))


async def test_definition_across_an_import(client: LanguageClient, tmp_path: Path) -> None:
    blocks = tmp_path / "lib" / "blocks.net"
    blocks.parent.mkdir()
    blocks.write_text("# blocks\nblock Head(x):\n    x -> linear(2)\n")
    text = 'import "lib/blocks.net"\n\nnetwork N(x: [B, 4]):\n    x -> Head\n'
    main = tmp_path / "main.net"
    assert await open_text(client, main, text) == []
    location = await client.text_document_definition_async(t.DefinitionParams(
        t.TextDocumentIdentifier(uri(main)), position_of(text, "Head", 1)))
    assert isinstance(location, t.Location) and location.uri == uri(blocks)
    assert location.range == t.Range(t.Position(1, 6), t.Position(1, 10))
    location = await client.text_document_definition_async(t.DefinitionParams(
        t.TextDocumentIdentifier(uri(main)), position_of(text, "lib/")))
    assert isinstance(location, t.Location) and location.uri == uri(blocks)
    assert location.range.start == t.Position(0, 0)


COMPLETION_HEAD = "block Head(width)(x):\n    x -> linear(width)\n\nnetwork N(x: [B, 3, 8, 8]):\n"


async def complete(client: LanguageClient, path: Path, line: str, at: str) -> list[str]:
    """Completion at the end of `at` in the network's line `line`, typed into a document
    that parsed before (text being typed seldom parses)."""
    await open_text(client, path, COMPLETION_HEAD + "    x -> relu\n")
    text = COMPLETION_HEAD + line
    await change_text(client, path, text)
    result = await client.text_document_completion_async(t.CompletionParams(
        t.TextDocumentIdentifier(uri(path)), position_of(text, at, len(at))))
    assert isinstance(result, t.CompletionList)
    return [item.label for item in result.items]


async def test_completion_of_layers_blocks_and_arguments(client: LanguageClient,
                                                         tmp_path: Path) -> None:
    from netdsl.catalogue import LAYERS

    labels = await complete(client, tmp_path / "a.net", "    x -> \n", "x -> ")
    assert set(LAYERS) | {"Head", "N"} == set(labels)
    labels = await complete(client, tmp_path / "b.net",
                            "    x -> conv(8, 3, padding=1, \n", "padding=1, ")
    conv = {p.name for p in LAYERS["conv"].signature} - {"padding"}
    assert set(labels) == {f"{name}=" for name in conv}
    assert "in_channels=" not in labels  # inferred from the input
    labels = await complete(client, tmp_path / "c.net",
                            "    x -> flatten -> Head(\n", "Head(")
    assert labels == ["width="]
    labels = await complete(client, tmp_path / "d.net", "    x -> nn.\n", "nn.")
    assert "Conv2d" in labels and "conv" not in labels
    assert await complete(client, tmp_path / "e.net", "    x  # conv(\n", "conv(") == []


async def test_document_symbols(client: LanguageClient) -> None:
    path = EXAMPLES / "unet.net"
    text = path.read_text()
    await open_text(client, path)
    symbols = await client.text_document_document_symbol_async(t.DocumentSymbolParams(
        t.TextDocumentIdentifier(uri(path))))
    assert symbols is not None
    found = {(s.name, s.kind) for s in symbols if isinstance(s, t.DocumentSymbol)}
    assert found == {("DoubleConv", t.SymbolKind.Function), ("Down", t.SymbolKind.Function),
                     ("Up", t.SymbolKind.Function), ("UNet", t.SymbolKind.Class)}
    up = next(s for s in symbols if s.name == "Up" and isinstance(s, t.DocumentSymbol))
    assert up.selection_range.start == position_of(text, "Up(out_channels")
    assert text.split("\n")[up.range.end.line].endswith("DoubleConv(out_channels, mid)")
    assert [c.name for c in up.children or []] == ["out_channels", "bilinear", "x1", "x2"]


FAKE_FORMATTER = """
import sys, types
fmt = types.ModuleType("netdsl.fmt")
fmt.format_source = {body}
sys.modules["netdsl.fmt"] = fmt if fmt.format_source else None  # None: importing fails
sys.argv = ["netdsl", "lsp"]
from netdsl.cli import run
run()
"""


async def format_with(formatter: str, text: str, path: Path) -> tuple[list[t.TextEdit], int]:
    """Formatting edits from a server whose `netdsl.fmt` is `formatter` (None: absent), and
    the server's exit status after shutdown and exit."""
    code = FAKE_FORMATTER.format(body=formatter)
    config = ClientServerConfig(server_command=[sys.executable, "-c", code],
                                server_env=SERVER_ENV)
    client = await config.start()
    assert isinstance(client, LanguageClient)
    try:
        await client.initialize_session(t.InitializeParams(capabilities=t.ClientCapabilities()))
        await open_text(client, path, text)
        edits = await client.text_document_formatting_async(t.DocumentFormattingParams(
            t.TextDocumentIdentifier(uri(path)), t.FormattingOptions(4, True)))
        await client.shutdown_session()
        assert client._server is not None
        return edits or [], client._server.returncode or 0
    finally:
        await client.stop()


async def test_formatting_replaces_the_document_with_the_formatters_output(
        tmp_path: Path) -> None:
    text = "network N(x: [B, 4]):\n    x->linear(3)\n"
    edits, status = await format_with("lambda text, filename: text.replace('->', ' -> ')",
                                      text, tmp_path / "f.net")
    [edit] = edits
    assert edit.new_text == text.replace("->", " -> ")
    assert edit.range == t.Range(t.Position(0, 0), t.Position(2, 0))
    assert status == 0  # shutdown, then exit: a clean exit


async def test_formatting_without_a_formatter_or_of_formatted_text_changes_nothing(
        tmp_path: Path) -> None:
    text = "network N(x: [B, 4]):\n    x -> linear(3)\n"
    edits, _ = await format_with("None", text, tmp_path / "g.net")  # no netdsl.fmt
    assert edits == []
    edits, _ = await format_with("lambda text, filename: text", text, tmp_path / "h.net")
    assert edits == []


async def test_without_pygls_the_command_says_what_to_install() -> None:
    import subprocess

    code = ("import sys; sys.modules['lsprotocol'] = None; sys.argv = ['netdsl', 'lsp']; "
            "from netdsl.cli import run; run()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=SERVER_ENV, timeout=60)
    assert result.returncode == 2
    assert "pip install 'netdsl[lsp]'" in result.stderr and "Traceback" not in result.stderr
