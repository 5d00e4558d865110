"""How a trained model solves the task, not only whether: where attention looks from the query, and
what the recurrent state holds on the way from the subject to the verb.

- :func:`attention_rows` (attention models): per layer and head, the attention weight from the query
  position to the subject, to each attractor (mean over the attractors of a sentence) and to the
  noun at the training offset, by test distance; ``uniform`` is 1 / (keys the query may see), the
  weight each position would get from attention that looks nowhere in particular.
- :func:`state_rows` (recurrent models and the scan): a linear probe (logistic regression) trained on
  the top-layer hidden states of half of the sentences, at every position from the subject to the
  query, to decode the subject's number; its accuracy on the other half against the distance
  already travelled (position - subject). Chance (0.5) at some offset means the number is no longer
  linearly readable there.

Both read the task's ``targets`` (agreement: subject, attractors, offset noun) on the first
``PER_DISTANCE`` sentences of every distance of the fixed test set by distance. Written by every run
(``eval.analyses``) to ``attention.csv`` / ``probe.csv``, and by ``longdep analyze`` for runs that
kept their weights.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

PER_DISTANCE = 8  # sentences per test distance the analyses read
PROBE_TRAIN_MAX = 20_000  # hidden states the probe is fitted on (a random sample of the training half)


def analysis_subset(meta, per_distance: int = PER_DISTANCE) -> np.ndarray:
    """Row indices: the first ``per_distance`` sentences of every distance."""
    d = pd.Series(np.asarray(meta["distance"]))
    return np.sort(d.groupby(d).head(per_distance).index.to_numpy())


@torch.no_grad()
def attention_rows(model, tokens: np.ndarray, meta, masks: dict, batch_size: int = 64) -> pd.DataFrame:
    """Columns layer, head, distance, target (subject | attractor | offset_noun | uniform), n, weight."""
    from longdep.models.attention import CausalSelfAttention
    from longdep.training.lit import prefix_batch

    attns = [m for m in model.modules() if isinstance(m, CausalSelfAttention)]
    if not attns:
        return pd.DataFrame()
    query, distance = np.asarray(meta["query_index"]), np.asarray(meta["distance"])
    device = next(model.parameters()).device
    model.eval()
    frames = []
    for a in attns:
        a.keep_weights = True
    try:
        order = np.argsort(query, kind="stable")
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            x, q, _ = prefix_batch(tokens[idx], np.zeros(len(idx), np.int64), query[idx])
            x, q = x.to(device), q.to(device)
            model(x, at=q)
            n_keys = x.shape[1]
            rows = torch.arange(len(idx), device=device)
            for layer, a in enumerate(attns):
                w = a.weights  # (B, H, N_q, N): the query rows only in the last block
                row = (w[:, :, 0] if w.shape[2] == 1 else w[rows, :, q]).float().cpu().numpy()  # (B, H, N)
                heads = row.shape[1]
                for name, mask in masks.items():
                    m = mask[idx][:, :n_keys]  # (B, N) bool
                    count = m.sum(1)
                    keep = count > 0
                    if not keep.any():
                        continue
                    weight = (row * m[:, None, :]).sum(-1)[keep] / count[keep, None]  # (b, H): mean per target
                    frames.append(_long(layer, heads, distance[idx][keep], name, weight))
                uniform = np.repeat(1.0 / (query[idx] + 1.0)[:, None], heads, axis=1)
                frames.append(_long(layer, heads, distance[idx], "uniform", uniform))
    finally:
        for a in attns:
            a.keep_weights, a.weights = False, None
    df = pd.concat(frames, ignore_index=True)
    return df.groupby(["layer", "head", "distance", "target"], as_index=False).agg(
        n=("weight", "size"), weight=("weight", "mean"))


def _long(layer: int, heads: int, distance: np.ndarray, target: str, weight: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"layer": layer, "head": np.tile(np.arange(heads), len(distance)),
                         "distance": np.repeat(distance, heads), "target": target, "weight": weight.reshape(-1)})


@torch.no_grad()
def hidden_states(model, tokens: np.ndarray, meta, source: np.ndarray, batch_size: int = 256):
    """Top-layer states at every position from ``source`` to the query: (states (M, d), offsets (M,),
    example (M,)), offset = position - source."""
    from longdep.training.lit import prefix_batch

    query = np.asarray(meta["query_index"])
    device = next(model.parameters()).device
    model.eval()
    states, offsets, example = [], [], []
    for i in range(0, len(query), batch_size):
        idx = np.arange(i, min(i + batch_size, len(query)))
        x, _, _ = prefix_batch(tokens[idx], np.zeros(len(idx), np.int64), query[idx])
        h = model.hidden_states(x.to(device)).float().cpu().numpy()  # (B, N, d)
        for b, e in enumerate(idx):
            span = np.arange(source[e], query[e] + 1)
            states.append(h[b, span])
            offsets.append(span - source[e])
            example.append(np.full(len(span), e))
    return np.concatenate(states), np.concatenate(offsets), np.concatenate(example)


def probe_by_offset(states: np.ndarray, labels: np.ndarray, offsets: np.ndarray, example: np.ndarray,
                    max_train: int = PROBE_TRAIN_MAX, seed: int = 0) -> pd.DataFrame:
    """Fit one logistic regression on the states of even-numbered examples (a random sample of at most
    ``max_train``), report its accuracy on the odd-numbered examples' states per offset: columns
    offset, n, accuracy. Sentences, not states, are split, so no sentence is in both halves."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train = np.flatnonzero(example % 2 == 0)
    test = np.flatnonzero(example % 2 == 1)
    if len(train) > max_train:
        train = np.random.default_rng(seed).choice(train, max_train, replace=False)
    if not len(test) or len(np.unique(labels[train])) < 2:
        return pd.DataFrame(columns=["offset", "n", "accuracy"])
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(states[train], labels[train])
    right = probe.predict(states[test]) == labels[test]
    df = pd.DataFrame({"offset": offsets[test], "right": right.astype(float)})
    return df.groupby("offset", as_index=False).agg(n=("right", "size"), accuracy=("right", "mean"))


def state_rows(model, tokens: np.ndarray, labels: np.ndarray, meta, source: np.ndarray) -> pd.DataFrame:
    """The probe's accuracy per offset for a model with ``hidden_states`` (recurrent models, the scan)."""
    if not hasattr(model, "hidden_states"):
        return pd.DataFrame()
    states, offsets, example = hidden_states(model, tokens, meta, source)
    return probe_by_offset(states, np.asarray(labels)[example], offsets, example)


def analyses(module, cfg, spec, tokens: np.ndarray, labels: np.ndarray, meta) -> dict[str, pd.DataFrame]:
    """``{"attention.csv": rows, "probe.csv": rows}`` for one trained module on a test set (either may be empty)."""
    if spec.targets is None:
        return {}
    rows = analysis_subset(meta)
    sub = {k: (np.asarray(v)[rows] if np.ndim(v) else v) for k, v in meta.items()}
    tok, lab = np.asarray(tokens)[rows], np.asarray(labels)[rows]
    masks = spec.targets(tok, sub, cfg.task)
    source = masks.pop("source")
    model = module.model
    return {"attention.csv": attention_rows(model, tok, sub, masks),
            "probe.csv": state_rows(model, tok, lab, sub, source)}
