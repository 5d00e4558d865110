"""The convergence protocol: the schedule's values, how a run ends (target, plateau, cap), and that the
evaluated weights are the best validation's."""
import json
import math

import pytest
import torch

from conftest import TINY
from longdep.training.config import load_config
from longdep.training.convergence import Convergence, lr_factor, still_improving
from longdep.training.run import run_id, train_one, weights_path


def test_warmup_then_cosine_reaches_the_floor_at_the_horizon():
    f = [lr_factor(s, "cosine", warmup=4, horizon=14, floor=0.1) for s in range(20)]
    assert f[:4] == [0.25, 0.5, 0.75, 1.0]  # linear warmup from lr / warmup
    assert f[4] == 1.0 and f[9] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))  # halfway: 0.55
    assert f[14] == pytest.approx(0.1) and f[19] == pytest.approx(0.1)  # the floor from the horizon on
    assert all(a >= b for a, b in zip(f[4:], f[5:]))  # never rises after the warmup
    assert [lr_factor(s, "constant", 2, 14, 0.1) for s in (0, 1, 2, 13)] == [0.5, 1.0, 1.0, 1.0]


def test_the_optimiser_steps_at_the_scheduled_learning_rate(tmp_path, monkeypatch):
    """Through Lightning: the lr each optimiser step used is lr x lr_factor(step) (torch's LambdaLR)."""
    from longdep.training import lit

    seen = []
    original = lit.ClassifierModule.training_step

    def spy(self, batch, idx):
        seen.append(self.trainer.optimizers[0].param_groups[0]["lr"])
        return original(self, batch, idx)

    monkeypatch.setattr(lit.ClassifierModule, "training_step", spy)
    cfg = load_config("train", [*TINY, "model.name=lstm", "train.max_steps=8", "train.lr=0.01", "train.schedule=cosine",
                                "train.warmup_steps=2", "train.decay_steps=6", "train.patience=0", f"results_dir={tmp_path}"])
    train_one(cfg)
    assert seen == pytest.approx([0.01 * lr_factor(s, "cosine", 2, 6, 0.1) for s in range(8)])


def test_plateau_waits_patience_steps_after_the_smoothed_best():
    c = Convergence(target=0.99, patience=30, smooth=2, min_delta=0.01)
    ends = [c.update(step, acc)[1] for step, acc in [(10, 0.5), (20, 0.6), (30, 0.6), (40, 0.605), (50, 0.6), (60, 0.59)]]
    assert c.best_smoothed_step == 30 and ends == [None, None, None, None, None, "plateau"]  # 60 - 30 >= 30
    c = Convergence(target=0.99, patience=30, smooth=2)
    assert [c.update(s, a)[1] for s, a in [(10, 0.5), (20, 0.995)]] == [None, "target"]
    c = Convergence(target=0.99, patience=0)  # no plateau rule: only the target or the cap ends the run
    assert all(c.update(s, 0.5)[1] is None for s in range(0, 10_000, 100))


def test_a_late_learner_is_not_stopped_within_its_patience():
    """A run at chance for 2,000 steps, then learning, survives a patience of 3,000 (and not one of 1,000)."""
    curve = [(s, 0.5 + (0.01 if s % 100 else 0)) for s in range(50, 2050, 50)] + [(2050, 0.7), (2100, 0.9)]
    for patience, survives in ((3000, True), (1000, False)):
        c = Convergence(target=0.99, patience=patience)
        ends = [c.update(s, a)[1] for s, a in curve]
        assert (ends[-1] is None and "plateau" not in ends) == survives


def test_best_is_the_earliest_of_equals_and_still_improving_reads_the_tail():
    c = Convergence(target=1.0)
    flags = [c.update(s, a)[0] for s, a in [(1, 0.6), (2, 0.8), (3, 0.8), (4, 0.7)]]
    assert flags == [True, True, False, False] and c.best_step == 2
    rising = [(s, s / 1000) for s in range(50, 1050, 50)]
    flat = [(s, 0.9) for s in range(50, 1050, 50)]
    assert still_improving(rising) and not still_improving(flat)


def _run(tmp_path, *extra):
    cfg = load_config("train", [*TINY, "model.name=lstm", "train.val_every=2", f"results_dir={tmp_path}", "name=t", *extra])
    return cfg, train_one(cfg)


@pytest.mark.parametrize("extra, reason", [
    (["train.max_steps=6", "train.patience=0", "train.target_acc=1.0"], "cap"),
    (["train.max_steps=400", "train.lr=0.0", "train.patience=8", "train.target_acc=1.0"], "plateau"),
    (["train.max_steps=400", "train.lr=0.01", "train.target_acc=0.6", "train.patience=0"], "target"),
], ids=["cap", "plateau", "target"])
def test_the_run_record_says_how_the_run_ended(tmp_path, extra, reason):
    cfg, rec = _run(tmp_path, *extra)
    assert rec["end_reason"] == reason
    if reason == "cap":
        assert rec["steps"] == 6
    if reason == "plateau":  # lr 0: nothing improves; stopped patience steps after the first smoothed best
        assert rec["steps"] == 2 + 8 and rec["val_curve"][-1][0] == rec["steps"]
    if reason == "target":
        assert rec["val_curve"][-1][1] >= 0.6 and rec["steps"] < 400
    saved = json.loads((tmp_path / "t" / "runs" / f"{run_id(cfg)}.json").read_text())
    assert saved["end_reason"] == reason and saved["evaluated_weights"] == "best"


@pytest.mark.parametrize("weights", ["best", "last"])
def test_the_evaluated_weights_are_the_best_validations(tmp_path, monkeypatch, weights):
    """With train.weights=best the weights scored (and saved) are those of the best validation, not the
    last step's; with last, the last step's."""
    from longdep.training import lit

    snapshots = {}
    original = lit.ClassifierModule.on_validation_epoch_end

    def spy(self):
        original(self)
        snapshots[self.global_step] = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    monkeypatch.setattr(lit.ClassifierModule, "on_validation_epoch_end", spy)
    cfg, rec = _run(tmp_path, "train.max_steps=16", "train.lr=0.3", "train.val_size=256", "train.patience=0",
                    "train.target_acc=1.0", "train.save_weights=true", f"train.weights={weights}")
    curve = rec["val_curve"]
    best = max(curve, key=lambda v: v[1])[0]
    first_best = next(s for s, a in curve if a == max(a for _, a in curve))
    assert rec["best_step"] == first_best == best
    saved = torch.load(weights_path(tmp_path / "t", rec["run_id"]), weights_only=True)
    expect = snapshots[first_best if weights == "best" else rec["steps"]]
    assert all(torch.equal(saved[k], expect[k]) for k in expect)
    assert first_best < rec["steps"]  # this run's best validation is not its last: the test tells the two apart
    other = snapshots[rec["steps"] if weights == "best" else first_best]
    assert not all(torch.equal(saved[k], other[k]) for k in expect)


def test_a_run_without_the_protocol_keeps_its_published_run_id(monkeypatch):
    """The 2,000-step grid of results/budget2000 (made before the protocol existed; tests/data/paper_2000.yaml,
    with the learning rate and width its tuning chose) run with the protocol off has the run ids it was
    published under; with today's defaults (the protocol on) none of them."""
    from pathlib import Path

    import pandas as pd

    from longdep.grid import cell_configs, load_grid
    from longdep.tuning import Tune

    root = Path(__file__).resolve().parents[1]
    paper = root / "results" / "budget2000"
    tuned = pd.read_csv(paper / "tuning.csv")
    chosen = {f"{r['model.name']}/{o}": {"train.lr": r["train.lr"], "model.d_model": int(r["model.d_model"])}
              for _, r in tuned[tuned["chosen"]].iterrows() for o in ("classify", "lm")}
    grid = load_grid(str(root / "tests" / "data" / "paper_2000.yaml"))
    grid.tune = Tune()  # a stage that applies the chosen values by model and objective
    published = {p.stem for p in (paper / "runs").glob("*.json")}
    assert {run_id(c) for c in cell_configs(grid, paper, chosen=chosen)} == published
    grid.base = {k: v for k, v in grid.base.items() if k not in ("train.patience", "train.weights")}
    assert not {run_id(c) for c in cell_configs(grid, paper, chosen=chosen)} & published
