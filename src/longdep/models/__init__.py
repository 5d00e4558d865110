"""The model ladder: one registry from short names to builders.

Every model maps tokens (B, N) int64 (0 = right padding) to logits (B, N, n_out), one per
position, causally: the output at t depends only on tokens[:, :t+1]. Rungs, each adding one idea
(see ``/work/shared/LECTURE.md``):

    rnn          Elman RNN, h_t = tanh(W h_{t-1} + U x_t + b)          (recurrent.py)
    lstm         LSTM                                                   (recurrent.py)
    single_head  minimal self-attention: 1 unscaled head + FFN, no residual/norm (attention.py)
    multi_head   the same with h heads and an output projection         (attention.py)
    transformer  scaled multi-head attention, Add & Norm, FFN, Add & Norm (attention.py)

Usage::

    from longdep.config import ModelConfig
    from longdep.models import build_model, count_parameters
    model = build_model(ModelConfig(name="lstm"), vocab_size=100, n_out=2)
"""
from __future__ import annotations

from functools import partial
from typing import Callable

from torch import nn

from longdep.config import UsageError
from longdep.models.attention import AttentionModel, CausalSelfAttention, MinimalBlock, TransformerBlock
from longdep.models.recurrent import RecurrentModel

MODELS: dict[str, Callable[..., nn.Module]] = {
    "rnn": partial(RecurrentModel.from_config, cell="rnn"),
    "lstm": partial(RecurrentModel.from_config, cell="lstm"),
    "single_head": partial(AttentionModel.from_config, block="single_head"),
    "multi_head": partial(AttentionModel.from_config, block="multi_head"),
    "transformer": partial(AttentionModel.from_config, block="transformer"),
}


def build_model(cfg, vocab_size: int, n_out: int) -> nn.Module:
    """Build ``cfg.name`` (a :class:`longdep.config.ModelConfig`) for ``vocab_size`` tokens and ``n_out`` logits.

    Raises :class:`longdep.config.UsageError` (a ValueError) naming the valid models for an unknown name.
    """
    if cfg.name not in MODELS:
        raise UsageError(f"unknown model {cfg.name!r}; valid: {', '.join(MODELS)}")
    return MODELS[cfg.name](cfg, vocab_size, n_out)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (fixed sinusoidal positions count as none)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = [
    "MODELS", "build_model", "count_parameters",
    "RecurrentModel", "AttentionModel", "CausalSelfAttention", "MinimalBlock", "TransformerBlock",
]
