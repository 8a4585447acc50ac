"""The catalogue against PyTorch: signatures, the class each input rank selects, and the
forward spelling, each compared with torch itself.

Where netdsl deliberately differs from PyTorch's signature, the difference is listed below as
data with its reason; the tests fail on any other difference, and on a listed one that no
longer exists.
"""

from __future__ import annotations

import inspect
import re
import typing
from typing import Any

import einops
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import netdsl
from netdsl.backends.pytorch import HELPERS
from netdsl.catalogue import ANY_RANK, CATEGORIES, ENTRIES, LAYERS, REQUIRED, LayerSpec
from netdsl.layers_doc import EXAMPLES, Example, forward_code, split_top

# Constructor arguments that choose where and how tensors are stored, not what is computed.
FACTORY_KWARGS = {"device", "dtype", "out", "layout", "pin_memory", "memory_format"}

# (torch class or function, argument) -> why netdsl does not offer it
NOT_IN_NETDSL = {
    ("Embedding", "_weight"): "private: a pre-made weight tensor, not a hyperparameter",
    ("Embedding", "_freeze"): "private: goes with _weight",
    ("Hardtanh", "min_value"): "deprecated alias of min_val",
    ("Hardtanh", "max_value"): "deprecated alias of max_val",
    ("add", "alpha"): "netdsl's add is `a + b`; a scaled sum is written with `*`",
    ("expand", "implicit"): "internal to torch's own broadcasting, not for users",
    ("einsum", "path"): "a contraction order for torch's kernel; it changes no result",
}
# (torch class or function, argument) -> why netdsl offers an argument torch does not
ONLY_IN_NETDSL = {
    ("AvgPool1d", "divisor_override"): "one signature serves avgpool's three classes; the shape "
                                       "rule rejects it on a rank-3 input (AvgPool1d)",
}
# (torch class or function, argument) -> (netdsl's torch_signature default, why)
OTHER_DEFAULT = {
    ("TransformerEncoderLayer", "activation"): (
        "relu", "torch's default is the function F.relu; netdsl passes the name, which torch "
                "takes as well"),
    ("TransformerDecoderLayer", "activation"): ("relu", "as for TransformerEncoderLayer"),
    ("Softmax", "dim"): (REQUIRED, "torch's implicit dim is deprecated and warns"),
    ("LogSoftmax", "dim"): (REQUIRED, "as for Softmax"),
    ("Softmin", "dim"): (REQUIRED, "as for Softmax"),
    ("mean", "dim"): (None, "none reduces every dimension: torch's overload without dim"),
    ("sum", "dim"): (None, "as for mean"),
    ("amax", "dim"): (None, "torch writes 'every dimension' as dim=[]"),
    ("squeeze", "dim"): (None, "none squeezes every size-1 dimension: the overload without dim"),
    ("amin", "dim"): (None, "as for amax"),
    ("roll", "dims"): (None, "torch's Python signature writes no dims as dims=None"),
}
# torch function -> (netdsl name, torch's name) for an argument named differently
RENAMED = {
    "view": ("shape", "size"),  # Tensor.view's Python signature is view(*shape)
    "expand": ("sizes", "size"),  # Tensor.expand(*sizes)
}
# How to read each function's signature: a Python callable inspect can read, or the ATen
# overload Python's method or function dispatches to (its schema names every argument).
FUNCTION_SOURCES: dict[str, Any] = {
    "pad": F.pad, "split": torch.split, "cat": "cat.default", "stack": "stack.default",
    "add": "add.Tensor", "mul": "mul.Tensor", "mean": "mean.dim", "sum": "sum.dim_IntList",
    "amax": "amax.default", "chunk": "chunk.default", "reshape": "reshape.default",
    "view": "view.default", "permute": "permute.default", "transpose": "transpose.int",
    "squeeze": "squeeze.dim", "unsqueeze": "unsqueeze.default",
    "scaled_dot_product_attention": "scaled_dot_product_attention.default",
    **{name: f"{name}.default" for name in (
        "exp", "log", "sqrt", "rsqrt", "sin", "cos", "reciprocal", "abs", "neg", "floor", "ceil",
        "round", "sign", "logical_not", "clamp", "tril", "triu", "argmax", "argmin", "topk",
        "amin", "expand", "expand_as", "repeat", "flip", "roll")},
    "pow": "pow.Tensor_Scalar", "where": "where.self", "masked_fill": "masked_fill.Scalar",
    "max": "max.dim", "min": "min.dim", "einsum": "einsum.default",
    "rearrange": einops.rearrange,  # netdsl writes it as plain tensor methods, not as einops
    "zeros_like": "zeros_like.default", "ones_like": "ones_like.default",
    "full_like": "full_like.default", "randn_like": "randn_like.default",
    "rand_like": "rand_like.default",
}
TENSOR_ARGUMENTS = {"input", "self", "tensor", "tensors", "other", "condition", "mask"}
NO_TORCH_COUNTERPART = {"pad_to_match": "netdsl's own helper, written into the generated file"}

Row = tuple[str, str, bool, bool]  # name, repr(default), keyword-only, star


def module_parameters(cls: type) -> list[inspect.Parameter]:
    init: Any = cls.__init__
    if init is nn.Module.__init__:
        return []  # takes no arguments of its own (nn.Sigmoid, nn.Identity)
    signature = inspect.signature(init)
    if any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values()):
        # nn.RNN, nn.LSTM, nn.GRU: the real signature is the overload without *args
        # (nn.Identity has none: it takes and ignores any arguments)
        overloads = [inspect.signature(o) for o in typing.get_overloads(init)]
        signature = next((s for s in overloads if not any(
            p.kind is p.VAR_POSITIONAL for p in s.parameters.values())), signature)
    params = list(signature.parameters.values())[1:]  # without self
    return [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def torch_rows(owner: str, params: list[tuple[str, Any, bool, bool]]) -> list[Row]:
    rows = []
    for name, default, keyword_only, star in params:
        if name in FACTORY_KWARGS or (owner, name) in NOT_IN_NETDSL:
            continue
        if (owner, name) in OTHER_DEFAULT:
            default = OTHER_DEFAULT[owner, name][0]
        if owner in RENAMED and RENAMED[owner][1] == name:
            name = RENAMED[owner][0]
        rows.append((name, repr(default), keyword_only, star))
    return rows


def catalogue_rows(owner: str, spec: LayerSpec) -> list[Row]:
    return [(p.name, repr(p.default), p.keyword_only, p.star) for p in spec.torch_signature
            if (owner, p.name) not in ONLY_IN_NETDSL]


MODULE_CASES = [(spec.name, cls) for spec in ENTRIES for cls in spec.classes]


@pytest.mark.parametrize(("layer", "cls"), MODULE_CASES)
def test_signature_is_the_torch_classs(layer: str, cls: str) -> None:
    params = [(p.name, REQUIRED if p.default is p.empty else p.default,
               p.kind is p.KEYWORD_ONLY, False) for p in module_parameters(getattr(nn, cls))]
    assert catalogue_rows(cls, LAYERS[layer]) == torch_rows(cls, params)


def schema_parameters(source: Any) -> list[tuple[str, Any, bool, bool]]:
    if callable(source):  # **sizes reads as the catalogue writes it: starred, keyword-only
        return [(p.name, REQUIRED if p.default is p.empty else p.default,
                 p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD), p.kind is p.VAR_KEYWORD)
                for p in inspect.signature(source).parameters.values()
                if p.name not in TENSOR_ARGUMENTS]
    op, overload = source.split(".")
    schema = getattr(getattr(torch.ops.aten, op), overload)._schema
    out = []
    for arg in schema.arguments:
        if arg.name in TENSOR_ARGUMENTS or is_tensor(arg):  # netdsl's inputs
            continue
        default = arg.default_value if arg.has_default_value() else REQUIRED
        # a list of sizes or dims: Python's method takes its items as *args (x.permute(0, 2, 1));
        # a list of fixed length 1 (`SymInt[1] shifts`) takes one int or a tuple instead
        star = str(arg.type) in ("List[int]", "List[SymInt]") and not arg.has_default_value() \
            and arg.N != 1
        out.append((arg.name, REQUIRED if star else default, arg.kwarg_only, star))
    return out


def is_tensor(arg: Any) -> bool:
    """A schema argument that is one tensor, given or optional (scaled_dot_product_attention's
    query, key, value and attn_mask)."""
    return str(arg.type) in ("Tensor", "Optional[Tensor]")


FUNCTIONS = [spec.name for spec in ENTRIES if not spec.module]


@pytest.mark.parametrize("layer", FUNCTIONS)
def test_function_signature_is_torchs(layer: str) -> None:
    spec = LAYERS[layer]
    if layer in NO_TORCH_COUNTERPART:
        assert spec.torch_signature == ()
        return
    rows = torch_rows(layer, schema_parameters(FUNCTION_SOURCES[layer]))
    assert catalogue_rows(layer, spec) == rows


def forward_parameters(cls: type) -> tuple[list[str], list[tuple[str, Any]]]:
    """torch's forward of a module: the tensors it takes, and its other arguments (flags)."""
    tensors, flags = [], []
    for p in list(inspect.signature(cls.forward).parameters.values())[1:]:  # without self
        if "Tensor" in str(p.annotation):
            tensors.append(p.name)
        else:
            flags.append((p.name, REQUIRED if p.default is p.empty else p.default))
    return tensors, flags


SPELLED_INPUTS = [spec.name for spec in ENTRIES if spec.forward.inputs]


@pytest.mark.parametrize("layer", SPELLED_INPUTS)
def test_named_inputs_and_forward_flags_are_torchs(layer: str) -> None:
    """A layer whose inputs the spelling names (masks passed by keyword) names them as torch's
    forward does, in its order; a module's forward flags are the rest of that forward."""
    spec = LAYERS[layer]
    if spec.module:
        tensors, flags = forward_parameters(getattr(nn, spec.classes[0]))
        assert list(spec.forward.inputs) == tensors
        assert [(p.name, p.default) for p in spec.forward_signature] == flags
        assert {a.name for a in spec.forward.args} == {name for name, _ in flags}
    else:
        op, overload = FUNCTION_SOURCES[layer].split(".")
        schema = getattr(getattr(torch.ops.aten, op), overload)._schema
        tensors = [a.name for a in schema.arguments if is_tensor(a)]
        assert list(spec.forward.inputs) == tensors
    assert spec.max_inputs == len(spec.forward.inputs)
    # the inputs after the positional ones are optional in torch
    assert spec.min_inputs <= spec.forward.positional_inputs


def test_every_listed_difference_still_exists() -> None:
    """A difference listed above that torch and the catalogue no longer have is stale."""
    for owner, name in [*NOT_IN_NETDSL, *OTHER_DEFAULT]:
        if owner in FUNCTION_SOURCES:
            names = {row[0]: row[1] for row in schema_parameters(FUNCTION_SOURCES[owner])}
        else:
            names = {p.name: p.default for p in module_parameters(getattr(nn, owner))}
        assert name in names, (owner, name)
    for (owner, name), (default, _) in OTHER_DEFAULT.items():
        spec = next(s for s in ENTRIES if owner in s.classes or owner == s.name)
        assert next(p.default for p in spec.torch_signature if p.name == name) == default
    for owner, name in ONLY_IN_NETDSL:
        assert name not in inspect.signature(getattr(nn, owner).__init__).parameters


def test_every_function_spelling_names_a_torch_function_or_tensor_method() -> None:
    for spec in ENTRIES:
        spelling = spec.forward
        if spelling.kind == "function":
            owner, name = spelling.name.split(".")
            assert callable(getattr({"torch": torch, "F": F}[owner], name)), spec.name
        elif spelling.kind == "method":
            assert callable(getattr(torch.Tensor, spelling.name)), spec.name
        elif spelling.kind == "module":
            assert spec.classes and all(hasattr(nn, cls) for cls in spec.classes), spec.name
        # the forward arguments are exactly the netdsl arguments
        if spelling.kind in ("function", "method"):
            assert [a.name for a in spelling.args] == [p.name for p in spec.signature]


def test_every_entry_has_a_category_and_module_layers_a_prefix() -> None:
    for spec in ENTRIES:
        assert spec.category in CATEGORIES
        assert bool(spec.prefix) == spec.module == bool(spec.torch_classes)


# ---------------------------------------------------------------- against torch, run

SIZES = {"B": 2, "T": 5, "S": 7}
FEATURES_LAST = {"rnn", "lstm", "gru", "rnncell", "lstmcell", "grucell", "multihead_attention",
                 "transformer_encoder_layer", "transformer_decoder_layer", "fold"}


def concrete(example: Example, rank: int | None = None, layer: str = "") -> Example:
    """The example with numbers for its dimension names and, given a rank, each input
    shortened or lengthened to it (at the front for layers whose features come last)."""
    parts = []
    for part in split_top(example.inputs):
        name, shape = part.split(":")
        dtype, dims_text = shape.strip().rstrip("]").split("[")
        dims = [str(SIZES.get(d.strip(), d.strip())) for d in dims_text.split(",")]
        if rank is not None:
            if layer in FEATURES_LAST:
                dims = (["2"] * rank + dims)[-rank:] if rank else []
            else:
                dims = (dims + ["6"] * rank)[:rank]
        parts.append(f"{name.strip()}: {dtype}[{', '.join(dims)}]")
    stage = re.sub(r"\b[BTS]\b", lambda m: str(SIZES[m.group()]), example.stage)
    return Example(", ".join(parts), stage)


def run_example(layer: str, example: Example) -> tuple[list[tuple[int, ...]], int, Any]:
    """Check the one-stage network with netdsl, then build and run the same with torch from
    the catalogue's spellings: the PyTorch constructor and the forward expression."""
    spec = LAYERS[layer]
    program = netdsl.check_source(example.source, f"{layer}.net")
    net = program.networks[0]
    node = next(n for n in net.nodes if n.op == layer)
    checked = [tuple(int(d) for d in tt.shape) for tt in net.outputs]
    scope: dict[str, Any] = {"torch": torch, "F": F, "nn": nn}
    for helper in HELPERS.values():
        exec(helper, scope)
    # generated code calls the helper written for the input's rank; the layer reference
    # spells it without the suffix, and its pad_to_match example is 2-d
    scope["pad_to_match"] = scope["pad_to_match2d"]
    for part in split_top(example.inputs):
        name, shape = part.split(":")
        dims = [int(d) for d in re.findall(r"\d+", shape)]
        scope[name.strip()] = (torch.randint(0, 3, dims) if "long" in shape
                               else torch.rand(dims) > 0.5 if "bool" in shape
                               else torch.randn(dims))
    params = 0
    if spec.module:
        module = eval(node.torch, scope).eval()
        params = sum(p.numel() for p in module.parameters())
        scope["self"] = type("Self", (), {"layer": module})()
    code = forward_code(spec, node, example.names, "layer")
    with torch.no_grad():
        out = eval(code, scope)
    shapes = [tuple(t.shape) for t in _flat(out)]
    assert checked == shapes, f"{code} on {example.inputs}: netdsl {checked}, torch {shapes}"
    assert net.params == params
    return shapes, params, node


def _flat(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    return [t for item in value for t in _flat(item)]


@pytest.mark.parametrize("layer", [spec.name for spec in ENTRIES])
def test_example_spelled_from_the_catalogue_runs_in_torch(layer: str) -> None:
    _, _, node = run_example(layer, concrete(EXAMPLES[layer]))
    rank = len(re.findall(r"\d+", concrete(EXAMPLES[layer]).inputs.split("]")[0]))
    if LAYERS[layer].module:
        assert node.meta["cls"] == LAYERS[layer].torch_class(rank)


RANK_CASES = [(spec.name, rank) for spec in ENTRIES
              if spec.torch_classes and ANY_RANK not in spec.torch_classes for rank in range(7)]


@pytest.mark.parametrize(("layer", "rank"), RANK_CASES)
def test_each_rank_selects_the_catalogues_class(layer: str, rank: int) -> None:
    """An input of a rank the entry lists selects its class, which torch runs with the shapes
    netdsl reports; any other rank is rejected."""
    spec = LAYERS[layer]
    example = concrete(EXAMPLES[layer], rank, layer)
    cls = spec.torch_class(rank)
    if cls is None:
        with pytest.raises(netdsl.NetDSLError):
            netdsl.check_source(example.source)
        return
    _, _, node = run_example(layer, example)
    assert node.meta["cls"] == cls
    assert node.torch.startswith(f"nn.{cls}(")


def test_spelling_parenthesises_an_expression_before_a_method_or_operator() -> None:
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    scope = {"a": a, "b": b, "torch": torch}
    mean = LAYERS["mean"].forward.code(["a + b"], {"dim": "1", "keepdim": "False"}, {"keepdim"})
    assert mean == "(a + b).mean(dim=1)"
    assert torch.equal(eval(mean, scope), (a + b).mean(dim=1))
    product = LAYERS["mul"].forward.code(["a + b", "b"])
    assert product == "(a + b) * b"
    assert torch.equal(eval(product, scope), (a + b) * b)
