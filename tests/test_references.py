"""The references of tests/references.py hold to their sources: the parameter counts the
sources publish (torchvision's weights record `num_params`; pytorch/examples' VAE is quoted
in issue 12), counts derived from the sources' layer sizes where none is published, output
shapes, and pieces computed again with torch's own built-ins or by brute force.

Large models are built and run on the meta device: shapes and counts without the arithmetic.
"""

from __future__ import annotations

import itertools

import pytest
import references as ref
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def linear(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def norm(n: int) -> int:  # LayerNorm / BatchNorm: weight and bias
    return 2 * n


# ---------------------------------------------------------------- counts and shapes


PUBLISHED = [  # (builder, parameters as the source publishes them)
    (ref.vit_b_16, 86_567_656),      # torchvision ViT_B_16_Weights.IMAGENET1K_V1
    (ref.convnext_tiny, 28_589_128),  # torchvision ConvNeXt_Tiny_Weights.IMAGENET1K_V1
    (ref.swin_t, 28_288_354),        # torchvision Swin_T_Weights.IMAGENET1K_V1
    (ref.VAE, 652_824),              # pytorch/examples vae, as issue 12 quotes it
]


@pytest.mark.parametrize(("build", "published"), PUBLISHED,
                         ids=lambda v: getattr(v, "__name__", ""))
def test_published_parameter_counts(build, published: int) -> None:
    with torch.device("meta"):
        assert count(build()) == published


SHAPES = [  # (builder, input maker, output shapes)
    (ref.vit_b_16, lambda b: torch.randn(b, 3, 224, 224), lambda b: [(b, 1000)]),
    (ref.convnext_tiny, lambda b: torch.randn(b, 3, 224, 224), lambda b: [(b, 1000)]),
    (ref.swin_t, lambda b: torch.randn(b, 3, 224, 224), lambda b: [(b, 1000)]),
    (ref.SwinTStage1, lambda b: torch.randn(b, 3, 224, 224), lambda b: [(b, 28, 28, 192)]),
    (ref.SimpleViT, lambda b: torch.randn(b, 3, 256, 256), lambda b: [(b, 1000)]),
    (ref.GPT, lambda b: torch.randint(0, 5000, (b, 128)), lambda b: [(b, 128, 5000)]),
    (ref.VAE, lambda b: torch.randn(b, 1, 28, 28), lambda b: [(b, 784), (b, 20), (b, 20)]),
    (ref.GruDecoder, lambda b: torch.randn(1, b, 128), lambda b: [(b, 10, 1000), (1, b, 128)]),
    (ref.DenseBlock, lambda b: torch.randn(b, 64, 56, 56), lambda b: [(b, 256, 56, 56)]),
]


@pytest.mark.parametrize(("build", "make_input", "shapes"), SHAPES,
                         ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("batch", [1, 3])
def test_output_shapes(build, make_input, shapes, batch: int) -> None:
    with torch.device("meta"), torch.no_grad():
        out = build().eval()(make_input(batch))
    outputs = out if isinstance(out, tuple) else (out,)
    assert [tuple(o.shape) for o in outputs] == shapes(batch)


def test_small_references_run_on_the_cpu() -> None:
    """The meta device computes no values; these run for real (the large ones are slow)."""
    torch.manual_seed(0)
    with torch.no_grad():
        recon, mu, logvar = ref.VAE()(torch.randn(2, 1, 28, 28))
        assert recon.shape == (2, 784) and 0 <= recon.min() and recon.max() <= 1
        assert mu.shape == logvar.shape == (2, 20)
        logp, h = ref.GruDecoder().eval()(torch.randn(1, 2, 128))
        assert torch.allclose(logp.exp().sum(-1), torch.ones(2, 10)) and h.shape == (1, 2, 128)
        assert ref.DenseBlock().eval()(torch.randn(2, 64, 8, 8)).shape == (2, 256, 8, 8)
        assert ref.SwinTStage1().eval()(torch.randn(1, 3, 224, 224)).shape == (1, 28, 28, 192)
        assert ref.GPT().eval()(torch.randint(0, 5000, (2, 9))).shape == (2, 9, 5000)


# ---------------------------------------------------------------- counts from layer sizes


def gpt_count(vocab: int, block: int, layers: int, d: int) -> int:
    per_block = (norm(d) + linear(d, 3 * d) + linear(d, d)  # ln_1, c_attn, c_proj
                 + norm(d) + linear(d, 4 * d) + linear(4 * d, d))  # ln_2, c_fc, c_proj
    return vocab * d + block * d + layers * per_block + norm(d) + linear(d, vocab, bias=False)


def test_nanogpt_count_untied_and_tied() -> None:
    untied, tied = ref.GPT(), ref.GPT(tie_weights=True)
    assert count(untied) == gpt_count(5000, 128, 4, 256)
    # torch counts a shared tensor once: tying saves exactly the embedding's weight
    assert count(untied) - count(tied) == 5000 * 256
    assert tied.lm_head.weight is tied.transformer.wte.weight


def test_vae_count_from_layer_sizes() -> None:
    sizes = [(784, 400), (400, 20), (400, 20), (20, 400), (400, 784)]
    assert count(ref.VAE()) == sum(linear(a, b) for a, b in sizes)


def test_gru_decoder_count_from_layer_sizes() -> None:
    vocab, hidden = 1000, 128
    gru = 3 * (linear(hidden, hidden) + linear(hidden, hidden))  # W_i*, W_h* with biases
    assert count(ref.GruDecoder()) == vocab * hidden + gru + linear(hidden, vocab)


def test_dense_block_count_from_layer_sizes() -> None:
    layers, c0, growth, bn = 6, 64, 32, 4
    expected = sum(norm(c0 + i * growth) + (c0 + i * growth) * bn * growth
                   + norm(bn * growth) + bn * growth * growth * 9 for i in range(layers))
    assert count(ref.DenseBlock()) == expected


def test_simple_vit_count_from_layer_sizes() -> None:
    dim, depth, heads, dim_head, mlp, patch_dim = 1024, 6, 16, 64, 2048, 3 * 32 * 32
    inner = heads * dim_head
    layer = (norm(dim) + linear(dim, 3 * inner, bias=False) + linear(inner, dim, bias=False)
             + norm(dim) + linear(dim, mlp) + linear(mlp, dim))
    expected = (norm(patch_dim) + linear(patch_dim, dim) + norm(dim) + depth * layer
                + norm(dim) + linear(dim, 1000))
    with torch.device("meta"):
        assert count(ref.SimpleViT()) == expected


def swin_block_count(dim: int, heads: int, window: int = 7, mlp_ratio: int = 4) -> int:
    """A torchvision SwinTransformerBlock from its layer sizes: norm1; attn.qkv, attn.proj
    and the relative position bias table ((2w-1)^2 rows, one column per head); norm2; the
    MLP's two linears."""
    return (norm(dim) + linear(dim, 3 * dim) + linear(dim, dim) + (2 * window - 1) ** 2 * heads
            + norm(dim) + linear(dim, mlp_ratio * dim) + linear(mlp_ratio * dim, dim))


def patch_merging_count(dim: int) -> int:
    return norm(4 * dim) + linear(4 * dim, 2 * dim, bias=False)


PATCH_EMBED = linear(3 * 4 * 4, 96) + norm(96)  # 4x4 conv from RGB to 96, then LayerNorm


def test_swin_block_count_matches_the_formula_for_every_block_of_swin_t() -> None:
    with torch.device("meta"):
        model = ref.swin_t()
    blocks = [m for m in model.modules() if isinstance(m, ref.SwinTransformerBlock)]
    assert len(blocks) == 12
    for block in blocks:
        dim = block.norm1.normalized_shape[0]
        assert count(block) == swin_block_count(dim, block.attn.num_heads)


def test_swin_t_count_from_layer_sizes_is_torchvisions() -> None:
    """The formula, summed over swin_t's layout, gives torchvision's published figure: the
    formula is the one torchvision's sizes imply."""
    stages = list(zip((96, 192, 384, 768), (3, 6, 12, 24), (2, 2, 6, 2), strict=True))
    total = PATCH_EMBED + sum(depth * swin_block_count(dim, h) for dim, h, depth in stages)
    total += sum(patch_merging_count(dim) for dim, _, _ in stages[:-1])
    total += norm(768) + linear(768, 1000)
    assert total == 28_288_354


def test_swin_t_stage_1_count() -> None:
    expected = PATCH_EMBED + 2 * swin_block_count(96, 3) + patch_merging_count(96)
    stage = ref.SwinTStage1()
    assert count(stage) == expected
    with torch.device("meta"):
        full = ref.swin_t()
    assert count(stage) == sum(count(full.features[i]) for i in range(3))
    # the same parameters under the same names as swin_t's features.0 to features.2
    assert ({k: v.shape for k, v in stage.named_parameters()}
            == {k: v.shape for k, v in full.named_parameters()
                if k.split(".")[:2] in (["features", "0"], ["features", "1"], ["features", "2"])})


# ---------------------------------------------------------------- pieces against torch


def test_vit_encoder_block_is_a_pre_norm_gelu_transformer_encoder_layer() -> None:
    torch.manual_seed(0)
    block = ref.ViTEncoderBlock(num_heads=4, hidden_dim=32, mlp_dim=64).eval()
    torch_layer = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, dropout=0.0,
                                             activation="gelu", layer_norm_eps=1e-6,
                                             batch_first=True, norm_first=True).eval()
    pairs = [(torch_layer.self_attn, block.self_attention), (torch_layer.norm1, block.ln_1),
             (torch_layer.norm2, block.ln_2), (torch_layer.linear1, block.mlp[0]),
             (torch_layer.linear2, block.mlp[3])]
    for theirs, ours in pairs:
        theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 5, 32)
    with torch.no_grad():
        assert torch.allclose(block(x), torch_layer(x), atol=1e-5)


def test_nanogpt_attention_is_causal_scaled_dot_product_attention() -> None:
    torch.manual_seed(0)
    attn = ref.CausalSelfAttention(n_embd=32, n_head=4, block_size=16).eval()
    x = torch.randn(2, 7, 32)
    q, k, v = (t.view(2, 7, 4, 8).transpose(1, 2) for t in attn.c_attn(x).split(32, dim=2))
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    expected = attn.c_proj(expected.transpose(1, 2).reshape(2, 7, 32))
    with torch.no_grad():
        assert torch.allclose(attn(x), expected, atol=1e-5)


def test_nanogpt_logits_do_not_see_later_tokens() -> None:
    torch.manual_seed(0)
    model = ref.GPT(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=16).eval()
    tokens = torch.randint(0, 50, (1, 10))
    changed = tokens.clone()
    changed[0, 6:] = (changed[0, 6:] + 1) % 50
    with torch.no_grad():
        a, b = model(tokens), model(changed)
    assert torch.allclose(a[:, :6], b[:, :6]) and not torch.allclose(a[:, 6:], b[:, 6:])


def test_simple_vit_attention_equals_lucidrains_explicit_softmax() -> None:
    torch.manual_seed(0)
    attn = ref.SimpleViTAttention(dim=32, heads=4, dim_head=8).eval()
    x = torch.randn(2, 5, 32)
    q, k, v = (t.reshape(2, 5, 4, 8).transpose(1, 2)
               for t in attn.to_qkv(attn.norm(x)).chunk(3, dim=-1))
    weights = (q @ k.transpose(-1, -2) * 8 ** -0.5).softmax(dim=-1)
    expected = attn.to_out((weights @ v).transpose(1, 2).reshape(2, 5, 32))
    with torch.no_grad():
        assert torch.allclose(attn(x), expected, atol=1e-5)


@settings(max_examples=20, deadline=None)
@given(b=st.integers(1, 2), c=st.integers(1, 3), p=st.integers(1, 4), h=st.integers(1, 3),
       w=st.integers(1, 3))
def test_simple_vit_patches_are_the_einops_pattern(b: int, c: int, p: int, h: int,
                                                   w: int) -> None:
    """"b c (h p1) (w p2) -> b (h w) (p1 p2 c)", element by element."""
    model = ref.SimpleViT.__new__(ref.SimpleViT)
    model.patch_size = p
    img = torch.randn(b, c, h * p, w * p)
    patches = ref.SimpleViT.patches(model, img)
    for i, j in itertools.product(range(h), range(w)):
        block = img[:, :, i * p:(i + 1) * p, j * p:(j + 1) * p]  # [b, c, p1, p2]
        assert torch.equal(patches[:, i * w + j], block.permute(0, 2, 3, 1).reshape(b, -1))


def test_sincos_positions_as_the_example_writes_them() -> None:
    """The example computes the table with arange, expand, `**` and sin/cos; same values."""
    side, dim = 8, 64
    quarter = dim // 4
    omega = 10000.0 ** (-(torch.arange(quarter) / (quarter - 1)))
    rows = torch.arange(side).unsqueeze(1).expand(side, side).reshape(side * side)
    cols = torch.arange(side).unsqueeze(0).expand(side, side).reshape(side * side)
    y = rows.unsqueeze(1) * omega.unsqueeze(0)
    x = cols.unsqueeze(1) * omega.unsqueeze(0)
    table = torch.cat((x.sin(), x.cos(), y.sin(), y.cos()), dim=1)
    assert torch.allclose(table, ref.posemb_sincos_2d(side, side, dim), atol=1e-6)


def test_patch_merging_is_a_rearrangement() -> None:
    """torchvision's four strided slices side by side are
    "b (h p1) (w p2) c -> b h w (p2 p1 c)", which the example writes."""
    torch.manual_seed(0)
    merge = ref.PatchMerging(4).eval()
    x = torch.randn(2, 6, 8, 4)
    rearranged = x.reshape(2, 3, 2, 4, 2, 4).permute(0, 1, 3, 4, 2, 5).reshape(2, 3, 4, 16)
    with torch.no_grad():
        assert torch.allclose(merge(x), merge.reduction(merge.norm(rearranged)))


@pytest.mark.parametrize("window", [2, 3, 7])
def test_relative_position_index(window: int) -> None:
    n = window * window
    index = ref.relative_position_index(window).view(n, n)
    for a, b in itertools.product(range(n), repeat=2):
        dy, dx = a // window - b // window, a % window - b % window
        assert index[a, b] == (dy + window - 1) * (2 * window - 1) + dx + window - 1
    # as the example writes it: each token's row and column from arange, then differences
    row = torch.arange(window).unsqueeze(1).expand(window, window).reshape(n)
    col = torch.arange(window).unsqueeze(0).expand(window, window).reshape(n)
    dy = row.unsqueeze(1) - row.unsqueeze(0) + (window - 1)
    dx = col.unsqueeze(1) - col.unsqueeze(0) + (window - 1)
    assert torch.equal(dy * (2 * window - 1) + dx, index)


@pytest.mark.parametrize(("size", "window", "shift"), [(14, 7, 3), (8, 4, 2), (9, 3, 1)])
def test_shifted_window_mask(size: int, window: int, shift: int) -> None:
    mask = ref.shifted_window_mask(size, size, window, shift)

    def region(r: int) -> int:  # of a row (or column) of the rolled image
        return (r >= size - window) + (r >= size - shift)

    side = size // window
    for w_index in range(side * side):
        wy, wx = divmod(w_index, side)
        for a, b in itertools.product(range(window * window), repeat=2):
            ya, xa = wy * window + a // window, wx * window + a % window
            yb, xb = wy * window + b // window, wx * window + b % window
            same = (region(ya), region(xa)) == (region(yb), region(xb))
            assert mask[w_index, a, b] == (0.0 if same else -100.0)
    # as the example writes it: region ids from comparisons, windows by rearrangement
    lines = torch.arange(size)
    regions = (lines >= size - window) * 1 + (lines >= size - shift) * 1
    ids = regions.unsqueeze(1) * 3 + regions.unsqueeze(0)  # [H, W]
    ids = ids.reshape(side, window, side, window).permute(0, 2, 1, 3).reshape(-1, window ** 2)
    different = ids.unsqueeze(1) != ids.unsqueeze(2)
    assert torch.equal(torch.zeros(different.shape).masked_fill(different, -100.0), mask)


def brute_force_window_attention(attn: ref.ShiftedWindowAttention,
                                 x: torch.Tensor) -> torch.Tensor:
    """Swin's attention token by token: roll, then each token attends to the tokens of its
    window that came from the same region of the image, with the bias of their offset."""
    _, H, W, C = x.shape
    ws, s, heads = attn.window, attn.shift, attn.num_heads
    hd = C // heads
    xr = torch.roll(x, shifts=(-s, -s), dims=(1, 2))
    q, k, v = attn.qkv(xr).split(C, dim=-1)

    def region(r: int, size: int) -> int:
        return 0 if s == 0 else (r >= size - ws) + (r >= size - s)

    out = torch.zeros_like(xr)
    for y, x_ in itertools.product(range(H), range(W)):
        keys = [(y2, x2) for y2, x2 in itertools.product(range(H), range(W))
                if (y2 // ws, x2 // ws) == (y // ws, x_ // ws)
                and (region(y2, H), region(x2, W)) == (region(y, H), region(x_, W))]
        for h in range(heads):
            sl = slice(h * hd, (h + 1) * hd)
            scores = torch.stack([
                (q[0, y, x_, sl] * hd ** -0.5) @ k[0, y2, x2, sl]
                + attn.relative_position_bias_table[
                    (y % ws - y2 % ws + ws - 1) * (2 * ws - 1) + x_ % ws - x2 % ws + ws - 1, h]
                for y2, x2 in keys])
            weights = scores.softmax(0)
            out[0, y, x_, sl] = sum(wt * v[0, y2, x2, sl]
                                    for wt, (y2, x2) in zip(weights, keys, strict=True))
    return torch.roll(attn.proj(out), shifts=(s, s), dims=(1, 2))


@pytest.mark.parametrize("shift", [0, 1])
def test_shifted_window_attention_against_brute_force(shift: int) -> None:
    torch.manual_seed(0)
    attn = ref.ShiftedWindowAttention(dim=4, window=3, shift=shift, num_heads=2).eval()
    x = torch.randn(1, 6, 6, 4)
    with torch.no_grad():
        assert torch.allclose(attn(x), brute_force_window_attention(attn, x), atol=1e-5)


def test_dense_block_is_the_loop_the_example_writes() -> None:
    """`for i in range(layers): x = (x, x -> DenseLayer(growth)) -> cat(dim=1)`."""
    torch.manual_seed(0)
    block = ref.DenseBlock(layers=3, in_channels=4, growth=2, bn_size=2).eval()
    x = torch.randn(2, 4, 5, 5)
    y = x
    for layer in block.values():
        y = torch.cat([y, layer([y])], dim=1)
    with torch.no_grad():
        assert torch.allclose(block(x), y)


def test_gru_decoder_feeds_back_its_argmax() -> None:
    """Each step's input is the argmax of the step before; the first is the SOS token."""
    torch.manual_seed(0)
    model = ref.GruDecoder(vocab=20, hidden=8, max_length=4, sos=3).eval()
    h0 = torch.randn(1, 2, 8)
    with torch.no_grad():
        logp, _ = model(h0)
        token, h = torch.full((2, 1), 3), h0
        for t in range(4):
            out, h = model.gru(F.relu(model.embedding(token)), h)
            assert torch.allclose(logp[:, t], model.out(out)[:, 0].log_softmax(-1), atol=1e-6)
            token = logp[:, t:t + 1].argmax(-1)


def window_attention_as_the_example_writes_it(attn: ref.ShiftedWindowAttention,
                                              x: torch.Tensor) -> torch.Tensor:
    """examples/swin_t_stage.net's WindowAttention, one torch call per line: the windows
    kept apart from the batch ([B, windows, N, C]), the bias and the shift mask added by
    scaled_dot_product_attention; each rearrange written as reshape and permute."""
    B, H, W, C = x.shape
    ws, shift, heads = attn.window, attn.shift, attn.num_heads
    n, windows = ws * ws, (H // ws) * (W // ws)
    row = torch.arange(ws).unsqueeze(1).expand(ws, ws).reshape(n)
    col = torch.arange(ws).unsqueeze(0).expand(ws, ws).reshape(n)
    dy = row.unsqueeze(1) - row.unsqueeze(0) + (ws - 1)
    dx = col.unsqueeze(1) - col.unsqueeze(0) + (ws - 1)
    bias = attn.relative_position_bias_table[dy * (2 * ws - 1) + dx].permute(2, 0, 1)
    if shift > 0:
        rh = (torch.arange(H) >= H - ws) * 1 + (torch.arange(H) >= H - shift) * 1
        rw = (torch.arange(W) >= W - ws) * 1 + (torch.arange(W) >= W - shift) * 1
        ids = rh.unsqueeze(1) * 3 + rw.unsqueeze(0)
        ids = ids.reshape(H // ws, ws, W // ws, ws).permute(0, 2, 1, 3).reshape(windows, n)
        apart = ids.unsqueeze(1) != ids.unsqueeze(2)
        mask = torch.zeros(windows, n, n).masked_fill(apart, -100.0)
        bias = bias + mask.unsqueeze(1)
        x = torch.roll(x, (-shift, -shift), (1, 2))
    t = x.reshape(B, H // ws, ws, W // ws, ws, C).permute(0, 1, 3, 2, 4, 5).reshape(
        B, windows, n, C)
    qkv = attn.qkv(t).reshape(B, windows, n, 3, heads, C // heads).permute(3, 0, 1, 4, 2, 5)
    y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], bias)
    y = attn.proj(y.permute(0, 1, 3, 2, 4).reshape(B, windows, n, C))
    y = y.reshape(B, H // ws, W // ws, ws, ws, C).permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, C)
    if shift > 0:
        y = torch.roll(y, (shift, shift), (1, 2))
    return y


@pytest.mark.parametrize("shift", [0, 3])
def test_the_swin_example_computes_torchvisions_window_attention(shift: int) -> None:
    torch.manual_seed(0)
    attn = ref.ShiftedWindowAttention(dim=12, window=7, shift=shift, num_heads=3).eval()
    x = torch.randn(2, 14, 21, 12)
    with torch.no_grad():
        assert torch.allclose(attn(x), window_attention_as_the_example_writes_it(attn, x),
                              atol=1e-5)


def test_simple_vit_example_splits_q_k_v_and_heads_in_one_rearrangement() -> None:
    """"b n (qkv h d) -> qkv b h n d" is lucidrains' chunk(3) then "b n (h d) -> b h n d"."""
    b, n, heads, d = 2, 5, 4, 8
    t = torch.randn(b, n, 3 * heads * d)
    chunks = [c.reshape(b, n, heads, d).transpose(1, 2) for c in t.chunk(3, dim=-1)]
    at_once = t.reshape(b, n, 3, heads, d).permute(2, 0, 3, 1, 4)
    for i in range(3):
        assert torch.equal(at_once[i], chunks[i])
