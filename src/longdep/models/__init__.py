"""The model ladder and its registry: :data:`MODELS` is the only list of models.

Every model maps tokens (B, N) int64 (0 = right padding) to logits (B, N, n_out), one per
position, causally: the output at t depends only on tokens[:, :t+1]. ``model(tokens, at=q)``
(q (B,) int64) returns only the logits at q[b], (B, n_out): the classifier reads one position per
sentence, and the attention models then compute their last block's query rows only (~35% less
work per training step at d=128; the same numbers, ``tests/test_models.py``). A plug-in model
without ``at`` is read out from its full output. Rungs, each adding one idea:

    rnn          Elman RNN, h_t = tanh(W h_{t-1} + U x_t + b)          (recurrent.py)
    lstm         LSTM                                                   (recurrent.py)
    single_head  minimal self-attention: 1 unscaled head + FFN, no residual/norm (attention.py)
    multi_head   the same with h heads and an output projection         (attention.py)
    transformer  scaled multi-head attention, Add & Norm, FFN, Add & Norm (attention.py)
    mingru       minGRU: gates from the input only, a linear recurrence run as a log-space
                 parallel scan, O(log N) depth (scan.py)

Each entry is a :class:`ModelSpec`: builder, family, display name and colour, analytic cost model.
Config validation, figures, the cost sweep, run names and tracking all ask the registry. Adding a
model: one file defining the module and a ``SPECS`` list, and its module path in :data:`_BUILTIN`.
Models of your own, outside longdep, register from a module named in ``LONGDEP_PLUGINS``
(comma-separated module paths, imported when this package is).

    from longdep.config import ModelConfig
    from longdep.models import build_model, count_parameters
    model = build_model(ModelConfig(name="lstm"), vocab_size=100, n_out=2)
"""
from __future__ import annotations

import os
from importlib import import_module

from torch import nn

from longdep.config import ModelConfig, Registry, UsageError, check_choice, check_heads, check_positive
from longdep.models.attention import BACKENDS, NORMS, POSITIONS, AttentionModel, CausalSelfAttention, TransformerBlock
from longdep.models.base import FAMILIES, LayerCost, ModelSpec
from longdep.models.recurrent import RecurrentModel
from longdep.models.scan import ScanModel

_BUILTIN = ("longdep.models.recurrent", "longdep.models.attention", "longdep.models.scan")  # modules with SPECS
MODELS: Registry = Registry("model")  # name -> ModelSpec, in ladder order
register_model = MODELS.register
get_model = MODELS.lookup  # a UsageError listing the valid names for an unknown one


def validate_model(cfg: ModelConfig, prefix: str = "model.") -> ModelConfig:
    """Check a model config's values (a one-line UsageError); return it."""
    get_model(cfg.name)
    check_choice(f"{prefix}positions", cfg.positions, POSITIONS)
    check_choice(f"{prefix}backend", cfg.backend, BACKENDS)
    check_choice(f"{prefix}norm", cfg.norm, NORMS)
    for what in ("d_model", "layers", "heads", "d_ff", "max_len"):
        check_positive(f"{prefix}{what}", getattr(cfg, what))
    check_heads(cfg.d_model, cfg.heads, prefix)
    head = cfg.d_model // (1 if cfg.name == "single_head" else cfg.heads)
    if cfg.positions == "rope" and get_model(cfg.name).family == "attention" and head % 2:
        raise UsageError(f"{prefix}positions=rope needs an even head size, got {prefix}d_model / heads = {head}; "
                         "valid: an even d_model / heads, or positions sinusoidal, learned, none")
    if not 0.0 <= cfg.dropout < 1.0:
        raise UsageError(f"{prefix}dropout must be in [0, 1), got {cfg.dropout}")
    return cfg


def build_model(cfg: ModelConfig, vocab_size: int, n_out: int) -> nn.Module:
    """Build ``cfg.name`` for ``vocab_size`` tokens and ``n_out`` logits (UsageError for an unknown name)."""
    return get_model(cfg.name).build(cfg, vocab_size, n_out)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (fixed sinusoidal positions count as none)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _load(modules) -> None:
    for name in modules:
        try:
            module = import_module(name)
        except ImportError as exc:
            raise UsageError(f"cannot import model module {name!r} (LONGDEP_PLUGINS): {exc}") from None
        for spec in getattr(module, "SPECS", []):
            register_model(spec)


_load(_BUILTIN)
_load([m.strip() for m in os.environ.get("LONGDEP_PLUGINS", "").split(",") if m.strip()])

__all__ = [
    "BACKENDS", "FAMILIES", "MODELS", "NORMS", "POSITIONS", "LayerCost", "ModelSpec",
    "build_model", "count_parameters", "get_model", "register_model", "validate_model",
    "AttentionModel", "CausalSelfAttention", "RecurrentModel", "ScanModel", "TransformerBlock",
]
