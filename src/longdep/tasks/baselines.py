"""Cheap heuristic baselines for the agreement task, scored on the same slices as the models.

    preds = heuristic_predictions(tokens, labels, meta)       # {"majority": (n,), ...}
    df = baseline_records(tokens, labels, meta)                # heuristic, distance, attractors, n, accuracy

- ``majority``: the most frequent label of ``train_labels`` (or of ``labels`` if not given).
- ``first_noun``: the number of the first noun of the sentence (wrong when a preamble noun of
  the other number comes first).
- ``nearest_noun``: the number of the last noun before the verb (wrong on examples whose last
  intervening noun is an attractor).
Only the tags before the verb are read, i.e. what the classifier sees.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from longdep.tasks.grammar import TAGS

HEURISTICS = ("majority", "first_noun", "nearest_noun")


def heuristic_predictions(tokens, labels, meta, train_labels=None) -> dict[str, np.ndarray]:
    """Predicted label id (0 = sg, 1 = pl) per example for each heuristic in :data:`HEURISTICS`."""
    tags = np.asarray(meta["tags"])
    n, L = tags.shape
    before = np.arange(L)[None] < np.asarray(meta["verb_index"])[:, None]
    noun = before & ((tags == TAGS.index("N_sg")) | (tags == TAGS.index("N_pl")))
    plural = tags == TAGS.index("N_pl")
    rows = np.arange(n)
    first = noun.argmax(1)
    last = L - 1 - noun[:, ::-1].argmax(1)
    majority = np.bincount(np.asarray(labels if train_labels is None else train_labels), minlength=2).argmax()
    return {
        "majority": np.full(n, majority, np.int64),
        "first_noun": plural[rows, first].astype(np.int64),
        "nearest_noun": plural[rows, last].astype(np.int64),
    }


def baseline_records(tokens, labels, meta, train_labels=None) -> pd.DataFrame:
    """Tidy accuracy rows: one per heuristic x distance x attractors (columns heuristic,
    distance, attractors, n, accuracy)."""
    preds = heuristic_predictions(tokens, labels, meta, train_labels)
    df = pd.DataFrame({
        "heuristic": np.repeat(HEURISTICS, len(labels)),
        "distance": np.tile(meta["distance"], len(HEURISTICS)),
        "attractors": np.tile(meta["attractors"], len(HEURISTICS)),
        "correct": np.concatenate([preds[h] == np.asarray(labels) for h in HEURISTICS]),
    })
    out = df.groupby(["heuristic", "distance", "attractors"], sort=False).agg(
        n=("correct", "size"), accuracy=("correct", "mean")).reset_index()
    return out
