"""Hand-written PyTorch references for the v2 examples (the transformer era).

Each module is laid out as the model its example reproduces (torchvision's ViT-B/16,
ConvNeXt-Tiny, Swin-T and DenseNet; Karpathy's nanoGPT; the pytorch/examples VAE; the PyTorch
tutorial's GRU decoder; lucidrains' SimpleViT): the same submodules, the same sizes, and where
it costs nothing the same attribute names, so that the state_dict keys read as the original's.
Plain torch only: torchvision does not import beside this torch, and a reference must not
depend on the code it is a reference for. Dropout and stochastic depth are left out where
they are identities at evaluation (they hold no parameters).
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------- ViT-B/16 (torchvision)


class ViTEncoderBlock(nn.Module):
    """Pre-norm block: attention then a GELU MLP, each added back to its input."""

    def __init__(self, num_heads: int, hidden_dim: int, mlp_dim: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(hidden_dim, num_heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(hidden_dim, eps=1e-6)
        # torchvision's MLP: Linear, GELU, Dropout, Linear, Dropout (keys mlp.0 and mlp.3)
        self.mlp = nn.Sequential(nn.Linear(hidden_dim, mlp_dim), nn.GELU(), nn.Dropout(0.0),
                                 nn.Linear(mlp_dim, hidden_dim), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + y
        return x + self.mlp(self.ln_2(x))


class ViTEncoder(nn.Module):
    def __init__(self, seq_length: int, num_layers: int, num_heads: int, hidden_dim: int,
                 mlp_dim: int):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_length, hidden_dim).normal_(std=0.02))
        self.layers = nn.Sequential(OrderedDict(
            (f"encoder_layer_{i}", ViTEncoderBlock(num_heads, hidden_dim, mlp_dim))
            for i in range(num_layers)))
        self.ln = nn.LayerNorm(hidden_dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(self.layers(x + self.pos_embedding))


class VisionTransformer(nn.Module):
    """Patches by a strided convolution, a class token in front, the encoder, the class
    token's output into the head."""

    def __init__(self, image_size: int = 224, patch_size: int = 16, num_layers: int = 12,
                 num_heads: int = 12, hidden_dim: int = 768, mlp_dim: int = 3072,
                 num_classes: int = 1000):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.conv_proj = nn.Conv2d(3, hidden_dim, kernel_size=patch_size, stride=patch_size)
        self.class_token = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        seq_length = (image_size // patch_size) ** 2 + 1
        self.encoder = ViTEncoder(seq_length, num_layers, num_heads, hidden_dim, mlp_dim)
        self.heads = nn.Sequential(OrderedDict(head=nn.Linear(hidden_dim, num_classes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        x = self.conv_proj(x).reshape(n, self.hidden_dim, -1).permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)
        x = self.encoder(x)
        return self.heads(x[:, 0])


def vit_b_16() -> VisionTransformer:
    return VisionTransformer(224, 16, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072)


# ---------------------------------------------------------------- ConvNeXt-Tiny (torchvision)


class Permute(nn.Module):
    def __init__(self, dims: list[int]):
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(self.dims)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an [N, C, H, W] tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class CNBlock(nn.Module):
    def __init__(self, dim: int, layer_scale: float):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim),
            Permute([0, 2, 3, 1]),
            nn.LayerNorm(dim, eps=1e-6),
            nn.Linear(dim, 4 * dim),
            nn.GELU(),
            nn.Linear(4 * dim, dim),
            Permute([0, 3, 1, 2]),
        )
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # stochastic depth is the identity at evaluation and holds no parameter: left out
        return x + self.layer_scale * self.block(x)


class ConvNeXt(nn.Module):
    def __init__(self, stages: list[tuple[int, int]], layer_scale: float = 1e-6,
                 num_classes: int = 1000):
        """`stages`: (channels, blocks) per stage; a 2x2 downsampling goes between stages."""
        super().__init__()
        first = stages[0][0]
        layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(3, first, kernel_size=4, stride=4),
                                                 LayerNorm2d(first, eps=1e-6))]
        for i, (dim, depth) in enumerate(stages):
            layers.append(nn.Sequential(*[CNBlock(dim, layer_scale) for _ in range(depth)]))
            if i + 1 < len(stages):
                out = stages[i + 1][0]
                layers.append(nn.Sequential(LayerNorm2d(dim, eps=1e-6),
                                            nn.Conv2d(dim, out, kernel_size=2, stride=2)))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        last = stages[-1][0]
        self.classifier = nn.Sequential(LayerNorm2d(last, eps=1e-6), nn.Flatten(1),
                                        nn.Linear(last, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)))


def convnext_tiny() -> ConvNeXt:
    return ConvNeXt([(96, 3), (192, 3), (384, 9), (768, 3)])


# ---------------------------------------------------------------- nanoGPT (Karpathy)


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)  # q, k and v in one projection
        self.c_proj = nn.Linear(n_embd, n_embd)
        # the causal mask: 1 where a position may attend (itself and earlier ones)
        mask = torch.tril(torch.ones(block_size, block_size))
        self.register_buffer("bias", mask.view(1, 1, block_size, block_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        hs = C // self.n_head
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class GPTMLP(nn.Module):
    def __init__(self, n_embd: int):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * n_embd, n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))


class GPTBlock(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = GPTMLP(n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """nanoGPT's GPT at dropout 0 with biases, returning the logits of every position.

    `tie_weights=False` by default: the example's lm_head has its own weight, so its count
    is the plain sum of its layers. nanoGPT ties `wte.weight = lm_head.weight`; with
    `tie_weights=True` the count is smaller by vocab_size * n_embd."""

    def __init__(self, vocab_size: int = 5000, block_size: int = 128, n_layer: int = 4,
                 n_head: int = 4, n_embd: int = 256, tie_weights: bool = False):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab_size, n_embd),
            wpe=nn.Embedding(block_size, n_embd),
            h=nn.ModuleList([GPTBlock(n_embd, n_head, block_size) for _ in range(n_layer)]),
            ln_f=nn.LayerNorm(n_embd),
        ))
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        if tie_weights:
            self.transformer.wte.weight = self.lm_head.weight

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.size(1)
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


# ---------------------------------------------------------------- VAE (pytorch/examples)


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        std = torch.exp(0.5 * logvar)
        return mu + torch.randn_like(std) * std

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x: torch.Tensor):
        mu, logvar = self.encode(x.view(-1, 784))
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


# ---------------------------------------------------------------- GRU greedy decoder


class GruDecoder(nn.Module):
    """The PyTorch seq2seq tutorial's DecoderRNN without teacher forcing: from the encoder's
    hidden state, `max_length` steps each feeding back the argmax token; the first input is
    the start-of-sequence token. Returns log-probabilities [B, max_length, vocab] and the
    last hidden state."""

    def __init__(self, vocab: int = 1000, hidden: int = 128, max_length: int = 10,
                 sos: int = 0):
        super().__init__()
        self.max_length = max_length
        self.sos = sos
        self.embedding = nn.Embedding(vocab, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, encoder_hidden: torch.Tensor):
        batch = encoder_hidden.size(1)
        token = torch.full((batch, 1), self.sos, dtype=torch.long, device=encoder_hidden.device)
        hidden = encoder_hidden
        outputs = []
        for _ in range(self.max_length):
            output, hidden = self.gru(F.relu(self.embedding(token)), hidden)
            output = self.out(output)
            outputs.append(output)
            token = output.argmax(dim=-1)  # [B, 1]: the next input
        return F.log_softmax(torch.cat(outputs, dim=1), dim=-1), hidden


# ---------------------------------------------------------------- DenseNet dense block


class DenseLayer(nn.Module):
    """torchvision's _DenseLayer (drop_rate 0): BN-ReLU-1x1 conv to bn_size * growth, then
    BN-ReLU-3x3 conv to growth new channels."""

    def __init__(self, in_channels: int, growth: int, bn_size: int):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = self.conv1(self.relu1(self.norm1(torch.cat(features, 1))))
        return self.conv2(self.relu2(self.norm2(x)))


class DenseBlock(nn.ModuleDict):
    """torchvision's _DenseBlock: every layer sees the concatenation of all before it."""

    def __init__(self, layers: int = 6, in_channels: int = 64, growth: int = 32,
                 bn_size: int = 4):
        super().__init__()
        for i in range(layers):
            self.add_module(f"denselayer{i + 1}",
                            DenseLayer(in_channels + i * growth, growth, bn_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


# ---------------------------------------------------------------- SimpleViT (lucidrains)


def posemb_sincos_2d(h: int, w: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """[h * w, dim]: sin and cos of each patch's column, then of its row, at dim/4 rates."""
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    omega = 1.0 / temperature ** (torch.arange(dim // 4) / (dim // 4 - 1))
    y = y.flatten()[:, None] * omega[None, :]
    x = x.flatten()[:, None] * omega[None, :]
    return torch.cat((x.sin(), x.cos(), y.sin(), y.cos()), dim=1)


class SimpleViTAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, 3 * heads * dim_head, bias=False)
        self.to_out = nn.Linear(heads * dim_head, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2)
                   for t in self.to_qkv(self.norm(x)).chunk(3, dim=-1))
        out = F.scaled_dot_product_attention(q, k, v)  # scale dim_head ** -0.5, as lucidrains
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class SimpleViT(nn.Module):
    """lucidrains' SimpleViT: patches by rearrangement, a fixed 2D sin-cos position table
    (a buffer, no parameters), pre-norm attention and MLP layers, mean pooling."""

    def __init__(self, image_size: int = 256, patch_size: int = 32, num_classes: int = 1000,
                 dim: int = 1024, depth: int = 6, heads: int = 16, mlp_dim: int = 2048,
                 channels: int = 3, dim_head: int = 64):
        super().__init__()
        self.patch_size = patch_size
        side = image_size // patch_size
        patch_dim = channels * patch_size * patch_size
        self.to_patch_embedding = nn.Sequential(
            nn.LayerNorm(patch_dim), nn.Linear(patch_dim, dim), nn.LayerNorm(dim))
        self.register_buffer("pos_embedding", posemb_sincos_2d(side, side, dim),
                             persistent=False)
        self.layers = nn.ModuleList(
            nn.ModuleList([SimpleViTAttention(dim, heads, dim_head),
                           nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, mlp_dim), nn.GELU(),
                                         nn.Linear(mlp_dim, dim))])
            for _ in range(depth))
        self.linear_head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_classes))

    def patches(self, img: torch.Tensor) -> torch.Tensor:
        """einops "b c (h p1) (w p2) -> b (h w) (p1 p2 c)" as reshape and permute."""
        b, c, hh, ww = img.shape
        p = self.patch_size
        x = img.reshape(b, c, hh // p, p, ww // p, p).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(b, (hh // p) * (ww // p), p * p * c)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = self.to_patch_embedding(self.patches(img)) + self.pos_embedding
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return self.linear_head(x.mean(dim=1))


# ---------------------------------------------------------------- Swin-T (torchvision)


def relative_position_index(window: int) -> torch.Tensor:
    """[window**4]: for each (query, key) pair of a window's tokens, the row of the bias
    table holding their offset (dy, dx), each shifted to start at 0."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window),
                                        indexing="ij")).flatten(1)  # [2, N]
    offsets = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return (offsets[..., 0] * (2 * window - 1) + offsets[..., 1]).flatten()


def shifted_window_mask(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """[windows, N, N]: -100 between tokens that the cyclic shift brought together from
    different regions of the image, 0 elsewhere."""
    regions = torch.zeros(height, width)
    bounds = ((0, -window), (-window, -shift), (-shift, None))
    for i, (h0, h1) in enumerate(bounds):
        for j, (w0, w1) in enumerate(bounds):
            regions[h0:h1, w0:w1] = 3 * i + j
    regions = regions.view(height // window, window, width // window, window)
    regions = regions.permute(0, 2, 1, 3).reshape(-1, window * window)
    different = regions.unsqueeze(1) != regions.unsqueeze(2)
    return torch.zeros(different.shape).masked_fill(different, -100.0)


class ShiftedWindowAttention(nn.Module):
    def __init__(self, dim: int, window: int, shift: int, num_heads: int):
        super().__init__()
        self.window, self.shift, self.num_heads = window, shift, num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index(window))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        ws, n = self.window, self.window * self.window
        x = F.pad(x, (0, 0, 0, (ws - W % ws) % ws, 0, (ws - H % ws) % ws))
        _, ph, pw, _ = x.shape
        shift = self.shift if ws < ph and ws < pw else 0  # one window: nothing to shift
        if shift:
            x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
        windows = ph // ws * (pw // ws)
        x = x.view(B, ph // ws, ws, pw // ws, ws, C).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(B * windows, n, C)
        q, k, v = self.qkv(x).reshape(-1, n, 3, self.num_heads, C // self.num_heads) \
            .permute(2, 0, 3, 1, 4)
        attn = (q * (C // self.num_heads) ** -0.5) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index]
        attn = attn + bias.view(n, n, -1).permute(2, 0, 1)
        if shift:
            mask = shifted_window_mask(ph, pw, ws, shift).to(attn)
            attn = (attn.view(B, windows, self.num_heads, n, n) + mask.unsqueeze(1)) \
                .view(-1, self.num_heads, n, n)
        x = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(-1, n, C)
        x = self.proj(x)
        x = x.view(B, ph // ws, pw // ws, ws, ws, C).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(B, ph, pw, C)
        if shift:
            x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
        return x[:, :H, :W, :].contiguous()


class SwinTransformerBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, window: int, shift: int,
                 mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = ShiftedWindowAttention(dim, window, shift, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.0),
                                 nn.Linear(hidden, dim), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """[.., H, W, C] -> [.., H/2, W/2, 2C]: each 2x2 neighbourhood's four tokens side by side
    (in the order (0,0), (1,0), (0,1), (1,1)), normalised, projected without bias."""

    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[-3:-1]
        x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
        x = torch.cat([x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :],
                       x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]], -1)
        return self.reduction(self.norm(x))


def swin_features(embed_dim: int = 96, depths: tuple[int, ...] = (2, 2, 6, 2),
                  heads: tuple[int, ...] = (3, 6, 12, 24), window: int = 7,
                  patch: int = 4) -> nn.Sequential:
    """torchvision's SwinTransformer.features: the patch embedding, then per stage its
    blocks (shifted by window // 2 on odd blocks) and, between stages, a patch merging."""
    layers: list[nn.Module] = [nn.Sequential(
        nn.Conv2d(3, embed_dim, kernel_size=patch, stride=patch), Permute([0, 2, 3, 1]),
        nn.LayerNorm(embed_dim))]
    for stage, (depth, nh) in enumerate(zip(depths, heads, strict=True)):
        dim = embed_dim * 2 ** stage
        layers.append(nn.Sequential(*[
            SwinTransformerBlock(dim, nh, window, 0 if i % 2 == 0 else window // 2)
            for i in range(depth)]))
        if stage + 1 < len(depths):
            layers.append(PatchMerging(dim))
    return nn.Sequential(*layers)


class SwinTransformer(nn.Module):
    def __init__(self, num_classes: int = 1000, **features):
        super().__init__()
        self.features = swin_features(**features)
        dim = self.features[-1][-1].norm1.normalized_shape[0]
        self.norm = nn.LayerNorm(dim)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.features(x)).permute(0, 3, 1, 2)
        return self.head(torch.flatten(self.avgpool(x), 1))


def swin_t() -> SwinTransformer:
    return SwinTransformer()


class SwinTStage1(nn.Module):
    """The first stage of swin_t, as its features[0:3]: patch embedding (4x4 patches to 96
    channels), two blocks of 3 heads in 7x7 windows (the second shifted by 3), and the patch
    merging to 192 channels. [B, 3, 224, 224] -> [B, 28, 28, 192]."""

    def __init__(self):
        super().__init__()
        self.features = swin_features(depths=(2,), heads=(3,))
        self.features.append(PatchMerging(96))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)
