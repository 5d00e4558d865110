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

Worked example, ``generate(8, 1, TaskConfig(distance=8, max_preamble=6))`` (label 0 = sg):

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

import time

import numpy as np

from longdep.config import CONSTRUCTIONS, TaskConfig, UsageError

# ---------------------------------------------------------------- lexicon and vocabulary
PAD = "<pad>"
_NOUNS = [(w, w + "s") for w in (
    "chef", "waiter", "table", "kitchen", "guest", "cook", "manager", "plate", "owner",
    "farmer", "baker", "doctor", "teacher", "student", "author", "painter", "neighbor")]
_NOUNS += [("dish", "dishes"), ("man", "men"), ("woman", "women"), ("child", "children")]
_TVERBS = [(w + "s", w) for w in (
    "like", "love", "see", "know", "help", "admire", "pay", "call", "trust", "hate", "meet", "follow")]
_MVERBS = [("was", "were"), ("is", "are"), ("has", "have"), ("seems", "seem")]
_PVERBS = ["liked", "loved", "saw", "knew", "helped", "admired", "paid", "called", "trusted", "hated", "met",
           "followed"]

# Token kinds. A kind with number has a singular and a plural pool.
PAD_K, DET, ADJ, ADV, PREP, REL, COMMA, AND, NOUN, TVERB, MVERB, PVERB = range(12)
_POOLS = {
    PAD_K: [PAD],
    DET: ["the", "my", "our", "his", "her", "your", "their"],
    ADJ: ["old", "young", "new", "tall", "quiet", "busy", "famous", "small", "happy", "tired"],
    ADV: ["really", "quite", "honestly", "clearly", "often", "surely", "certainly", "probably"],
    PREP: ["near", "behind", "with", "beside", "without", "above", "below", "opposite"],
    REL: ["who", "that"],
    COMMA: [","],
    AND: ["and"],
    NOUN: ([s for s, _ in _NOUNS], [p for _, p in _NOUNS]),
    TVERB: ([s for s, _ in _TVERBS], [p for _, p in _TVERBS]),
    MVERB: ([s for s, _ in _MVERBS], [p for _, p in _MVERBS]),
    PVERB: _PVERBS,
}
TAGS = ("-", "N_sg", "N_pl", "V_sg", "V_pl")
LABELS = ("sg", "pl")

VOCAB: list[str] = []
_START = np.zeros((len(_POOLS), 2), np.int64)   # first word id of pool (kind, number)
_SIZE = np.zeros(len(_POOLS), np.int64)         # words per pool (same for sg and pl)
for _kind, _pool in _POOLS.items():
    _sg, _pl = _pool if isinstance(_pool, tuple) else (_pool, None)
    _START[_kind] = len(VOCAB)
    VOCAB += _sg
    if _pl is not None:
        _START[_kind, 1] = len(VOCAB)
        VOCAB += _pl
    _SIZE[_kind] = len(_sg)
_TAG = np.zeros((len(_POOLS), 2), np.int8)      # tag id of (kind, number)
_TAG[NOUN] = (TAGS.index("N_sg"), TAGS.index("N_pl"))
_TAG[[TVERB, MVERB]] = (TAGS.index("V_sg"), TAGS.index("V_pl"))
WORD2ID = {w: i for i, w in enumerate(VOCAB)}
assert VOCAB[0] == PAD and len(WORD2ID) == len(VOCAB), "words must be unique across pools"

# ---------------------------------------------------------------- units (fixed token templates)
# A unit is a short template of (kind, number source) slots. Number sources: 0 none, 1 the unit's
# own noun, 2 the subject. A sentence is a row of units; unit 0 is empty (padding in the plan).
OWN, SUBJ = 1, 2
MAX_ADJ = 3


def _np(k):
    return [(DET, 0)] + [(ADJ, 0)] * k + [(NOUN, OWN)]


_UNITS = {"empty": []}
for _k in range(MAX_ADJ + 1):
    _UNITS[f"pp{_k}"] = [(PREP, 0)] + _np(_k)
    _UNITS[f"src{_k}"] = [(REL, 0), (PVERB, 0)] + _np(_k)
    _UNITS[f"orc{_k}"] = [(REL, 0)] + _np(_k) + [(TVERB, OWN)]
    _UNITS[f"srca{_k}"] = [(REL, 0), (TVERB, SUBJ)] + _np(_k)
_UNITS.update(adv=[(ADV, 0)],
              paren3=[(COMMA, 0), (ADV, 0), (COMMA, 0)], paren4=[(COMMA, 0), (ADV, 0), (ADV, 0), (COMMA, 0)],
              and3=[(AND, 0), (ADV, 0), (COMMA, 0)], and4=[(AND, 0), (ADV, 0), (ADV, 0), (COMMA, 0)],
              comma=[(COMMA, 0)], subject=[(DET, 0), (NOUN, SUBJ)], verb=[(MVERB, SUBJ)])
_UID = {name: i for i, name in enumerate(_UNITS)}
_J = max(map(len, _UNITS.values()))
assert _UID["and3"] - _UID["paren3"] == _UID["and4"] - _UID["paren4"] == 2
# Per-token lookup tables indexed by ((unit * 2 + own number) * 2 + subject number) * _J + slot:
# first word id and size of the pool to draw from, and the tag. Zeros (the pad word) elsewhere.
_T_START = np.zeros((len(_UNITS), 2, 2, _J), np.uint32)
_T_SIZE = np.zeros_like(_T_START)
_T_TAG = np.zeros(_T_START.shape, np.int8)
for _name, _slots in _UNITS.items():
    for _j, (_kind, _src) in enumerate(_slots):
        for _own, _sub in np.ndindex(2, 2):
            _num = (0, _own, _sub)[_src]
            _at = _UID[_name], _own, _sub, _j
            _T_START[_at], _T_SIZE[_at], _T_TAG[_at] = _START[_kind, _num], _SIZE[_kind], _TAG[_kind, _num]
_ULEN = np.array([len(s) for s in _UNITS.values()])
# Rows 0 pp, 1 src, 2 orc, 3 src with an agreeing verb (src_verb="agree").
_NOUN_UNIT = np.array([[_UID[f"{c}{k}"] for k in range(MAX_ADJ + 1)] for c in ("pp", "src", "orc", "srca")])
# Label index of each unit into _LABEL_NAMES (0 pp, 1 src, 2 orc); -1 for units without a noun.
_LABEL_NAMES = np.array(["pp", "src", "orc", "filler", "none"])
_UCONS = np.full(len(_UNITS), -1)
for _c, _row in enumerate(_NOUN_UNIT):
    _UCONS[_row] = (0, 1, 2, 1)[_c]
_NOUN_LEN = {"pp": 3, "src": 4, "orc": 4}

# ---------------------------------------------------------------- splits and sizes
SPLITS = {"train": 0, "val": 10**8, "test": 2 * 10**8}
CHUNK = 16_384


def split_seed(split: str, seed: int) -> int:
    """Seed for ``split`` ("train", "val", "test"); user seeds in [0, 10**8) never collide."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if not 0 <= seed < 10**8:
        raise ValueError(f"seed must be in [0, {10**8}), got {seed}")
    return SPLITS[split] + int(seed)


def max_length(distance: int, max_preamble: int) -> int:
    """Longest possible sentence: preamble + determiner + subject + gap + verb."""
    return max_preamble + distance + 2


def _max_nouns(gap: np.ndarray, nouns: tuple) -> np.ndarray:
    """Most noun segments that fit in ``gap`` tokens using the allowed noun constructions."""
    if not nouns:
        return np.zeros_like(gap)
    return gap // min(_NOUN_LEN[c] for c in nouns)


def _check(cfg: TaskConfig) -> tuple:
    """Reject settings no sentence can meet; return the allowed noun-bearing constructions."""
    bad = [c for c in cfg.constructions if c not in CONSTRUCTIONS]
    if bad or not cfg.constructions:
        raise UsageError(f"constructions {list(cfg.constructions)} must be a non-empty subset of "
                         f"{list(CONSTRUCTIONS)}")
    if cfg.distance < 1 or (cfg.max_distance is not None and cfg.max_distance < cfg.distance):
        raise UsageError(f"need 1 <= distance <= max_distance, got {cfg.distance}, {cfg.max_distance}")
    if cfg.max_preamble < 0:
        raise UsageError(f"max_preamble must be >= 0, got {cfg.max_preamble}")
    nouns = tuple(c for c in ("pp", "src", "orc") if c in cfg.constructions)
    if cfg.attractors is not None:
        most = int(_max_nouns(np.array([cfg.distance - 1]), nouns)[0])
        if not 0 <= cfg.attractors <= most:
            raise UsageError(
                f"attractors={cfg.attractors} is infeasible at distance {cfg.distance} with constructions "
                f"{list(cfg.constructions)}: the {cfg.distance - 1} tokens between subject and verb hold at "
                f"most {most} nouns (a pp needs 3 tokens, src/orc 4, filler none)")
    return nouns


# ---------------------------------------------------------------- planning and rendering
def _plan(rng, gap, nouns, filler, parens, attractors, src_agree=False):
    """Choose units filling exactly ``gap[i]`` tokens for each example.

    Returns ``ids`` (n, U) unit ids in sentence order (0 = empty, at the end of each row),
    ``flip`` (n, U) whether each unit's noun has the other number than the reference (the
    subject), and ``label`` (n,) the construction index of the first noun segment.
    """
    n = len(gap)
    rows = np.arange(n)[:, None]
    m_hi = _max_nouns(gap, nouns)
    # m_nat: how many segments of the average allowed length fit. With adverbs use half to all
    # of m_nat; without, at least gap / 6 so the rest fits in MAX_ADJ adjectives per noun phrase.
    total = sum(_NOUN_LEN[c] for c in nouns) or 1
    m_nat = np.minimum((gap * len(nouns) + total // 2) // total, m_hi)
    free = filler | (m_hi == 0)                        # rows that may use adverbs
    lo = np.maximum(attractors or 0, np.where(free, (m_nat + 1) // 2, np.minimum(-(-gap // 6), m_hi)))
    m = rng.integers(lo, np.maximum(m_nat, lo) + 1)    # number of noun segments
    slot = np.arange(max(int(m_hi.max(initial=0)), 1))
    valid = slot < m[:, None]                          # (n, M)
    codes = np.array([("pp", "src", "orc").index(c) for c in nouns] or [0])
    cons = codes[rng.integers(0, len(codes), valid.shape)]
    if "pp" in nouns:                                  # too many 4-token segments: turn extras into pp
        long = valid & (cons != 0)
        cons[long & (np.cumsum(long, 1) > (gap - 3 * m)[:, None])] = 0
    base = np.where(cons == 0, 3, 4) * valid
    rest = gap - base.sum(1)                           # tokens left for adjectives and adverbs
    adj = np.where(free, rng.integers(0, np.minimum(rest, 2 * m) + 1), rest)
    per = np.maximum(m, 1)
    k = (adj // per)[:, None] + (slot < (adj % per)[:, None])
    assert k[valid].max(initial=0) <= MAX_ADJ
    rows_ = np.where((cons == 1) & src_agree, 3, cons)
    noun_ids = np.where(valid, _NOUN_UNIT[rows_, k], 0)
    if attractors is None:
        flip = valid & (rng.random(valid.shape) < 0.5)
    else:                                              # exactly `attractors` of the m nouns, at random
        keys = np.where(valid, rng.random(valid.shape), 2.0)
        flip = valid & (np.argsort(np.argsort(keys, 1), 1) < attractors)
    # Adverbs: mostly 3-4 token parentheticals ", quite honestly ," and a few single adverbs.
    f = rest - adj
    q = np.maximum(f // 3 - rng.integers(0, 2, n), 0) if parens else np.zeros_like(f)
    u = rng.integers(0, np.minimum(f - 3 * q, q) + 1)  # parentheticals with two adverbs
    s = f - 3 * q - u                                  # single adverbs
    fslot = np.arange(max(int((q + s).max(initial=0)), 1))[None]
    fill_ids = np.select([fslot < u[:, None], fslot < q[:, None], fslot < (q + s)[:, None]],
                         [_UID["paren4"], _UID["paren3"], _UID["adv"]], 0)
    ids = np.concatenate([noun_ids, fill_ids], 1)
    flip = np.concatenate([flip, np.zeros(fill_ids.shape, bool)], 1)
    order = np.argsort(np.where(ids > 0, rng.random(ids.shape), 2.0), 1)   # shuffle, empties last
    ids, flip = ids[rows, order], flip[rows, order]
    width = max(int((ids > 0).sum(1).max(initial=0)), 1)
    ids, flip = ids[:, :width], flip[:, :width]
    paren = (ids == _UID["paren3"]) | (ids == _UID["paren4"])
    ids[:, 1:] += 2 * (paren[:, 1:] & paren[:, :-1])   # ", often , , really ," -> ", often , and really ,"
    is_noun = _UCONS[ids] >= 0
    first = _UCONS[ids[rows[:, 0], is_noun.argmax(1)]]
    label = np.where(is_noun.any(1), first, np.where(gap > 0, 3, 4))
    return ids, flip, label


def _render(rng, ids, nums, subj):
    """Turn rows of units into words and tags.

    ``ids`` (n, U) unit ids, ``nums`` (n, U) each unit's noun number, ``subj`` (n,) the subject's
    number. Returns tokens (n, L) int64, tags (n, L) int8, unit start offsets (n, U), lengths (n,).
    """
    n, U = ids.shape
    lens = _ULEN[ids]
    starts = np.cumsum(lens, 1) - lens
    length = starts[:, -1] + lens[:, -1]
    L = int(length.max(initial=0))
    # Table index of a token = its unit's code + its position. An extra slot per row sends the
    # padding after the sentence into a zero tail appended to the tables.
    code = ((ids * 2 + nums) * 2 + subj[:, None]) * _J - starts
    code = np.concatenate([code, (_T_START.size - length)[:, None]], 1).astype(np.int32)
    owner = np.full((n, L + 1), -1, np.int32)        # unit slot starting at each position
    r, c = np.nonzero(lens)
    owner[r, starts[r, c]] = c
    owner[np.arange(n), length] = U
    owner = np.maximum.accumulate(owner[:, :L], 1)    # (n, L) unit slot of every token
    flat = np.take_along_axis(code, owner, 1) + np.arange(L, dtype=np.int32)
    tail = np.zeros(L, np.uint32)
    first = np.concatenate([_T_START.ravel(), tail])[flat]
    size = np.concatenate([_T_SIZE.ravel(), tail])[flat]
    draw = rng.integers(0, 1 << 16, (n, L), dtype=np.uint32)
    word = (draw * size) >> 16                         # index into the pool
    for _ in range(3):                                 # "tall tall" -> "tall young"
        again = (word[:, 1:] == word[:, :-1]) & (first[:, 1:] == first[:, :-1]) & (size[:, 1:] > 1)
        if not again.any():
            break
        word[:, 1:] = np.where(again, (word[:, 1:] + 1) % np.maximum(size[:, 1:], 1), word[:, 1:])
    tokens = (first + word).astype(np.int64)
    tags = np.concatenate([_T_TAG.ravel(), tail.astype(np.int8)])[flat]
    return tokens, tags, starts, length


def _column(n, unit, present=True):
    """(n, 1) unit ids: ``unit`` where ``present``, else the empty unit."""
    return np.broadcast_to(np.where(present, _UID[unit], 0), (n,))[:, None]


def _chunk(rng, n, cfg, nouns):
    """One chunk of examples: draw distances, preambles and subjects, plan, render."""
    dist = rng.integers(cfg.distance, (cfg.max_distance or cfg.distance) + 1, n)
    pre = rng.integers(0, cfg.max_preamble + 1, n)
    subj = rng.integers(0, 2, n)
    # Preamble: P = 1 is one adverb; otherwise P - 1 tokens of fronted PPs and adverbs, then ",".
    p_ids, p_flip, _ = _plan(rng, np.where(pre >= 2, pre - 1, pre), ("pp",), True, False, None)
    g_ids, g_flip, label = _plan(rng, dist - 1, nouns, "filler" in cfg.constructions, True, cfg.attractors,
                                 cfg.src_verb == "agree")
    ids = np.concatenate([p_ids, _column(n, "comma", pre >= 2), _column(n, "subject"), g_ids,
                          _column(n, "verb")], 1)
    zero = np.zeros((n, 1), np.int64)                  # number of the comma, subject and verb units
    nums = np.concatenate([p_flip, zero, zero, subj[:, None] ^ g_flip, zero], 1).astype(np.int64)
    tokens, tags, starts, length = _render(rng, ids, nums, subj)
    s_col, v_col = p_ids.shape[1] + 1, ids.shape[1] - 1
    meta = {"subject_index": starts[:, s_col] + 1, "verb_index": starts[:, v_col], "distance": dist,
            "attractors": g_flip.sum(1), "length": length, "construction": _LABEL_NAMES[label],
            "tags": tags}
    return tokens, subj, meta


def generate(seed: int, n: int, cfg: TaskConfig) -> tuple[np.ndarray, np.ndarray, dict]:
    """Generate ``n`` agreement examples, a pure function of ``(seed, n, cfg)``.

    Returns ``tokens`` (n, L) int64 word ids right-padded with 0 (L = longest sentence),
    ``labels`` (n,) int64 (0 = sg, 1 = pl) and ``meta``: numpy arrays of length n
    (subject_index, verb_index, distance, attractors, length, construction (str), and
    tags (n, L) int8 ids into :data:`TAGS`). Raises ValueError for infeasible settings.
    """
    nouns = _check(cfg)
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    rng = np.random.default_rng(seed)
    parts = [_chunk(rng, min(CHUNK, n - i), cfg, nouns) for i in range(0, n, CHUNK)]
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
    cfg = TaskConfig(distance=distance)
    generate(0, 1000, cfg)
    rates = []
    for r in range(repeats):
        t0 = time.perf_counter()
        for i, start in enumerate(range(0, n, 50_000)):
            generate(r * 1000 + i, min(50_000, n - start), cfg)
        rates.append(n / (time.perf_counter() - t0))
    return {"examples_per_s": float(np.median(rates)), "min_per_s": min(rates), "max_per_s": max(rates),
            "n": n, "distance": distance, "repeats": repeats}
