"""The layer reference, docs/layers.md, generated from the catalogue.

    python -m netdsl.layers_doc > docs/layers.md

Every fact on the page comes from a catalogue entry (netdsl/catalogue.py) or from checking
the entry's example with netdsl itself: the output shape, the parameter count, the PyTorch
constructor and the generated forward call are what `netdsl check` and `compile` produce
for that example, so the page cannot disagree with them. tests/test_layers_doc.py fails
when the file is stale. Does not import torch.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from .catalogue import CATEGORIES, ENTRIES, REQUIRED, LayerSpec
from .dims import dim_str
from .render import py_literal


@dataclass(frozen=True, slots=True)
class Example:
    """A one-stage network: its inputs as a network header writes them, and the stage."""

    inputs: str
    stage: str

    @property
    def names(self) -> list[str]:
        return [part.split(":")[0].strip() for part in split_top(self.inputs)]

    @property
    def line(self) -> str:
        names = self.names
        head = names[0] if len(names) == 1 else f"({', '.join(names)})"
        return f"{head} -> {self.stage}"

    @property
    def source(self) -> str:
        return f"network Example({self.inputs}):\n    {self.line}\n"


def split_top(text: str) -> list[str]:
    """'a: [B, 3], b: [B]' -> ['a: [B, 3]', ' b: [B]']: commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "(["
        depth -= ch in ")]"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _x(shape: str, stage: str) -> Example:
    return Example(f"x: {shape}", stage)


def _two(shape_a: str, shape_b: str, stage: str) -> Example:
    return Example(f"a: {shape_a}, b: {shape_b}", stage)


VECTOR = "[B, 64]"
IMAGE = "[B, 16, 32, 32]"
SEQUENCE = "[B, T, 64]"

EXAMPLES: dict[str, Example] = {
    "conv": _x("[B, 3, 32, 32]", "conv(16, 3, padding=1)"),
    "convtranspose": _x("[B, 16, 8, 8]", "convtranspose(8, 2, stride=2)"),
    "linear": _x("[B, 128]", "linear(10)"),
    "maxpool": _x(IMAGE, "maxpool(2)"),
    "avgpool": _x(IMAGE, "avgpool(3, stride=2, padding=1)"),
    "adaptive_avgpool": _x("[B, 512, 7, 7]", "adaptive_avgpool(1)"),
    "adaptive_maxpool": _x("[B, 64, 9, 9]", "adaptive_maxpool(4)"),
    "batchnorm": _x(IMAGE, "batchnorm"),
    "instancenorm": _x(IMAGE, "instancenorm(affine=true)"),
    "groupnorm": _x(IMAGE, "groupnorm(4, bias=false)"),
    "layernorm": _x(SEQUENCE, "layernorm"),
    "dropout": _x(VECTOR, "dropout(0.5)"),
    "dropout1d": _x("[B, 16, 100]", "dropout1d(0.1)"),
    "dropout2d": _x(IMAGE, "dropout2d(0.2)"),
    "dropout3d": _x("[B, 8, 4, 16, 16]", "dropout3d(0.2)"),
    "embedding": Example("tokens: long[B, T]", "embedding(10000, 128, padding_idx=0)"),
    "rnn": _x("[T, B, 32]", "rnn(64)"),
    "lstm": _x("[B, T, 32]", "lstm(64, num_layers=2, batch_first=true)"),
    "gru": _x("[B, T, 32]", "gru(64, batch_first=true, bidirectional=true)"),
    "rnncell": _x("[B, 32]", "rnncell(64)"),
    "lstmcell": _x("[B, 32]", "lstmcell(64)"),
    "grucell": _x("[B, 32]", "grucell(64)"),
    "multihead_attention": _x(SEQUENCE, "multihead_attention(8, batch_first=true)"),
    "transformer_encoder_layer": _x(SEQUENCE, "transformer_encoder_layer(8, "
                                              "dim_feedforward=256, batch_first=true)"),
    "transformer_decoder_layer": Example("tgt: [B, T, 64], memory: [B, S, 64]",
                                         "transformer_decoder_layer(8, dim_feedforward=256, "
                                         "batch_first=true)"),
    "scaled_dot_product_attention": Example("q: [B, 8, T, 64], k: [B, 8, S, 64], "
                                            "v: [B, 8, S, 64], mask: bool[T, S]",
                                            "scaled_dot_product_attention"),
    "upsample": _x("[B, 16, 8, 8]", "upsample(scale_factor=2)"),
    "flatten": _x("[B, 64, 4, 4]", "flatten"),
    "unflatten": _x("[B, 1024]", "unflatten(1, (64, 4, 4))"),
    "reshape": _x("[B, 1024]", "reshape(B, 64, 4, 4)"),
    "view": _x("[B, 64, 4, 4]", "view(B, 1024)"),
    "permute": _x(SEQUENCE, "permute(0, 2, 1)"),
    "transpose": _x(SEQUENCE, "transpose(1, 2)"),
    "squeeze": _x("[B, 1, 64]", "squeeze(1)"),
    "unsqueeze": _x(VECTOR, "unsqueeze(1)"),
    "zeropad": _x("[B, 3, 32, 32]", "zeropad(2)"),
    "constantpad": _x("[B, 3, 32, 32]", "constantpad(2, 0.5)"),
    "reflectionpad": _x("[B, 3, 32, 32]", "reflectionpad(3)"),
    "replicationpad": _x("[B, 3, 32, 32]", "replicationpad(1)"),
    "pad": _x("[B, 3, 30, 30]", 'pad((1, 1, 1, 1), mode="replicate")'),
    "pad_to_match": _two("[B, 64, 28, 28]", "[B, 64, 30, 30]", "pad_to_match"),
    "unfold": _x("[B, 3, 8, 8]", "unfold(2, stride=2)"),
    "fold": _x("[B, 12, 16]", "fold(8, 2, stride=2)"),
    "pixel_shuffle": _x("[B, 64, 8, 8]", "pixel_shuffle(2)"),
    "pixel_unshuffle": _x(IMAGE, "pixel_unshuffle(2)"),
    "relu": _x(VECTOR, "relu"),
    "relu6": _x(VECTOR, "relu6"),
    "leaky_relu": _x(VECTOR, "leaky_relu(0.2)"),
    "elu": _x(VECTOR, "elu(alpha=0.5)"),
    "selu": _x(VECTOR, "selu"),
    "celu": _x(VECTOR, "celu"),
    "gelu": _x(VECTOR, 'gelu(approximate="tanh")'),
    "silu": _x(VECTOR, "silu"),
    "mish": _x(VECTOR, "mish"),
    "sigmoid": _x(VECTOR, "sigmoid"),
    "tanh": _x(VECTOR, "tanh"),
    "hardtanh": _x(VECTOR, "hardtanh(-2.0, 2.0)"),
    "hardswish": _x(VECTOR, "hardswish"),
    "hardsigmoid": _x(VECTOR, "hardsigmoid"),
    "softplus": _x(VECTOR, "softplus(beta=2.0)"),
    "softsign": _x(VECTOR, "softsign"),
    "logsigmoid": _x(VECTOR, "logsigmoid"),
    "tanhshrink": _x(VECTOR, "tanhshrink"),
    "threshold": _x(VECTOR, "threshold(0.1, 0.0)"),
    "identity": _x(VECTOR, "identity"),
    "prelu": _x(VECTOR, "prelu(64)"),
    "softmax": _x(VECTOR, "softmax(dim=1)"),
    "log_softmax": _x(VECTOR, "log_softmax(dim=1)"),
    "softmin": _x(VECTOR, "softmin(dim=1)"),
    "glu": _x(VECTOR, "glu"),
    "cat": _two("[B, 16, 8, 8]", "[B, 32, 8, 8]", "cat"),
    "stack": _two(VECTOR, VECTOR, "stack(dim=1)"),
    "add": _two("[B, 64, 8, 8]", "[B, 64, 8, 8]", "add"),
    "mul": _two("[B, 64, 8, 8]", "[B, 64, 1, 1]", "mul"),
    "mean": _x("[B, 64, 8, 8]", "mean(dim=(2, 3))"),
    "sum": _x(SEQUENCE, "sum(dim=1)"),
    "amax": _x("[B, 64, 8, 8]", "amax(dim=(2, 3), keepdim=true)"),
    "chunk": _x(VECTOR, "chunk(2, dim=1)"),
    "split": _x(VECTOR, "split((16, 48), dim=1)"),
    **{name: _x(VECTOR, name) for name in (
        "exp", "log", "sqrt", "rsqrt", "sin", "cos", "reciprocal", "abs", "neg", "floor", "ceil",
        "round", "sign")},
    "logical_not": Example("mask: bool[B, T]", "logical_not"),
    "clamp": _x(VECTOR, "clamp(min=0.0, max=6.0)"),
    "pow": _x(VECTOR, "pow(2)"),
    "tril": _x("[16, 16]", "tril"),
    "triu": _x("[16, 16]", "triu(diagonal=1)"),
    "where": Example("mask: bool[B, 64], a: [B, 64], b: [1, 64]", "where"),
    "masked_fill": Example("scores: [B, T, T], mask: bool[T, T]", "masked_fill(-1e9)"),
    "argmax": _x("[B, 10]", "argmax(dim=1)"),
    "argmin": _x("[B, 10]", "argmin(dim=1, keepdim=true)"),
    "max": _x(SEQUENCE, "max(dim=1)"),
    "min": _x(SEQUENCE, "min(dim=2, keepdim=true)"),
    "topk": _x("[B, 10]", "topk(3)"),
    "amin": _x("[B, 64, 8, 8]", "amin(dim=(2, 3))"),
    "expand": _x("[1, 1, 64]", "expand(8, -1, -1)"),
    "expand_as": _two("[1, 64]", "[B, 64]", "expand_as"),
    "repeat": _x(VECTOR, "repeat(1, 2)"),
    "flip": _x(SEQUENCE, "flip(1)"),
    "roll": _x(IMAGE, "roll((4, 4), dims=(2, 3))"),
    "rearrange": _x("[B, 3, 32, 32]", 'rearrange("b c (h p1) (w p2) -> b (h w) (p1 p2 c)", '
                                      'p1=8, p2=8)'),
    "einsum": _two("[B, 4, 16, 8]", "[B, 4, 12, 8]", 'einsum("bhqd,bhkd->bhqk")'),
    "zeros_like": _x(SEQUENCE, "zeros_like"),
    "ones_like": _x(SEQUENCE, "ones_like"),
    "randn_like": _x(SEQUENCE, "randn_like"),
    "rand_like": _x(SEQUENCE, "rand_like"),
    "full_like": _x(SEQUENCE, "full_like(0.5)"),
}

TITLES = {
    "conv": "Convolution", "linear": "Linear", "embedding": "Embedding", "pool": "Pooling",
    "norm": "Normalization", "dropout": "Dropout", "activation": "Activations",
    "recurrent": "Recurrent layers", "attention": "Attention and transformer layers",
    "resample": "Resampling", "padding": "Padding", "reshape": "Reshaping",
    "merge": "Combining tensors", "split": "Splitting tensors",
    "reduce": "Reductions and selections", "elementwise": "Elementwise maths and masks",
    "create": "Tensors like another",
}

HEADER = """\
# Layer reference

<!-- Generated from netdsl/catalogue.py: `python -m netdsl.layers_doc > docs/layers.md`.
     Do not edit by hand; tests/test_layers_doc.py fails when this file is stale. -->

Every layer netdsl knows, by what it does. For each: how netdsl spells it (arguments and
their defaults, as a netdsl program writes them), the PyTorch class each input rank selects,
the sizes netdsl infers from the input, and an example that `netdsl check` accepts, with the
shape and parameter count it reports and the PyTorch code `netdsl compile` writes for it.

Layers whose input sizes are inferred take only their required arguments by position (the
others by name); an inferred size may still be given by name, and is then checked. A PyTorch
class in this list may also be written as such, `nn.Conv2d(3, 16, 3)`, with PyTorch's full
signature. The language is described in [language.md](language.md).
"""


def netdsl_literal(value: Any) -> str:
    """A default as a netdsl program writes it: true, none, "zeros"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    return py_literal(value)


def netdsl_signature(spec: LayerSpec) -> str:
    parts = []
    for p in spec.signature:
        if p.var_keyword:
            parts.append(f"**{p.name}")
        elif p.star:
            parts.append(f"*{p.name}")
        elif p.default is REQUIRED:
            parts.append(p.name)
        else:
            parts.append(f"{p.name}={netdsl_literal(p.default)}")
    return f"{spec.name}({', '.join(parts)})" if parts else spec.name


def torch_classes(spec: LayerSpec) -> str:
    if not spec.module:
        return "no module; written inline in `forward` (see the example)"
    by_class: dict[str, list[int]] = {}
    for rank in spec.ranks():
        by_class.setdefault(spec.torch_classes[rank], []).append(-1 if rank is None else rank)
    out = []
    for cls, ranks in by_class.items():
        if ranks == [-1]:
            out.append(f"`nn.{cls}` (any input rank the layer accepts)")
        else:
            words = " or ".join(str(r) for r in ranks)
            out.append(f"`nn.{cls}` (input rank {words})")
    return ", ".join(out)


def input_count(spec: LayerSpec) -> str:
    low, high = spec.min_inputs, spec.max_inputs
    if low == high:
        return str(low)
    if high > 1000:
        return f"{low} or more"
    return f"{low} to {high}"


def input_names(spec: LayerSpec) -> str:
    """` (query, key, value; optional, in this order: ...; none skips one)`."""
    names = spec.forward.inputs
    if not names:
        return ""
    first = ", ".join(f"`{n}`" for n in names[:spec.forward.positional_inputs])
    rest = ", ".join(f"`{n}`" for n in names[spec.forward.positional_inputs:])
    return f" ({first}; optional, in this order: {rest}; `none` skips one)"


def forward_code(spec: LayerSpec, node: Any, inputs: list[str], attribute: str) -> str:
    """The generated forward expression for the checked example's layer."""
    values = node.meta["args"]
    if spec.forward.kind == "chain":  # the planned methods, sizes as the example gives them
        from .lower.exprs import PLANNERS
        from .rearrange import Size
        from .shapes import Call

        def given(item: Any) -> Any:
            if isinstance(item, tuple):
                return tuple(given(v) for v in item)
            return values["axes_lengths"][item.axis] if isinstance(item, Size) else item

        code = inputs[0]
        call = Call(spec.name, dict(values), [t.tt for t in node.inputs], set())
        for step in PLANNERS[spec.forward.name](call):
            code += f".{step.method}({', '.join(py_literal(given(a)) for a in step.args)})"
        return code
    args: dict[str, str] = {}
    defaulted: set[str] = set()
    for p in spec.signature:
        value = values.get(p.name, p.default)
        if p.star:
            args[p.name] = ", ".join(py_literal(v) for v in value)
            continue
        args[p.name] = py_literal(value)
        if p.default is not REQUIRED and args[p.name] == py_literal(p.default):
            defaulted.add(p.name)
    return spec.forward.code(inputs, args, defaulted, attribute)


def checked(spec: LayerSpec) -> tuple[Any, Any]:
    """The example checked by netdsl: (the network, the example layer's node)."""
    from . import check_source

    program = check_source(EXAMPLES[spec.name].source, f"{spec.name}.net")
    net = program.networks[0]
    node = next(n for n in net.nodes if n.op == spec.name)
    return net, node


def shapes_text(net: Any) -> str:
    return ", ".join("[" + ", ".join(dim_str(d) for d in tt.shape) + "]" for tt in net.outputs)


def layer_section(spec: LayerSpec) -> list[str]:
    example = EXAMPLES[spec.name]
    net, node = checked(spec)
    attribute = node.name or ""  # the attribute compile gives it
    call = forward_code(spec, node, example.names, attribute)
    params = f", {net.params:,} parameters" if net.params else ""
    lines = [f"### `{spec.name}`", "", f"`{netdsl_signature(spec)}`", "",
             f"- PyTorch: {torch_classes(spec)}"]
    if spec.inferred:
        inferred = ", ".join(f"`{name}`" for name in spec.inferred)
        lines.append(f"- inferred from the input: {inferred}")
    differs = [p for p in spec.signature if p.name in spec.overrides]
    for p in differs:
        torch_default = next(t.default for t in spec.torch_signature if t.name == p.name)
        lines.append(f"- netdsl's default `{p.name}={netdsl_literal(p.default)}` differs from "
                     f"PyTorch's `{p.name}={py_literal(torch_default)}`"
                     if torch_default is not REQUIRED else
                     f"- `{p.name}` may be left out (`{netdsl_literal(p.default)}`); PyTorch "
                     f"requires it")
    lines.append(f"- inputs: {input_count(spec)}{input_names(spec)}")
    if spec.forward_signature:
        flags = ", ".join(f"`{p.name}`" for p in spec.forward_signature)
        lines.append(f"- arguments of PyTorch's `forward`, passed in the call: {flags}")
    if spec.primary:
        lines.append(f"- several outputs; a following stage gets the first: `{call}[0]`")
    lines.append(f"- category: {spec.category}")
    lines += ["", f"Example, on `{example.inputs}`:", "", "```",
              f"{example.line}    # {shapes_text(net)}{params}", "```", ""]
    if spec.module:
        lines.append(f"PyTorch: `self.{attribute} = {node.torch}`, applied as `{call}`.")
    elif spec.forward.kind == "helper":
        lines.append(f"PyTorch: `{call}`, a function netdsl writes into the generated file.")
    else:
        lines.append(f"PyTorch: `{call}`.")
    lines.append("")
    return lines


def render() -> str:
    by_category: dict[str, list[LayerSpec]] = {c: [] for c in CATEGORIES}
    for spec in ENTRIES:
        by_category[spec.category].append(spec)
    lines = [HEADER, "## Contents", ""]
    for category, specs in by_category.items():
        names = ", ".join(f"[`{s.name}`](#{s.name})" for s in specs)
        lines.append(f"- {TITLES[category]}: {names}")
    lines.append("")
    for category, specs in by_category.items():
        lines += [f"## {TITLES[category]}", ""]
        for spec in specs:
            lines += layer_section(spec)
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()


__all__ = ["EXAMPLES", "Example", "render"]
