// Tokenizes every example (and the highlighters' lexical sample) with the extension's
// TextMate grammar, as VS Code does (vscode-textmate on the Oniguruma regex engine), and
// compares with a small independent scanner: every non-space character gets a scope of its
// own, and keywords, layers, numbers, strings and comments get theirs.
// Run with `node --test` in editors/vscode (pytest runs it too: tests/test_vscode.py).
"use strict";

const { test } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const EXTENSION = path.resolve(__dirname, "..");
const REPOSITORY = path.resolve(EXTENSION, "..", "..");
const GRAMMAR = path.join(EXTENSION, "syntaxes", "netdsl.tmLanguage.json");
const ROOT_SCOPE = "source.netdsl";
const KEYWORDS = new Set(["network", "block", "import", "if", "elif", "else", "return", "pass",
  "and", "or", "not", "as", "true", "false", "none"]);
const KEYWORD_SCOPE = /^(keyword\.|storage\.type\.|constant\.language\.)/;

function netFiles(folder) {
  return fs.readdirSync(folder).filter((f) => f.endsWith(".net")).sort()
    .map((f) => path.join(folder, f));
}

const FILES = [
  ...netFiles(path.join(REPOSITORY, "examples")),
  ...netFiles(path.join(REPOSITORY, "tests", "fuzz", "found")),
  path.join(REPOSITORY, "tests", "lexical_sample.net"),
];

async function loadGrammar() {
  const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async (scopeName) => scopeName === ROOT_SCOPE
      ? vsctm.parseRawGrammar(fs.readFileSync(GRAMMAR, "utf8"), GRAMMAR)
      : null,
  });
  return registry.loadGrammar(ROOT_SCOPE);
}

const grammarReady = loadGrammar();

// For each line, the scopes of each character, as VS Code would give them.
function tokenize(grammar, text) {
  let stack = vsctm.INITIAL;
  return text.split(/\r?\n/).map((line) => {
    const result = grammar.tokenizeLine(line, stack);
    stack = result.ruleStack;
    const scopes = new Array(line.length);
    for (const token of result.tokens) {
      for (let i = token.startIndex; i < Math.min(token.endIndex, line.length); i++) {
        scopes[i] = token.scopes;
      }
    }
    return { line, scopes };
  });
}

// An independent reading of one line: comments, strings, numbers, words and the rest.
function scan(line) {
  const pieces = [];
  const NUMBER = /^\d(?:_?\d)*(?:\.\d(?:_?\d)*)?(?:[eE][+-]?\d(?:_?\d)*)?/;
  let i = 0;
  while (i < line.length) {
    const rest = line.slice(i);
    let kind;
    let length;
    if (/^\s/.test(rest)) {
      kind = "space"; length = 1;
    } else if (rest[0] === "#") {
      kind = "comment"; length = rest.length;
    } else if (rest[0] === '"') {
      let j = 1;
      while (j < rest.length && rest[j] !== '"') j += rest[j] === "\\" ? 2 : 1;
      kind = "string"; length = Math.min(j + 1, rest.length);
    } else if (/^\d/.test(rest)) {
      kind = "number"; length = NUMBER.exec(rest)[0].length;
    } else if (/^[A-Za-z_]/.test(rest)) {
      kind = "word"; length = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest)[0].length;
    } else if (rest.startsWith("->")) {
      kind = "arrow"; length = 2;
    } else {
      kind = "other"; length = 1;
    }
    pieces.push({ kind, start: i, text: rest.slice(0, length) });
    i += length;
  }
  return pieces;
}

function has(scopes, pattern) {
  return scopes !== undefined && scopes.some((scope) => pattern.test(scope));
}

test("the grammar loads", async () => {
  const grammar = await grammarReady;
  assert.ok(grammar, "vscode-textmate did not load syntaxes/netdsl.tmLanguage.json");
  assert.ok(FILES.length > 20, `only ${FILES.length} .net files found`);
});

// block names defined anywhere in the corpus: a stage that is not one of them (nor nn.X) is a
// layer of the catalogue, and must be scoped as one
function definedNames() {
  const names = new Set();
  for (const file of FILES) {
    const text = fs.readFileSync(file, "utf8");
    for (const m of text.matchAll(/\b(?:block|network)\s+(\w+)/g)) {
      names.add(m[1]);
    }
    // a layer bound to a name (`embed = embedding(...)`) is applied by that name: `-> embed`
    for (const m of text.matchAll(/^\s*(\w+)\s*=\s*\w+\(/gm)) {
      names.add(m[1]);
    }
  }
  return names;
}

for (const file of FILES) {
  test(`tokenize ${path.relative(REPOSITORY, file)}`, async () => {
    const grammar = await grammarReady;
    const blocks = definedNames();
    const counts = { keyword: 0, layer: 0, number: 0, string: 0, comment: 0 };
    tokenize(grammar, fs.readFileSync(file, "utf8")).forEach(({ line, scopes }, index) => {
      const where = `${path.basename(file)}:${index + 1}`;
      for (let i = 0; i < line.length; i++) {
        if (/\s/.test(line[i])) continue;
        const at = `${where}:${i + 1} (${JSON.stringify(line[i])})`;
        assert.ok(scopes[i] && scopes[i].length > 1 && scopes[i][0] === ROOT_SCOPE,
          `${at}: no scope but the root: ${scopes[i]}`);
        assert.ok(!has(scopes[i], /^invalid\./), `${at}: marked invalid: ${scopes[i]}`);
      }
      let previous = null;
      for (const piece of scan(line)) {
        const inside = (pattern) => [...piece.text].every((_, k) => {
          const s = scopes[piece.start + k];
          return /\s/.test(piece.text[k]) || has(s, pattern);
        });
        const at = `${where}:${piece.start + 1} ${JSON.stringify(piece.text)}`;
        if (piece.kind === "comment") {
          assert.ok(inside(/^comment\.line\./), `${at}: not a comment`);
          counts.comment++;
        } else if (piece.kind === "string") {
          assert.ok(inside(/^string\.quoted\./), `${at}: not a string`);
          counts.string++;
        } else if (piece.kind === "number") {
          assert.ok(inside(/^constant\.numeric\./), `${at}: not a number`);
          counts.number++;
        } else if (piece.kind === "word" && KEYWORDS.has(piece.text)) {
          assert.ok(inside(KEYWORD_SCOPE), `${at}: keyword without a keyword scope`);
          counts.keyword++;
        } else if (piece.kind === "word" && previous && previous.kind === "arrow") {
          if (blocks.has(piece.text) || piece.text === "nn") {
            assert.ok(!inside(/^support\.function\.layer\./), `${at}: a block taken for a layer`);
          } else {
            assert.ok(inside(/^support\.function\.layer\./), `${at}: a layer without its scope`);
            counts.layer++;
          }
        }
        if (piece.kind !== "space") previous = piece;
      }
    });
    assert.ok(counts.keyword > 0, `${file}: no keyword seen`);
  });
}

test("what netdsl rejects is marked invalid", async () => {
  const grammar = await grammarReady;
  for (const text of ['s = "bi\\qlinear"', "mode='x'", "x $ y"]) {
    const lines = tokenize(grammar, text);
    assert.ok(lines[0].scopes.some((s) => has(s, /^invalid\./)), text);
  }
});

test("key tokens get their scopes", async () => {
  const grammar = await grammarReady;
  const cases = [
    ["network Cifar10(x: [B, 3]):", "Cifar10", /^entity\.name\.type\./],
    ["x -> nn.Conv2d(3, 8, 3)", "Conv2d", /^support\.class\.torch\./],
    ["f(ids: long[B, T])", "long", /^storage\.type\.dtype\./],
    ["x -> conv(16, padding=1)", "padding", /^variable\.parameter\./],
    ["x -> conv(16, padding=1)", "->", /^keyword\.operator\.arrow\./],
    ['s = "a\\nb"', "\\n", /^constant\.character\.escape\./],
    ["x -> relu6", "relu6", /^support\.function\.layer\./],
    ["x -> relu_", "relu_", /^variable\.other\./],
    ["y = 1e-5", "1e-5", /^constant\.numeric\.float\./],
    ["x[..., 0]", "...", /^constant\.language\.ellipsis\./],
  ];
  for (const [text, part, pattern] of cases) {
    const [{ scopes }] = tokenize(grammar, text);
    const start = text.indexOf(part);
    for (let i = start; i < start + part.length; i++) {
      assert.ok(has(scopes[i], pattern), `${text}: ${part} has ${scopes[i]}`);
    }
  }
});
