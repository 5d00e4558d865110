"""The grammar behind the agreement task: lexicon, unit templates, planning and rendering.

A sentence is planned as a row of *units* (fixed token templates such as "prep det adj noun"),
then all rows of a chunk are turned into words with table lookups, vectorised over examples.
:mod:`longdep.tasks.agreement` describes the task and its conventions; this module is the machinery.
"""
from __future__ import annotations

import numpy as np

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
_CVERBS = [(w + "s", w) for w in ("say", "think", "believe", "hope", "claim")]  # take a "that" clause
_CPAST = ["said", "thought", "believed", "hoped", "claimed", "felt"]

# Token kinds. A kind with number has a singular and a plural pool.
PAD_K, DET, ADJ, ADV, PREP, REL, COMMA, AND, NOUN, TVERB, MVERB, PVERB, CVERB, CPAST, THAT = range(15)
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
    CVERB: ([s for s, _ in _CVERBS], [p for _, p in _CVERBS]),
    CPAST: _CPAST,
    THAT: [],  # the complementizer: the word "that" of the REL pool (see below)
}
TAGS = ("-", "N_sg", "N_pl", "V_sg", "V_pl")
LABELS = ("sg", "pl")

VOCAB: list[str] = []
POOL_START = np.zeros((len(_POOLS), 2), np.int64)   # first word id of pool (kind, number)
POOL_SIZE = np.zeros(len(_POOLS), np.int64)         # words per pool (same for sg and pl)
for _kind, _pool in _POOLS.items():
    _sg, _pl = _pool if isinstance(_pool, tuple) else (_pool, None)
    POOL_START[_kind] = len(VOCAB)
    VOCAB += _sg
    if _pl is not None:
        POOL_START[_kind, 1] = len(VOCAB)
        VOCAB += _pl
    POOL_SIZE[_kind] = len(_sg)
_TAG = np.zeros((len(_POOLS), 2), np.int8)      # tag id of (kind, number)
_TAG[NOUN] = (TAGS.index("N_sg"), TAGS.index("N_pl"))
_TAG[[TVERB, MVERB, CVERB]] = (TAGS.index("V_sg"), TAGS.index("V_pl"))
WORD2ID = {w: i for i, w in enumerate(VOCAB)}
assert VOCAB[0] == PAD and len(WORD2ID) == len(VOCAB), "words must be unique across pools"
POOL_START[THAT], POOL_SIZE[THAT] = WORD2ID["that"], 1  # complementizer and relativizer share the word
THAT_ID = WORD2ID["that"]


def flip_number(token_ids: np.ndarray) -> np.ndarray:
    """The same nouns in the other number ("chef" <-> "chefs"); other tokens unchanged."""
    t = np.asarray(token_ids)
    sg, pl, size = POOL_START[NOUN, 0], POOL_START[NOUN, 1], POOL_SIZE[NOUN]
    return np.where((t >= sg) & (t < sg + size), t + (pl - sg), np.where((t >= pl) & (t < pl + size), t - (pl - sg), t))

def number_forms(token_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(singular form, plural form) of every number-marked word (nouns and agreeing verbs: "was" ->
    ("was", "were"), "chefs" -> ("chef", "chefs")); other tokens map to themselves twice."""
    t = np.asarray(token_ids)
    sg, pl = t.copy(), t.copy()
    for kind in (NOUN, TVERB, MVERB, CVERB):
        s0, p0, size = POOL_START[kind, 0], POOL_START[kind, 1], POOL_SIZE[kind]
        is_sg, is_pl = (t >= s0) & (t < s0 + size), (t >= p0) & (t < p0 + size)
        pl = np.where(is_sg, t + (p0 - s0), pl)
        sg = np.where(is_pl, t - (p0 - s0), sg)
    return sg, pl


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
              comma=[(COMMA, 0)], subject=[(DET, 0), (NOUN, SUBJ)], verb=[(MVERB, SUBJ)],
              rel=[(REL, 0)], rverb=[(TVERB, SUBJ)])
for _k in range(2):  # complement clauses "the dogs said that", "the old cook thinks that"; RC heads "the chef"
    _UNITS[f"comp{_k}"] = _np(_k) + [(CPAST, 0), (THAT, 0)]
    _UNITS[f"compa{_k}"] = _np(_k) + [(CVERB, OWN), (THAT, 0)]
    _UNITS[f"head{_k}"] = _np(_k)
_UID = {name: i for i, name in enumerate(_UNITS)}
_J = max(map(len, _UNITS.values()))
assert _UID["and3"] - _UID["paren3"] == _UID["and4"] - _UID["paren4"] == 2
assert _UID["comp1"] - _UID["comp0"] == _UID["compa1"] - _UID["compa0"] == _UID["head1"] - _UID["head0"] == 3
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
            _T_START[_at], _T_SIZE[_at], _T_TAG[_at] = POOL_START[_kind, _num], POOL_SIZE[_kind], _TAG[_kind, _num]
_ULEN = np.array([len(s) for s in _UNITS.values()])
# Rows 0 pp, 1 src, 2 orc, 3 src with an agreeing verb (src_verb="agree").
_NOUN_UNIT = np.array([[_UID[f"{c}{k}"] for k in range(MAX_ADJ + 1)] for c in ("pp", "src", "orc", "srca")])
# Label index of each unit into _LABEL_NAMES (0 pp, 1 src, 2 orc); -1 for units without a noun.
_LABEL_NAMES = np.array(["pp", "src", "orc", "filler", "none"])
_UCONS = np.full(len(_UNITS), -1)
for _c, _row in enumerate(_NOUN_UNIT):
    _UCONS[_row] = (0, 1, 2, 1)[_c]
_NOUN_LEN = {"pp": 3, "src": 4, "orc": 4}



COMP_LEN = 5  # longest complement clause unit: det adj noun verb that
HEAD_LEN = 4  # longest relative-clause frame before the subject: det adj noun who|that


def max_length(distance: int, max_preamble: int, max_depth: int = 0, rel_frame: bool = False) -> int:
    """Longest possible sentence: preamble (+ comma) + complement clauses + relative-clause head +
    determiner + subject + gap + verb."""
    return max_preamble + COMP_LEN * max_depth + HEAD_LEN * rel_frame + distance + 2


def max_nouns(gap: np.ndarray, nouns: tuple) -> np.ndarray:
    """Most noun segments that fit in ``gap`` tokens using the allowed noun constructions."""
    if not nouns:
        return np.zeros_like(gap)
    return gap // min(_NOUN_LEN[c] for c in nouns)



# ---------------------------------------------------------------- planning and rendering
def _plan(rng, gap, nouns, filler, parens, attractors, src_agree=False):
    """Choose units filling exactly ``gap[i]`` tokens for each example.

    Returns ``ids`` (n, U) unit ids in sentence order (0 = empty, at the end of each row),
    ``flip`` (n, U) whether each unit's noun has the other number than the reference (the
    subject), and ``label`` (n,) the construction index of the first noun segment.
    """
    n = len(gap)
    rows = np.arange(n)[:, None]
    m_hi = max_nouns(gap, nouns)
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


FRAMES = ("main", "rel")


def sentences(rng, n, cfg, nouns):
    """``n`` examples of ``cfg`` (an AgreementConfig) using the noun constructions ``nouns``.

    Draws per example: distance, preamble length (its comma half the time), complement-clause
    depth (0..max_depth), frame (the queried verb is the main verb, or the verb of an object
    relative clause that agrees with that clause's own subject), the subject's number; plans
    the gap; renders. Returns tokens, labels (the subject's number), meta.
    """
    dist = rng.integers(cfg.distance, (cfg.max_distance or cfg.distance) + 1, n)
    pre = rng.integers(0, cfg.max_preamble + 1, n)
    comma = (pre >= 2) & (rng.random(n) < 0.5)
    depth = rng.integers(0, cfg.max_depth + 1, n)
    frames = np.array([FRAMES.index(f) for f in cfg.frames])
    frame = frames[rng.integers(0, len(frames), n)]
    subj = rng.integers(0, 2, n)
    # Preamble: P = 1 is one adverb; otherwise P - 1 tokens of fronted PPs and adverbs (+ ",").
    p_len = np.where(pre >= 2, pre - 1, pre) + ((pre >= 2) & ~comma)
    p_ids, p_flip, _ = _plan(rng, p_len, ("pp",), True, False, None)
    g_ids, g_flip, label = _plan(rng, dist - 1, nouns, "filler" in cfg.constructions, True, cfg.attractors,
                                 cfg.src_verb == "agree")
    k = max(cfg.max_depth, 1)
    c_ids = np.where(np.arange(k)[None] < depth[:, None],
                     np.array([_UID["comp0"], _UID["compa0"]])[rng.integers(0, 2, (n, k))] + 3 * rng.integers(0, 2, (n, k)), 0)
    rel = frame == 1
    h_ids = np.where(rel, _UID["head0"] + 3 * rng.integers(0, 2, n), 0)[:, None]
    verb = np.where(rel, _UID["rverb"], _UID["verb"])[:, None]
    ids = np.concatenate([p_ids, _column(n, "comma", comma), c_ids, h_ids, _column(n, "rel", rel),
                          _column(n, "subject"), g_ids, verb], 1)
    zero = np.zeros((n, 1), np.int64)
    nums = np.concatenate([p_flip, zero, rng.integers(0, 2, (n, k)), rng.integers(0, 2, (n, 1)), zero, zero,
                           subj[:, None] ^ g_flip, zero], 1).astype(np.int64)
    tokens, tags, starts, length = _render(rng, ids, nums, subj)
    s_col, v_col = p_ids.shape[1] + 1 + k + 2, ids.shape[1] - 1
    meta = {"subject_index": starts[:, s_col] + 1, "verb_index": starts[:, v_col],
            "query_index": starts[:, v_col] - 1, "distance": dist,
            "attractors": g_flip.sum(1), "length": length, "construction": _LABEL_NAMES[label],
            "frame": np.array(FRAMES)[frame], "depth": depth, "tags": tags}
    return tokens, subj, meta
