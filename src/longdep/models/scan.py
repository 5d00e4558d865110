"""A recurrence that is parallel across time: minGRU (``mingru``), computed with a log-space scan.

minGRU (Feng et al. 2024, "Were RNNs All We Needed?") drops the GRU's dependence of its gates on
the previous state, so every gate is a function of the input alone:

    z_t  = sigmoid(W_z x_t)           (update gate)
    h~_t = g(W_h x_t)                 (candidate; g(v) = v + 0.5 for v >= 0, sigmoid(v) otherwise, > 0)
    h_t  = (1 - z_t) * h_{t-1} + z_t * h~_t,   h_0 = 0

a *linear* recurrence h_t = a_t h_{t-1} + b_t. Its solution h_t = sum_{s<=t} (prod_{s<r<=t} a_r) b_s is
computed for all t at once in log space (a_t, b_t > 0): ``log h = A + logcumsumexp(log b - A)`` with
``A = cumsum(log a)``, a prefix scan of depth O(log N) instead of N dependent steps. The output at t
depends on tokens[:, :t+1] only (causal by construction); right padding never reaches a real
position. ``tests/test_models.py`` checks it against the sequential loop to 1e-5 (outputs and
gradients).

    model = ScanModel(vocab_size=100, n_out=2, d_model=64, layers=2)
    logits = model(tokens)          # tokens (B, N) int64, 0 = padding -> logits (B, N, n_out)
"""
from __future__ import annotations

import math
from functools import partial
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from longdep.models.base import LayerCost, ModelSpec, take_rows


def _log_g(v: torch.Tensor) -> torch.Tensor:
    """log g(v), g(v) = v + 0.5 (v >= 0) or sigmoid(v) (v < 0): positive, continuous at 0."""
    return torch.where(v >= 0, torch.log(F.relu(v) + 0.5), -F.softplus(-v))


CHUNK = 16  # time steps per chunk of the CPU form of logcumsumexp


def logcumsumexp(x: torch.Tensor) -> torch.Tensor:
    """log(cumsum(exp(x))) along dim 1 of x (B, N, d), stable for any x.

    On CUDA: ``torch.logcumsumexp``, one parallel scan kernel. On CPU that kernel walks the time
    axis one element after another at ~9 ns per element (~7x a cumsum), so the CPU form is chunked:
    a running ``logaddexp`` over the CHUNK positions of every chunk at once, ``torch.logcumsumexp``
    over the N / CHUNK chunk totals, and one more ``logaddexp`` to add each chunk's carry. The same
    function (``tests/test_models.py``: to 1e-5 against ``torch.logcumsumexp``, values and
    gradients), 2-3x faster on CPU at the lengths the grids train on."""
    if x.is_cuda or x.shape[1] <= CHUNK:
        return torch.logcumsumexp(x, dim=1)
    B, N, d = x.shape
    K = -(-N // CHUNK)
    if K * CHUNK > N:  # pad the last chunk with exp(-inf) = 0: adds nothing to any sum
        x = torch.cat([x, x.new_full((B, K * CHUNK - N, d), float("-inf"))], dim=1)
    chunks = x.view(B, K, CHUNK, d)
    run = [chunks[:, :, 0]]  # (B, K, d) each: the running log-sum within every chunk
    for c in range(1, CHUNK):
        run.append(torch.logaddexp(run[-1], chunks[:, :, c]))
    local = torch.stack(run, dim=2)  # (B, K, CHUNK, d)
    totals = torch.logcumsumexp(local[:, :, -1], dim=1)  # (B, K, d): through the end of chunk k
    carry = torch.cat([totals.new_full((B, 1, d), float("-inf")), totals[:, :-1]], dim=1)  # before chunk k
    return torch.logaddexp(local, carry[:, :, None]).reshape(B, K * CHUNK, d)[:, :N]


class MinGRU(nn.Module):
    """One minGRU layer, d_model -> d_model, parallel over time (``sequential=True``: the loop)."""

    def __init__(self, d_model: int):
        super().__init__()
        self.gates = nn.Linear(d_model, 2 * d_model)  # [W_z; W_h]

    def forward(self, x: torch.Tensor, sequential: bool = False) -> torch.Tensor:
        """x (B, N, d) -> h (B, N, d)."""
        k, v = self.gates(x).chunk(2, dim=-1)  # (B, N, d) each
        if sequential:
            z, cand = torch.sigmoid(k), torch.exp(_log_g(v))
            h, out = torch.zeros_like(x[:, 0]), []
            for t in range(x.shape[1]):
                h = (1 - z[:, t]) * h + z[:, t] * cand[:, t]  # (B, d)
                out.append(h)
            return torch.stack(out, dim=1)  # (B, N, d)
        log_a = -F.softplus(k)  # log(1 - z)
        log_b = -F.softplus(-k) + _log_g(v)  # log(z * h~)
        a_star = log_a.cumsum(dim=1)  # (B, N, d)
        return torch.exp(a_star + logcumsumexp(log_b - a_star))  # (B, N, d)


class ScanModel(nn.Module):
    """Embedding, ``layers`` stacked minGRU layers of width ``d_model``, linear read-out."""

    def __init__(self, vocab_size: int, n_out: int, d_model: int = 64, layers: int = 1):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=0)
        self.layers = nn.ModuleList(MinGRU(d_model) for _ in range(layers))
        self.head = nn.Linear(d_model, n_out)

    @classmethod
    def from_config(cls, cfg, vocab_size: int, n_out: int) -> "ScanModel":
        """Build from a :class:`longdep.config.ModelConfig` (positions, heads, d_ff, backend are unused)."""
        return cls(vocab_size, n_out, cfg.d_model, cfg.layers)

    def hidden_states(self, tokens: torch.Tensor, sequential: bool = False) -> torch.Tensor:
        h = self.embed(tokens)  # (B, N, d)
        for layer in self.layers:
            h = layer(h, sequential)  # (B, N, d)
        return h

    def forward(self, tokens: torch.Tensor, at: Optional[torch.Tensor] = None) -> torch.Tensor:
        """tokens (B, N) int64 -> logits (B, N, n_out); position t sees tokens[:, :t+1] only.
        ``at`` (B,) int64: only the logits at position ``at[b]``, (B, n_out)."""
        h = self.hidden_states(tokens)  # (B, N, d)
        return self.head(h if at is None else take_rows(h, at)[:, 0])  # (B, N, n_out) or (B, n_out)


def layer_cost(cfg, batch: int, seq_len: int) -> LayerCost:
    """Two input projections d -> d (gate and candidate); the scan's elementwise work is O(N d). Kept
    for backward per token: the input, both projections, log a, log b, A, the logcumsumexp and h."""
    d = cfg.d_model
    return LayerCost(flops=4 * batch * seq_len * d * d, activation_floats=8 * d,
                     sequential_steps=max(1, math.ceil(math.log2(seq_len))))


SPECS = [ModelSpec(name="mingru", build=partial(ScanModel.from_config), family="scan",
                   display="minGRU (parallel scan)", color="#66CCEE", marker="P", cost=layer_cost)]
