"""Self-pretraining (``train.init_from``) and the grid's control blocks (a folder of their own, a
pretraining stage, block values that win over the recipe, shared cells run once)."""
import io
import json
from pathlib import Path

import pytest
import torch

from longdep.config import UsageError
from longdep.training.config import load_config

from conftest import TINY

SOURCE = ["model.name=lstm", "task.objective=lm", "train.save_weights=true", *TINY]


def _train(tmp_path, name, *overrides):
    from longdep.training.run import train_one

    return train_one(load_config("train", [*TINY, f"results_dir={tmp_path}", f"name={name}", *overrides]))


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A tiny LSTM language model that kept its weights: (record path, record)."""
    tmp = tmp_path_factory.mktemp("source")
    rec = _train(tmp, "lm", *SOURCE)
    return tmp / "lm" / "runs" / f"{rec['run_id']}.json", rec


def test_a_classifier_starts_from_its_language_model_with_every_tensor_but_the_head(source, tmp_path, monkeypatch):
    from longdep.training import run

    path, rec = source
    lm = torch.load(path.with_suffix(".pt"), weights_only=True)
    seen = {}
    real = run.load_source

    def spy(model, src):  # the weights the classifier holds right after it was initialised from the source
        real(model, src)
        seen.update({k: v.clone() for k, v in model.state_dict().items()})

    monkeypatch.setattr(run, "load_source", spy)
    out = _train(tmp_path, "clf", "model.name=lstm", f"train.init_from={path}")
    body = [k for k in seen if not k.startswith("head.")]
    assert body and all(torch.equal(seen[k], lm[k]) for k in body)  # the LM's embedding and recurrence
    assert seen["head.weight"].shape[0] == 2 != lm["head.weight"].shape[0]  # the classifier's own head
    assert out["init_from"] == {"run_id": rec["run_id"], "steps": rec["steps"], "examples": rec["steps"] * 32,
                                "objective": "lm"}


def test_the_run_id_hashes_the_source_run_not_where_its_folder_lives(source, tmp_path):
    from longdep.training.run import run_id

    path, rec = source
    moved = tmp_path / "elsewhere" / "runs" / path.name
    a = load_config("train", [*TINY, "model.name=lstm", f"train.init_from={path}"])
    b = load_config("train", [*TINY, "model.name=lstm", f"train.init_from={moved}"])
    c = load_config("train", [*TINY, "model.name=lstm"])
    assert run_id(a) == run_id(b) != run_id(c)
    assert run_id(c) == run_id(load_config("train", [*TINY, "model.name=lstm", "train.init_from=null"]))


@pytest.mark.parametrize("bad, message", [
    ("x", "is not a run record; valid: results/<name>/runs/<run_id>.json"),
    ("{tmp}/none.json", "not a run record"),
    ("{tmp}/broken.json", "not a run record"),
    ("{tmp}/nopt/runs/r.json", "kept no weights"),
])
def test_a_bad_source_is_one_line_before_anything_is_written(tmp_path, bad, message):
    from longdep.training.run import train_one

    (tmp_path / "broken.json").write_text("{\"run_id\": ")
    (tmp_path / "nopt" / "runs").mkdir(parents=True)
    (tmp_path / "nopt" / "runs" / "r.json").write_text(json.dumps(
        {"run_id": "r", "steps": 4, "config": {"train": {"batch_size": 32}, "task": {}}}))
    with pytest.raises(UsageError, match=message):
        train_one(load_config("train", [*TINY, f"results_dir={tmp_path}", "name=out",
                                        f"train.init_from={bad.format(tmp=tmp_path)}"]))
    assert not (tmp_path / "out" / "runs").exists() or not list((tmp_path / "out" / "runs").iterdir())


def test_weights_of_another_architecture_are_refused(source, tmp_path):
    path, _ = source
    with pytest.raises(UsageError, match="weights do not fit this model: .*valid: a run of the same model and width"):
        _train(tmp_path, "clf", "model.name=transformer", f"train.init_from={path}")
    with pytest.raises(UsageError, match="weights do not fit"):
        _train(tmp_path, "clf", "model.name=lstm", "model.d_model=32", f"train.init_from={path}")


def test_a_stacked_seed_group_cannot_start_from_a_source(source):
    with pytest.raises(UsageError, match="cannot start a stacked seed group"):
        load_config("train", [*TINY, f"train.init_from={source[0]}", "train.seeds_together=true"])


CONTROLS = """
config: train
base: {task.distance: 1, task.max_distance: 3, train.max_steps: 4, train.val_every: 2, train.val_size: 32,
       train.progress: false, model.d_model: 16, model.d_ff: 32, model.heads: 2, eval.span: 1,
       eval.n_per_distance: 4, eval.attractor_distances: [], eval.probes: false, wandb.enabled: false,
       train.patience: 0}
axes: {model.name: [lstm, transformer], train.seed: [0, 1]}
also:
  - folder: pretrained
    pretrain: {task.objective: lm}
    axes: {model.name: [lstm], train.seed: [0, 1]}
  - folder: recipe
    base: {train.lr: 0.002}
    axes: {model.name: [lstm], train.seed: [0]}
  - folder: recipe
    base: {train.lr: 0.001}
    axes: {model.name: [lstm], train.seed: [0]}
  - folder: positions
    axes: {model.name: [transformer], model.positions: [rope, sinusoidal], train.seed: [0, 1]}
"""


@pytest.fixture(scope="module")
def controls(tmp_path_factory):
    """The CONTROLS grid run once: (its results folder, the GridResult)."""
    from longdep.grid import run_grid

    tmp = tmp_path_factory.mktemp("controls")
    (tmp / "controls.yaml").write_text(CONTROLS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LONGDEP_EXPERIMENTS", str(tmp))
        res = run_grid("controls", tmp / "out", stream=io.StringIO(), scale=False)
    return tmp / "out", res


def test_a_grid_pretrains_each_cell_first_and_writes_each_control_to_its_folder(controls):
    from longdep.records import read_csv

    out, res = controls
    assert res.failed == 0
    # train.lr: 0.001 and sinusoidal positions are the main cells' own: run once, in the main folder
    # the cells that start from a pretraining run go first (while its weights are on disk), then the grid's order
    assert [c.name for c in res.cells] == ["pretrained", "pretrained"] + ["out"] * 4 + ["recipe", "positions", "positions"]
    assert len(list((out / "runs").glob("*.json"))) == 4
    assert len(list((out / "recipe" / "runs").glob("*.json"))) == 1
    pre = sorted((out / "pretrain" / "runs").glob("*.json"))
    assert len(pre) == 2 and all(p.with_suffix(".pt").exists() for p in pre)
    assert {json.loads(p.read_text())["config"]["task"]["objective"] for p in pre} == {"lm"}
    started = [json.loads(p.read_text()) for p in (out / "pretrained" / "runs").glob("*.json")]
    assert sorted(r["init_from"]["run_id"] for r in started) == sorted(p.stem for p in pre)
    assert set(read_csv(out / "accuracy.csv")["run_id"]) == {p.stem for p in (out / "runs").glob("*.json")}
    assert set(read_csv(out / "pretrained" / "accuracy.csv")["run_id"]) == {r["run_id"] for r in started}


def test_a_resumed_grid_trains_again_only_pretraining_runs_whose_weights_a_missing_cell_needs(controls, tmp_path,
                                                                                                   monkeypatch):
    import shutil

    from longdep.grid import run_grid

    out = tmp_path / "out"
    shutil.copytree(controls[0], out)
    monkeypatch.setenv("LONGDEP_EXPERIMENTS", str(controls[0].parent))
    assert run_grid("controls", out, stream=io.StringIO(), scale=False).ran == 0
    for p in (out / "pretrain" / "runs").glob("*.pt"):  # a fresh clone keeps records, not .pt files
        p.unlink()
    log = io.StringIO()
    assert run_grid("controls", out, stream=log, scale=False).ran == 0  # every cell done: no source is needed
    assert "(pretraining)" not in log.getvalue()
    started = sorted((out / "pretrained" / "runs").glob("*.json"))
    source = json.loads(started[0].read_text())["init_from"]["run_id"]
    started[0].unlink()  # one cell to run again: its source alone trains again, first
    log = io.StringIO()
    assert run_grid("controls", out, stream=log, scale=False).ran == 1
    assert "(pretraining): 1 cells, 0 done, 1 to run" in log.getvalue() and "grid controls: 9 cells, 8 done" in log.getvalue()
    assert [p.stem for p in (out / "pretrain" / "runs").glob("*.pt")] == [source]


def test_the_report_reads_each_control_against_the_main_cells(controls):
    from longdep.analysis import controls_report as cr
    from longdep.analysis import style
    from longdep.analysis.data import load_controls
    from longdep.analysis.report import render

    out, _ = controls
    runs = load_controls(out)
    assert sorted(runs["part"].value_counts().items()) == [("main", 4), ("positions", 2), ("pretrained", 2), ("recipe", 1)]
    pos, facts = cr.positions_table(runs)
    assert [line.split(" | ")[2] for line in pos.splitlines()[2:]] == ["sinusoidal", "rope"]  # main cell first
    pre, pfacts = cr.pretrained_table(runs)
    assert [line.split(" | ")[1] for line in pre.splitlines()[2:]] == ["scratch", "own LM"]
    rec, rfacts = cr.recipe_table(runs)
    assert [line.split(" | ")[1] for line in rec.splitlines()[2:]] == ["the tuned recipe", "lr 0.002 (tuned 0.001)"]
    assert rec.splitlines()[2].split(" | ")[2] == "1"  # the tuned recipe: the main cell of the recipe part's seed
    text = render(out)
    for title in ("Control: position encodings", "Control: self-pretraining", "Control: what each part of the recipe",
                  "- Positions, " + style.model_name("transformer") + " classifier", "- Self-pretraining, LSTM classifier", "- Recipe, LSTM"):
        assert title in text
    hours = text.split("The controls took ")[1].split(" core-hours")[0]  # pretraining runs counted too
    walls = [json.loads(p.read_text())["wall_time_s"] for part in ("pretrain", *cr.CONTROL_PARTS)
             for p in (out / part / "runs").glob("*.json")]
    assert hours == f"{sum(walls) / 3600:.1f}" and "(pretrain " in text
    to95 = runs[runs["part"] == "pretrained"]["to95"].dropna()  # a pretrained run counts its pretraining's examples
    assert (to95 >= runs[runs["part"] == "pretrained"]["pretrain_examples"].min()).all()


def test_the_controls_figures_draw_a_line_per_variant_against_the_main_cells(controls, tmp_path):
    import shutil

    from longdep.analysis import controls_figures as cf
    from longdep.analysis import style
    from longdep.analysis.data import ENCODINGS, load_baselines, load_controls, positions_runs, pretrained_runs

    out = tmp_path / "out"
    shutil.copytree(controls[0], out, ignore=shutil.ignore_patterns("figures"))
    runs = load_controls(out)
    pos, pre = positions_runs(runs), pretrained_runs(runs)
    assert sorted(pos.groupby(["part", "variant"]).size().items()) == [(("main", "sinusoidal"), 2), (("positions", "rope"), 2)]
    assert sorted(pre.groupby(["part", "variant"]).size().items()) == [(("main", "scratch"), 2), (("pretrained", "own LM"), 2)]
    rows = cf.distance_rows(out, pos)
    assert set(rows["run_id"]) == set(pos["run_id"]) and rows["accuracy"].between(0, 1).all()
    paths = cf.make(out)
    assert sorted(p.name for p in paths) == ["controls_positions.pdf", "controls_positions.png",
                                             "controls_pretrained.pdf", "controls_pretrained.png"]
    fig = cf.plot_variants(rows, ENCODINGS, "positions")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["sinusoidal", "rope"]
    with_base = cf.plot_variants(rows, ENCODINGS, "positions", load_baselines(out))  # what make() draws
    labels = [t.get_text() for t in with_base.legends[0].get_texts()]
    assert labels[:2] == ["sinusoidal", "rope"] and style.baseline_name("bag_of_words") in labels
    assert cf.make(tmp_path / "no-controls") == []


def _fact(mean, lo, hi, to95=float("inf"), n=5, rising=0):
    return {"mean": mean, "lo": lo, "hi": hi, "to95": to95, "n": n, "rising": rising}


def test_the_positions_finding_names_a_best_encoding_only_when_its_interval_is_clear_of_the_others():
    from longdep.analysis.controls_report import findings

    def said(rope, none):
        return findings({"D": 16, ("classify", "transformer", "rope"): _fact(*rope),
                         ("classify", "transformer", "none"): _fact(*none)}, {}, {})

    assert "best: rope, its seed-level 95% interval clear" in said((0.9, 0.88, 0.92), (0.7, 0.6, 0.8))
    assert "highest mean: rope, but its 95% interval overlaps" in said((0.9, 0.7, 1.0), (0.8, 0.6, 0.95))
    assert "far beyond it (33-64): rope 0.90, none 0.70;" in said((0.9, 0.88, 0.92), (0.7, 0.6, 0.8))
    # runs cut off by the step cap while still improving are said, not hidden in the mean
    assert "none 0.70 (4/5 runs still improving at the step cap);" in said((0.9, 0.88, 0.92), (0.7, 0.6, 0.8, 1e5, 5, 4))


def test_the_recipe_and_pretraining_findings_call_a_difference_only_where_the_intervals_are_apart():
    from longdep.analysis.controls_report import findings

    tuned = _fact(0.98, 0.96, 1.0, 80_000, 3)
    recipe = {"D": 64, ("lstm", "the tuned recipe"): tuned, ("lstm", "cosine lr"): _fact(0.84, 0.2, 1.0, 70_000, 3),
              ("lstm", "warmup 0"): _fact(0.6, 0.5, 0.7, n=3), ("rnn", "the tuned recipe"): _fact(0.5, 0.48, 0.52, n=3),
              ("rnn", "warmup 0"): _fact(0.7, 0.6, 0.8, 90_000, 3)}
    text = findings({}, {}, recipe)
    lstm, rnn = (next(line for line in text.splitlines() if f"Recipe, {name} " in line) for name in ("LSTM", "Elman RNN"))
    assert "tuned 0.98, 80,000; cosine lr: 0.84, 70,000; warmup 0: 0.60, never;" in lstm
    assert "clearly worse (95% intervals of 3 seeds apart), so the tuned recipe needs what it changes: warmup 0." in lstm
    assert "no change is clearly worse than the tuned recipe (95% intervals of 3 seeds); clearly better: warmup 0" in rnn
    pre = {"D": 64, ("lstm", "scratch"): _fact(0.98, 0.97, 0.99, 80_000), ("lstm", "own LM"): _fact(0.9, 0.6, 1.0, 200_000),
           ("transformer", "scratch"): _fact(0.98, 0.97, 0.99), ("transformer", "own LM"): _fact(0.8, 0.7, 0.9)}
    text = findings({}, pre, {})
    assert "0.98 from scratch, 0.90 from its own language model (the 95% intervals overlap); examples to 95% 80,000 vs 200,000" in text
    assert "0.80 from its own language model (lower than from scratch, the 95% intervals apart)" in text


def test_a_block_value_wins_over_the_tuned_recipe(tmp_path, monkeypatch):
    from longdep.grid import cell_configs, load_grid

    monkeypatch.setenv("LONGDEP_EXPERIMENTS", str(tmp_path))
    (tmp_path / "t.yaml").write_text(CONTROLS + "tune:\n  by: [model.name]\n  space:\n"
                                     "    train.lr: {low: 0.0001, high: 0.1, log: true}\n")
    cells = cell_configs(load_grid("t"), tmp_path / "out", chosen={"lstm": {"train.lr": 0.05}})
    assert [c.train.lr for c in cells if c.model.name == "lstm"] == [0.05, 0.05, 0.05, 0.05, 0.002, 0.001]


@pytest.mark.parametrize("folder", ["runs", "tune", "pretrain", "Bad-Name", "a/b"])
def test_a_control_folder_must_be_a_plain_name_not_one_of_the_grids_own(tmp_path, monkeypatch, folder):
    from longdep.grid import load_grid

    monkeypatch.setenv("LONGDEP_EXPERIMENTS", str(tmp_path))
    (tmp_path / "g.yaml").write_text(CONTROLS.replace("folder: recipe", f"folder: {json.dumps(folder)}"))
    with pytest.raises(UsageError, match=f"folder '{folder}' is not a part's folder name; valid: lower-case"):
        load_grid("g")
