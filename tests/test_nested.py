"""The nested-dependency task: centre-embedded object relatives, every verb a query."""
import numpy as np
import pandas as pd
import pytest

from longdep.config import EvalConfig
from longdep.tasks.grammar import TAGS, THAT_ID, VOCAB
from longdep.tasks import nested
from longdep.tasks.nested import NestedConfig, generate
from longdep.records import read_csv as read_table

N_TAGS = (TAGS.index("N_sg"), TAGS.index("N_pl"))
V_TAGS = (TAGS.index("V_sg"), TAGS.index("V_pl"))


@pytest.mark.parametrize("pp_rate", [0.0, 0.5])
def test_every_example_is_exact(pp_rate):
    cfg = NestedConfig(min_depth=1, max_depth=3, max_adjectives=2, pp_rate=pp_rate)
    tok, lab, meta = generate(3, 2000, cfg)
    tags = meta["tags"]
    for i in range(len(lab)):
        s, v, k, lv = (int(meta[c][i]) for c in ("subject_index", "verb_index", "depth", "level"))
        row, t = tok[i, :meta["length"][i]], tags[i]
        assert (tok[i, meta["length"][i]:] == 0).all() and v == len(row) - 1 == meta["query_index"][i] + 1
        assert t[s] == N_TAGS[lab[i]] and t[v] == V_TAGS[lab[i]], "subject and queried verb share the label's number"
        assert meta["distance"][i] == v - s
        between = [x for x in t[s + 1:v] if x in N_TAGS]
        assert meta["attractors"][i] == sum(x != t[s] for x in between)
        assert (row == THAT_ID).sum() == k, "one relativizer per embedded clause"
        verbs = np.flatnonzero(np.isin(t, V_TAGS))
        assert len(verbs) == k - lv + 1 and verbs[-1] == v, "the verbs V_k .. V_level, innermost first"
        if lv == 0:
            assert VOCAB[row[v]] in ("was", "were", "is", "are", "has", "have", "seems", "seem")
    if pp_rate == 0.0:  # without PPs, the subject of level L is the (L+1)-th noun
        for i in range(200):
            nouns = np.flatnonzero(np.isin(tags[i], N_TAGS))
            assert nouns[meta["level"][i]] == meta["subject_index"][i]
            assert meta["attractors"][i] <= meta["depth"][i] - meta["level"][i]


def test_the_test_set_has_every_depth_and_level_cell_and_is_fixed():
    cfg, ev = NestedConfig(), EvalConfig(n_per_attractor=20)
    (name, slices, tok, lab, meta), = nested.test_sets(cfg, ev)
    assert name == "nested" and slices == ("depth", "level", "attractors")
    cells = pd.DataFrame({"depth": meta["depth"], "level": meta["level"]}).value_counts()
    assert set(cells.index) == {(d, lv) for d in (1, 2, 3) for lv in range(d + 1)} and (cells == 20).all()
    again = nested.test_sets(cfg, ev)[0]
    assert (again[2] == tok).all() and (again[3] == lab).all()
    assert 0.4 < lab.mean() < 0.6


def test_bad_nested_settings_are_one_line():
    from longdep.config import UsageError
    from longdep.training.config import load_config

    with pytest.raises(UsageError, match="need 1 <= min_depth <= max_depth <= 4"):
        load_config("nested", ["task.max_depth=9"])
    with pytest.raises(UsageError, match="task.pp_rate must be in"):
        load_config("nested", ["task.pp_rate=2"])


def test_a_nested_run_writes_accuracy_per_level_and_its_figure(tmp_path):
    from longdep.analysis import figures
    from longdep.training.config import load_config
    from longdep.training.run import train_one

    cfg = load_config("nested", ["model.name=lstm", "model.d_model=16", "train.max_steps=4", "train.val_every=2",
                                 "train.val_size=32", "train.progress=false", "eval.n_per_attractor=8",
                                 "task.max_depth=2", "wandb.enabled=false", f"results_dir={tmp_path}"])
    rec = train_one(cfg)
    assert "-nest1-2-" in rec["run_id"]
    acc = read_table(tmp_path / "nested" / "accuracy.csv")
    assert set(acc["test_set"]) == {"nested"} and {"depth", "level", "train_min_depth", "train_max_depth"} <= set(acc)
    assert acc.groupby(["depth", "level"])["n"].sum().to_dict() == {(1, 0): 8, (1, 1): 8, (2, 0): 8, (2, 1): 8, (2, 2): 8}
    base = read_table(tmp_path / "nested" / "baselines.csv")
    first = base[(base["heuristic"] == "first_noun") & (base["level"] == 0)]
    assert (first["accuracy"] == 1.0).all(), "the outermost subject is the first noun"
    paths = figures.make_all(tmp_path / "nested")
    assert any(p.name == "nested.png" for p in paths)
