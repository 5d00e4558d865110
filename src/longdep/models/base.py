"""What every model provides: a :class:`ModelSpec` (builder, family, looks, cost model)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

FAMILIES = ("recurrent", "attention", "scan")


def take_rows(x: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
    """x (B, N, d), at (B,) int64 -> x[b, at[b]] as (B, 1, d): one position per sequence."""
    return x[torch.arange(len(at), device=x.device), at][:, None]


@dataclass(frozen=True)
class LayerCost:
    """Analytic cost of one layer of a training step at batch B and length N.

    flops: forward FLOPs of the layer's matmuls (2*m*n*k each).
    activation_floats: floats per token the layer keeps for backward (linear in N).
    score_elems: elements of the N x N attention scores (B x heads x N^2), 0 without attention.
    scores_held: the backend materialises those scores (explicit attention) rather than streaming them.
    sequential_steps: dependent steps the layer takes one after another (N for a recurrence, 1 for
        attention, ~log2 N for a parallel scan).
    heads: attention heads the layer really has (0 for a recurrence).
    """

    flops: int
    activation_floats: int
    score_elems: int = 0
    scores_held: bool = False
    sequential_steps: int = 1
    heads: int = 0


@dataclass(frozen=True)
class ModelSpec:
    """One model of the ladder, everything the rest of longdep asks about it.

    build: ``(ModelConfig, vocab_size, n_out) -> nn.Module`` mapping tokens (B, N) to logits (B, N, n_out).
    family: ``recurrent``, ``attention`` or ``scan``; attention models take ``model.backend``.
    display, color, marker: the name, colour (hex) and matplotlib marker figures use (never "x": a cross
    marks a point that was not measured).
    cost: ``(ModelConfig, batch, seq_len) -> LayerCost``, the analytic cost model the sweep predicts with.
    """

    name: str
    build: Callable
    family: str
    display: str
    color: str
    cost: Callable[..., LayerCost]
    marker: str = "o"

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"unknown model family {self.family!r}; valid: {', '.join(FAMILIES)}")

    def backend_label(self, backend: str) -> str:
        """The backend column of results: the attention backend, or the family for other models."""
        return backend if self.family == "attention" else self.family
