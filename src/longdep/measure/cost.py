"""The analytic cost of one training step at a point, from the model registry's cost models.

For a point (model, backend, B, N, width d, layers L) the prediction holds:

- ``flops``: 3x the forward's matmul FLOPs (forward + backward), the layers' own count
  (:attr:`longdep.models.ModelSpec.cost`) plus the output head;
- ``predicted_score_bytes``: the N x N attention scores of all layers (L x B x heads x N^2 x 4),
  whether or not the backend materialises them;
- ``predicted_activation_bytes``: the activations linear in N kept for backward (the layers' floats
  per token, plus the embedding and the head's input);
- ``predicted_peak_bytes``: activations plus the scores a backend that materialises them holds:
  every layer's for backward plus ~2 more score-sized tensors while one layer's softmax is
  differentiated (measured: ~3x for one layer);
- ``sequential_steps``: dependent steps per pass (N per layer for a recurrence, one per layer for
  attention).
"""
from __future__ import annotations

from longdep.models import get_model

N_OUT = 2  # logits per position in the sweep (agreement is binary)
EXTRA_SCORE_COPIES = 2


def predict(p) -> dict:
    """Analytic cost of one training step at ``p`` (a :class:`longdep.measure.plan.Point`)."""
    m = p.model
    B, N, d, L = p.batch, p.seq_len, m.d_model, m.layers
    layer = get_model(m.name).cost(m, B, N)
    forward = L * layer.flops + 2 * B * N * d * N_OUT  # + output head
    activations = (L * layer.activation_floats + 2 * d) * B * N * 4  # + embedding and head input
    scores = L * layer.score_elems * 4
    held = scores * (L + EXTRA_SCORE_COPIES) / L if layer.scores_held else 0
    return {
        "flops": 3 * forward,
        "predicted_score_bytes": scores,
        "predicted_activation_bytes": activations,
        "predicted_peak_bytes": int(held + activations),
        "sequential_steps": L * layer.sequential_steps,
    }


def effective_heads(p) -> int:
    """Heads the model at ``p`` really has: 1 for single_head, 0 for models without attention."""
    return get_model(p.model.name).cost(p.model, 1, 1).heads
