"""Every model trains a few steps end to end; the train command writes tidy rows and a run record."""
import json
import re

import pandas as pd
import pytest
import torch

from conftest import TINY
from longdep.models import MODELS
from longdep.training.config import load_config
from longdep.training.run import is_done, train_one
from longdep.records import read_csv as read_table

ACC_COLUMNS = ["run_id", "model", "seed", "train_min_distance", "train_max_distance", "test_set", "distance", "frame",
               "attractors", "n", "accuracy"]


@pytest.mark.parametrize("model", list(MODELS))
def test_every_model_trains_and_writes_results(model, tmp_path):
    cfg = load_config("train", [*TINY, f"model.name={model}", f"results_dir={tmp_path}", "name=t"])
    rec = train_one(cfg)
    out = tmp_path / "t"
    acc = read_table(out / "accuracy.csv")
    assert set(ACC_COLUMNS) <= set(acc.columns)
    by_distance, controlled = acc[acc["test_set"] == "distance"], acc[acc["test_set"] == "attractors"]
    assert set(by_distance["distance"]) == {2, 6} and (acc["model"] == model).all()
    assert by_distance.groupby("distance")["n"].sum().tolist() == [16, 16]
    assert controlled.set_index("attractors")["n"].to_dict() == {0: 8, 1: 8} and set(controlled["distance"]) == {5}
    assert (acc[["train_min_distance", "train_max_distance"]] == [1, 3]).all().all()
    probes = read_table(out / "counterfactual.csv")
    assert {"flip_subject", "flip_attractor"} <= set(probes["probe"]) and probes["rate"].between(0, 1).all()
    assert acc["accuracy"].between(0, 1).all()
    assert rec["steps"] == 4 and is_done(cfg)
    saved = json.loads((out / "runs" / f"{rec['run_id']}.json").read_text())
    for key in ("config", "config_hash", "environment", "wall_time_s", "steps_to_95", "steps_to_99"):
        assert key in saved
    assert saved["environment"]["versions"]["torch"]
    base = read_table(out / "baselines.csv")
    assert {"first_noun", "after_that", "nearest_noun", "bag_of_words", "offset_1", "offset_3"} <= set(base["heuristic"])


def test_run_record_says_where_the_parameters_were_during_training(tmp_path, monkeypatch):
    """The record's device is read while training runs, not from the module after ``fit``."""
    from longdep.environment import device_name
    from longdep.training import lit

    seen = set()
    original = lit.ClassifierModule.training_step

    def spy(self, batch, idx):
        seen.add(str(next(self.parameters()).device))
        return original(self, batch, idx)

    monkeypatch.setattr(lit.ClassifierModule, "training_step", spy)
    cfg = load_config("train", [*TINY, "model.name=lstm", f"results_dir={tmp_path}", "name=t"])
    rec = train_one(cfg)
    assert len(seen) == 1
    assert rec["accelerator"] == seen.pop()
    assert rec["device_name"] == device_name(rec["accelerator"]) and rec["device_name"]
    saved = json.loads((tmp_path / "t" / "runs" / f"{rec['run_id']}.json").read_text())
    assert (saved["accelerator"], saved["device_name"]) == (rec["accelerator"], rec["device_name"])


def test_early_stop_and_steps_to_criterion(tmp_path):
    """The transformer learns distance 4 quickly: it must stop before the cap and record both criteria."""
    cfg = load_config("train", ["model.name=transformer", "task.distance=4", "task.max_distance=null",
                                "task.max_depth=0", "task.frames=main", "train.max_steps=400",
                                "train.val_every=20", "train.progress=false", "eval.span=0", "eval.distances=[4]",
                                "eval.n_per_distance=64", "eval.attractor_distances=[]", "wandb.enabled=false",
                                f"results_dir={tmp_path}"])
    rec = train_one(cfg)
    assert rec["steps"] < 400 and rec["stopped_early"]
    assert rec["steps_to_95"] is not None and rec["steps_to_99"] is not None
    assert rec["steps_to_95"] <= rec["steps_to_99"] == rec["steps"]
    assert rec["test_accuracy"] > 0.9


def test_ddp_on_two_cpu_processes_writes_one_run(tmp_path):
    """Lightning DDP through `train.devices` (gloo on CPU here): rank 0 alone evaluates and writes."""
    import subprocess
    import sys
    from pathlib import Path

    from conftest import ENV

    exe = Path(sys.executable).with_name("longdep")
    res = subprocess.run([str(exe), "train", "train.accelerator=cpu", "train.devices=2", *TINY,
                          f"results_dir={tmp_path}", "name=ddp"], capture_output=True, text=True, timeout=300,
                         env=ENV)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "GLOBAL_RANK: 1" in res.stdout + res.stderr
    assert len(list((tmp_path / "ddp" / "runs").glob("*.json"))) == 1
    acc = read_table(tmp_path / "ddp" / "accuracy.csv")
    assert acc[acc["test_set"] == "distance"].groupby("distance")["n"].sum().tolist() == [16, 16]


def test_starting_small_leads_the_stream_then_the_full_range():
    """train.start_steps batches come from the starting-small stage (distances 1-4 here), in a seeded
    order; the batches after them from the full range."""
    import itertools

    from longdep.tasks import get_task
    from longdep.training.lit import TaskData, _Batches

    cfg = load_config("train", ["task.max_distance=64", "task.start_max_distance=4", "train.start_steps=6",
                                "train.max_steps=20", "train.batch_size=16"])
    data = TaskData(cfg.task, 0, 16, 20, 32, start_steps=6)
    data.setup()
    generate = get_task("agreement").generate
    stage = generate(300_000_000, 6 * 16, get_task("agreement").start_small(cfg.task))[2]["distance"]
    assert stage.max() <= 4 and len(data.start_arrays[1]) == 6 * 16
    batches = list(itertools.islice(iter(_Batches(*data.train_arrays, 16, 0, data.start_arrays)), 12))
    first = list(itertools.islice(iter(_Batches(*data.train_arrays, 16, 0, data.start_arrays)), 12))
    assert all((a[0] == b[0]).all() for a, b in zip(batches, first))  # seeded: the same order twice
    start_q = torch.cat([b[1] for b in batches[:6]])
    full_q = torch.cat([b[1] for b in batches[6:]])
    # the query sits preamble + distance into the sentence: the full range (1-64) reaches far longer
    assert full_q.float().mean() > start_q.float().mean() + 15


@pytest.mark.parametrize("overrides, message", [
    (["train.start_steps=5"], "needs a starting-small stage"),
    (["task.start_max_distance=8"], "train.start_steps=0 must be in 1.."),
    (["task.start_max_distance=16", "train.start_steps=5"], "must be in [task.distance, task.max_distance)"),
    (["task.start_max_distance=8", "train.max_steps=1000", "train.start_steps=1000"], "train.start_steps=1000 must be in 1..train.max_steps-1 (= 999)"),
])
def test_starting_small_settings_are_checked(overrides, message):
    from longdep.config import UsageError

    with pytest.raises(UsageError, match=re.escape(message)):
        load_config("train", ["task.max_distance=16", *overrides])


def test_bf16_mixed_precision_trains_on_cpu_under_its_own_run_id(tmp_path):
    """(fp32 runs keep the ids they had before the setting existed: test_architecture checks the
    committed paper results against the ids the grid computes now.)"""
    from longdep.training.run import run_id

    cfg = load_config("train", [*TINY, "model.name=lstm", "train.precision=bf16-mixed", f"results_dir={tmp_path}"])
    rec = train_one(cfg)
    assert rec["config"]["train"]["precision"] == "bf16-mixed" and rec["steps"] == 4
    fp32 = load_config("train", [*TINY, "model.name=lstm"])
    assert run_id(fp32) != rec["run_id"]


def test_fp16_training_needs_cuda():
    from longdep.config import UsageError

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(UsageError, match="train.precision=16-mixed needs a CUDA device"):
        load_config("train", ["train.precision=16-mixed"])


def test_a_killed_run_resumes_from_its_checkpoint_with_the_uninterrupted_result(tmp_path, monkeypatch, capsys):
    """Checkpoints every 8 steps (at validations); a run killed at step 13 resumes at step 8 and ends
    with the same validation curve, steps and test accuracy as one that was never interrupted; a
    broken checkpoint is ignored (never unpickled) and the run trains from step 0."""
    import lightning as L

    from longdep.training import run

    over = TINY + ["train.max_steps=20", "train.val_every=4", "train.checkpoint_every=8", "eval.probes=false",
                   "eval.analyses=false", "train.target_acc=1.0"]
    cfg = lambda where: load_config("train", over + [f"results_dir={tmp_path / where}"])  # noqa: E731
    clean = train_one(cfg("clean"))
    assert clean["resumed_from_step"] is None and clean["steps"] == 20

    class Kill(L.Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == 13:
                raise RuntimeError("killed")

    make = run.make_trainer
    monkeypatch.setattr(run, "make_trainer", lambda c, logger=False, extra_callbacks=(): make(
        c, logger, [*extra_callbacks, Kill()]))
    with pytest.raises(RuntimeError, match="killed"):
        train_one(cfg("killed"))
    ckpt = run.checkpoint_path(tmp_path / "killed" / "default", clean["run_id"])
    assert ckpt.exists() and not is_done(cfg("killed"))
    monkeypatch.setattr(run, "make_trainer", make)
    resumed = train_one(cfg("killed"))
    assert resumed["resumed_from_step"] == 8 and not ckpt.parent.exists()
    assert resumed["val_curve"] == clean["val_curve"]
    for key in ("steps", "steps_to_95", "test_accuracy", "final_val_acc"):
        assert resumed[key] == pytest.approx(clean[key], abs=1e-6), key

    broken = run.checkpoint_path(tmp_path / "broken" / "default", clean["run_id"])
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not a checkpoint")
    again = train_one(cfg("broken"))
    assert again["resumed_from_step"] is None and again["val_curve"] == clean["val_curve"]
    assert "ignoring checkpoint" in capsys.readouterr().err


def test_without_wandb_the_learning_curves_go_to_a_csv_log(tmp_path):
    cfg = load_config("train", TINY + ["train.max_steps=20", "train.val_every=10", "eval.probes=false",
                                       "eval.analyses=false", f"results_dir={tmp_path}"])
    rec = train_one(cfg)
    log = pd.read_csv(tmp_path / "default" / "logs" / rec["run_id"] / "metrics.csv")
    assert log.dropna(subset=["val/acc"])[["step", "val/acc"]].values.tolist() == [list(v) for v in rec["val_curve"]]
    assert log["train/loss"].notna().sum() == 2  # steps 0 and 10
