"""The layer catalogue: one entry per netdsl layer, every fact about it as data.

An entry gives the layer's netdsl name; PyTorch's own signature (names, order, defaults,
keyword-only arguments) of the class or function it stands for; the arguments netdsl infers
from the input (removed from the netdsl signature but still accepted by keyword, as a
check) and the defaults where netdsl differs from PyTorch; the shape rule; the torch class
each input rank selects; how it is written in a generated `forward` (see spelling.py); its
diagram category; the attribute-name prefix in generated code; and how many tensors it
takes. Nothing here imports torch; tests/test_catalogue.py holds the signatures to torch's.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from . import attention, einsum, rearrange
from . import shapes as s
from . import tensor_rules as tr
from .sources import like
from .spelling import MODULE, Forward, keyword, positional, spread

REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "<required>"})()

# The key of `LayerSpec.torch_classes` for a class that every input rank the rule accepts
# selects alike (nn.Linear on rank 1, 2, 3, ...).
ANY_RANK = None

# What a layer does, for the diagram's colours and the layer reference's sections.
Category = Literal["conv", "linear", "embedding", "pool", "norm", "dropout", "activation",
                   "recurrent", "attention", "resample", "padding", "reshape", "merge", "split",
                   "reduce", "elementwise", "create"]
CATEGORIES: tuple[str, ...] = get_args(Category)


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    default: Any = REQUIRED
    star: bool = False  # *shape: takes all remaining positional arguments as a tuple
    keyword_only: bool = False  # after PyTorch's bare `*`: nn.GroupNorm(..., *, bias=True)
    # **sizes: takes every keyword no other parameter names, as a dict (also star and
    # keyword_only, so that code looking for positional parameters passes it by)
    var_keyword: bool = False


@functools.cache
def _literal(text: str) -> Any:
    """A default's value; each distinct text is evaluated once (this runs at import, on
    every start of netdsl)."""
    return ast.literal_eval(text)


def signature(text: str) -> tuple[Param, ...]:
    """'a; b=1; *dims; **sizes' -> Params; defaults are Python literals (True, None, 'zeros');
    a bare '*' makes the parameters after it keyword-only, as in Python."""
    out = []
    keyword_only = False
    for part in filter(None, (p.strip() for p in text.split(";"))):
        if part == "*":
            keyword_only = True
        elif part.startswith("**"):
            out.append(Param(part[2:], star=True, keyword_only=True, var_keyword=True))
        elif part.startswith("*"):
            out.append(Param(part[1:], star=True))
        elif "=" in part:
            name, default = part.split("=", 1)
            out.append(Param(name.strip(), _literal(default.strip()), keyword_only=keyword_only))
        else:
            out.append(Param(part, keyword_only=keyword_only))
    return tuple(out)


# What torch does with an integer input, found by running each layer on a long tensor:
# these raise (no integer kernel, or float weights; the attention layers, whose masks may be
# bool, check their inputs themselves) ...
FLOAT_ONLY = frozenset("""
conv convtranspose linear adaptive_avgpool adaptive_maxpool batchnorm instancenorm groupnorm
layernorm dropout dropout1d dropout2d dropout3d rnn lstm gru rnncell lstmcell grucell upsample fold
elu selu celu leaky_relu gelu silu mish hardswish hardsigmoid softplus logsigmoid prelu softmax
log_softmax softmin glu
""".split())
# ... these compute in floating point and return a float tensor ...
FLOAT_RESULT = frozenset("sigmoid tanh softsign tanhshrink".split())
# ... and these take integers but not booleans
NO_BOOL = frozenset("relu relu6 hardtanh threshold softsign tanhshrink reflectionpad "
                    "replicationpad".split())


@dataclass(frozen=True, slots=True)
class LayerSpec:
    name: str  # how netdsl spells it: conv, batchnorm, cat
    rule: Callable[[s.Call], s.Applied]  # the shape rule (shapes.py)
    torch_signature: tuple[Param, ...]  # PyTorch's, for the class or function, no factory kwargs
    category: Category
    # input rank -> the torch.nn class it selects (ANY_RANK: every rank the rule accepts);
    # empty for a layer that is not an nn.Module
    torch_classes: Mapping[int | None, str] = field(default_factory=dict)
    forward: Forward = MODULE  # how generated code applies it
    inferred: tuple[str, ...] = ()  # sizes read from the input (in_channels, ...)
    prefix: str = ""  # generated attribute names: conv1, conv2 (modules only)
    min_inputs: int = 1
    max_inputs: int = 1
    primary: bool = False  # multi-output; a pipeline passes on the first output (`[0]`)
    overrides: dict[str, Any] = field(default_factory=dict)  # netdsl defaults that differ
    # a module's forward arguments (need_weights, is_causal): netdsl offers them after the
    # constructor's; generated code passes them in the forward call, never to the constructor
    forward_signature: tuple[Param, ...] = ()
    # how forward writes the layer when an argument is a size known only at run time
    # (`upsample(size=(H, W))` of symbolic H, W: F.interpolate), instead of a module
    dynamic: Forward | None = None
    signature: tuple[Param, ...] = field(init=False)  # what a netdsl user writes

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"{self.name}: unknown category {self.category!r}")
        if self.module != bool(self.torch_classes) or (self.module and not self.prefix):
            raise ValueError(f"{self.name}: a module layer has torch classes and a prefix, "
                             f"a function has neither")
        if self.forward.inputs and len(self.forward.inputs) != self.max_inputs:
            raise ValueError(f"{self.name}: its spelling names {len(self.forward.inputs)} "
                             f"inputs, but it takes at most {self.max_inputs}")
        if self.name in FLOAT_ONLY:
            object.__setattr__(self, "rule", s.float_only(self.rule))
        elif self.name in FLOAT_RESULT:
            object.__setattr__(self, "rule", s.float_result(self.rule))
        if self.name in NO_BOOL:
            object.__setattr__(self, "rule", s.no_bool(self.rule))
        # PyTorch's signature minus the inferred sizes, with netdsl's own defaults
        out = []
        for p in self.torch_signature:
            if p.name in self.inferred:
                continue
            if p.name in self.overrides:
                p = Param(p.name, self.overrides[p.name], p.star, p.keyword_only)
            out.append(p)
        object.__setattr__(self, "signature", (*out, *self.forward_signature))

    @property
    def module(self) -> bool:
        """Built as an nn.Module attribute (False: a function, method or operator)."""
        return self.forward.kind == "module"

    @property
    def classes(self) -> tuple[str, ...]:
        """The torch.nn classes this entry stands for, in rank order, each once."""
        return tuple(dict.fromkeys(self.torch_classes[k] for k in self.ranks()))

    def ranks(self) -> list[int | None]:
        """The keys of torch_classes in rank order (ANY_RANK alone when it is the key)."""
        return sorted(self.torch_classes, key=lambda k: -1 if k is None else k)

    def torch_class(self, rank: int) -> str | None:
        """The class an input of this rank selects; None when the rule rejects the rank
        (or the layer is no nn.Module)."""
        return self.torch_classes.get(rank, self.torch_classes.get(ANY_RANK))

    @property
    def multi_input(self) -> bool:
        return self.max_inputs > 1


def _sig(text: str) -> tuple[Param, ...]:
    return signature(text.replace(",", ";"))


CONV = ("in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, "
        "bias=True, padding_mode='zeros'")
CONVT = ("in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, "
         "groups=1, bias=True, dilation=1, padding_mode='zeros'")
NORM = "num_features, eps=1e-05, momentum=0.1, affine={0}, track_running_stats={0}, *, bias=True"
RNN_TAIL = "num_layers=1, bias=True, batch_first=False, dropout=0.0, bidirectional=False"
TRANSFORMER = ("d_model, nhead, dim_feedforward=2048, dropout=0.1, activation='relu', "
               "layer_norm_eps=1e-05, batch_first=False, norm_first=False, bias=True")
SPATIAL = (3, 4, 5)  # [N, C, L], [N, C, H, W], [N, C, D, H, W]: 1d, 2d, 3d classes
MANY = 1 << 30


def _nd(template: str, ranks: tuple[int, ...] = SPATIAL) -> dict[int | None, str]:
    """{3: 'Conv1d', 4: 'Conv2d', 5: 'Conv3d'}: rank r selects the (r - 2)d class."""
    return {r: template.format(n=max(r - 2, 1)) for r in ranks}


def _every(cls: str, ranks: tuple[int, ...] | None = None) -> dict[int | None, str]:
    """One class for the given ranks, or for every rank the rule accepts."""
    return {r: cls for r in ranks} if ranks else {ANY_RANK: cls}


def _act(name: str, cls: str, sig: str = "", rule: Any = None) -> LayerSpec:
    return LayerSpec(name, rule or s.activation(cls), _sig(sig), "activation", _every(cls),
                     prefix=name)


def _function(name: str, rule: Any, sig: str, category: Category, forward: Forward,
              **extra: Any) -> LayerSpec:
    return LayerSpec(name, rule, _sig(sig), category, forward=forward, **extra)


def _method(name: str, args: tuple[Any, ...]) -> Forward:
    return Forward("method", name, args)


REDUCTION = keyword("dim", "keepdim", omit_default=True)

ENTRIES: list[LayerSpec] = [
    LayerSpec("conv", s.conv, _sig(CONV), "conv", _nd("Conv{n}d"), inferred=("in_channels",),
              prefix="conv"),
    LayerSpec("convtranspose", s.conv_transpose, _sig(CONVT), "conv", _nd("ConvTranspose{n}d"),
              inferred=("in_channels",), prefix="upconv"),
    LayerSpec("linear", s.linear, _sig("in_features, out_features, bias=True"), "linear",
              _every("Linear"), inferred=("in_features",), prefix="fc"),
    LayerSpec("maxpool", s.maxpool, _sig("kernel_size, stride=None, padding=0, dilation=1, "
                                         "return_indices=False, ceil_mode=False"),
              "pool", _nd("MaxPool{n}d"), prefix="pool"),
    LayerSpec("avgpool", s.avgpool, _sig("kernel_size, stride=None, padding=0, ceil_mode=False, "
                                         "count_include_pad=True, divisor_override=None"),
              "pool", _nd("AvgPool{n}d"), prefix="pool"),
    LayerSpec("adaptive_avgpool", s.adaptive_avgpool, _sig("output_size"), "pool",
              _nd("AdaptiveAvgPool{n}d"), prefix="pool"),
    LayerSpec("adaptive_maxpool", s.adaptive_maxpool, _sig("output_size, return_indices=False"),
              "pool", _nd("AdaptiveMaxPool{n}d"), prefix="pool"),
    LayerSpec("batchnorm", s.batchnorm, _sig(NORM.format(True)), "norm",
              _nd("BatchNorm{n}d", (2, *SPATIAL)), inferred=("num_features",), prefix="bn"),
    LayerSpec("instancenorm", s.instancenorm, _sig(NORM.format(False)), "norm",
              _nd("InstanceNorm{n}d"), inferred=("num_features",), prefix="norm"),
    LayerSpec("groupnorm", s.groupnorm, _sig("num_groups, num_channels, eps=1e-05, affine=True, "
                                             "*, bias=True"),
              "norm", _every("GroupNorm"), inferred=("num_channels",), prefix="gn"),
    LayerSpec("layernorm", s.layernorm, _sig("normalized_shape, eps=1e-05, "
                                             "elementwise_affine=True, bias=True"),
              "norm", _every("LayerNorm"), prefix="ln", overrides={"normalized_shape": None}),
    LayerSpec("dropout", s.dropout, _sig("p=0.5, inplace=False"), "dropout", _every("Dropout"),
              prefix="dropout"),
    LayerSpec("dropout1d", s._dropout_nd(1), _sig("p=0.5, inplace=False"), "dropout",
              _every("Dropout1d", (2, 3)), prefix="dropout"),
    LayerSpec("dropout2d", s._dropout_nd(2), _sig("p=0.5, inplace=False"), "dropout",
              _every("Dropout2d", (3, 4)), prefix="dropout"),
    LayerSpec("dropout3d", s._dropout_nd(3), _sig("p=0.5, inplace=False"), "dropout",
              _every("Dropout3d", (4, 5)), prefix="dropout"),
    LayerSpec("embedding", s.embedding, _sig("num_embeddings, embedding_dim, padding_idx=None, "
                                             "max_norm=None, norm_type=2.0, "
                                             "scale_grad_by_freq=False, sparse=False"),
              "embedding", _every("Embedding"), prefix="embedding"),
    LayerSpec("rnn", s.recurrent("RNN"), _sig("input_size, hidden_size, num_layers=1, "
                                              "nonlinearity='tanh', bias=True, "
                                              "batch_first=False, dropout=0.0, "
                                              "bidirectional=False"),
              "recurrent", _every("RNN", (2, 3)), inferred=("input_size",), prefix="rnn",
              max_inputs=2, primary=True),
    LayerSpec("lstm", s.recurrent("LSTM"), _sig(f"input_size, hidden_size, {RNN_TAIL}, "
                                                f"proj_size=0"),
              "recurrent", _every("LSTM", (2, 3)), inferred=("input_size",), prefix="lstm",
              max_inputs=3, primary=True),
    LayerSpec("gru", s.recurrent("GRU"), _sig(f"input_size, hidden_size, {RNN_TAIL}"),
              "recurrent", _every("GRU", (2, 3)), inferred=("input_size",), prefix="gru",
              max_inputs=2, primary=True),
    LayerSpec("rnncell", s.cell("RNNCell"), _sig("input_size, hidden_size, bias=True, "
                                                 "nonlinearity='tanh'"),
              "recurrent", _every("RNNCell", (1, 2)), inferred=("input_size",), prefix="cell",
              max_inputs=2),
    LayerSpec("lstmcell", s.cell("LSTMCell"), _sig("input_size, hidden_size, bias=True"),
              "recurrent", _every("LSTMCell", (1, 2)), inferred=("input_size",), prefix="cell",
              max_inputs=3, primary=True),
    LayerSpec("grucell", s.cell("GRUCell"), _sig("input_size, hidden_size, bias=True"),
              "recurrent", _every("GRUCell", (1, 2)), inferred=("input_size",), prefix="cell",
              max_inputs=2),
    # masks are further inputs and forward's flags are arguments (attention.py), both in the
    # order of torch's forward
    LayerSpec("multihead_attention", attention.multihead_attention,
              _sig("embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, "
                   "add_zero_attn=False, kdim=None, vdim=None, batch_first=False"),
              "attention", _every("MultiheadAttention", (2, 3)),
              forward=Forward("module", args=keyword("need_weights", "average_attn_weights",
                                                     "is_causal", omit_default=True),
                              lone_input_repeats=3, positional_inputs=3,
                              inputs=("query", "key", "value", "key_padding_mask", "attn_mask")),
              forward_signature=_sig("need_weights=True, average_attn_weights=True, "
                                     "is_causal=False"),
              inferred=("embed_dim",), prefix="attn", max_inputs=5, primary=True),
    LayerSpec("transformer_encoder_layer", attention.transformer_encoder_layer, _sig(TRANSFORMER),
              "attention", _every("TransformerEncoderLayer", (2, 3)),
              forward=Forward("module", args=keyword("is_causal", omit_default=True),
                              inputs=("src", "src_mask", "src_key_padding_mask"),
                              positional_inputs=1),
              forward_signature=_sig("is_causal=False"), inferred=("d_model",),
              prefix="encoder_layer", max_inputs=3),
    LayerSpec("transformer_decoder_layer", attention.transformer_decoder_layer, _sig(TRANSFORMER),
              "attention", _every("TransformerDecoderLayer", (2, 3)),
              forward=Forward("module", args=keyword("tgt_is_causal", "memory_is_causal",
                                                     omit_default=True),
                              inputs=("tgt", "memory", "tgt_mask", "memory_mask",
                                      "tgt_key_padding_mask", "memory_key_padding_mask"),
                              positional_inputs=2),
              forward_signature=_sig("tgt_is_causal=False, memory_is_causal=False"),
              inferred=("d_model",), prefix="decoder_layer", min_inputs=2, max_inputs=6),
    LayerSpec("upsample", s.upsample, _sig("size=None, scale_factor=None, mode='nearest', "
                                           "align_corners=None, recompute_scale_factor=None"),
              "resample", _every("Upsample", SPATIAL), prefix="up",
              dynamic=Forward("function", "F.interpolate",
                              keyword("size", "scale_factor", "mode", "align_corners",
                                      omit_default=True))),
    LayerSpec("flatten", s.flatten, _sig("start_dim=1, end_dim=-1"), "reshape",
              _every("Flatten"), prefix="flatten"),
    LayerSpec("unflatten", s.unflatten, _sig("dim, unflattened_size"), "reshape",
              _every("Unflatten"), prefix="unflatten"),
    _function("reshape", s.reshape, "*shape", "reshape", _method("reshape", spread("shape"))),
    _function("view", s.reshape, "*shape", "reshape", _method("view", spread("shape"))),
    _function("permute", s.permute, "*dims", "reshape", _method("permute", spread("dims"))),
    _function("transpose", s.transpose, "dim0, dim1", "reshape",
              _method("transpose", positional("dim0", "dim1"))),
    _function("squeeze", s.squeeze, "dim=None", "reshape",
              _method("squeeze", positional("dim", omit_default=True))),
    _function("unsqueeze", s.unsqueeze, "dim", "reshape",
              _method("unsqueeze", positional("dim"))),
    LayerSpec("zeropad", s.pad_layer("Zero"), _sig("padding"), "padding", _nd("ZeroPad{n}d"),
              prefix="pad"),
    LayerSpec("constantpad", s.pad_layer("Constant"), _sig("padding, value"), "padding",
              _nd("ConstantPad{n}d"), prefix="pad"),
    LayerSpec("reflectionpad", s.pad_layer("Reflection"), _sig("padding"), "padding",
              _nd("ReflectionPad{n}d"), prefix="pad"),
    LayerSpec("replicationpad", s.pad_layer("Replication"), _sig("padding"), "padding",
              _nd("ReplicationPad{n}d"), prefix="pad"),
    _function("pad", s.pad, "pad, mode='constant', value=None", "padding",
              Forward("function", "F.pad", (*positional("pad"),
                                            *keyword("mode", "value", omit_default=True)))),
    _function("pad_to_match", s.pad_to_match, "", "padding", Forward("helper", "pad_to_match"),
              min_inputs=2, max_inputs=2),
    # im2col and col2im: they rearrange (and fold sums) elements, no weights
    LayerSpec("unfold", s.unfold, _sig("kernel_size, dilation=1, padding=0, stride=1"),
              "reshape", _every("Unfold", (3, 4)), prefix="unfold"),
    LayerSpec("fold", s.fold, _sig("output_size, kernel_size, dilation=1, padding=0, stride=1"),
              "reshape", _every("Fold", (2, 3)), prefix="fold"),
    LayerSpec("pixel_shuffle", s.pixel_shuffle, _sig("upscale_factor"), "resample",
              _every("PixelShuffle"), prefix="shuffle"),
    LayerSpec("pixel_unshuffle", s.pixel_unshuffle, _sig("downscale_factor"), "resample",
              _every("PixelUnshuffle"), prefix="unshuffle"),
    _act("relu", "ReLU", "inplace=False"),
    _act("relu6", "ReLU6", "inplace=False"),
    _act("leaky_relu", "LeakyReLU", "negative_slope=0.01, inplace=False"),
    _act("elu", "ELU", "alpha=1.0, inplace=False"),
    _act("selu", "SELU", "inplace=False"),
    _act("celu", "CELU", "alpha=1.0, inplace=False"),
    _act("gelu", "GELU", "approximate='none'", s.gelu),
    _act("silu", "SiLU", "inplace=False"),
    _act("mish", "Mish", "inplace=False"),
    _act("sigmoid", "Sigmoid"),
    _act("tanh", "Tanh"),
    _act("hardtanh", "Hardtanh", "min_val=-1.0, max_val=1.0, inplace=False"),
    _act("hardswish", "Hardswish", "inplace=False"),
    _act("hardsigmoid", "Hardsigmoid", "inplace=False"),
    _act("softplus", "Softplus", "beta=1.0, threshold=20.0"),
    _act("softsign", "Softsign"),
    _act("logsigmoid", "LogSigmoid"),
    _act("tanhshrink", "Tanhshrink"),
    _act("threshold", "Threshold", "threshold, value, inplace=False"),
    _act("identity", "Identity"),
    _act("prelu", "PReLU", "num_parameters=1, init=0.25", s.prelu),
    _act("softmax", "Softmax", "dim", s.softmax_like("Softmax")),
    _act("log_softmax", "LogSoftmax", "dim", s.softmax_like("LogSoftmax")),
    _act("softmin", "Softmin", "dim", s.softmax_like("Softmin")),
    _act("glu", "GLU", "dim=-1", s.glu),
    _function("scaled_dot_product_attention", attention.scaled_dot_product_attention,
              "dropout_p=0.0, is_causal=False, *, scale=None, enable_gqa=False", "attention",
              Forward("function", "F.scaled_dot_product_attention",
                      keyword("dropout_p", "is_causal", "scale", "enable_gqa", omit_default=True),
                      inputs=("query", "key", "value", "attn_mask"), positional_inputs=3),
              min_inputs=3, max_inputs=4),
    _function("cat", s.cat, "dim=0", "merge",
              Forward("function", "torch.cat", keyword("dim"), inputs_as_list=True),
              max_inputs=MANY, overrides={"dim": 1}),
    _function("stack", s.stack, "dim=0", "merge",
              Forward("function", "torch.stack", keyword("dim"), inputs_as_list=True),
              max_inputs=MANY),
    _function("add", s.elementwise("add", "torch.add"), "", "merge", Forward("operator", "+"),
              min_inputs=2, max_inputs=MANY),
    _function("mul", s.elementwise("mul", "torch.mul"), "", "merge", Forward("operator", "*"),
              min_inputs=2, max_inputs=MANY),
    _function("mean", s.reduce("torch.mean"), "dim=None, keepdim=False", "reduce",
              _method("mean", REDUCTION)),
    _function("sum", s.reduce("torch.sum"), "dim=None, keepdim=False", "reduce",
              _method("sum", REDUCTION)),
    _function("amax", s.reduce("torch.amax"), "dim=None, keepdim=False", "reduce",
              _method("amax", REDUCTION)),
    _function("chunk", s.chunk, "chunks, dim=0", "split",
              Forward("function", "torch.chunk", (*positional("chunks"), *keyword("dim")))),
    _function("split", s.split, "split_size_or_sections, dim=0", "split",
              Forward("function", "torch.split", (*positional("split_size_or_sections"),
                                                  *keyword("dim")))),
    # v2: elementwise maths, comparisons, selections, broadcasting
    *(_function(name, tr.RULES[name], "", "elementwise", Forward("function", f"torch.{name}"))
      for name in (*tr.FLOAT_MATHS, *tr.NUMBER_MATHS, "sign", "logical_not")),
    _function("clamp", tr.clamp, "min=None, max=None", "elementwise",
              Forward("function", "torch.clamp", keyword("min", "max", omit_default=True))),
    _function("pow", tr.pow_rule, "exponent", "elementwise",
              Forward("function", "torch.pow", positional("exponent"))),
    *(_function(name, tr.triangle, "diagonal=0", "elementwise",
                Forward("function", f"torch.{name}", keyword("diagonal", omit_default=True)))
      for name in ("tril", "triu")),
    _function("where", tr.where, "", "elementwise", Forward("function", "torch.where"),
              min_inputs=3, max_inputs=3),
    _function("masked_fill", tr.masked_fill, "value", "elementwise",
              _method("masked_fill", positional("value")), min_inputs=2, max_inputs=2),
    *(_function(name, tr.arg_select, "dim=None, keepdim=False", "reduce",
                Forward("function", f"torch.{name}", REDUCTION)) for name in ("argmax", "argmin")),
    *(_function(name, tr.max_min, "dim, keepdim=False", "reduce",
                Forward("function", f"torch.{name}", (*keyword("dim"),
                                                      *keyword("keepdim", omit_default=True))))
      for name in ("max", "min")),
    _function("topk", tr.topk, "k, dim=-1, largest=True, sorted=True", "reduce",
              Forward("function", "torch.topk", (*positional("k"), *keyword(
                  "dim", "largest", "sorted", omit_default=True)))),
    _function("amin", s.reduce("torch.amin"), "dim=None, keepdim=False", "reduce",
              _method("amin", REDUCTION)),
    _function("expand", tr.expand, "*sizes", "reshape", _method("expand", spread("sizes"))),
    _function("expand_as", tr.expand_as, "", "reshape", _method("expand_as", ()),
              min_inputs=2, max_inputs=2),
    _function("repeat", tr.repeat, "*repeats", "reshape", _method("repeat", spread("repeats"))),
    _function("flip", tr.flip, "*dims", "reshape", _method("flip", spread("dims"))),
    _function("roll", tr.roll, "shifts, dims=None", "reshape",
              Forward("function", "torch.roll", (*positional("shifts"),
                                                 *keyword("dims", omit_default=True)))),
    # v2: rearrange and einsum
    # einops' rearrange, checked statically and written as plain tensor methods (no einops at
    # run time): its signature is einops.rearrange's; the sizes of axes go by keyword
    _function("rearrange", rearrange.rule, "pattern, **axes_lengths", "reshape",
              Forward("chain", "rearrange")),
    _function("einsum", einsum.rule, "equation", "linear",
              Forward("function", "torch.einsum", positional("equation"), inputs_last=True),
              max_inputs=MANY),
    # a tensor like the input (its shape, dtype and device): `x -> randn_like`
    *(_function(name, like(name), "", "create", Forward("function", f"torch.{name}"))
      for name in ("zeros_like", "ones_like", "randn_like", "rand_like")),
    _function("full_like", like("full_like"), "fill_value", "create",
              Forward("function", "torch.full_like", positional("fill_value"))),
]

LAYERS: dict[str, LayerSpec] = {spec.name: spec for spec in ENTRIES}

# torch.nn class name -> the catalogue entry that stands for it
TORCH_CLASSES: dict[str, LayerSpec] = {cls: spec for spec in ENTRIES for cls in spec.classes}

# Attributes every nn.Module has (its methods, and what nn.Module.__init__ sets, `_modules`
# ...; tests/test_naming.py holds the list to dir(nn.Module())): a name the generated code
# defines on self, or passes as a constructor argument, must not be one of them.
MODULE_ATTRIBUTES = frozenset("""
T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda double
dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule
half ipu load_state_dict modules mtia named_buffers named_children named_modules named_parameters
parameters register_backward_hook register_buffer register_forward_hook
register_forward_pre_hook register_full_backward_hook register_full_backward_pre_hook
register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module
register_parameter register_state_dict_post_hook register_state_dict_pre_hook requires_grad_
set_extra_state set_submodule share_memory smart_apply state_dict to to_empty train training
type xpu zero_grad
_apply _backward_hooks _backward_pre_hooks _buffers _call_impl _compiled_call_impl
_forward_hooks _forward_hooks_always_called _forward_hooks_with_kwargs _forward_pre_hooks
_forward_pre_hooks_with_kwargs _get_backward_hooks _get_backward_pre_hooks _get_name
_is_full_backward_hook _load_from_state_dict _load_state_dict_post_hooks
_load_state_dict_pre_hooks _maybe_warn_non_full_backward_hook _modules _named_members
_non_persistent_buffers_set _parameters _register_load_state_dict_pre_hook
_register_state_dict_hook _replicate_for_data_parallel _save_to_state_dict _slow_forward
_state_dict_hooks _state_dict_pre_hooks _version _wrapped_call_impl
""".split())

# torch.nn names that are not layers: classes that are not nn.Module at all, and modules
# without a forward (containers and abstract bases), which cannot be applied to a tensor
NOT_MODULES = frozenset("Buffer LinearCrossEntropyOptions Parameter UninitializedBuffer "
                        "UninitializedParameter".split())
NO_FORWARD = frozenset("Container Module ModuleDict ModuleList ParameterDict ParameterList "
                       "RNNBase RNNCellBase".split())
