"""Synthetic subject-verb agreement: predict the number of a verb from its subject ("the chef who ... was").

Sentences come from a small English-like grammar over a closed lexicon. Number is carried by
nouns and verbs only (determiners never mark it), so the model must find the subject and carry
its number across the intervening material to the queried verb, which ends the sentence. Where
the subject is depends on clause structure, not on a surface position:

    sentence = preamble [,]  (NP CVERB that)^k  FRAME
    FRAME    = the SUBJECT gap VERB                        frame "main": the clause's main verb
             | NP rel the SUBJECT gap TVERB                frame "rel": the verb of an object relative
                                                           clause, agreeing with that clause's own subject
    preamble = 0..max_preamble tokens: adverbs and fronted PPs ("near the kitchens"), then a comma
               half the time
    NP CVERB that = a complement clause, k = 0..max_depth ("the dogs said that", "my cook thinks
               that": a past verb without number, or a present one agreeing with its own NP)
    gap      = distance - 1 tokens of segments, in random order:
        pp     prep NP                  "near the old tables"
        src    rel V NP                 "who saw the waiters"      (V past tense, no number;
                                        src_verb="agree": "who loves the waiters", V agrees with the subject)
        orc    rel NP V                 "that the waiters like"    (V agrees with its own NP)
        filler adverbs / parentheticals "really", ", quite honestly ," (", and often ," after one)
    NP       = det adj* noun

Worked example, ``generate(6, 1, AgreementConfig(distance=8, max_distance=None, max_preamble=6))``
(label 0 = sg; frame rel, one complement clause):

    position  0     1         2 3   4    5       6     7    8    9       10   11  12     13   14 15      16   17   18  19  20
    tokens    often certainly , his busy student hopes that your kitchen that his [dish] that my doctors like near his men [sees]
    tags      -     -         - -   -    N_sg    V_sg  -    -    N_sg    -    -   N_sg   -    -  N_pl    V_pl -    -   N_pl V_sg
    subject_index=12  verb_index=20  distance=8  attractors=2  construction=orc  frame=rel  depth=1  length=21

The first noun ("student"), the first noun after the comma (the same), the first noun after the
last "that" ("doctors") and the nearest noun ("men") are all wrong here: finding "dish" needs the
clause structure. The classifier reads ``tokens[:verb_index]`` and predicts ``labels`` at
``query_index = verb_index - 1``. ``distance = verb_index - subject_index``; ``attractors`` counts
the nouns strictly between subject and verb whose number differs from the subject's (nouns before
the subject never count). Conventions:

- ``construction`` is the first noun-bearing segment of the gap; a gap with no noun segment
  (too short for one, or ``constructions=["filler"]``) is labelled ``filler``, and distance 1
  (no gap at all) is labelled ``none``. A gap too short for any allowed segment is filled with
  adverbs even when ``filler`` is not allowed.
- A gap of g tokens holds about g / 3.7 noun segments with all constructions (a pp takes 3
  tokens, src/orc 4, plus adjectives): with ``filler`` half to all of that many, the rest
  being adjectives and adverbs; without, at least g / 6, the rest being adjectives. More
  (up to g // 3, as pp) only when ``attractors`` asks for them.
- Every relative clause in the gap modifies the subject. By default (``src_verb="past"``) a src
  verb is a number-neutral past form ("who saw"), so nothing after the subject repeats its
  number and ``distance`` is the real distance to the only cue. With ``src_verb="agree"`` it is a
  present form agreeing with the subject ("who loves", as in English): a closer cue a model can
  use. An orc verb agrees with the noun right before it and is often an attractor.
- Every noun other than the subject is singular or plural at random (50/50) unless
  ``attractors`` fixes how many gap nouns differ; nouns before the subject (preamble,
  complement clauses, the relative clause's head) are always random.
- The sentence ends with the queried verb; nothing follows it.

Generation is vectorised over examples in chunks: each sentence is planned as a row of units
(fixed token templates such as "prep det adj noun"), then all rows are turned into words with
table lookups (:mod:`longdep.tasks.grammar`; ``longdep bench data``, ``longdep data show``).
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
from longdep.tasks.grammar import (FRAMES, LABELS, TAGS, VOCAB, flip_number, max_length, max_nouns, number_forms,
                                   sentences)

CONSTRUCTIONS = ("pp", "src", "orc", "filler")
SRC_VERBS = ("past", "agree")
MAX_DEPTH = 4
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
    max_depth: complement clauses before the agreeing clause ("the dogs said that the cook thinks
    that ..."), 0..max_depth of them, uniformly.
    frames: which verb is queried: ``main`` (the main verb of the clause) and/or ``rel`` (the verb
    of an object relative clause, agreeing with that clause's own subject: "the chef that the
    waiters near the door [like]"), uniformly among those given.
    start_max_distance: starting small (Elman 1993): the first ``train.start_steps`` training
    steps draw distances from ``[distance, start_max_distance]`` instead (None: no such stage).
    """

    name: str = "agreement"
    distance: int = 1
    max_distance: Optional[int] = 16
    attractors: Optional[int] = None
    constructions: List[str] = field(default_factory=lambda: list(CONSTRUCTIONS))
    max_preamble: int = 10
    src_verb: str = "past"
    max_depth: int = 2
    frames: List[str] = field(default_factory=lambda: list(FRAMES))
    start_max_distance: Optional[int] = None


def validate(cfg: AgreementConfig) -> AgreementConfig:
    """Reject settings no sentence can meet (one-line UsageError); return ``cfg``."""
    if not cfg.constructions:
        raise UsageError(f"task.constructions is empty; valid: {', '.join(CONSTRUCTIONS)}")
    for c in cfg.constructions:
        check_choice("construction", c, CONSTRUCTIONS)
    check_choice("task.src_verb", cfg.src_verb, SRC_VERBS)
    check_positive("task.distance", cfg.distance)
    if cfg.max_distance is not None and cfg.max_distance < cfg.distance:
        raise UsageError(f"task.max_distance={cfg.max_distance} is below task.distance={cfg.distance}; for a fixed "
                         f"distance set task.max_distance=null, for a range one >= {cfg.distance}")
    if cfg.start_max_distance is not None and not cfg.distance <= cfg.start_max_distance < (cfg.max_distance or 0):
        raise UsageError(f"task.start_max_distance={cfg.start_max_distance} must be in [task.distance, task.max_distance) "
                         f"= [{cfg.distance}, {cfg.max_distance}): the starting-small stage is a shorter range")
    if cfg.max_preamble < 0:
        raise UsageError(f"task.max_preamble must be >= 0, got {cfg.max_preamble}")
    if not 0 <= cfg.max_depth <= MAX_DEPTH:
        raise UsageError(f"task.max_depth must be in 0..{MAX_DEPTH}, got {cfg.max_depth}")
    if not cfg.frames:
        raise UsageError(f"task.frames is empty; valid: {', '.join(FRAMES)}")
    for f in cfg.frames:
        check_choice("frame", f, FRAMES)
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
            "frame": str(meta["frame"][i]),
            "depth": int(meta["depth"][i]),
        })
    return out


def format_example(record: dict) -> str:
    """Readable rendering: the sentence with [subject] and [verb] marked, the facts, aligned tags."""
    marked = {record["subject_index"], record["verb_index"]}
    words = [f"[{w}]" if i in marked else w for i, w in enumerate(record["tokens"])]
    widths = [max(len(w), len(t)) for w, t in zip(words, record["tags"])]
    facts = "  ".join(f"{k}={record[k]}" for k in ("label", "distance", "attractors", "construction", "frame",
                                                    "depth"))
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
    cfg = AgreementConfig(distance=distance, max_distance=None)
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
def test_distances(cfg: AgreementConfig, eval_cfg) -> list[int]:
    """Every distance from 1 to ``span`` x the longest training distance, plus ``eval_cfg.distances``."""
    top = eval_cfg.span * (cfg.max_distance or cfg.distance)
    return sorted(set(range(1, top + 1)) | set(eval_cfg.distances))


def test_sets(cfg: AgreementConfig, eval_cfg) -> list[tuple]:
    """The fixed test sets, the same seeded examples for every model and training seed with this task:
    ``("distance", slices, tokens, labels, meta)``: ``n_per_distance`` examples at every test distance;
    ``("attractors", ...)``: ``n_per_attractor`` examples at each of ``attractor_distances`` with exactly
    each of ``attractor_counts`` attractors (attractor effects read at a fixed distance)."""
    def part(seed, n, **change):
        return generate(split_seed("test", seed), n, dataclasses.replace(cfg, max_distance=None, start_max_distance=None, **change))

    by_distance = [part(TEST_SEED_BASE * 1000 + d, eval_cfg.n_per_distance, distance=d, attractors=None)
                   for d in test_distances(cfg, eval_cfg)]
    out = [("distance", ("distance", "frame"), *concat_parts(by_distance))]
    controlled = [part(8_000_000 + 100 * d + a, eval_cfg.n_per_attractor, distance=d, attractors=a)
                  for d in eval_cfg.attractor_distances for a in eval_cfg.attractor_counts]
    if controlled:
        out.append(("attractors", ("distance", "attractors"), *concat_parts(controlled)))
    return out


def concat_parts(parts):
    """One (tokens, labels, meta) from several, padding tokens and tags to the longest."""
    L = max(p[0].shape[1] for p in parts)
    tokens = np.concatenate([np.pad(p[0], ((0, 0), (0, L - p[0].shape[1]))) for p in parts])
    meta = {k: np.concatenate([p[2][k] for p in parts]) for k in parts[0][2] if k != "tags"}
    meta["tags"] = np.concatenate([np.pad(p[2]["tags"], ((0, 0), (0, L - p[2]["tags"].shape[1]))) for p in parts])
    return tokens, np.concatenate([p[1] for p in parts]), meta


def check_eval(cfg: AgreementConfig, eval_cfg) -> None:
    """Every controlled attractor set must be feasible (a one-line UsageError before anything runs)."""
    top = 10**8 - TEST_SEED_BASE * 1000 - 1  # test seeds are TEST_SEED_BASE * 1000 + distance, below 10**8
    for d in [eval_cfg.span * (cfg.max_distance or cfg.distance), *eval_cfg.distances, *eval_cfg.attractor_distances]:
        if d > top:
            raise UsageError(f"test distance {d} (eval.distances, eval.attractor_distances, or eval.span x the longest "
                             f"training distance) is beyond the {top:,} the test-set seeds can address")
    for d in eval_cfg.attractor_distances:
        for a in eval_cfg.attractor_counts:
            validate(dataclasses.replace(cfg, distance=d, max_distance=None, start_max_distance=None, attractors=a))


def task_baselines(cfg: AgreementConfig, eval_cfg):
    """The heuristics of :mod:`longdep.tasks.baselines` on every test set, the bag-of-words model and the
    majority label fitted on 20,000 examples of the training distribution; offsets at the training
    distances (the shortest and the longest)."""
    import pandas as pd

    train = generate(split_seed("train", 0), 20_000, dataclasses.replace(cfg, attractors=None))
    bow = baselines.fit_bag_of_words(*train)
    offsets = sorted({cfg.distance, cfg.max_distance or cfg.distance})
    frames = []
    for name, slices, tok, lab, meta in test_sets(cfg, eval_cfg):
        df = baselines.baseline_records(tok, lab, meta, offsets, train, bow, slices)
        frames.append(df.assign(test_set=name)[["test_set", "heuristic", *slices, "n", "accuracy"]])
    return pd.concat(frames, ignore_index=True)


def counterfactuals(tokens, meta, cfg: AgreementConfig, seed: int = 0) -> dict:
    """Minimal edits of the test sentences, one noun's number flipped and nothing else:

    ``flip_subject`` (the prediction must flip), ``flip_attractor`` (one noun between subject and
    verb, chosen at random: it must not), ``flip_offset_noun`` (the noun at verb - k for the longest
    training distance k, where that is a noun other than the subject: it must not).
    Returns ``{probe: (rows, tokens)}``: the examples it applies to and their edited tokens."""
    tags = np.asarray(meta["tags"])
    n, L = tags.shape
    rows = np.arange(n)
    cols = np.arange(L)[None]
    noun = np.isin(tags, (TAGS.index("N_sg"), TAGS.index("N_pl")))
    subject, verb = np.asarray(meta["subject_index"]), np.asarray(meta["verb_index"])
    between = noun & (cols > subject[:, None]) & (cols < verb[:, None])
    keys = np.where(between, np.random.default_rng(seed).random((n, L)), -1.0)
    offset = verb - (cfg.max_distance or cfg.distance)
    at_offset = (offset >= 0) & noun[rows, np.maximum(offset, 0)] & (offset != subject)
    where = {"flip_subject": (rows, subject), "flip_attractor": (rows[between.any(1)], keys.argmax(1)[between.any(1)]),
             "flip_offset_noun": (rows[at_offset], offset[at_offset])}
    out = {}
    for probe, (r, c) in where.items():
        edited = np.asarray(tokens)[r].copy()
        edited[np.arange(len(r)), c] = flip_number(edited[np.arange(len(r)), c])
        out[probe] = (r, edited)
    return out


def targets(tokens, meta, cfg: AgreementConfig) -> dict:
    """The positions the mechanism analyses look at, as a boolean mask (n, L) each: ``subject`` (the
    noun the queried verb agrees with), ``attractor`` (every noun between subject and verb of the
    other number) and ``offset_noun`` (the noun at verb - k for the longest training distance k, when
    it is a noun other than the subject). ``source``: the subject's position (n,), where the number
    the state must carry enters."""
    tags = np.asarray(meta["tags"])
    n, L = tags.shape
    cols = np.arange(L)[None]
    sg, pl = TAGS.index("N_sg"), TAGS.index("N_pl")
    noun = np.isin(tags, (sg, pl))
    subject, verb = np.asarray(meta["subject_index"]), np.asarray(meta["verb_index"])
    own = tags[np.arange(n), subject][:, None]
    offset = verb - (cfg.max_distance or cfg.distance)
    return {"source": subject,
            "subject": cols == subject[:, None],
            "attractor": noun & (tags != own) & (cols > subject[:, None]) & (cols < verb[:, None]),
            "offset_noun": noun & (cols == offset[:, None]) & (offset != subject)[:, None]}


def longest(cfg: AgreementConfig, eval_cfg) -> int:
    """The longest sentence a run on ``cfg`` evaluated with ``eval_cfg`` can see."""
    top = max([eval_cfg.span * (cfg.max_distance or cfg.distance), *eval_cfg.distances, *eval_cfg.attractor_distances])
    return max_length(top, cfg.max_preamble, cfg.max_depth, "rel" in cfg.frames)


def _run_columns(cfg: AgreementConfig) -> dict:
    return {"objective": cfg.objective, "train_min_distance": cfg.distance,
            "train_max_distance": cfg.max_distance or cfg.distance, "train_start_max_distance": cfg.start_max_distance or 0}


def _run_tag(cfg: AgreementConfig) -> str:
    tag = f"d{cfg.distance}" if cfg.max_distance in (None, cfg.distance) else f"d{cfg.distance}-{cfg.max_distance}"
    return tag + (f"-from{cfg.start_max_distance}" if cfg.start_max_distance else "") + (
        "-lm" if cfg.objective == "lm" else "")


def _start_small(cfg: AgreementConfig) -> AgreementConfig | None:
    return dataclasses.replace(cfg, max_distance=cfg.start_max_distance, start_max_distance=None) if cfg.start_max_distance else None


def to_pairs(tokens, labels, meta) -> list[dict]:
    """The examples as minimal pairs in BLiMP's field layout (Warstadt et al. 2020): the sentence with
    the queried verb in the agreeing form (``sentence_good``) and in the other (``sentence_bad``),
    the shared prefix and the two words, plus distance, attractors, construction, frame and depth."""
    forms = label_tokens(tokens, meta)
    out = []
    for i, rec in enumerate(to_records(tokens, labels, meta)):
        v = rec["verb_index"]
        good, bad = VOCAB[forms[i, labels[i]]], VOCAB[forms[i, 1 - labels[i]]]
        prefix = " ".join(rec["tokens"][:v])
        out.append({"sentence_good": f"{prefix} {good}", "sentence_bad": f"{prefix} {bad}",
                    "one_prefix_prefix": prefix, "one_prefix_word_good": good, "one_prefix_word_bad": bad,
                    "field": "syntax", "linguistics_term": "subject_verb_agreement", "UID": "longdep_agreement",
                    "simple_LM_method": True, "one_prefix_method": True, "two_prefix_method": False,
                    "lexically_identical": False, "pairID": str(i),
                    **{k: rec[k] for k in ("distance", "attractors", "construction", "frame", "depth")}})
    return out


def label_tokens(tokens, meta) -> np.ndarray:
    """(n, 2): the queried verb's singular and plural forms ("was", "were"), the minimal pair a language
    model is scored on at the query (``tokens[i, verb_index[i]]`` is the verb)."""
    verbs = np.asarray(tokens)[np.arange(len(tokens)), np.asarray(meta["verb_index"])]
    return np.stack(number_forms(verbs), axis=1).astype(np.int64)


SPEC = TaskSpec(
    name="agreement", config=AgreementConfig, generate=generate, vocab=VOCAB, labels=LABELS,
    validate=validate, check_eval=check_eval, test_sets=test_sets, baselines=task_baselines,
    counterfactuals=counterfactuals, max_length=longest, run_columns=_run_columns, run_tag=_run_tag,
    to_records=to_records, format_record=format_example, benchmark=benchmark, start_small=_start_small,
    label_tokens=label_tokens, to_pairs=to_pairs, targets=targets,
)
