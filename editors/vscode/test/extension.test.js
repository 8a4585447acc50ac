// extension.js outside VS Code: `vscode` and the language client are replaced by recorders,
// and the test checks what the extension asks them to do with the user's settings.
"use strict";

const { test, beforeEach } = require("node:test");
const assert = require("node:assert/strict");
const Module = require("node:module");

let settings = {};
let shownErrors = [];
let clients = [];
let startFails = false;

const fakeVscode = {
  workspace: {
    getConfiguration: (section) => {
      assert.equal(section, "netdsl");
      return { get: (key, fallback) => (key in settings ? settings[key] : fallback) };
    },
    createFileSystemWatcher: (glob) => ({ glob }),
    onDidChangeConfiguration: (listener) => ({ listener, dispose() {} }),
  },
  window: { showErrorMessage: (message) => shownErrors.push(message) },
  commands: { registerCommand: (name, run) => ({ name, run, dispose() {} }) },
};

class FakeLanguageClient {
  constructor(id, name, serverOptions, clientOptions) {
    Object.assign(this, { id, name, serverOptions, clientOptions, running: false });
    clients.push(this);
  }

  async start() {
    if (startFails) throw new Error("spawn netdsl ENOENT");
    this.running = true;
  }

  async stop() {
    this.running = false;
  }
}

const fakeClientModule = { LanguageClient: FakeLanguageClient, TransportKind: { stdio: 0 } };
const realLoad = Module._load;
Module._load = function load(request, ...rest) {
  if (request === "vscode") return fakeVscode;
  if (request === "vscode-languageclient/node") return fakeClientModule;
  return realLoad.call(this, request, ...rest);
};
const extension = require("../extension.js");

beforeEach(async () => {
  await extension.deactivate();
  settings = {};
  shownErrors = [];
  clients = [];
  startFails = false;
});

function activate() {
  const context = { subscriptions: [] };
  return extension.activate(context).then(() => context);
}

test("starts `netdsl lsp` over stdio for netdsl documents", async () => {
  const context = await activate();
  assert.equal(clients.length, 1);
  const [client] = clients;
  assert.deepEqual(client.serverOptions, { command: "netdsl", args: ["lsp"], transport: 0 });
  assert.deepEqual(client.clientOptions.documentSelector, [{ language: "netdsl" }]);
  assert.ok(client.running);
  assert.deepEqual(context.subscriptions.map((s) => s.name).filter(Boolean),
    ["netdsl.restartServer"]);
});

test("the command comes from netdsl.server.command", async () => {
  settings["server.command"] = ["/venv/bin/python", "-m", "netdsl", "lsp"];
  await activate();
  assert.equal(clients[0].serverOptions.command, "/venv/bin/python");
  assert.deepEqual(clients[0].serverOptions.args, ["-m", "netdsl", "lsp"]);
});

test("a malformed command setting is reported, not started", async () => {
  settings["server.command"] = "netdsl lsp";
  await activate();
  assert.equal(clients.length, 0);
  assert.match(shownErrors[0], /netdsl\.server\.command must be a list of strings/);
});

test("a server that does not start is reported with how to fix it", async () => {
  startFails = true;
  await activate();
  assert.equal(shownErrors.length, 1);
  assert.match(shownErrors[0], /\(netdsl lsp\) did not start: spawn netdsl ENOENT/);
  assert.match(shownErrors[0], /netdsl\.server\.command/);
});

test("disabled, no server; a settings change restarts it", async () => {
  settings["server.enabled"] = false;
  const context = await activate();
  assert.equal(clients.length, 0);
  settings["server.enabled"] = true;
  const onChange = context.subscriptions.find((s) => s.listener).listener;
  await onChange({ affectsConfiguration: (section) => section === "netdsl.server" });
  assert.equal(clients.length, 1);
  await onChange({ affectsConfiguration: (section) => section === "netdsl.server" });
  assert.equal(clients.length, 2);
  assert.ok(!clients[0].running && clients[1].running, "the old server is stopped");
});

test("package.json declares the language, the grammar and the settings the code reads", () => {
  const manifest = require("../package.json");
  const [language] = manifest.contributes.languages;
  assert.equal(language.id, "netdsl");
  assert.deepEqual(language.extensions, [".net"]);
  assert.equal(manifest.contributes.grammars[0].language, "netdsl");
  assert.equal(manifest.main, "./extension.js");
  const properties = manifest.contributes.configuration.properties;
  assert.deepEqual(properties["netdsl.server.command"].default, ["netdsl", "lsp"]);
  assert.equal(properties["netdsl.server.enabled"].default, true);
  assert.ok(manifest.contributes.commands.some((c) => c.command === "netdsl.restartServer"));
});
