"""Synthetic subject-verb agreement: predict the number of the main verb ("the chef who ... was").

Sentences come from a small English-like grammar over a closed lexicon. Number is carried by
nouns and verbs only (determiners never mark it), so the model must find the subject and carry
its number across the intervening material to the main verb, which ends the sentence:

    sentence = preamble  the SUBJECT  gap  VERB
    preamble = 0..max_preamble tokens: adverbs and fronted PPs ("near the kitchens ,")
    gap      = distance - 1 tokens of segments, in random order:
        pp     prep NP                  "near the old tables"
        src    rel V NP                 "who saw the waiters"      (V past tense, no number;
                                        src_verb="agree": "who loves the waiters", V agrees with the subject)
        orc    rel NP V                 "that the waiters like"    (V agrees with its own NP)
        filler adverbs / parentheticals "really", ", quite honestly ," (", and often ," after one)
    NP       = det adj* noun

Worked example, ``generate(8, 1, AgreementConfig(distance=8, max_preamble=6))`` (label 0 = sg):

    position  0    1  2        3       4 5     6      7    8       9   10    11     12  13      14
    tokens    near my kitchens clearly , their [dish] that admired the cooks beside her farmers [has]
    ids       26   2  62       21      36 7    55     35   117     1   64    29     5   68      106
    tags      -    -  N_pl     -       - -     N_sg   -    -       -   N_pl  -      -   N_pl    V_sg
    subject_index=6  verb_index=14  distance=8  attractors=2  construction=src  length=15

The classifier reads ``tokens[:verb_index]`` and predicts ``labels`` at position
``verb_index - 1``. ``distance = verb_index - subject_index``; ``attractors`` counts the nouns
strictly between subject and verb whose number differs from the subject's (preamble nouns are
not attractors). Conventions:

- ``construction`` is the first noun-bearing segment of the gap; a gap with no noun segment
  (too short for one, or ``constructions=["filler"]``) is labelled ``filler``, and distance 1
  (no gap at all) is labelled ``none``. A gap too short for any allowed segment is filled with
  adverbs even when ``filler`` is not allowed.
- A gap of g tokens holds about g / 3.7 noun segments with all constructions (a pp takes 3
  tokens, src/orc 4, plus adjectives): with ``filler`` half to all of that many, the rest
  being adjectives and adverbs; without, at least g / 6, the rest being adjectives. More
  (up to g // 3, as pp) only when ``attractors`` asks for them.
- Every relative clause modifies the subject. By default (``src_verb="past"``) a src verb is a
  number-neutral past form ("who saw"), so nothing after the subject repeats its number and
  ``distance`` is the real distance to the only cue. With ``src_verb="agree"`` it is a present
  form agreeing with the subject ("who loves", as in English): a closer cue a model can use.
  An orc verb agrees with the noun right before it and is often an attractor.
- Every noun other than the subject is singular or plural at random (50/50) unless
  ``attractors`` fixes how many gap nouns differ; preamble nouns are always random, so the
  first noun is not always the subject nor of its number.
- The sentence ends with the main verb; nothing follows it.

Generation is vectorised over examples in chunks: each sentence is planned as a row of units
(fixed token templates such as "prep det adj noun"), then all rows are turned into words with
table lookups (see :func:`benchmark`; ``longdep bench data``, ``longdep data show``).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from longdep.config import TaskConfig, UsageError, check_choice, check_positive
from longdep.tasks import baselines
from longdep.tasks.base import TaskSpec, split_seed
from longdep.tasks.grammar import LABELS, TAGS, VOCAB, max_length, max_nouns, sentences

CONSTRUCTIONS = ("pp", "src", "orc", "filler")
SRC_VERBS = ("past", "agree")
CHUNK = 16_384
TEST_SEED_BASE = 7  # test sets are shared by all runs: their seed depends on the distance only


@dataclass
class AgreementConfig(TaskConfig):
    """The agreement task.

    distance: dependency distance ``verb_index - subject_index``; exact unless ``max_distance``
    is set, in which case each example draws uniformly from ``[distance, max_distance]``.
    attractors: exact number of intervening nouns of the other number (None: random).
    constructions: the mix the intervening material is drawn from.
    max_preamble: the preamble before the subject has 0..max_preamble tokens and may hold nouns.
    src_verb: "past" (number-neutral, the default: the subject is the only cue) or "agree" (the
    relative-clause verb agrees with the subject, a nearer cue, as in English).
    """

    name: str = "agreement"
    distance: int = 32
    max_distance: Optional[int] = None
    attractors: Optional[int] = None
    constructions: List[str] = field(default_factory=lambda: list(CONSTRUCTIONS))
    max_preamble: int = 10
    src_verb: str = "past"


def validate(cfg: AgreementConfig) -> AgreementConfig:
    """Reject settings no sentence can meet (one-line UsageError); return ``cfg``."""
    if not cfg.constructions:
        raise UsageError(f"task.constructions is empty; valid: {', '.join(CONSTRUCTIONS)}")
    for c in cfg.constructions:
        check_choice("construction", c, CONSTRUCTIONS)
    check_choice("task.src_verb", cfg.src_verb, SRC_VERBS)
    check_positive("task.distance", cfg.distance)
    if cfg.max_distance is not None and cfg.max_distance < cfg.distance:
        raise UsageError(f"task.max_distance={cfg.max_distance} is below task.distance={cfg.distance}")
    if cfg.max_preamble < 0:
        raise UsageError(f"task.max_preamble must be >= 0, got {cfg.max_preamble}")
    if cfg.attractors is not None:
        most = int(max_nouns(np.array([cfg.distance - 1]), _nouns(cfg))[0])
        if not 0 <= cfg.attractors <= most:
            raise UsageError(
                f"attractors={cfg.attractors} is infeasible at distance {cfg.distance} with constructions "
                f"{list(cfg.constructions)}: the {cfg.distance - 1} tokens between subject and verb hold at "
                f"most {most} nouns (a pp needs 3 tokens, src/orc 4, filler none)")
    return cfg


def _nouns(cfg: AgreementConfig) -> tuple:
    """The allowed noun-bearing constructions."""
    return tuple(c for c in ("pp", "src", "orc") if c in cfg.constructions)


def generate(seed: int, n: int, cfg: AgreementConfig) -> tuple[np.ndarray, np.ndarray, dict]:
    """Generate ``n`` agreement examples, a pure function of ``(seed, n, cfg)``.

    Returns ``tokens`` (n, L) int64 word ids right-padded with 0 (L = longest sentence),
    ``labels`` (n,) int64 (0 = sg, 1 = pl) and ``meta``: numpy arrays of length n
    (subject_index, verb_index, query_index = verb_index - 1, distance, attractors, length,
    construction (str), and tags (n, L) int8 ids into :data:`TAGS`). Raises a UsageError (a
    ValueError) for infeasible settings.
    """
    validate(cfg)
    nouns = _nouns(cfg)
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    rng = np.random.default_rng(seed)
    parts = [sentences(rng, min(CHUNK, n - i), cfg, nouns) for i in range(0, n, CHUNK)]
    if len(parts) == 1:
        return parts[0]
    L = max(p[0].shape[1] for p in parts)
    tokens, tags = np.zeros((n, L), np.int64), np.zeros((n, L), np.int8)
    for i, (tok, _, m) in zip(range(0, n, CHUNK), parts):
        tokens[i:i + len(tok), :tok.shape[1]] = tok
        tags[i:i + len(tok), :tok.shape[1]] = m["tags"]
    meta = {k: np.concatenate([p[2][k] for p in parts]) for k in parts[0][2] if k != "tags"}
    return tokens, np.concatenate([p[1] for p in parts]), {**meta, "tags": tags}


# ---------------------------------------------------------------- records, display, benchmark
def to_records(tokens, labels, meta) -> list[dict]:
    """One JSON-serialisable dict per example (tokens and tags as strings)."""
    out = []
    for i in range(len(labels)):
        length = int(meta["length"][i])
        out.append({
            "tokens": [VOCAB[t] for t in tokens[i, :length]],
            "tags": [TAGS[t] for t in meta["tags"][i, :length]],
            "subject_index": int(meta["subject_index"][i]),
            "verb_index": int(meta["verb_index"][i]),
            "label": LABELS[int(labels[i])],
            "distance": int(meta["distance"][i]),
            "attractors": int(meta["attractors"][i]),
            "construction": str(meta["construction"][i]),
        })
    return out


def format_example(record: dict) -> str:
    """Readable rendering: the sentence with [subject] and [verb] marked, the facts, aligned tags."""
    marked = {record["subject_index"], record["verb_index"]}
    words = [f"[{w}]" if i in marked else w for i, w in enumerate(record["tokens"])]
    widths = [max(len(w), len(t)) for w, t in zip(words, record["tags"])]
    facts = "  ".join(f"{k}={record[k]}" for k in ("label", "distance", "attractors", "construction"))
    return "\n".join([
        " ".join(words),
        "  " + facts,
        "  tokens " + " ".join(w.ljust(x) for w, x in zip(words, widths)).rstrip(),
        "  tags   " + " ".join(t.ljust(x) for t, x in zip(record["tags"], widths)).rstrip(),
    ])


def benchmark(n: int = 200_000, distance: int = 64, repeats: int = 3) -> dict:
    """Examples per second of :func:`generate` at ``distance`` (default task otherwise).

    Generates ``n`` examples in chunks of 50k, ``repeats`` times after a warm-up, and reports
    the median rate with its min and max.
    """
    cfg = AgreementConfig(distance=distance)
    generate(0, 1000, cfg)
    rates = []
    for r in range(repeats):
        t0 = time.perf_counter()
        for i, start in enumerate(range(0, n, 50_000)):
            generate(r * 1000 + i, min(50_000, n - start), cfg)
        rates.append(n / (time.perf_counter() - t0))
    return {"examples_per_s": float(np.median(rates)), "min_per_s": min(rates), "max_per_s": max(rates),
            "n": n, "distance": distance, "repeats": repeats}



# ---------------------------------------------------------------- what evaluation needs
def test_sets(cfg: AgreementConfig, eval_cfg) -> list[tuple]:
    """The fixed test set: ``eval_cfg.n_per_distance`` examples at each of ``eval_cfg.distances``,
    the same seeded examples for every model and training seed."""
    parts = []
    for d in eval_cfg.distances:
        task = dataclasses.replace(cfg, distance=d, max_distance=None)
        parts.append(generate(split_seed("test", TEST_SEED_BASE * 1000 + d), eval_cfg.n_per_distance, task))
    return parts


def longest(cfg: AgreementConfig, eval_cfg) -> int:
    """The longest sentence a run on ``cfg`` evaluated at ``eval_cfg.distances`` can see."""
    return max_length(max([cfg.max_distance or cfg.distance, *eval_cfg.distances]), cfg.max_preamble)


SPEC = TaskSpec(
    name="agreement", config=AgreementConfig, generate=generate, vocab=VOCAB, labels=LABELS,
    slices=("distance", "attractors"), validate=validate, test_sets=test_sets,
    baselines=baselines.baseline_records, max_length=longest,
    run_columns=lambda cfg: {"train_distance": cfg.distance},
    run_tag=lambda cfg: f"d{cfg.distance}", to_records=to_records, format_record=format_example,
    benchmark=benchmark,
)
