"""Nested dependencies: centre-embedded object relatives, every verb a query ("the chef that the dogs
that the cat sees like was").

    sentence = NP_0 that NP_1 that ... NP_k  V_k V_(k-1) ... V_1 V_0        depth k = 1..3
    NP_i     = det adj* noun_i [prep det noun]  (0..max_adjectives adjectives; a PP half the time)
    V_i      = agrees in number with noun_i    (V_0: "was/were", "is/are", ...; V_i>0: "sees/see", ...)

The dependencies nest: noun_k ... V_k is the innermost (level k), noun_0 ... V_0 the outermost
(level 0). Each example queries one level, uniformly: the sentence ends with V_L and the label is
noun_L's number. Between noun_L and V_L lie the deeper nouns noun_(L+1..k) (``attractors``: those of
the other number) and their verbs. ``distance = verb_index - subject_index`` and ``attractors`` are
exact (``tests/test_nested.py``). The test set has ``eval.n_per_attractor`` sentences for every
(depth, level) cell, so accuracy is read per level: Lakretz et al. (2021) found LSTMs worst at the
middle levels of such structures.

    longdep train --config nested model.name=lstm          # configs/nested.yaml
    longdep data show --n 2 name=nested

Results carry ``train_min_depth, train_max_depth`` and test slices ``depth, level, attractors``;
``longdep figures`` draws ``nested.png`` (accuracy per level, a panel per depth).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from longdep.config import TaskConfig, UsageError
from longdep.tasks import agreement, baselines
from longdep.tasks.base import TaskSpec, split_seed
from longdep.tasks.grammar import (ADJ, DET, LABELS, MVERB, NOUN, POOL_SIZE, POOL_START, PREP, TAGS, THAT_ID, TVERB,
                                   VOCAB)

MAX_DEPTH = 4
MAX_ADJECTIVES = 3
TEST_SEED_BASE = 9_000_000  # + 10 * depth + level: the test cells, shared by every run
_NO_OFFSET = SimpleNamespace(max_distance=None, distance=10**9)  # no "noun at the training offset" here


@dataclass
class NestedConfig(TaskConfig):
    """min_depth, max_depth: embedded clauses per sentence, drawn uniformly (1-3: one to three
    relative clauses inside the subject). max_adjectives: 0..this many adjectives per noun phrase.
    pp_rate: the chance that a noun phrase carries a prepositional phrase with a noun of random
    number ("the chef near the tables that ..."). Without them the outermost query is solved by
    counting: every inner verb gives away its noun's number, so the plural nouns minus the plural
    verbs is the outer subject's number (bag-of-words reaches 1.0 at level 0 with pp_rate=0)."""

    name: str = "nested"
    min_depth: int = 1
    max_depth: int = 3
    max_adjectives: int = 1
    pp_rate: float = 0.5


def validate(cfg: NestedConfig) -> NestedConfig:
    if not 1 <= cfg.min_depth <= cfg.max_depth <= MAX_DEPTH:
        raise UsageError(f"task.min_depth={cfg.min_depth}, task.max_depth={cfg.max_depth}: need "
                         f"1 <= min_depth <= max_depth <= {MAX_DEPTH}")
    if not 0.0 <= cfg.pp_rate <= 1.0:
        raise UsageError(f"task.pp_rate must be in [0, 1], got {cfg.pp_rate}")
    if not 0 <= cfg.max_adjectives <= MAX_ADJECTIVES:
        raise UsageError(f"task.max_adjectives must be in 0..{MAX_ADJECTIVES}, got {cfg.max_adjectives}")
    return cfg


def _word(rng, kind: int, number, n: int) -> np.ndarray:
    """n random words of ``kind`` in ``number`` (array of 0/1, or 0 for kinds without number)."""
    return POOL_START[kind, number] + rng.integers(0, POOL_SIZE[kind], n)


def _sentences(rng, depth: np.ndarray, level: np.ndarray, cfg: NestedConfig):
    n = len(depth)
    K = int(depth.max())
    L = (K + 1) * (5 + cfg.max_adjectives) + K + (K + 1)
    tokens, tags = np.zeros((n, L), np.int64), np.zeros((n, L), np.int8)
    number = rng.integers(0, 2, (n, K + 1))
    noun_at = np.zeros((n, K + 1), np.int64)
    pos = np.zeros(n, np.int64)
    rows = np.arange(n)
    for i in range(K + 1):  # NP_i (and "that" before NP_(i+1)) for the sentences deep enough
        on = depth >= i
        r = rows[on]
        tokens[r, pos[on]] = _word(rng, DET, 0, len(r))
        pos[on] += 1
        adjectives = rng.integers(0, cfg.max_adjectives + 1, n)
        for a in range(cfg.max_adjectives):
            more = on & (adjectives > a)
            tokens[rows[more], pos[more]] = _word(rng, ADJ, 0, int(more.sum()))
            pos[more] += 1
        tokens[r, pos[on]] = _word(rng, NOUN, number[on, i], len(r))
        tags[r, pos[on]] = np.where(number[on, i] == 1, TAGS.index("N_pl"), TAGS.index("N_sg"))
        noun_at[on, i] = pos[on]
        pos[on] += 1
        pp = on & (rng.random(n) < cfg.pp_rate)  # "near the tables": a noun no verb agrees with
        for kind in (PREP, DET):
            tokens[rows[pp], pos[pp]] = _word(rng, kind, 0, int(pp.sum()))
            pos[pp] += 1
        pp_number = rng.integers(0, 2, int(pp.sum()))
        tokens[rows[pp], pos[pp]] = _word(rng, NOUN, pp_number, int(pp.sum()))
        tags[rows[pp], pos[pp]] = np.where(pp_number == 1, TAGS.index("N_pl"), TAGS.index("N_sg"))
        pos[pp] += 1
        deeper = depth > i
        tokens[rows[deeper], pos[deeper]] = THAT_ID
        pos[deeper] += 1
    verb_at = np.zeros((n, K + 1), np.int64)
    for i in range(K, -1, -1):  # V_k ... V_0, each sentence ending with its queried verb
        on = (depth >= i) & (level <= i)
        r = rows[on]
        kind = MVERB if i == 0 else TVERB
        tokens[r, pos[on]] = _word(rng, kind, number[on, i], len(r))
        tags[r, pos[on]] = np.where(number[on, i] == 1, TAGS.index("V_pl"), TAGS.index("V_sg"))
        verb_at[on, i] = pos[on]
        pos[on] += 1
    subject, verb = noun_at[rows, level], verb_at[rows, level]
    label = number[rows, level]
    cols = np.arange(L)[None]
    own = tags[rows, subject][:, None]
    between = (cols > subject[:, None]) & (cols < verb[:, None]) & np.isin(tags, (TAGS.index("N_sg"), TAGS.index("N_pl")))
    attractors = (between & (tags != own)).sum(1)
    width = int(pos.max())
    meta = {"subject_index": subject, "verb_index": verb, "query_index": verb - 1, "distance": verb - subject,
            "attractors": attractors, "length": verb + 1, "depth": depth, "level": level,
            "construction": np.full(n, "nested"), "frame": np.where(level == 0, "main", "rel"),
            "tags": tags[:, :width]}
    return tokens[:, :width], label.astype(np.int64), meta


def _generate(seed: int, n: int, cfg: NestedConfig, depth=None, level=None):
    validate(cfg)
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    rng = np.random.default_rng(seed)
    d = np.full(n, depth) if depth is not None else rng.integers(cfg.min_depth, cfg.max_depth + 1, n)
    lv = np.full(n, level) if level is not None else rng.integers(0, d + 1)
    return _sentences(rng, d, lv, cfg)


def generate(seed: int, n: int, cfg: NestedConfig):
    """``n`` examples, a pure function of ``(seed, n, cfg)``: tokens (n, L), labels (n,), meta (as the
    agreement task's, plus ``level``; ``depth`` is the number of embedded clauses)."""
    return _generate(seed, n, cfg)


def test_sets(cfg: NestedConfig, eval_cfg) -> list[tuple]:
    """``("nested", (depth, level, attractors), ...)``: ``eval.n_per_attractor`` sentences per (depth, level)."""
    parts = [_generate(split_seed("test", TEST_SEED_BASE + 10 * d + lv), eval_cfg.n_per_attractor, cfg, d, lv)
             for d in range(cfg.min_depth, cfg.max_depth + 1) for lv in range(d + 1)]
    return [("nested", ("depth", "level", "attractors"), *agreement.concat_parts(parts))]


def check_eval(cfg: NestedConfig, eval_cfg) -> None:
    return None


def task_baselines(cfg: NestedConfig, eval_cfg):
    """The agreement task's surface heuristics and bag-of-words model on the nested test set: the
    first noun is right at level 0 only, the nearest noun at the deepest level only."""
    import pandas as pd

    train = generate(split_seed("train", 0), 20_000, cfg)
    bow = baselines.fit_bag_of_words(*train)
    frames = []
    for name, slices, tok, lab, meta in test_sets(cfg, eval_cfg):
        df = baselines.baseline_records(tok, lab, meta, (), train, bow, slices)
        frames.append(df.assign(test_set=name)[["test_set", "heuristic", *slices, "n", "accuracy"]])
    return pd.concat(frames, ignore_index=True)


def longest(cfg: NestedConfig, eval_cfg=None) -> int:
    k = cfg.max_depth
    return (k + 1) * (5 + cfg.max_adjectives) + k + (k + 1)


def benchmark(n: int = 200_000, distance: int = 0, repeats: int = 3) -> dict:
    cfg = NestedConfig()
    rates = []
    for r in range(repeats):
        t0 = time.perf_counter()
        generate(r, n, cfg)
        rates.append(n / (time.perf_counter() - t0))
    return {"examples_per_s": float(np.median(rates)), "min_per_s": min(rates), "max_per_s": max(rates),
            "n": n, "repeats": repeats}


SPEC = TaskSpec(
    name="nested", config=NestedConfig, generate=generate, vocab=VOCAB, labels=LABELS, validate=validate,
    check_eval=check_eval, test_sets=test_sets, baselines=task_baselines,
    counterfactuals=lambda tokens, meta, cfg: agreement.counterfactuals(tokens, meta, _NO_OFFSET),
    max_length=longest,
    run_columns=lambda cfg: {"objective": cfg.objective, "train_min_depth": cfg.min_depth, "train_max_depth": cfg.max_depth},
    run_tag=lambda cfg: f"nest{cfg.min_depth}-{cfg.max_depth}" + ("-lm" if cfg.objective == "lm" else ""),
    to_records=agreement.to_records, format_record=agreement.format_example, benchmark=benchmark,
    label_tokens=agreement.label_tokens, to_pairs=agreement.to_pairs,
    targets=lambda tokens, meta, cfg: agreement.targets(tokens, meta, _NO_OFFSET),
)
