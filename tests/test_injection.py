"""No source text can inject code: an adversarial corpus either fails with a located error
or compiles to code whose syntax tree holds nothing from the source but validated names and
literals."""

from __future__ import annotations

import ast
import keyword
import os
import re
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import netdsl
from netdsl.render import docstring_line

FORBIDDEN = {"exec", "eval", "compile", "open", "__import__", "getattr", "setattr", "globals",
             "locals", "vars", "os", "sys", "subprocess", "builtins", "input", "breakpoint"}

CORPUS = [
    # names that are keywords, builtins, dunders, `self`, or the generated code's own names
    "network N(x: [B, 3]):\n    class = x -> relu\n    class\n",
    "network N(x: [B, 3]):\n    __class__ = x -> relu\n    __class__\n",
    "network N(self: [B, 3]):\n    self -> relu\n",
    "network N(x: [B, 3]):\n    print = x -> relu\n    len = print -> relu\n    len\n",
    "network N(torch: [B, 3]):\n    nn = torch -> linear(4)\n    F = nn -> relu\n    F\n",
    "network N(x: [B, 3, 8, 8], y: [B, 3, 8, 8]):\n    pad_to_match = (x, y) -> pad_to_match\n"
    "    pad_to_match\n",
    "network N(x: [B, 3]):\n    conv1 = x -> linear(3)\n    conv1 -> linear(3) -> relu as relu1\n",
    "network N(x: [B, 3]):\n    x -> linear(3) as forward\n",
    "network N(x: [B, 3]):\n    x -> linear(3) as __init__\n",
    "network N(x: [B, 3]):\n    x -> linear(3) as training\n",
    "block super(x):\n    x\nnetwork N(x: [B, 3]):\n    x -> super\n",
    "block nn(x):\n    x\nnetwork N(x: [B, 3]):\n    x -> nn\n",
    "network object(x: [B, 3]):\n    x -> relu\n",
    "network N(eval=3)(exec: [B, eval]):\n    exec -> linear(eval)\n",
    "network N(os=2)(sys: [B, os]):\n    globals = sys -> linear(os)\n    globals\n",
    "block Up(self)(x):\n    x\nnetwork N(x: [B, 3]):\n    x -> Up(1)\n",
    # strings with quotes, backslashes and newlines
    'network N(x: [B, 3, 4, 4]):\n    x -> upsample(scale_factor=2, mode="bil\\"inear")\n',
    'network N(x: [B, 3, 4, 4]):\n    x -> nn.Softmax2d(name="\\"; import os; os.system(\\"x\\")")'
    " : [B, 3, 4, 4]\n",
    'network N(x: [B, 3, 4, 4]):\n'
    '    x -> nn.Identity("a\\nb\\\\", "\\u2028", "\'\'\'") : [B, 3, 4, 4]\n',
    'network N(x: [B, 3, 4, 4]):\n    x -> nn.Identity("\\"\\"\\"") : [B, 3, 4, 4]\n',
    'network N(x: [B, 3]):\n    x -> gelu(approximate="tanh\\")\\nimport os#")\n',
    "network N(x: [B, 3]):\n    x -> nn.Identity(x) : [B, 3]\n",
    "network N(x: [B, 3]):\n    x -> nn.__class__() : [B, 3]\n",
    "network N(x: [B, 3]):\n    x -> nn.Module.__subclasses__ : [B, 3]\n",
    "network N(m=\"a\\nb\")(x: [B, 3]):\n    x -> relu\n",
]


def source_strings(text: str) -> set[str]:
    """The string literals of a netdsl source, as values."""
    return {ast.literal_eval(m.group(0)) for m in re.finditer(r'"([^"\\\n]|\\.)*"', text)}


def identifiers(tree: ast.AST) -> list[str]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            out.append(node.id)
        elif isinstance(node, ast.Attribute):
            out.append(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out.append(node.name)
        elif isinstance(node, ast.arg):
            out.append(node.arg)
        elif isinstance(node, ast.keyword) and node.arg:
            out.append(node.arg)
    return out


@pytest.mark.parametrize("text", CORPUS, ids=range(len(CORPUS)))
def test_adversarial_source(text: str) -> None:
    try:
        program = netdsl.check_source(text, "adversarial.net")
    except netdsl.NetDSLError as err:
        for d in err.diagnostics:
            assert d.line >= 1 and d.column >= 1
        return
    code = netdsl.to_pytorch(program)
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names]
            module = node.module if isinstance(node, ast.ImportFrom) else None
            assert (module, names) in ((None, ["torch"]), (None, ["torch.nn.functional"]),
                                       ("torch", ["nn"])), ast.dump(node)
        assert not isinstance(node, (ast.Lambda, ast.Global, ast.Nonlocal, ast.Delete))
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    for name in identifiers(tree):
        assert not keyword.iskeyword(name)
        assert not (name.startswith("__") and name != "__init__"), name
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            # bare calls only to the generated code's own vocabulary, never to a source name
            assert node.func.id in {"super", "range", "pad_to_match"} | classes, node.func.id
            assert node.func.id not in FORBIDDEN
    allowed = source_strings(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            docstring = node.value.startswith(("Block ", "Pad x")) or "parameters." in node.value
            assert docstring or node.value in allowed, repr(node.value)
    # and what it builds still runs (classes outside the catalogue get their arguments as
    # written: whether torch accepts them is between the user and torch)
    if any(node.meta.get("opaque") for node in program.networks[0].nodes):
        return
    net = program.networks[0]
    model = netdsl.build(program, net.definition.name)()
    shapes = [tuple(2 if not isinstance(d, int) else d for d in tt.shape) for _, tt in net.inputs]
    model(*[torch.randn(s) for s in shapes])


def test_file_names_cannot_inject_code() -> None:
    program = netdsl.check_source("network N(x: [B, 3]):\n    x -> relu\n",
                                  'evil\nimport os\n""".net')
    code = netdsl.to_pytorch(program)
    assert code.splitlines()[0] == ("# Generated by netdsl from evil_import_os____.net: edit "
                                    "that file, not this one.")
    assert "import os" not in code


def test_generated_names_are_made_safe_not_rejected() -> None:
    program = netdsl.check_source("network N(torch: [B, 3]):\n    nn = torch -> linear(4)\n"
                                  "    F = nn -> relu\n    F\n")
    code = netdsl.to_pytorch(program)
    assert "def forward(self, torch_):" in code
    model = netdsl.build(program, "N")()
    assert model(torch.randn(2, 3)).shape == (2, 4)


HOSTILE = Path(__file__).resolve().parent / "hostile"


@pytest.mark.parametrize("name", ["08_docstring_injection_specialised_string",
                                  "08c_block_written_for_docstring_injection"])
def test_a_string_in_a_docstring_stays_data(name: str, tmp_path: Path) -> None:
    """A specialised string hyperparameter holding `\"\"\"` is written into the docstring as
    text: importing the module runs nothing but class definitions."""
    program = netdsl.check_file(HOSTILE / f"{name}.net")
    code = netdsl.to_pytorch(program)
    tree = ast.parse(code)
    assert all(isinstance(node, (ast.ClassDef, ast.Import, ast.ImportFrom, ast.FunctionDef))
               for node in tree.body)
    namespace: dict[str, object] = {}
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, "<generated>", "exec"), namespace)
    finally:
        os.chdir(cwd)
    assert not list(tmp_path.iterdir())  # the payload would have made ./PWNED
    docs = " ".join(str(getattr(v, "__doc__", "")) for v in namespace.values()
                    if isinstance(v, type))
    assert '""";' in docs  # the value, as it reads, in the docstring


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_docstring_line_round_trips_any_text(text: str) -> None:
    """docstring_line(t), between a docstring's quotes, is read back by Python as t, alone
    or as the last line before the closing quotes."""
    line = docstring_line(text)
    assert ast.literal_eval(f'"""{line}"""') == text
    assert ast.literal_eval(f'"""first\n    {line}\n"""') == f"first\n    {text}\n"
    assert "\n" not in line and "\r" not in line
