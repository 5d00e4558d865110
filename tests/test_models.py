"""Model ladder tests: reference equivalence with PyTorch's modules, causality, padding, registry.

    .venv/bin/python -m pytest -q tests/test_models.py
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from longdep.config import ModelConfig
from longdep.models import (
    MODELS,
    CausalSelfAttention,
    RecurrentModel,
    TransformerBlock,
    build_model,
    count_parameters,
)
from longdep.models.attention import attention_mask, sinusoidal_positions

D, H, FF, VOCAB, N_OUT = 16, 4, 32, 20, 3
ATTENTION = ("single_head", "multi_head", "transformer")
RECURRENT = ("rnn", "lstm", "mingru")  # no backend, no positions
BACKENDS = ("explicit", "sdpa")

# Every (model, backend, positions) combination that means something: recurrent models use neither.
VARIANTS = [(m, "sdpa", "sinusoidal") for m in RECURRENT] + [
    (m, b, p) for m in ATTENTION for b in BACKENDS for p in ("sinusoidal", "learned", "rope", "none")
]
VARIANT_IDS = [m if m in RECURRENT else f"{m}-{b}-{p}" for m, b, p in VARIANTS]


def make(name, backend="sdpa", positions="sinusoidal", norm="post", layers=2, seed=0, max_len=64):
    torch.manual_seed(seed)
    cfg = ModelConfig(name=name, d_model=D, layers=layers, heads=H, d_ff=FF, positions=positions,
                      backend=backend, norm=norm, max_len=max_len)
    return build_model(cfg, VOCAB, N_OUT).eval()


def tokens(b=3, n=12, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, VOCAB, (b, n), generator=g)


def padded_batch(n=12):
    """Right-padded batch: full, half, one real token, and all padding; lengths returned."""
    t = tokens(4, n)
    lengths = [n, n // 2, 1, 0]
    for i, length in enumerate(lengths):
        t[i, length:] = 0
    return t, lengths


def causal_bool(n):
    """nn.MultiheadAttention's convention: True = masked out."""
    return torch.ones(n, n, dtype=torch.bool).triu(1)


def copy_attention(ours: CausalSelfAttention, mha: nn.MultiheadAttention):
    """Copy nn.MultiheadAttention's weights into ours (same [Q; K; V] row layout)."""
    with torch.no_grad():
        ours.in_proj.weight.copy_(mha.in_proj_weight)
        if ours.in_proj.bias is not None:
            ours.in_proj.bias.copy_(mha.in_proj_bias)
        if ours.out_proj is not None:
            ours.out_proj.weight.copy_(mha.out_proj.weight)
            if ours.out_proj.bias is not None:
                ours.out_proj.bias.copy_(mha.out_proj.bias)


def copy_block(ours: TransformerBlock, ref: nn.TransformerEncoderLayer):
    """Copy nn.TransformerEncoderLayer's weights into our block: the names map one to one."""
    copy_attention(ours.self_attn, ref.self_attn)
    with torch.no_grad():
        for name in ("linear1", "linear2", "norm1", "norm2"):
            for p_ours, p_ref in zip(getattr(ours, name).parameters(), getattr(ref, name).parameters()):
                p_ours.copy_(p_ref)


# ---------------------------------------------------------------- reference equivalence: attention


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("padded", [False, True], ids=["no_pad", "pad"])
def test_scaled_attention_matches_torch_mha(backend, padded):
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(D, H, batch_first=True).eval()
    ours = CausalSelfAttention(D, H, scale=True, backend=backend).eval()
    copy_attention(ours, mha)
    t, lengths = padded_batch() if padded else (tokens(), None)
    x = torch.randn(*t.shape, D)
    ref, _ = mha(x, x, x, attn_mask=causal_bool(t.shape[1]), key_padding_mask=(t == 0) if padded else None,
                 need_weights=False)
    out = ours(x, attention_mask(t))
    if padded:  # compare real positions only (an all-pad row is NaN in MHA; ours is finite)
        real = t != 0
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out[real], ref[real], atol=1e-5, rtol=1e-5)
    else:
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("heads,out_proj", [(1, False), (H, True)], ids=["single_head", "multi_head"])
def test_unscaled_attention_matches_mha_with_prescaled_queries(backend, heads, out_proj):
    """Unscaled q.k equals MHA's q.k / sqrt(d_head) once MHA's Q is multiplied by sqrt(d_head)."""
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(D, heads, bias=False, batch_first=True).eval()
    ours = CausalSelfAttention(D, heads, scale=False, backend=backend, out_proj=out_proj, bias=False).eval()
    copy_attention(ours, mha)
    with torch.no_grad():
        mha.in_proj_weight[:D] *= math.sqrt(D // heads)
        if not out_proj:  # our single head concatenates nothing and projects nothing
            mha.out_proj.weight.copy_(torch.eye(D))
    x = 0.5 * torch.randn(2, 10, D)
    ref, _ = mha(x, x, x, attn_mask=causal_bool(10), need_weights=False)
    torch.testing.assert_close(ours(x), ref, atol=1e-5, rtol=1e-5)


def test_kept_weights_are_causal_rows_of_a_softmax():
    attn = CausalSelfAttention(D, H, backend="sdpa").eval()
    attn.keep_weights = True
    t, lengths = padded_batch()
    x = torch.randn(*t.shape, D)
    out = attn(x, attention_mask(t))
    w = attn.weights
    n = t.shape[1]
    assert w.shape == (4, H, n, n)
    torch.testing.assert_close(w.sum(-1), torch.ones(4, H, n))
    assert (w.triu(1) == 0).all(), "weight on a future key"
    for i, length in enumerate(lengths):  # pad keys get no weight except a pad query's own diagonal
        off_diag_pad = w[i, :, :, length:] * ~torch.eye(n, dtype=torch.bool)[:, length:]
        assert (off_diag_pad == 0).all()
    attn.keep_weights = False
    torch.testing.assert_close(attn(x, attention_mask(t)), out, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- reference equivalence: block


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("norm", ["post", "pre"])
def test_transformer_block_matches_torch_encoder_layer(norm, backend):
    torch.manual_seed(0)
    ref = nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, batch_first=True, norm_first=norm == "pre").eval()
    with torch.no_grad():  # non-default norm gains and biases, so a swapped norm1/norm2 would show
        for p in list(ref.norm1.parameters()) + list(ref.norm2.parameters()):
            p.uniform_(0.5, 1.5)
    ours = TransformerBlock(D, H, FF, backend=backend, norm=norm).eval()
    copy_block(ours, ref)
    x = torch.randn(3, 11, D)
    expected = ref(x, src_mask=causal_bool(11), is_causal=True)
    torch.testing.assert_close(ours(x), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ATTENTION)
@pytest.mark.parametrize("padded", [False, True], ids=["no_pad", "pad"])
def test_explicit_and_sdpa_backends_agree(name, padded):
    explicit, sdpa = make(name, "explicit"), make(name, "sdpa", seed=1)
    sdpa.load_state_dict(explicit.state_dict())
    t = padded_batch()[0] if padded else tokens()
    a, b = explicit(t), sdpa(t)
    assert torch.isfinite(a).all()
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- recurrences by hand


def test_rnn_computes_elman_recurrence():
    model = make("rnn")
    t = tokens()
    h_all = model.hidden_states(t)
    x = model.embed(t)
    for layer in range(2):
        W, U = getattr(model.rnn, f"weight_hh_l{layer}"), getattr(model.rnn, f"weight_ih_l{layer}")
        b = getattr(model.rnn, f"bias_ih_l{layer}") + getattr(model.rnn, f"bias_hh_l{layer}")
        h, hs = torch.zeros(t.shape[0], D), []
        for step in range(t.shape[1]):
            h = torch.tanh(h @ W.T + x[:, step] @ U.T + b)
            hs.append(h)
        x = torch.stack(hs, 1)
    torch.testing.assert_close(h_all, x, atol=1e-5, rtol=1e-5)


def test_lstm_computes_gate_equations():
    model = make("lstm")
    t = tokens()
    h_all = model.hidden_states(t)
    x = model.embed(t)
    for layer in range(2):
        W_ih, W_hh = getattr(model.rnn, f"weight_ih_l{layer}"), getattr(model.rnn, f"weight_hh_l{layer}")
        b = getattr(model.rnn, f"bias_ih_l{layer}") + getattr(model.rnn, f"bias_hh_l{layer}")
        h, c, hs = torch.zeros(t.shape[0], D), torch.zeros(t.shape[0], D), []
        for step in range(t.shape[1]):
            i, f, g, o = (x[:, step] @ W_ih.T + h @ W_hh.T + b).chunk(4, dim=-1)  # PyTorch order
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c = f * c + i * g
            h = o * torch.tanh(c)
            hs.append(h)
        x = torch.stack(hs, 1)
    torch.testing.assert_close(h_all, x, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell", ("rnn", "lstm"))
@pytest.mark.parametrize("chunk_len", [1, 7, 23], ids=lambda c: f"chunk{c}")
def test_chunked_recurrence_matches_one_call_in_outputs_and_gradients(cell, chunk_len):
    """Long inputs run in chunks with the state carried across (cuDNN takes <= 65,535 steps per call)."""
    torch.manual_seed(0)
    whole = RecurrentModel(VOCAB, N_OUT, D, layers=2, cell=cell)
    chunked = RecurrentModel(VOCAB, N_OUT, D, layers=2, cell=cell, chunk_len=chunk_len)
    chunked.load_state_dict(whole.state_dict())
    t = torch.randint(1, VOCAB, (3, 50))
    t[1, 40:] = 0  # right padding inside the last chunks
    outs = []
    for model in (whole, chunked):
        model.zero_grad()
        logits = model(t)  # (B, N, n_out)
        (logits * torch.linspace(-1, 1, N_OUT)).sum().backward()
        outs.append((logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    torch.testing.assert_close(outs[1][0], outs[0][0], atol=1e-5, rtol=1e-5)
    for name, grad in outs[0][1].items():
        torch.testing.assert_close(outs[1][1][name], grad, atol=1e-5, rtol=1e-5, msg=name)
    # equal embedding gradients for the first chunk's tokens: gradients flow through the carried state


def test_an_lstm_whose_cpu_has_no_bf16_onednn_kernel_runs_pytorchs_own_under_autocast(monkeypatch):
    """oneDNN without a bf16 LSTM (AMD EPYC) refuses it under CPU autocast; the model then runs PyTorch's
    own kernel (outputs as outside autocast, to bf16's precision) and keeps doing so."""
    torch.manual_seed(0)
    model = RecurrentModel(VOCAB, N_OUT, D, cell="lstm")
    tokens = torch.randint(1, VOCAB, (3, 7))
    ref = model.hidden_states(tokens)
    calls = []
    real = model.rnn.forward

    def onednn(x, state=None):  # what the fused call does on such a CPU while oneDNN is on
        calls.append(torch.backends.mkldnn.enabled)
        if torch.backends.mkldnn.enabled:
            raise RuntimeError("could not create a primitive descriptor for the LSTM forward propagation primitive")
        return real(x, state)

    monkeypatch.setattr(model.rnn, "forward", onednn)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        first, second = model.hidden_states(tokens), model.hidden_states(tokens)
    assert calls == [True, False, False]  # refused once, then straight to the native kernel
    torch.testing.assert_close(first, ref, atol=2e-2, rtol=2e-2)  # bf16 keeps 8 bits of mantissa
    torch.testing.assert_close(second, first)
    other = RecurrentModel(VOCAB, N_OUT, D, cell="lstm")
    monkeypatch.setattr(other.rnn, "forward", onednn)
    with pytest.raises(RuntimeError, match="primitive descriptor"):  # outside autocast the error is the error
        other.hidden_states(tokens)


def test_chunk_len_is_checked():
    with pytest.raises(ValueError, match="chunk_len must be in 1..65535, got 0"):
        RecurrentModel(VOCAB, N_OUT, D, cell="lstm", chunk_len=0)


def test_mingru_parallel_scan_matches_its_sequential_loop_in_outputs_and_gradients():
    """The log-space scan computes h_t = (1 - z_t) h_{t-1} + z_t g(h~_t) exactly: to 1e-5 in float64 (in
    float32 the two summation orders differ by ~1e-5 in the gradients, and the outputs agree to 1e-5)."""
    from longdep.models.scan import ScanModel

    torch.manual_seed(0)
    model = ScanModel(VOCAB, N_OUT, D, layers=2)
    t32 = torch.randint(1, VOCAB, (3, 40))
    torch.testing.assert_close(model.hidden_states(t32), model.hidden_states(t32, sequential=True), atol=1e-5, rtol=1e-5)
    model = model.double()
    t = torch.randint(1, VOCAB, (3, 40))
    grads = []
    for sequential in (False, True):
        model.zero_grad()
        h = model.hidden_states(t, sequential=sequential)  # (B, N, d)
        (h * torch.linspace(-1, 1, D, dtype=h.dtype)).sum().backward()
        grads.append((h.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0][0], grads[1][0], atol=1e-5, rtol=1e-5)
    assert len(grads[0][1]) == len(grads[1][1]) == 5  # embedding + 2 layers x (weight, bias)
    for fast, slow in zip(grads[0][1], grads[1][1]):
        torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    assert (grads[0][0] > 0).all()  # g > 0: the log-space scan needs positive states


@pytest.mark.parametrize("n", [5, 16, 17, 40, 100])
def test_cpu_logcumsumexp_matches_torch_in_values_and_gradients(n):
    """The chunked CPU form is torch.logcumsumexp: also across chunk borders and a padded last
    chunk, with values spread over +-60 (exp would overflow without the log-space sums)."""
    from longdep.models.scan import logcumsumexp

    x = (torch.randn(3, n, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(n)) * 30).requires_grad_()
    weights = torch.linspace(-1, 1, n * 5, dtype=torch.float64).view(1, n, 5)
    ours, ref = logcumsumexp(x), torch.logcumsumexp(x, dim=1)
    torch.testing.assert_close(ours, ref, atol=1e-10, rtol=1e-10)
    g_ours, = torch.autograd.grad((ours * weights).sum(), x)
    g_ref, = torch.autograd.grad((ref * weights).sum(), x)
    torch.testing.assert_close(g_ours, g_ref, atol=1e-10, rtol=1e-10)


# ---------------------------------------------------------------- contract: every model


@pytest.mark.parametrize("name,backend,positions,norm",
                         [(*v, "post") for v in VARIANTS] + [("transformer", b, "sinusoidal", "pre") for b in BACKENDS],
                         ids=VARIANT_IDS + [f"transformer-{b}-pre" for b in BACKENDS])
def test_reading_at_the_query_positions_is_the_full_output_there(name, backend, positions, norm):
    """``model(tokens, at=q)`` (the last attention block computes the query rows only) gives the
    same logits and the same gradients as reading ``model(tokens)`` at q, with padding."""
    model = make(name, backend, positions, norm=norm).train()
    t, lengths = padded_batch(n=12)
    at = torch.tensor([max(length - 1, 0) for length in lengths])  # the last real token (0 in the all-pad row)
    at[0] = 6  # and one query before the end of a full row: later tokens must not count
    full = model(t)[torch.arange(len(at)), at]  # (B, n_out)
    grads_full = torch.autograd.grad(full.square().sum(), list(model.parameters()), allow_unused=True)
    rows = model(t, at=at)
    assert rows.shape == (len(at), N_OUT)
    torch.testing.assert_close(rows, full, atol=1e-5, rtol=1e-5)
    grads_rows = torch.autograd.grad(rows.square().sum(), list(model.parameters()), allow_unused=True)
    for g_rows, g_full in zip(grads_rows, grads_full):
        if g_full is None:
            assert g_rows is None or not g_rows.any()
        else:
            torch.testing.assert_close(g_rows, g_full, atol=1e-5, rtol=1e-5)



@pytest.mark.parametrize("name,backend,positions", VARIANTS, ids=VARIANT_IDS)
def test_causal(name, backend, positions):
    model = make(name, backend, positions)
    t = tokens(2, 16)
    out = model(t)
    for pos in (0, 5, 14):
        changed = t.clone()
        changed[:, pos + 1:] = torch.randint(1, VOCAB, changed[:, pos + 1:].shape)
        new = model(changed)
        torch.testing.assert_close(new[:, : pos + 1], out[:, : pos + 1], atol=1e-5, rtol=1e-5)
        assert not torch.allclose(new[:, pos + 1:], out[:, pos + 1:]), "later outputs ignore the tokens"


@pytest.mark.parametrize("name,backend,positions", VARIANTS, ids=VARIANT_IDS)
def test_padding_never_changes_real_positions(name, backend, positions):
    model = make(name, backend, positions)
    t, lengths = padded_batch(n=12)
    out = model(t)
    assert torch.isfinite(out).all(), "NaN or inf (an all-pad row must stay finite too)"
    for i, length in enumerate(lengths[:3]):
        alone = model(t[i : i + 1, :length])  # the same sequence with no padding at all
        torch.testing.assert_close(out[i : i + 1, :length], alone, atol=1e-5, rtol=1e-5)
    more = torch.cat([t, torch.zeros(4, 5, dtype=t.dtype)], 1)  # append 5 more pad tokens
    torch.testing.assert_close(model(more)[:, :12][t != 0], out[t != 0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", list(MODELS))
def test_output_shape_and_gradients(name):
    model = make(name).train()
    t = tokens(3, 9)
    out = model(t)
    assert out.shape == (3, 9, N_OUT) and out.dtype == torch.float32
    out.square().mean().backward()
    grad = model.embed.weight.grad
    assert grad is not None and torch.isfinite(grad).all()
    assert grad[t.unique()].abs().sum(-1).gt(0).all(), "a used token's embedding got no gradient"
    for p in model.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


# ---------------------------------------------------------------- positions, registry, sizes


def test_learned_positions_stop_at_max_len_sinusoidal_do_not():
    with pytest.raises(ValueError, match="max_len=8"):
        make("transformer", positions="learned", max_len=8)(tokens(1, 9))
    assert make("transformer", positions="learned", max_len=8)(tokens(1, 8)).shape == (1, 8, N_OUT)
    assert make("transformer", positions="sinusoidal", max_len=8)(tokens(1, 40)).shape == (1, 40, N_OUT)


def test_sinusoidal_positions_values():
    pe = sinusoidal_positions(50, 6)
    t = torch.arange(50.0)
    torch.testing.assert_close(pe[:, 0], torch.sin(t))
    torch.testing.assert_close(pe[:, 1], torch.cos(t))
    torch.testing.assert_close(pe[:, 4], torch.sin(t / 10000 ** (4 / 6)))


def test_unknown_model_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        build_model(ModelConfig(name="gru"), VOCAB, N_OUT)
    for name in MODELS:
        assert name in str(info.value)


def test_registry_builds_the_right_rungs():
    assert isinstance(make("rnn").rnn, nn.RNN) and make("rnn").rnn.nonlinearity == "tanh"
    assert isinstance(make("lstm").rnn, nn.LSTM)
    single, multi = make("single_head"), make("multi_head")
    assert single.blocks[0].self_attn.heads == 1 and single.blocks[0].self_attn.out_proj is None
    assert multi.blocks[0].self_attn.heads == H and multi.blocks[0].self_attn.out_proj is not None
    assert single.blocks[0].self_attn.scale == 1.0 and multi.blocks[0].self_attn.scale == 1.0
    assert make("transformer").blocks[0].self_attn.scale == pytest.approx(1 / math.sqrt(D // H))
    assert isinstance(make("transformer", norm="pre").norm, nn.LayerNorm)
    assert isinstance(make("transformer", norm="post").norm, nn.Identity)


def test_parameter_counts_follow_the_architecture():
    emb, head, L = VOCAB * D, D * N_OUT + N_OUT, 2
    ffn = D * FF + FF + FF * D + D
    expected = {
        "rnn": emb + L * (2 * D * D + 2 * D) + head,
        "lstm": emb + L * 4 * (2 * D * D + 2 * D) + head,
        "single_head": emb + L * (3 * D * D + ffn) + head,
        "multi_head": emb + L * (3 * D * D + D * D + ffn) + head,
        "transformer": emb + L * (3 * D * D + 3 * D + D * D + D + ffn + 4 * D) + head,
        "mingru": emb + L * (2 * D * D + 2 * D) + head,
    }
    for name, n in expected.items():
        assert count_parameters(make(name)) == n, name
    assert count_parameters(make("transformer", positions="learned", max_len=64)) == expected["transformer"] + 64 * D


# ---------------------------------------------------------------- rotary and no positions

def test_rotary_scores_depend_on_the_offset_only():
    """Shift every query and key position by the same k: the rotated q.k scores do not change; shift the
    queries alone: they do."""
    from longdep.models.attention import rotate

    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 3, 10, 8, generator=g), torch.randn(2, 3, 10, 8, generator=g)
    pos = torch.arange(10)
    scores = rotate(q, pos) @ rotate(k, pos).transpose(-2, -1)
    for shift in (1, 7, 1000):
        moved = rotate(q, pos + shift) @ rotate(k, pos + shift).transpose(-2, -1)
        torch.testing.assert_close(moved, scores, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(rotate(q, pos + 3) @ rotate(k, pos).transpose(-2, -1), scores, atol=1e-3)


def test_rotary_rotation_equals_the_formula_written_out():
    """(x_i, x_{i+d/2}) rotated by the angle m * 10000^(-2i/d) at position m, one pair at a time."""
    import math

    from longdep.models.attention import rotate

    d = 6
    x = torch.randn(5, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    got = rotate(x, torch.arange(5))
    want = torch.empty_like(x)
    for m in range(5):
        for i in range(d // 2):
            theta = m * 10000.0 ** (-2 * i / d)
            a, b = x[m, i].item(), x[m, i + d // 2].item()
            want[m, i] = a * math.cos(theta) - b * math.sin(theta)
            want[m, i + d // 2] = a * math.sin(theta) + b * math.cos(theta)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("name", ATTENTION)
def test_no_positions_add_nothing_to_the_embedding_and_rope_differs_from_it(name):
    model = make(name, positions="none").eval()
    t = tokens(2, 9)
    x = model.embed(t)
    mask = attention_mask(t)
    for block in model.blocks:
        x = block(x, mask)
    torch.testing.assert_close(model(t), model.head(model.norm(x)))  # embedding straight into the blocks
    rope = make(name, positions="rope").eval()
    rope.load_state_dict(model.state_dict())  # the same weights, rotated queries and keys
    assert rope(t).shape == model(t).shape and not torch.allclose(rope(t), model(t))


def test_rope_with_an_odd_head_size_is_one_line_naming_the_choices():
    from longdep.config import ModelConfig, UsageError
    from longdep.models import validate_model

    with pytest.raises(UsageError, match="positions=rope needs an even head size, got model.d_model / heads = 3"):
        validate_model(ModelConfig(name="transformer", d_model=6, heads=2, positions="rope"))
    validate_model(ModelConfig(name="lstm", d_model=7, heads=1, positions="rope"))  # recurrent: unused
