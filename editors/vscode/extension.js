// The netdsl extension: the language (highlighting, brackets, comments, indentation) comes
// from package.json; this file starts the netdsl language server, `netdsl lsp`, over standard
// input and output, and restarts it when its settings change. Plain JavaScript: no build step.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

const DEFAULT_COMMAND = ["netdsl", "lsp"];
let client = null;

// The server's command from the settings: the program, then its arguments.
function serverCommand(configuration) {
  const command = configuration.get("server.command", DEFAULT_COMMAND);
  if (!Array.isArray(command) || command.length === 0
      || !command.every((part) => typeof part === "string" && part.length > 0)) {
    throw new Error("netdsl.server.command must be a list of strings, the program first, "
      + `e.g. ${JSON.stringify(DEFAULT_COMMAND)}`);
  }
  return { command: command[0], args: command.slice(1) };
}

async function startServer() {
  const configuration = vscode.workspace.getConfiguration("netdsl");
  if (!configuration.get("server.enabled", true)) {
    return;
  }
  let executable;
  try {
    executable = serverCommand(configuration);
  } catch (error) {
    vscode.window.showErrorMessage(error.message);
    return;
  }
  const serverOptions = { ...executable, transport: TransportKind.stdio };
  const clientOptions = {
    documentSelector: [{ language: "netdsl" }],
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/*.net") },
  };
  client = new LanguageClient("netdsl", "netdsl language server", serverOptions, clientOptions);
  try {
    await client.start();
  } catch (error) {
    const shown = [executable.command, ...executable.args].join(" ");
    vscode.window.showErrorMessage(`netdsl: the language server (${shown}) did not start: `
      + `${error && error.message ? error.message : error}. Install netdsl in the Python `
      + "environment VS Code sees (pip install \"netdsl[editor]\") or set netdsl.server.command.");
    client = null;
  }
}

async function stopServer() {
  if (client !== null) {
    const running = client;
    client = null;
    await running.stop();
  }
}

async function restartServer() {
  await stopServer();
  await startServer();
}

function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand("netdsl.restartServer", restartServer),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("netdsl.server")) {
        return restartServer();
      }
      return undefined;
    }),
  );
  return startServer();
}

function deactivate() {
  return stopServer();
}

module.exports = { activate, deactivate, serverCommand };
