"""The layer catalogue: one entry per netdsl layer, as data.

Each entry gives PyTorch's own constructor signature (names, order, defaults), the
arguments netdsl infers from the input (removed from the netdsl signature but still
accepted by keyword as a check), the shape rule, the attribute-name prefix used in
generated code, and how many tensors it takes. Nothing here imports torch.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import shapes as s

REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "<required>"})()
VARARGS = "*"


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    default: Any = REQUIRED
    star: bool = False  # *shape: takes all remaining positional arguments as a tuple


@functools.cache
def _literal(text: str) -> Any:
    """A default's value; each distinct text is evaluated once (142 defaults, 23 texts: this
    runs at import, on every start of netdsl)."""
    return ast.literal_eval(text)


def signature(text: str) -> tuple[Param, ...]:
    """'a, b=1, *dims' -> Params; defaults are Python literals (True, None, 'zeros')."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        if part.startswith("*"):
            out.append(Param(part[1:], star=True))
        elif "=" in part:
            name, default = part.split("=", 1)
            out.append(Param(name.strip(), _literal(default.strip())))
        else:
            out.append(Param(part))
    return tuple(out)


# What torch does with an integer input, found by running each layer on a long tensor:
# these raise (no integer kernel, or float weights) ...
FLOAT_ONLY = frozenset("""
conv convtranspose linear adaptive_avgpool adaptive_maxpool batchnorm instancenorm groupnorm
layernorm dropout dropout1d dropout2d dropout3d rnn lstm gru rnncell lstmcell grucell
multihead_attention transformer_encoder_layer transformer_decoder_layer upsample fold
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
    name: str
    rule: Callable[[s.Call], s.Applied]
    torch_signature: tuple[Param, ...]
    inferred: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()  # the torch.nn classes this entry stands for
    prefix: str = ""
    module: bool = True  # built as an nn.Module attribute (False: a torch function)
    min_inputs: int = 1
    max_inputs: int = 1
    primary: bool = False  # multi-output; a pipeline passes on the first output
    overrides: dict[str, Any] = field(default_factory=dict)  # netdsl defaults that differ
    signature: tuple[Param, ...] = field(init=False)  # what a netdsl user writes

    def __post_init__(self) -> None:
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
                p = Param(p.name, self.overrides[p.name], p.star)
            out.append(p)
        object.__setattr__(self, "signature", tuple(out))

    @property
    def multi_input(self) -> bool:
        return self.max_inputs > 1


def _sig(text: str) -> tuple[Param, ...]:
    return signature(text.replace(",", ";"))


CONV = ("in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, "
        "bias=True, padding_mode='zeros'")
CONVT = ("in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, "
         "groups=1, bias=True, dilation=1, padding_mode='zeros'")
RNN_TAIL = "num_layers=1, bias=True, batch_first=False, dropout=0.0, bidirectional=False"
TRANSFORMER = ("d_model, nhead, dim_feedforward=2048, dropout=0.1, activation='relu', "
               "layer_norm_eps=1e-05, batch_first=False, norm_first=False, bias=True")


def _nd(template: str) -> tuple[str, ...]:
    return tuple(template.format(n=n) for n in (1, 2, 3))


def _act(name: str, cls: str, sig: str = "", prefix: str | None = None) -> LayerSpec:
    return LayerSpec(name, s.activation(cls), _sig(sig), classes=(cls,), prefix=prefix or name)


ENTRIES: list[LayerSpec] = [
    LayerSpec("conv", s.conv, _sig(CONV), ("in_channels",), _nd("Conv{n}d"), "conv"),
    LayerSpec("convtranspose", s.conv_transpose, _sig(CONVT), ("in_channels",),
              _nd("ConvTranspose{n}d"), "upconv"),
    LayerSpec("linear", s.linear, _sig("in_features, out_features, bias=True"),
              ("in_features",), ("Linear",), "fc"),
    LayerSpec("maxpool", s.maxpool, _sig("kernel_size, stride=None, padding=0, dilation=1, "
                                         "return_indices=False, ceil_mode=False"),
              classes=_nd("MaxPool{n}d"), prefix="pool"),
    LayerSpec("avgpool", s.avgpool, _sig("kernel_size, stride=None, padding=0, ceil_mode=False, "
                                         "count_include_pad=True, divisor_override=None"),
              classes=_nd("AvgPool{n}d"), prefix="pool"),
    LayerSpec("adaptive_avgpool", s.adaptive_avgpool, _sig("output_size"),
              classes=_nd("AdaptiveAvgPool{n}d"), prefix="pool"),
    LayerSpec("adaptive_maxpool", s.adaptive_maxpool, _sig("output_size, return_indices=False"),
              classes=_nd("AdaptiveMaxPool{n}d"), prefix="pool"),
    LayerSpec("batchnorm", s.batchnorm, _sig("num_features, eps=1e-05, momentum=0.1, "
                                             "affine=True, track_running_stats=True"),
              ("num_features",), _nd("BatchNorm{n}d"), "bn"),
    LayerSpec("instancenorm", s.instancenorm, _sig("num_features, eps=1e-05, momentum=0.1, "
                                                   "affine=False, track_running_stats=False"),
              ("num_features",), _nd("InstanceNorm{n}d"), "norm"),
    LayerSpec("groupnorm", s.groupnorm, _sig("num_groups, num_channels, eps=1e-05, affine=True"),
              ("num_channels",), ("GroupNorm",), "gn"),
    LayerSpec("layernorm", s.layernorm, _sig("normalized_shape, eps=1e-05, "
                                             "elementwise_affine=True, bias=True"),
              (), ("LayerNorm",), "ln", overrides={"normalized_shape": None}),
    LayerSpec("dropout", s.dropout, _sig("p=0.5, inplace=False"), classes=("Dropout",),
              prefix="dropout"),
    LayerSpec("dropout1d", s._dropout_nd(1), _sig("p=0.5, inplace=False"), classes=("Dropout1d",),
              prefix="dropout"),
    LayerSpec("dropout2d", s._dropout_nd(2), _sig("p=0.5, inplace=False"), classes=("Dropout2d",),
              prefix="dropout"),
    LayerSpec("dropout3d", s._dropout_nd(3), _sig("p=0.5, inplace=False"), classes=("Dropout3d",),
              prefix="dropout"),
    LayerSpec("embedding", s.embedding, _sig("num_embeddings, embedding_dim, padding_idx=None, "
                                             "max_norm=None, norm_type=2.0, "
                                             "scale_grad_by_freq=False, sparse=False"),
              classes=("Embedding",), prefix="embedding"),
    LayerSpec("rnn", s.recurrent("RNN"), _sig("input_size, hidden_size, num_layers=1, "
                                              "nonlinearity='tanh', bias=True, "
                                              "batch_first=False, dropout=0.0, "
                                              "bidirectional=False"),
              ("input_size",), ("RNN",), "rnn", max_inputs=2, primary=True),
    LayerSpec("lstm", s.recurrent("LSTM"), _sig(f"input_size, hidden_size, {RNN_TAIL}, "
                                                f"proj_size=0"),
              ("input_size",), ("LSTM",), "lstm", max_inputs=3, primary=True),
    LayerSpec("gru", s.recurrent("GRU"), _sig(f"input_size, hidden_size, {RNN_TAIL}"),
              ("input_size",), ("GRU",), "gru", max_inputs=2, primary=True),
    LayerSpec("rnncell", s.cell("RNNCell"), _sig("input_size, hidden_size, bias=True, "
                                                 "nonlinearity='tanh'"),
              ("input_size",), ("RNNCell",), "cell", max_inputs=2),
    LayerSpec("lstmcell", s.cell("LSTMCell"), _sig("input_size, hidden_size, bias=True"),
              ("input_size",), ("LSTMCell",), "cell", max_inputs=3, primary=True),
    LayerSpec("grucell", s.cell("GRUCell"), _sig("input_size, hidden_size, bias=True"),
              ("input_size",), ("GRUCell",), "cell", max_inputs=2),
    LayerSpec("multihead_attention", s.multihead_attention,
              _sig("embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, "
                   "add_zero_attn=False, kdim=None, vdim=None, batch_first=False"),
              ("embed_dim",), ("MultiheadAttention",), "attn", max_inputs=3, primary=True),
    LayerSpec("transformer_encoder_layer", s.transformer_encoder_layer, _sig(TRANSFORMER),
              ("d_model",), ("TransformerEncoderLayer",), "encoder_layer"),
    LayerSpec("transformer_decoder_layer", s.transformer_decoder_layer, _sig(TRANSFORMER),
              ("d_model",), ("TransformerDecoderLayer",), "decoder_layer", min_inputs=2,
              max_inputs=2),
    LayerSpec("upsample", s.upsample, _sig("size=None, scale_factor=None, mode='nearest', "
                                           "align_corners=None, recompute_scale_factor=None"),
              classes=("Upsample",), prefix="up"),
    LayerSpec("flatten", s.flatten, _sig("start_dim=1, end_dim=-1"), classes=("Flatten",),
              prefix="flatten"),
    LayerSpec("unflatten", s.unflatten, _sig("dim, unflattened_size"), classes=("Unflatten",),
              prefix="unflatten"),
    LayerSpec("reshape", s.reshape, signature("*shape"), module=False),
    LayerSpec("view", s.reshape, signature("*shape"), module=False),
    LayerSpec("permute", s.permute, signature("*dims"), module=False),
    LayerSpec("transpose", s.transpose, _sig("dim0, dim1"), module=False),
    LayerSpec("squeeze", s.squeeze, _sig("dim=None"), module=False),
    LayerSpec("unsqueeze", s.unsqueeze, _sig("dim"), module=False),
    LayerSpec("zeropad", s.pad_layer("Zero"), _sig("padding"), classes=_nd("ZeroPad{n}d"),
              prefix="pad"),
    LayerSpec("constantpad", s.pad_layer("Constant"), _sig("padding, value"),
              classes=_nd("ConstantPad{n}d"), prefix="pad"),
    LayerSpec("reflectionpad", s.pad_layer("Reflection"), _sig("padding"),
              classes=_nd("ReflectionPad{n}d"), prefix="pad"),
    LayerSpec("replicationpad", s.pad_layer("Replication"), _sig("padding"),
              classes=_nd("ReplicationPad{n}d"), prefix="pad"),
    LayerSpec("pad", s.pad, _sig("pad, mode='constant', value=None"), module=False),
    LayerSpec("pad_to_match", s.pad_to_match, (), module=False, min_inputs=2, max_inputs=2),
    LayerSpec("unfold", s.unfold, _sig("kernel_size, dilation=1, padding=0, stride=1"),
              classes=("Unfold",), prefix="unfold"),
    LayerSpec("fold", s.fold, _sig("output_size, kernel_size, dilation=1, padding=0, stride=1"),
              classes=("Fold",), prefix="fold"),
    LayerSpec("pixel_shuffle", s.pixel_shuffle, _sig("upscale_factor"),
              classes=("PixelShuffle",), prefix="shuffle"),
    LayerSpec("pixel_unshuffle", s.pixel_unshuffle, _sig("downscale_factor"),
              classes=("PixelUnshuffle",), prefix="unshuffle"),
    _act("relu", "ReLU", "inplace=False"),
    _act("relu6", "ReLU6", "inplace=False"),
    _act("leaky_relu", "LeakyReLU", "negative_slope=0.01, inplace=False"),
    _act("elu", "ELU", "alpha=1.0, inplace=False"),
    _act("selu", "SELU", "inplace=False"),
    _act("celu", "CELU", "alpha=1.0, inplace=False"),
    LayerSpec("gelu", s.gelu, _sig("approximate='none'"), classes=("GELU",), prefix="gelu"),
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
    LayerSpec("prelu", s.prelu, _sig("num_parameters=1, init=0.25"), classes=("PReLU",),
              prefix="prelu"),
    LayerSpec("softmax", s.softmax_like("Softmax"), _sig("dim"), classes=("Softmax",),
              prefix="softmax"),
    LayerSpec("log_softmax", s.softmax_like("LogSoftmax"), _sig("dim"), classes=("LogSoftmax",),
              prefix="log_softmax"),
    LayerSpec("softmin", s.softmax_like("Softmin"), _sig("dim"), classes=("Softmin",),
              prefix="softmin"),
    LayerSpec("glu", s.glu, _sig("dim=-1"), classes=("GLU",), prefix="glu"),
    LayerSpec("cat", s.cat, _sig("dim=1"), module=False, max_inputs=1 << 30),
    LayerSpec("stack", s.stack, _sig("dim=0"), module=False, max_inputs=1 << 30),
    LayerSpec("add", s.elementwise("add", "torch.add"), (), module=False, min_inputs=2,
              max_inputs=1 << 30),
    LayerSpec("mul", s.elementwise("mul", "torch.mul"), (), module=False, min_inputs=2,
              max_inputs=1 << 30),
    LayerSpec("mean", s.reduce("torch.mean"), _sig("dim=None, keepdim=False"), module=False),
    LayerSpec("sum", s.reduce("torch.sum"), _sig("dim=None, keepdim=False"), module=False),
    LayerSpec("amax", s.reduce("torch.amax"), _sig("dim=None, keepdim=False"), module=False),
    LayerSpec("chunk", s.chunk, _sig("chunks, dim=0"), module=False),
    LayerSpec("split", s.split, _sig("split_size_or_sections, dim=0"), module=False),
]

LAYERS: dict[str, LayerSpec] = {spec.name: spec for spec in ENTRIES}

# torch.nn class name -> (catalogue entry, the input rank that selects that class)
TORCH_CLASSES: dict[str, LayerSpec] = {cls: spec for spec in ENTRIES for cls in spec.classes}

# Attributes every nn.Module has: a generated attribute must not replace them.
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
""".split())

# torch.nn names that are not layers: classes that are not nn.Module at all, and modules
# without a forward (containers and abstract bases), which cannot be applied to a tensor
NOT_MODULES = frozenset("Buffer LinearCrossEntropyOptions Parameter UninitializedBuffer "
                        "UninitializedParameter".split())
NO_FORWARD = frozenset("Container Module ModuleDict ModuleList ParameterDict ParameterList "
                       "RNNBase RNNCellBase".split())
