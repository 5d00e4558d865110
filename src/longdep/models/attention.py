"""Attention rungs of the model ladder: ``single_head``, ``multi_head`` and ``transformer``.

All three share one module, :class:`CausalSelfAttention`, and one model shell,
:class:`AttentionModel` (token embedding + position vectors added once at the input, a stack of
blocks with their own parameters, ``Linear(d_model, n_out)``). They differ only in the block:

* ``single_head``: the lecture's minimal self-attention architecture. One head, q = Qx, k = Kx,
  v = Vx (no biases), **unscaled** scores q.k, causal + pad mask, softmax, weighted sum of values,
  then a position-wise FFN ``Linear(d, d_ff) -> ReLU -> Linear(d_ff, d)``. No output projection,
  no residual connection, no LayerNorm (:class:`MinimalBlock`).
* ``multi_head``: the same minimal block with h heads of size d/h, computed as one matmul and
  mixed by an output projection ``Linear(d, d)``; still unscaled, no residual, no norm.
* ``transformer``: the full block (:class:`TransformerBlock`): scaled (1/sqrt(d/h)) masked
  multi-head attention, Add & Norm, FFN, Add & Norm; post-norm (the lecture's order) or pre-norm
  (then a final LayerNorm before the output head). Submodule names match
  ``nn.TransformerEncoderLayer`` so weights copy across one to one.

Usage::

    model = AttentionModel.from_config(ModelConfig(name="transformer"), vocab_size=100, n_out=2,
                                       block="transformer")
    logits = model(tokens)          # tokens (B, N) int64, 0 = padding -> logits (B, N, n_out)

Masking: position t attends to keys 0..t only (the future's scores are -inf) and pad keys are
masked exactly like the future. Every query may always attend to itself, so no softmax row is
entirely -inf (a right-padded pad query, even in an all-pad row, sees at least itself; a real
query's diagonal is a real key). Backends: ``explicit`` writes out softmax(QK^T)V with the N x N
scores in memory (set ``attn.keep_weights = True`` to keep the last weights in ``attn.weights``);
``sdpa`` calls ``F.scaled_dot_product_attention`` (``is_causal=True`` when the batch has no
padding, so fused flash / memory-efficient kernels can run; a boolean mask otherwise).
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from functools import partial
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from longdep.config import check_choice
from longdep.models.base import LayerCost, ModelSpec, take_rows

BACKENDS = ("explicit", "sdpa")
POSITIONS = ("sinusoidal", "learned", "rope", "none")
ADDED = ("sinusoidal", "learned")  # the encodings added to the embedding once; rope rotates q and k in
# every layer, none gives no positional signal (the causal mask still lets a model infer order)
NORMS = ("post", "pre")
BLOCKS = ("single_head", "multi_head", "transformer")


_MASK_ALWAYS = [False]  # set by always_masked()


@contextmanager
def always_masked():
    """Within: :func:`attention_mask` builds the mask even where nothing is padded (the same attention,
    without branching on the tokens' values, which ``torch.func.vmap`` cannot do)."""
    _MASK_ALWAYS[0] = True
    try:
        yield
    finally:
        _MASK_ALWAYS[0] = False


def attention_mask(tokens: torch.Tensor) -> Optional[torch.Tensor]:
    """Boolean mask (B, 1, N, N), True = may attend, for right-padded ``tokens`` (B, N); None if no padding.

    None means "causal only" to :class:`CausalSelfAttention`. Otherwise key j is allowed for
    query i when j <= i and token j is real, plus always j == i (so no row is empty).
    """
    real = tokens != 0  # (B, N)
    if not _MASK_ALWAYS[0] and bool(real.all()):
        return None
    n = tokens.shape[1]
    causal = torch.ones(n, n, dtype=torch.bool, device=tokens.device).tril()  # (N, N)
    eye = torch.eye(n, dtype=torch.bool, device=tokens.device)  # (N, N)
    return causal & (real[:, None, None, :] | eye)  # (B, 1, N, N)


def row_mask(mask: Optional[torch.Tensor], at: torch.Tensor, n: int) -> torch.Tensor:
    """The rows ``at`` of a full mask (B, 1, N, N) (None: causal only) as (B, 1, 1, N)."""
    if mask is not None:
        return mask[torch.arange(len(at), device=at.device), :, at][:, :, None]  # (B, 1, 1, N)
    return (torch.arange(n, device=at.device)[None, :] <= at[:, None])[:, None, None]  # (B, 1, 1, N)


class CausalSelfAttention(nn.Module):
    """Masked self-attention with ``heads`` heads of size d_model / heads.

    Args:
        scale: divide scores by sqrt(d_head) (transformer) or not (the minimal blocks).
        backend: ``"explicit"`` or ``"sdpa"`` (see the module docstring).
        out_proj: mix the concatenated heads with ``Linear(d, d)``; False leaves them as they are.
        bias: biases on the projections (q = Qx in the minimal blocks has none).
        dropout: dropout on the attention weights, only while training.

    ``in_proj`` is one ``Linear(d, 3d)`` whose weight rows are [Q; K; V], the layout of
    ``nn.MultiheadAttention.in_proj_weight``.
    """

    def __init__(self, d_model: int, heads: int = 1, *, scale: bool = True, backend: str = "sdpa",
                 out_proj: bool = True, bias: bool = True, dropout: float = 0.0, rotary: bool = False):
        super().__init__()
        check_choice("backend", backend, BACKENDS)
        if d_model % heads:
            raise ValueError(f"heads={heads} does not divide d_model={d_model}")
        if rotary and (d_model // heads) % 2:
            raise ValueError(f"rotary positions need an even head size, got d_model / heads = {d_model // heads}")
        self.heads, self.backend, self.dropout, self.rotary = heads, backend, dropout, rotary
        self.scale = 1.0 / math.sqrt(d_model // heads) if scale else 1.0
        self.in_proj = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias) if out_proj else None
        self.keep_weights = False  # True: compute explicitly and store the weights below
        self.weights: Optional[torch.Tensor] = None  # (B, H, N, N), last forward's softmax

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None,
                at: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x (B, N, d) -> (B, N, d). ``mask``: from :func:`attention_mask`; None = causal only.

        ``at`` (B,) int64: compute only the query row ``at[b]`` of each sequence -> (B, 1, d), the
        same numbers as ``forward(x, mask)[b, at[b]]`` at about 1/N of the query-side cost."""
        B, N, D = x.shape
        H = self.heads
        if at is None:
            qkv = self.in_proj(x).view(B, N, 3, H, D // H)  # (B, N, 3, H, d_head)
            q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, N, d_head)
        else:
            w, b = self.in_proj.weight, self.in_proj.bias
            q = F.linear(take_rows(x, at), w[:D], None if b is None else b[:D])  # (B, 1, d)
            q = q.view(B, 1, H, D // H).transpose(1, 2)  # (B, H, 1, d_head)
            k, v = F.linear(x, w[D:], None if b is None else b[D:]).view(B, N, 2, H, D // H).permute(2, 0, 3, 1, 4)
            mask = row_mask(mask, at, N)  # (B, 1, 1, N)
        if self.rotary:  # queries at their positions (0..N-1, or at), keys at 0..N-1
            keys = torch.arange(N, device=x.device)
            q = rotate(q, keys if at is None else at[:, None, None])
            k = rotate(k, keys)
        n_q = q.shape[2]
        p = self.dropout if self.training else 0.0
        if self.backend == "explicit" or self.keep_weights:
            scores = (q @ k.transpose(-2, -1)) * self.scale  # (B, H, N, N)
            allowed = mask if mask is not None else torch.ones(N, N, dtype=torch.bool, device=x.device).tril()
            weights = scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)  # (B, H, N, N)
            if self.keep_weights:
                self.weights = weights.detach()
            y = F.dropout(weights, p) @ v  # (B, H, N, d_head)
        else:
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=p, is_causal=mask is None, scale=self.scale
            )  # (B, H, N, d_head)
        y = y.transpose(1, 2).reshape(B, n_q, D)  # (B, N or 1, H * d_head): heads concatenated
        return self.out_proj(y) if self.out_proj is not None else y


def rotate(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding (Su et al. 2021) of ``x`` (..., n, d_head) at integer ``positions``
    (broadcastable to x's leading dims and n): the dims are split in halves, and the pair
    (x[i], x[i + d/2]) is rotated by the angle position * base^(-2i/d). Scores of rotated queries and
    keys depend on the offset between their positions only."""
    h = x.shape[-1] // 2
    freq = torch.exp(torch.arange(h, device=x.device, dtype=torch.float32) * (-2.0 * math.log(base) / x.shape[-1]))
    angles = positions.to(torch.float32)[..., None] * freq  # (..., n, h)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., :h], x[..., h:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class MinimalBlock(nn.Module):
    """The lecture's minimal block: unscaled attention then FFN; no residual, no norm.

    ``heads=1, out_proj=False`` is ``single_head``; ``heads=h, out_proj=True`` is ``multi_head``.
    ``dropout`` applies to the attention weights and the FFN's hidden layer while training.
    """

    def __init__(self, d_model: int, heads: int, d_ff: int, *, out_proj: bool, backend: str = "sdpa",
                 dropout: float = 0.0, rotary: bool = False):
        super().__init__()
        self.self_attn = CausalSelfAttention(d_model, heads, scale=False, backend=backend,
                                             out_proj=out_proj, bias=False, dropout=dropout, rotary=rotary)
        self.linear1 = nn.Linear(d_model, d_ff)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ff, d_model)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None,
                at: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x (B, N, d) -> (B, N, d); with ``at`` (B,) only the rows ``at`` -> (B, 1, d)."""
        x = self.self_attn(x, mask, at)  # (B, N or 1, d)
        return self.linear2(self.dropout(F.relu(self.linear1(x))))  # (B, N or 1, d)


class TransformerBlock(nn.Module):
    """Full transformer block; names and dropouts as in ``nn.TransformerEncoderLayer`` (ReLU FFN).

    ``norm="post"``: x = norm1(x + attn(x)); x = norm2(x + ffn(x))  (the lecture's order).
    ``norm="pre"``:  x = x + attn(norm1(x)); x = x + ffn(norm2(x)).
    """

    def __init__(self, d_model: int, heads: int, d_ff: int, *, backend: str = "sdpa",
                 dropout: float = 0.0, norm: str = "post", rotary: bool = False):
        super().__init__()
        check_choice("norm", norm, NORMS)
        self.norm_first = norm == "pre"
        self.self_attn = CausalSelfAttention(d_model, heads, scale=True, backend=backend,
                                             out_proj=True, bias=True, dropout=dropout, rotary=rotary)
        self.linear1 = nn.Linear(d_model, d_ff)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def _attn(self, x, mask, at=None):
        return self.dropout1(self.self_attn(x, mask, at))

    def _ffn(self, x):
        return self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(x)))))

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None,
                at: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x (B, N, d) -> (B, N, d); with ``at`` (B,) only the rows ``at`` -> (B, 1, d)."""
        res = x if at is None else take_rows(x, at)  # the residual stream of the rows computed
        if self.norm_first:
            x = res + self._attn(self.norm1(x), mask, at)
            return x + self._ffn(self.norm2(x))
        x = self.norm1(res + self._attn(x, mask, at))
        return self.norm2(x + self._ffn(x))  # (B, N or 1, d)


def sinusoidal_positions(n: int, d_model: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Fixed position vectors (n, d_model): sin(t / 10000^(2i/d)) in even dims, cos in odd ones."""
    t = torch.arange(n, device=device, dtype=torch.float32)[:, None]  # (N, 1)
    freq = torch.exp(torch.arange(0, d_model, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    angles = t * freq  # (N, ceil(d/2))
    pe = torch.zeros(n, d_model, device=device)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return pe.to(dtype)


class Positions(nn.Module):
    """Position vectors (N, d) added to the embedding: ``sinusoidal`` (any N) or ``learned`` (N <= max_len,
    else ValueError); for ``rope`` and ``none`` nothing is added (``adds`` is False)."""

    def __init__(self, kind: str, d_model: int, max_len: int):
        super().__init__()
        check_choice("positions", kind, POSITIONS)
        self.kind, self.d_model, self.max_len = kind, d_model, max_len
        self.adds = kind in ADDED
        self.table = nn.Embedding(max_len, d_model) if kind == "learned" else None

    def forward(self, n: int, device=None, dtype=torch.float32) -> torch.Tensor:
        if not self.adds:
            return torch.zeros(n, self.d_model, device=device, dtype=dtype)
        if self.table is None:
            return sinusoidal_positions(n, self.d_model, device, dtype)
        if n > self.max_len:
            raise ValueError(
                f"sequence of {n} tokens exceeds learned positions max_len={self.max_len}; "
                "raise model.max_len or use positions=sinusoidal"
            )
        return self.table.weight[:n]  # (N, d)


class AttentionModel(nn.Module):
    """Embedding + positions (added once), ``layers`` blocks, optional final LayerNorm, linear head."""

    def __init__(self, vocab_size: int, n_out: int, d_model: int, blocks: list[nn.Module],
                 positions: str = "sinusoidal", max_len: int = 512, final_norm: bool = False):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=0)
        self.positions = Positions(positions, d_model, max_len)
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.LayerNorm(d_model) if final_norm else nn.Identity()
        self.head = nn.Linear(d_model, n_out)

    @classmethod
    def from_config(cls, cfg, vocab_size: int, n_out: int, block: str) -> "AttentionModel":
        """Build the ``block`` rung (single_head | multi_head | transformer) from a ModelConfig."""
        check_choice("attention model", block, BLOCKS)
        d, L, rotary = cfg.d_model, cfg.layers, cfg.positions == "rope"
        if block == "transformer":
            blocks = [TransformerBlock(d, cfg.heads, cfg.d_ff, backend=cfg.backend, dropout=cfg.dropout,
                                       norm=cfg.norm, rotary=rotary) for _ in range(L)]
        else:
            heads, out_proj = (1, False) if block == "single_head" else (cfg.heads, True)
            blocks = [MinimalBlock(d, heads, cfg.d_ff, out_proj=out_proj, backend=cfg.backend,
                                   dropout=cfg.dropout, rotary=rotary) for _ in range(L)]
        final_norm = block == "transformer" and cfg.norm == "pre"
        return cls(vocab_size, n_out, d, blocks, cfg.positions, cfg.max_len, final_norm)

    def forward(self, tokens: torch.Tensor, at: Optional[torch.Tensor] = None) -> torch.Tensor:
        """tokens (B, N) int64, 0 = right padding -> logits (B, N, n_out), causal.

        ``at`` (B,) int64: only the logits at position ``at[b]`` -> (B, n_out). The last block then
        computes just those query rows (keys and values still cover every position), the same
        numbers as ``forward(tokens)[b, at[b]]`` for the cost of ``layers - 1`` full blocks."""
        x = self.embed(tokens)  # (B, N, d)
        if self.positions.adds:
            x = x + self.positions(tokens.shape[1], x.device, x.dtype)  # (B, N, d) + (N, d)
        mask = attention_mask(tokens)  # (B, 1, N, N) or None
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block(x, mask, at if i == last else None)  # (B, N, d); the last with ``at``: (B, 1, d)
        out = self.head(self.norm(x))  # (B, N, n_out) or (B, 1, n_out)
        return out if at is None else out[:, 0]


# ---------------------------------------------------------------- cost model and registry entries

# Floats per token each block keeps for backward: block input, q/k/v, attention output (+ its
# projection), FFN hidden before and after ReLU; the transformer adds two LayerNorm inputs and outputs.
_SAVED = {"single_head": (5, 2), "multi_head": (6, 2), "transformer": (9, 2)}  # (x d_model, x d_ff)
# Explicit attention holds every layer's scores for backward plus ~2 more score-sized tensors while
# one layer's softmax is differentiated (measured: ~3x for one layer); see measure.cost.


def layer_cost(cfg, batch: int, seq_len: int, block: str) -> LayerCost:
    """One block's training-step cost: QKV (+ output) projections, QK^T and AV over all heads (the
    full N x N for ``explicit``, which computes every score and then masks; the lower triangle
    N(N+1)/2 for ``sdpa``, whose causal kernel skips the masked half), and the FFN d -> d_ff -> d."""
    B, N, d, f = batch, seq_len, cfg.d_model, cfg.d_ff
    heads = 1 if block == "single_head" else cfg.heads
    proj = 6 * B * N * d * d + (2 * B * N * d * d if block != "single_head" else 0)
    attend = 2 * (2 * B * N * N * d)
    if cfg.backend == "sdpa":
        attend = attend * (N + 1) // (2 * N)
    per_d, per_f = _SAVED[block]
    return LayerCost(flops=proj + attend + 4 * B * N * d * f, activation_floats=per_d * d + per_f * f,
                     score_elems=B * heads * N * N, scores_held=cfg.backend == "explicit",
                     sequential_steps=1, heads=heads)


def _spec(block: str, display: str, color: str, marker: str) -> ModelSpec:
    return ModelSpec(name=block, build=partial(AttentionModel.from_config, block=block), family="attention",
                     display=display, color=color, marker=marker, cost=partial(layer_cost, block=block))


SPECS = [
    _spec("single_head", "single-head attn", "#228833", "^"),  # Paul Tol's "bright" palette
    _spec("multi_head", "multi-head attn", "#AA3377", "D"),
    _spec("transformer", "transformer", "#EE6677", "v"),
]
