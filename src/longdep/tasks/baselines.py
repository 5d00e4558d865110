"""Surface heuristics and a bag-of-words classifier for the agreement task, scored on the same
slices as the models: what a model could score without finding the subject.

    preds = heuristic_predictions(tokens, meta, offsets=(16,), train=(tr_tokens, tr_labels, tr_meta))
    df = baseline_records(tokens, labels, meta, offsets=(16,), train=...)   # heuristic, distance, attractors, n, accuracy

Every heuristic reads only what the classifier sees, the tokens before the queried verb:

- ``majority``: the most frequent label of the training sample;
- ``first_noun``: the number of the first noun;
- ``after_comma``: the first noun after the first comma (else the first noun);
- ``after_that``: the first noun after the last "that" (else the first noun);
- ``nearest_noun``: the last noun before the verb (wrong when it is an attractor);
- ``noun_majority``: the more frequent number among all nouns (ties: singular);
- ``offset_<k>``: the noun at ``verb - k`` (exact when trained at distance k and tested there;
  the majority label where that token is not a noun);
- ``bag_of_words``: logistic regression on token counts, trained on the training sample.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from longdep.tasks.grammar import TAGS, THAT_ID, VOCAB, WORD2ID

N_SG, N_PL = TAGS.index("N_sg"), TAGS.index("N_pl")
COMMA_ID = WORD2ID[","]
FIXED = ("majority", "first_noun", "after_comma", "after_that", "nearest_noun", "noun_majority")


def _prefix(tokens, meta):
    """(tokens, tags, before) of the prefix the classifier sees; ``before`` masks positions < verb."""
    tokens, tags = np.asarray(tokens), np.asarray(meta["tags"])
    before = np.arange(tokens.shape[1])[None] < np.asarray(meta["verb_index"])[:, None]
    return tokens, tags, before


def _first_after(mask, start):
    """Index of the first True of ``mask`` at or after ``start`` per row, or -1."""
    cols = np.arange(mask.shape[1])[None]
    hit = mask & (cols >= start[:, None])
    return np.where(hit.any(1), hit.argmax(1), -1)


def _bow_features(tokens, before, vocab_size: int):
    rows = np.repeat(np.arange(len(tokens)), before.sum(1))
    counts = np.zeros((len(tokens), vocab_size), np.float32)
    np.add.at(counts, (rows, tokens[before]), 1.0)
    return counts


def fit_bag_of_words(tokens, labels, meta):
    """Logistic regression (scikit-learn) on the token counts of the prefix."""
    from sklearn.linear_model import LogisticRegression

    tokens, _, before = _prefix(tokens, meta)
    return LogisticRegression(max_iter=1000).fit(_bow_features(tokens, before, len(VOCAB)), labels)


def heuristic_predictions(tokens, meta, offsets=(), train=None, bow=None) -> dict[str, np.ndarray]:
    """Predicted label (0 = sg, 1 = pl) per example for every heuristic (see the module docstring).

    ``train``: ``(tokens, labels, meta)`` of the training distribution (majority label, and the
    bag-of-words model unless ``bow`` is given); without it, ``majority`` is singular and there is
    no ``bag_of_words``."""
    tokens, tags, before = _prefix(tokens, meta)
    n, L = tags.shape
    rows = np.arange(n)
    noun = before & ((tags == N_SG) | (tags == N_PL))
    plural = (tags == N_PL).astype(np.int64)
    first = noun.argmax(1)

    def number_at(idx):
        return np.where(idx >= 0, plural[rows, np.maximum(idx, 0)], plural[rows, first])

    comma = np.where((before & (tokens == COMMA_ID)).any(1), (before & (tokens == COMMA_ID)).argmax(1), L)
    that = before & (tokens == THAT_ID)
    last_that = np.where(that.any(1), L - 1 - that[:, ::-1].argmax(1), L)
    majority = int(np.bincount(np.asarray(train[1]), minlength=2).argmax()) if train is not None else 0
    nouns_pl = (noun & (tags == N_PL)).sum(1)
    preds = {
        "majority": np.full(n, majority, np.int64),
        "first_noun": plural[rows, first],
        "after_comma": number_at(_first_after(noun, comma + 1)),
        "after_that": number_at(_first_after(noun, last_that + 1)),
        "nearest_noun": plural[rows, L - 1 - noun[:, ::-1].argmax(1)],
        "noun_majority": (2 * nouns_pl > noun.sum(1)).astype(np.int64),
    }
    verb = np.asarray(meta["verb_index"])
    for k in offsets:
        at = verb - k
        ok = (at >= 0) & noun[rows, np.maximum(at, 0)]
        preds[f"offset_{k}"] = np.where(ok, plural[rows, np.maximum(at, 0)], majority)
    if bow is None and train is not None:
        bow = fit_bag_of_words(*train)
    if bow is not None:
        preds["bag_of_words"] = bow.predict(_bow_features(tokens, before, len(VOCAB))).astype(np.int64)
    return preds


def baseline_records(tokens, labels, meta, offsets=(), train=None, bow=None, slices=("distance", "attractors")):
    """Tidy accuracy rows: one per heuristic x slice (columns heuristic, *slices, n, accuracy)."""
    preds = heuristic_predictions(tokens, meta, offsets, train, bow)
    labels = np.asarray(labels)
    frames = [pd.DataFrame({"heuristic": h, **{c: np.asarray(meta[c]) for c in slices}, "correct": p == labels})
              for h, p in preds.items()]
    df = pd.concat(frames, ignore_index=True)
    return (df.groupby(["heuristic", *slices], sort=False)
            .agg(n=("correct", "size"), accuracy=("correct", "mean")).reset_index())
