"""Agreement task: determinism, grammar, meta fields, controls, splits, records and baselines."""
import dataclasses
import itertools
import json

import numpy as np
import pytest

from longdep.tasks import agreement as A
from longdep.tasks import grammar as G
from longdep.tasks.agreement import CONSTRUCTIONS, AgreementConfig
from longdep.tasks.baselines import FIXED, baseline_records, heuristic_predictions

N_SG, N_PL, V_SG, V_PL = (G.TAGS.index(t) for t in ("N_sg", "N_pl", "V_sg", "V_pl"))
REL = {G.WORD2ID["who"], G.WORD2ID["that"]}
PREP = {G.WORD2ID[w] for w in G._POOLS[G.PREP]}
DET = {G.WORD2ID[w] for w in G._POOLS[G.DET]}
ADJ = {G.WORD2ID[w] for w in G._POOLS[G.ADJ]}


def gen(n=2000, seed=0, **task):
    """Examples at exactly ``distance`` unless a ``max_distance`` is given."""
    task.setdefault("max_distance", None)
    return A.generate(seed, n, AgreementConfig(**task))


MIXED = dict(distance=1, max_distance=40, max_preamble=8)


def test_same_seed_same_data_and_no_global_rng():
    np.random.seed(1)
    state = np.random.get_state()[1].copy()
    a = gen(seed=5, **MIXED)
    np.random.seed(2)
    b = gen(seed=5, **MIXED)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    for key in a[2]:
        np.testing.assert_array_equal(a[2][key], b[2][key], err_msg=key)
    c = gen(seed=6, **MIXED)
    assert a[0].shape != c[0].shape or (a[0] != c[0]).any()
    np.random.seed(1)
    assert (np.random.get_state()[1] == state).all()


def test_docstring_worked_example_is_current():
    tok, lab, meta = A.generate(6, 1, AgreementConfig(distance=8, max_distance=None, max_preamble=6))
    words = "often certainly , his busy student hopes that your kitchen that his dish that my doctors like near his men sees"
    assert [G.VOCAB[t] for t in tok[0]] == words.split() and lab[0] == 0
    assert (meta["subject_index"][0], meta["verb_index"][0], meta["attractors"][0]) == (12, 20, 2)
    assert (meta["construction"][0], meta["frame"][0], meta["depth"][0]) == ("orc", "rel", 1)
    assert "his [dish] that my doctors like near his men [sees]" in A.__doc__


def test_shapes_padding_and_sentence_ends_with_verb():
    n = A.CHUNK + 7                                    # spans two internal chunks
    tok, lab, meta = gen(n=n, distance=6, max_preamble=3)
    assert tok.shape == meta["tags"].shape == (n, meta["length"].max())
    assert tok.dtype == np.int64 and lab.dtype == np.int64 and meta["tags"].dtype == np.int8
    assert all(len(v) == n for v in meta.values())
    pos = np.arange(tok.shape[1])[None]
    assert ((tok != 0) == (pos < meta["length"][:, None])).all()
    assert (meta["tags"][pos >= meta["length"][:, None]] == 0).all()
    np.testing.assert_array_equal(meta["verb_index"], meta["length"] - 1)


PAST = {G.WORD2ID[w] for w in G._PVERBS}


@pytest.mark.parametrize("src_verb", ["past", "agree"])
def test_labels_follow_the_grammar(src_verb):
    tok, lab, meta = gen(n=3000, src_verb=src_verb, **MIXED)
    # past: src verbs are number-neutral past forms, tagged "-"; agree: none appear at all
    has_past = np.isin(tok, list(PAST))
    assert has_past.any() == (src_verb == "past")
    assert (meta["tags"][has_past] == 0).all()
    tags, rows = meta["tags"], np.arange(len(lab))
    subj, verb = meta["subject_index"], meta["verb_index"]
    np.testing.assert_array_equal(tags[rows, verb], np.where(lab == 1, V_PL, V_SG))
    np.testing.assert_array_equal(tags[rows, subj], np.where(lab == 1, N_PL, N_SG))
    assert np.isin(tok[rows, subj - 1], list(DET)).all()
    word_tag = {}
    for w, t in zip(tok[tok > 0], tags[tok > 0]):     # each word always has the same tag
        assert word_tag.setdefault(w, t) == t
    checked = {"src": 0, "orc": 0}
    for i in range(len(lab)):
        for j in np.flatnonzero(np.isin(tags[i, : verb[i]], (V_SG, V_PL))):
            number = tags[i, j] - V_SG                 # 0 sg, 1 pl
            if tok[i, j - 1] in REL:                   # src: "who loves ..." agrees with the head
                assert number == tags[i, subj[i]] - N_SG
                checked["src"] += 1
            else:                                      # orc: "that the waiters like"
                assert tags[i, j - 1] in (N_SG, N_PL) and number == tags[i, j - 1] - N_SG
                checked["orc"] += 1
    assert checked["orc"] > 100 and (checked["src"] > 100) == (src_verb == "agree")


def _construction(tok, tags, s, v):
    """Recompute the label: the segment holding the first noun between subject and verb."""
    nouns = [j for j in range(s + 1, v) if tags[j] in (N_SG, N_PL)]
    if not nouns:
        return "filler" if v - s > 1 else "none"
    q = nouns[0] - 1
    while tok[q] in ADJ:
        q -= 1
    assert tok[q] in DET
    before = tok[q - 1]
    return "pp" if before in PREP else "orc" if before in REL else "src"


def test_meta_fields_recomputed_from_tags():
    tok, lab, meta = gen(n=2000, **MIXED)
    tags = meta["tags"]
    for i in range(len(lab)):
        s, v = meta["subject_index"][i], meta["verb_index"][i]
        assert meta["distance"][i] == v - s
        between = tags[i, s + 1 : v]
        other = N_PL if lab[i] == 0 else N_SG
        assert meta["attractors"][i] == (between == other).sum()
        assert meta["length"][i] == (tok[i] > 0).sum()
        assert meta["construction"][i] == _construction(tok[i], tags[i], s, v)
    assert set(meta["construction"]) == {*CONSTRUCTIONS, "none"}


EXACT = [
    (["pp"], 8, 2), (["pp"], 10, 3), (["src"], 9, 2), (["orc"], 13, 3), (["src", "orc"], 7, 1),
    (["filler"], 16, 0), (["pp", "src", "orc"], 64, 10), (list(CONSTRUCTIONS), 1, 0),
    (list(CONSTRUCTIONS), 2, 0), (list(CONSTRUCTIONS), 33, 5), (list(CONSTRUCTIONS), 128, 0),
]


@pytest.mark.parametrize("constructions,distance,attractors", EXACT,
                         ids=[f"{'+'.join(c)}-d{d}-a{a}" for c, d, a in EXACT])
def test_exact_distance_and_attractors(constructions, distance, attractors):
    tok, lab, meta = gen(n=500, distance=distance, attractors=attractors, constructions=constructions)
    assert (meta["distance"] == distance).all()
    assert (meta["verb_index"] - meta["subject_index"] == distance).all()
    assert (meta["attractors"] == attractors).all()
    nouns = [c for c in constructions if c != "filler"]
    expected = {"none"} if distance == 1 else set(nouns) if distance > 5 and nouns else {"filler"}
    assert set(meta["construction"]) == expected
    assert 0.4 < lab.mean() < 0.6


MIXES = [list(c) for r in range(1, 5) for c in itertools.combinations(CONSTRUCTIONS, r)]


@pytest.mark.parametrize("constructions", MIXES, ids=["+".join(c) for c in MIXES])
def test_every_short_distance_is_exact_for_every_mix(constructions):
    most_per_token = 3 if "pp" in constructions else 4 if set(constructions) - {"filler"} else None
    for distance in range(1, 25):
        most = (distance - 1) // most_per_token if most_per_token else 0
        for attractors in {None, 0, most}:
            tok, lab, meta = gen(n=40, seed=distance, distance=distance, attractors=attractors,
                                 constructions=constructions)
            assert (meta["verb_index"] - meta["subject_index"] == distance).all()
            if attractors is not None:
                assert (meta["attractors"] == attractors).all()
        with pytest.raises(ValueError):
            gen(n=5, distance=distance, attractors=most + 1, constructions=constructions)


def test_random_attractors_vary_and_range_distances_stay_in_range():
    tok, lab, meta = gen(n=3000, distance=4, max_distance=20)
    assert meta["distance"].min() == 4 and meta["distance"].max() == 20
    assert len(np.unique(meta["distance"])) == 17
    assert len(np.unique(meta["attractors"])) >= 4
    cfg = AgreementConfig()
    bound = G.max_length(20, cfg.max_preamble, cfg.max_depth, rel_frame=True)
    assert (meta["length"] <= bound).all() and meta["length"].max() >= bound - 6  # the bound is nearly tight


@pytest.mark.parametrize("task", [
    dict(distance=1, attractors=1),
    dict(distance=10, attractors=1, constructions=["filler"]),
    dict(distance=4, attractors=1, constructions=["src", "orc"]),
    dict(distance=7, attractors=3, constructions=["pp"]),
    dict(distance=2, max_distance=30, attractors=1),
], ids=["d1-a1", "filler-only", "src-orc-too-short", "pp-d7-a3", "range-min-too-short"])
def test_infeasible_attractors_raise(task):
    with pytest.raises(ValueError, match="attractors=.*infeasible"):
        gen(n=10, **task)


def test_bad_config_raises():
    with pytest.raises(ValueError, match="construction .relative.; valid: pp, src, orc, filler"):
        gen(n=10, constructions=["relative"])
    with pytest.raises(ValueError, match="distance"):
        gen(n=10, distance=8, max_distance=4)


def test_splits_are_disjoint_and_checked():
    top = 10**8 - 1
    assert A.split_seed("train", top) < A.split_seed("val", 0)
    assert A.split_seed("val", top) < A.split_seed("test", 0)
    assert A.split_seed("train", 3) != A.split_seed("val", 3) != A.split_seed("test", 3)
    a = gen(n=50, seed=A.split_seed("train", 0), distance=8)[0]
    b = gen(n=50, seed=A.split_seed("test", 0), distance=8)[0]
    assert a.shape != b.shape or (a != b).any()
    with pytest.raises(ValueError, match="train, val, test"):
        A.split_seed("dev", 0)
    for bad in (-1, 10**8):
        with pytest.raises(ValueError, match="seed"):
            A.split_seed("train", bad)


def test_preamble_moves_the_subject_and_holds_distractor_nouns():
    tok, lab, meta = gen(n=3000, distance=8, max_preamble=6, max_depth=0, frames=["main"])
    tags, rows = meta["tags"], np.arange(len(lab))
    assert set(np.unique(meta["subject_index"])) == set(range(1, 8))
    first = np.isin(tags, (N_SG, N_PL)).argmax(1)
    assert 0.3 < (first < meta["subject_index"]).mean() < 0.6
    other = tags[rows, first] != tags[rows, meta["subject_index"]]
    assert other.mean() > 0.15
    meta0 = gen(n=200, distance=8, max_preamble=0, max_depth=0, frames=["main"])[2]
    assert (meta0["subject_index"] == 1).all()


def test_records_have_exact_fields_and_serialise():
    tok, lab, meta = gen(n=50, **MIXED)
    records = A.to_records(tok, lab, meta)
    assert len(records) == 50
    for rec, length in zip(records, meta["length"]):
        assert set(rec) == {"tokens", "tags", "subject_index", "verb_index", "label", "distance",
                            "attractors", "construction", "frame", "depth"}
        assert len(rec["tokens"]) == len(rec["tags"]) == length
        assert rec["tags"][rec["verb_index"]] == ("V_sg" if rec["label"] == "sg" else "V_pl")
        assert json.loads(json.dumps(rec)) == rec
        text = A.format_example(rec)
        assert f"[{rec['tokens'][rec['subject_index']]}]" in text
        assert text.splitlines()[0].endswith(f"[{rec['tokens'][-1]}]")
        assert f"distance={rec['distance']}" in text and f"construction={rec['construction']}" in text


def _accuracy(data, heuristic, **kw):
    tok, lab, meta = data
    return (heuristic_predictions(tok, meta, **kw)[heuristic] == lab).mean()


SIMPLE = dict(max_depth=0, frames=["main"])  # the old surface: no complement clauses, main verb only


def test_heuristics_do_what_they_say():
    clean = gen(n=3000, distance=12, attractors=0, **SIMPLE)
    hard = gen(n=3000, distance=12, attractors=1, **SIMPLE)
    mixed = gen(n=3000, distance=12)
    assert _accuracy(clean, "nearest_noun") == 1.0
    assert _accuracy(hard, "nearest_noun") < 0.85
    assert _accuracy(mixed, "offset_12", offsets=(12,)) == 1.0  # a fixed distance gives the subject away
    assert _accuracy(gen(n=3000, distance=8, max_distance=16), "offset_12", offsets=(12,)) < 0.6
    tok, lab, meta = mixed
    ones = (tok[:10], np.array([1] * 9 + [0]), {k: v[:10] for k, v in meta.items()})
    preds = heuristic_predictions(tok, meta, train=ones)
    assert (preds["majority"] == 1).all() and set(preds) == {*FIXED, "bag_of_words"}


@pytest.mark.parametrize("mix", [dict(distance=1, max_distance=16), dict(distance=1, max_distance=64)],
                         ids=["mixed-1-16 (default)", "mixed-1-64"])
def test_no_surface_heuristic_or_bag_of_words_exceeds_075_on_the_mix(mix):
    """Finding the subject needs structure: every heuristic, the offsets at the training distances and a
    bag-of-words logistic regression trained on the training distribution stay at or below 0.75."""
    assert AgreementConfig().distance == 1 and AgreementConfig().max_distance == 16  # the default mix
    train = A.generate(A.split_seed("train", 0), 8000, AgreementConfig(**mix))
    test = A.generate(A.split_seed("test", 0), 4000, AgreementConfig(**mix))
    preds = heuristic_predictions(test[0], test[2], offsets=(1, mix["max_distance"]), train=train)
    scores = {h: float((p == test[1]).mean()) for h, p in preds.items()}
    assert len(scores) == len(FIXED) + 3 and max(scores.values()) <= 0.75, scores


def test_baseline_records_are_tidy():
    tok, lab, meta = gen(n=2000, distance=4, max_distance=12)
    df = baseline_records(tok, lab, meta, offsets=(4,))
    assert list(df.columns) == ["heuristic", "distance", "attractors", "n", "accuracy"]
    assert not df.duplicated(["heuristic", "distance", "attractors"]).any()
    assert set(df["heuristic"]) == {*FIXED, "offset_4"}
    assert (df.groupby("heuristic")["n"].sum() == len(lab)).all()
    assert df["accuracy"].between(0, 1).all()


# ---------------------------------------------------------------- constructions that need structure

def test_complement_clauses_come_before_the_subject_with_exact_depth():
    tok, lab, meta = gen(n=3000, distance=6, frames=["main"], max_depth=2)
    assert set(np.unique(meta["depth"])) == {0, 1, 2}
    verbs = np.isin(tok, [G.WORD2ID[w] for w in G._CPAST + [v for pair in G._CVERBS for v in pair]])
    before = np.arange(tok.shape[1])[None] < meta["subject_index"][:, None]
    np.testing.assert_array_equal((verbs & before).sum(1), meta["depth"])
    assert not (verbs & ~before).any()
    that = (tok == G.THAT_ID) & before
    assert (that.sum(1) == meta["depth"]).all()
    first = np.isin(meta["tags"], (N_SG, N_PL)).argmax(1)
    assert (first < meta["subject_index"])[meta["depth"] > 0].all()  # the first noun is never the subject


def test_rel_frame_queries_the_relative_clauses_own_verb():
    tok, lab, meta = gen(n=2000, distance=5, frames=["rel"], max_depth=0, max_preamble=0)
    rows, s, v = np.arange(len(lab)), meta["subject_index"], meta["verb_index"]
    assert np.isin(tok[rows, s - 2], list(REL)).all()  # "<head> that|who the SUBJECT ..."
    assert np.isin(meta["tags"][rows, s - 3], (N_SG, N_PL)).all()  # the head noun, right before the relativizer
    assert np.isin(tok[rows, v], [G.WORD2ID[w] for pair in G._TVERBS for w in pair]).all()
    np.testing.assert_array_equal(meta["tags"][rows, v], np.where(lab == 1, V_PL, V_SG))
    assert 0.4 < (meta["tags"][rows, s - 3] != meta["tags"][rows, s]).mean() < 0.6  # the head is an independent noun


def test_preambles_with_and_without_a_comma():
    tok, lab, meta = gen(n=3000, distance=4, max_preamble=8, **SIMPLE)
    long = meta["subject_index"] >= 4
    comma = (tok[np.arange(len(lab)), meta["subject_index"] - 2] == G.WORD2ID[","])
    assert 0.35 < comma[long].mean() < 0.65


@pytest.mark.parametrize("frames,depth", [(["rel"], 2), (["main", "rel"], 1)], ids=["rel-depth2", "mixed-depth1"])
@pytest.mark.parametrize("distance,attractors", [(9, 2), (33, 5), (64, 0)])
def test_distance_and_attractors_stay_exact_in_every_frame(frames, depth, distance, attractors):
    tok, lab, meta = gen(n=500, distance=distance, attractors=attractors, frames=frames, max_depth=depth)
    assert (meta["distance"] == distance).all() and (meta["verb_index"] - meta["subject_index"] == distance).all()
    tags, other = meta["tags"], np.where(lab == 0, N_PL, N_SG)
    cols = np.arange(tags.shape[1])[None]
    between = (cols > meta["subject_index"][:, None]) & (cols < meta["verb_index"][:, None])
    np.testing.assert_array_equal(((tags == other[:, None]) & between).sum(1), attractors)


def test_counterfactual_probes_flip_exactly_one_noun():
    cfg = AgreementConfig(distance=1, max_distance=16)
    tok, lab, meta = A.generate(3, 1500, dataclasses.replace(cfg, distance=17, max_distance=40))
    probes = A.counterfactuals(tok, meta, cfg)
    assert set(probes) == {"flip_subject", "flip_attractor", "flip_offset_noun"}
    for name, (rows, edited) in probes.items():
        assert len(rows) > 50, name
        diff = edited != tok[rows]
        assert (diff.sum(1) == 1).all(), name  # exactly one token changed ...
        r, c = np.nonzero(diff)
        assert np.isin(meta["tags"][rows[r], c], (N_SG, N_PL)).all()  # ... a noun ...
        np.testing.assert_array_equal(G.flip_number(edited[r, c]), tok[rows[r], c])  # ... into its other number
        if name == "flip_subject":
            np.testing.assert_array_equal(c, meta["subject_index"][rows[r]])
        elif name == "flip_attractor":
            assert ((c > meta["subject_index"][rows[r]]) & (c < meta["verb_index"][rows[r]])).all()
        else:
            np.testing.assert_array_equal(c, meta["verb_index"][rows[r]] - 16)
            assert (c != meta["subject_index"][rows[r]]).all()
