"""Differential testing of `compile` against `check`, with torch as the judge.

One function, :func:`disagreements`, takes a source text that `check` accepts and returns
what the generated module does differently from what `check` printed (an empty list when
nothing). The promises it holds the compiler to (see docs/honest-classes.md):

* (a) every network's class built with its defaults has `check`'s parameter count, and run
  on tensors of the declared shapes (symbolic sizes given small values) returns `check`'s
  output shapes and dtypes; `compile` neither crashes nor refuses the program;
* (b) a class built with other values of the hyperparameters it offers is the network
  `check` describes when those values are the source's defaults;
* (c) torch.fx, TorchScript, torch.export and torch.compile accept the default build and
  agree with eager (optional: the slow part).

The program generator (tests/progen.py) feeds it in tests/test_progen.py, and the long run
in benchmarks/progen.py; the minimal programs of tests/compile_truth/ go through it too.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import linecache
import random
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch

import netdsl
from netdsl.dims import Sym

TORCH_DTYPES = {
    "float": torch.float32, "float32": torch.float32, "double": torch.float64,
    "float64": torch.float64, "half": torch.float16, "float16": torch.float16,
    "bfloat16": torch.bfloat16, "long": torch.int64, "int64": torch.int64,
    "int": torch.int32, "int32": torch.int32, "int16": torch.int16, "int8": torch.int8,
    "uint8": torch.uint8, "bool": torch.bool,
}
SYMBOL_VALUES = (5, 7, 9, 6, 8)  # what symbolic sizes take at run time, by order of appearance


@dataclass
class Finding:
    promise: str  # "a", "b", "c", "exit3", "refused"
    network: str
    message: str

    def __str__(self) -> str:
        return f"({self.promise}) {self.network}: {self.message}"


@dataclass
class Expected:
    params: int
    shapes: list[tuple[int, ...]]
    dtypes: list[str]
    inputs: list[tuple[str, tuple[int, ...], str]] = field(default_factory=list)


def symbols_of(program: netdsl.Program, name: str) -> list[str]:
    """The symbolic sizes of a network's inputs, in order of appearance."""
    seen: list[str] = []
    for _, tt in program.network(name).inputs:
        for d in tt.shape:
            if isinstance(d, Sym):
                for monomial, _ in d.terms:
                    for sym in monomial:
                        if sym not in seen:
                            seen.append(sym)
    return seen


def symbol_values(program: netdsl.Program, name: str) -> dict[str, int]:
    values = {s: SYMBOL_VALUES[i % len(SYMBOL_VALUES)]
              for i, s in enumerate(symbols_of(program, name))}
    if "B" in values:
        values["B"] = 2
    return values


def formula_findings(program: netdsl.Program, name: str, expected: Expected) -> list[Finding]:
    """Each output size `check` prints is a formula (Python reads it) whose value at the
    concrete input sizes is the size `check` finds for those inputs."""
    values = symbol_values(program, name)
    findings = []
    for tt, shape in zip(program.network(name).outputs, expected.shapes, strict=False):
        for dim, want in zip(tt.shape, shape, strict=False):
            if not isinstance(dim, Sym):
                continue
            try:
                with warnings.catch_warnings():  # `2[::2]` is a SyntaxWarning, then an error
                    warnings.simplefilter("ignore")
                    got = eval(str(dim), {"__builtins__": {}}, dict(values))
            except Exception:
                findings.append(Finding("a", name, f"check prints {dim}, not a formula"))
                continue
            if got != want:
                findings.append(Finding("a", name, f"check prints {dim}: {got} at {values}, "
                                                   f"but {want} for those inputs"))
    return findings


def concrete_inputs(program: netdsl.Program, name: str) -> dict[str, list[int]] | None:
    """Each input's shape with its symbolic sizes given small values (None: an input whose
    size is no plain polynomial of named sizes)."""
    values = symbol_values(program, name)
    out: dict[str, list[int]] = {}
    for input_name, tt in program.network(name).inputs:
        dims = []
        for d in tt.shape:
            if isinstance(d, Sym):
                if any(sym.startswith("(") for m, _ in d.terms for sym in m):
                    return None
                dims.append(d.evaluate(values))
            else:
                dims.append(int(d))
        out[input_name] = dims
    return out


def expected_of(source: str, name: str, shapes: dict[str, list[int]] | None) -> Expected:
    """What `check` says of network `name` with its inputs at the given concrete shapes."""
    program = netdsl.check_source(source, "<generated>", shapes)
    net = program.network(name)
    outs = []
    for tt in net.outputs:
        if any(isinstance(d, Sym) for d in tt.shape):
            raise AssertionError(f"check printed a symbolic output {tt.shape} for concrete "
                                 f"inputs {shapes}")
        outs.append(tuple(int(d) for d in tt.shape))
    inputs = [(n, tuple(int(d) for d in tt.shape), tt.dtype) for n, tt in net.inputs]
    return Expected(net.params, outs, [tt.dtype for tt in net.outputs], inputs)


def make_tensor(shape: tuple[int, ...], dtype: str, gen: torch.Generator) -> torch.Tensor:
    torch_dtype = TORCH_DTYPES[dtype]
    if dtype == "bool":
        return torch.rand(shape, generator=gen) > 0.5
    if not torch_dtype.is_floating_point:
        return torch.randint(0, 2, shape, generator=gen, dtype=torch_dtype)
    return torch.randn(shape, generator=gen).to(torch_dtype)


def flat_outputs(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for item in out for t in flat_outputs(item)]
    raise TypeError(f"the module returned {type(out).__name__}")


def compare(cls: type, kwargs: dict[str, Any], expected: Expected, promise: str,
            name: str) -> tuple[list[Finding], Any, list[torch.Tensor]]:
    """Build `cls(**kwargs)`, run it, compare with `expected`."""
    try:
        model = cls(**kwargs).eval()
    except Exception as exc:
        return [Finding(promise, name, f"{kwargs}: building raised {exc!r}"[:400])], None, []
    findings = []
    params = sum(p.numel() for p in model.parameters())
    if params != expected.params:
        findings.append(Finding(promise, name, f"{kwargs}: {params} parameters, check says "
                                               f"{expected.params}"))
    gen = torch.Generator().manual_seed(0)
    inputs = [make_tensor(shape, dtype, gen) for _, shape, dtype in expected.inputs]
    try:
        with torch.no_grad():
            outs = flat_outputs(model(*inputs))
    except Exception as exc:
        return findings + [Finding(promise, name, f"{kwargs}: forward raised {exc!r}"[:400])], \
            model, inputs
    got = [tuple(o.shape) for o in outs]
    if got != expected.shapes:
        findings.append(Finding(promise, name, f"{kwargs}: outputs {got}, check says "
                                               f"{expected.shapes}"))
    dtypes = [o.dtype for o in outs]
    want = [TORCH_DTYPES[d] for d in expected.dtypes]
    if got == expected.shapes and dtypes != want:
        findings.append(Finding(promise, name, f"{kwargs}: dtypes {dtypes}, check says "
                                               f"{want}"))
    return findings, model, inputs


def literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def with_defaults(text: str, definition: Any, values: dict[str, Any]) -> str:
    """The source with a network's hyperparameter defaults replaced by `values`."""
    lines = text.split("\n")
    edits = []
    for p in definition.hyperparams:
        if p.name in values and p.default is not None:
            pos = p.default.pos
            if pos.line != pos.end_line:
                continue
            edits.append((pos.line, pos.column, pos.end_column, literal(values[p.name])))
    for line, start, end, new in sorted(edits, reverse=True):
        row = lines[line - 1]
        lines[line - 1] = row[:start - 1] + new + row[end - 1:]
    return "\n".join(lines)


def other_values(default: Any, rng: random.Random) -> list[Any]:
    """Values other than a default to build a class with."""
    if isinstance(default, bool):
        return [not default]
    if isinstance(default, int):
        pool = {v for v in (default - 1, default + 1, default * 2, 1, 2, 3) if v >= 1} - {default}
        return rng.sample(sorted(pool), min(2, len(pool)))
    if isinstance(default, float):
        return [default * 2, default / 2]
    if isinstance(default, str):
        return []  # strings choose among spellings; the generator varies them itself
    return []


TRACE_TOOLS = ("fx", "jit", "export", "compile")


def check_tools(model: Any, inputs: list[torch.Tensor], name: str,
                tools: tuple[str, ...]) -> list[Finding]:
    """torch's program capture tools accept the module and agree with eager."""
    findings = []
    with torch.no_grad():
        want = flat_outputs(model(*inputs))
    recurrent = any(isinstance(m, torch.nn.RNNBase) for m in model.modules())
    for tool in tools:
        if tool == "compile" and recurrent:
            continue  # Dynamo captures no nn.LSTM/GRU/RNN in one graph (docs/language.md)
        try:
            with torch.no_grad():
                if tool == "fx":
                    got = torch.fx.symbolic_trace(model)(*inputs)
                elif tool == "jit":
                    got = torch.jit.script(model)(*inputs)
                elif tool == "export":
                    got = torch.export.export(model, tuple(inputs)).module()(*inputs)
                else:
                    importlib.import_module("torch._dynamo").reset()
                    got = torch.compile(model, fullgraph=True, backend="eager")(*inputs)
            got_flat = flat_outputs(got)
        except Exception as exc:
            text = re.sub(r"\s+", " ", str(exc))[:300]
            findings.append(Finding("c", name, f"{tool}: {type(exc).__name__}: {text}"))
            continue
        pairs = zip(got_flat, want, strict=False)  # a traced graph may fuse: float noise
        if len(got_flat) != len(want) or not all(
                g.shape == w.shape and torch.allclose(g, w, rtol=1e-5, atol=1e-6)
                for g, w in pairs):
            findings.append(Finding("c", name, f"{tool} disagrees with eager"))
    return findings


def disagreements(source: str, seed: int = 0, vary: int = 2,
                  tools: tuple[str, ...] = ()) -> list[Finding]:
    """How the module `compile` writes for `source` (which `check` accepts) disagrees with
    `check`. `vary`: how many hyperparameter values other than the defaults to try, per
    network; `tools`: which capture tools to run on the default build."""
    rng = random.Random(seed)
    program = netdsl.check_source(source, "<generated>")
    try:
        code = netdsl.to_pytorch(program)
    except netdsl.NetDSLError as err:
        return [Finding("refused", "*", str(err)[:400])]
    except Exception as exc:
        return [Finding("exit3", "*", repr(exc)[:400])]
    namespace: dict[str, Any] = {"__name__": "netdsl_generated"}
    filename = f"<netdsl-generated-{hashlib.sha1(code.encode()).hexdigest()[:12]}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    try:  # TorchScript reads the source of what it compiles: linecache holds it
        exec(compile(code, filename, "exec"), namespace)
    except Exception as exc:
        return [Finding("a", "*", f"the module does not import: {exc!r}")]
    findings: list[Finding] = []
    for net in program.networks:
        name = net.definition.name
        shapes = concrete_inputs(program, name)
        try:
            expected = expected_of(source, name, shapes)
        except netdsl.NetDSLError as err:
            findings.append(Finding("a", name, f"check rejects the concrete inputs {shapes}: "
                                               f"{str(err)[:300]}"))
            continue
        except AssertionError as err:
            findings.append(Finding("a", name, str(err)))
            continue
        findings += formula_findings(program, name, expected)
        cls = namespace[name]
        found, model, inputs = compare(cls, {}, expected, "a", name)
        findings += found
        if not found and tools and model is not None:
            findings += check_tools(model, inputs, name, tools)
        offered = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        defaults = {ref.name: value for ref, value in net.frame.mapping.items()
                    if ref.kind == "hyper"}
        trials: list[dict[str, Any]] = []
        for p in offered:
            for value in other_values(defaults.get(p), rng)[:vary]:
                trials.append({p: value})
        if len(offered) > 1:
            both = {p: rng.choice(other_values(defaults.get(p), rng) or [defaults.get(p)])
                    for p in offered}
            trials.append(both)
        for values in trials:
            varied = with_defaults(source, net.definition, values)
            try:
                expected_b = expected_of(varied, name, None if shapes is None else
                                         concrete_inputs(netdsl.check_source(varied), name))
            except (netdsl.NetDSLError, AssertionError, KeyError):
                continue  # values check rejects promise nothing
            findings += compare(cls, values, expected_b, "b", name)[0]
    return findings
