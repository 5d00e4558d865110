"""Recurrent rungs of the model ladder: the Elman RNN (``rnn``) and the LSTM (``lstm``).

Both are ``token embedding -> stacked recurrent layers -> Linear(d_model, n_out)`` and follow the
contract shared by every model in :mod:`longdep.models`::

    model = RecurrentModel(vocab_size=100, n_out=2, d_model=64, layers=2, cell="lstm")
    logits = model(tokens)          # tokens (B, N) int64, 0 = padding -> logits (B, N, n_out)

The output at position t is read from the top layer's hidden state h_t, which depends only on
tokens[:, :t+1]: recurrence is causal by construction. Sequences are right-padded, so pad
tokens come after every real token and can never change a real position's output; no packing
is needed.

The Elman layer computes h_t = tanh(W h_{t-1} + U x_t + b); the LSTM layer the usual gates
i, f, g, o (see ``tests/test_models.py``, which checks both against hand-written loops). We use
PyTorch's fused ``nn.RNN`` / ``nn.LSTM`` because the benchmarks time them: they are the fastest
honest implementation of a computation that is sequential in N (the lecture's claim 2).
Positions are not used: a recurrent model knows the order from the recurrence itself.

cuDNN's fused RNN accepts at most 65,535 time steps per call (65,536 raises
``CUDNN_STATUS_NOT_SUPPORTED``), so longer sequences run in chunks of ``chunk_len`` steps with the
state carried from one chunk to the next (gradients flow through the carried state): the result
is the same computation at any N.
"""
from __future__ import annotations

from functools import partial
from typing import Optional

import warnings

import torch
from torch import nn

from longdep.models.base import LayerCost, ModelSpec, take_rows

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM}
MAX_STEPS_PER_CALL = 65_535  # cuDNN's limit on time steps in one fused RNN call


class RecurrentModel(nn.Module):
    """Embedding, ``layers`` stacked Elman or LSTM layers of width ``d_model``, linear read-out.

    Args:
        vocab_size: number of token ids (id 0 is padding; its embedding is fixed at zero).
        n_out: logits per position (2 for agreement, vocab size for language modelling).
        d_model: embedding and hidden size.
        layers: stacked recurrent layers.
        cell: ``"rnn"`` (Elman, tanh) or ``"lstm"``.
        dropout: dropout between stacked layers (PyTorch applies it to every layer's output
            but the last); ignored when ``layers == 1``.
        chunk_len: time steps per call of the fused recurrence; longer inputs are processed in
            chunks with the state carried across (default: cuDNN's limit, 65,535).
    """

    def __init__(
        self,
        vocab_size: int,
        n_out: int,
        d_model: int = 64,
        layers: int = 1,
        cell: str = "rnn",
        dropout: float = 0.0,
        chunk_len: int = MAX_STEPS_PER_CALL,
    ):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown recurrent cell {cell!r}; valid: {', '.join(CELLS)}")
        if not 1 <= chunk_len <= MAX_STEPS_PER_CALL:
            raise ValueError(f"chunk_len must be in 1..{MAX_STEPS_PER_CALL}, got {chunk_len}")
        self.cell, self.chunk_len = cell, chunk_len
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=0)
        kwargs = dict(num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        if cell == "rnn":
            kwargs["nonlinearity"] = "tanh"
        self.rnn = CELLS[cell](d_model, d_model, **kwargs)
        self.head = nn.Linear(d_model, n_out)

    @classmethod
    def from_config(cls, cfg, vocab_size: int, n_out: int, cell: str) -> "RecurrentModel":
        """Build from a :class:`longdep.config.ModelConfig` (positions, heads, d_ff are unused)."""
        return cls(vocab_size, n_out, cfg.d_model, cfg.layers, cell=cell, dropout=cfg.dropout)

    def hidden_states(self, tokens: torch.Tensor) -> torch.Tensor:
        """Top-layer hidden states h_1..h_N, shape (B, N, d_model), starting from h_0 = 0."""
        x = self.embed(tokens)  # (B, N, d_model)
        if x.shape[1] <= self.chunk_len:
            h, _ = self.recur(x)  # (B, N, d_model)
            return h
        outputs, state = [], None  # state: h (layers, B, d) for rnn, (h, c) for lstm
        for chunk in x.split(self.chunk_len, dim=1):  # (B, <= chunk_len, d_model) each
            h, state = self.recur(chunk, state)
            outputs.append(h)
        return torch.cat(outputs, dim=1)  # (B, N, d_model)

    def recur(self, x, state=None):
        """The fused recurrence. Under CPU autocast, a CPU whose oneDNN has no bf16 LSTM kernel (it cannot
        "create a primitive descriptor"; AMD EPYC here) runs PyTorch's own kernel instead."""
        if not getattr(self, "native_cpu_kernel", False):
            try:
                return self.rnn(x, state)
            except RuntimeError as exc:
                if not (x.is_cpu and torch.is_autocast_enabled("cpu") and "primitive descriptor" in str(exc)):
                    raise
                self.native_cpu_kernel = True
        with warnings.catch_warnings():  # flags() warns that oneDNN's TF32 needs an Intel GPU: not used here
            warnings.simplefilter("ignore", UserWarning)
            with torch.backends.mkldnn.flags(enabled=False):
                return self.rnn(x, state)

    def forward(self, tokens: torch.Tensor, at: Optional[torch.Tensor] = None) -> torch.Tensor:
        """tokens (B, N) int64 -> logits (B, N, n_out); position t sees tokens[:, :t+1] only.
        ``at`` (B,) int64: only the logits at position ``at[b]``, (B, n_out)."""
        h = self.hidden_states(tokens)  # (B, N, d_model)
        return self.head(h if at is None else take_rows(h, at)[:, 0])  # (B, N, n_out) or (B, n_out)


# ---------------------------------------------------------------- cost model and registry entries

# Floats per token a layer keeps for backward. rnn: input, previous state, new state. lstm: input,
# previous h and c, the 4d gate pre-activations of both matmuls and the 4d gate outputs, c, tanh(c), h.
_SAVED = {"rnn": 3, "lstm": 18}
_MATMULS = {"rnn": 4, "lstm": 16}  # FLOPs per B*N*d^2: input + hidden matmuls (x4 gates for the LSTM)


def layer_cost(cfg, batch: int, seq_len: int, cell: str) -> LayerCost:
    """One layer's cost: N dependent steps, each a matmul of the input and one of the state."""
    d = cfg.d_model
    return LayerCost(flops=_MATMULS[cell] * batch * seq_len * d * d, activation_floats=_SAVED[cell] * d,
                     sequential_steps=seq_len)


def _spec(cell: str, display: str, color: str, marker: str) -> ModelSpec:
    return ModelSpec(name=cell, build=partial(RecurrentModel.from_config, cell=cell), family="recurrent",
                     display=display, color=color, marker=marker, cost=partial(layer_cost, cell=cell))


# Paul Tol's colour-blind-safe "bright" palette, one colour and marker per model of the ladder
SPECS = [_spec("rnn", "Elman RNN", "#4477AA", "o"), _spec("lstm", "LSTM", "#CCBB44", "s")]
