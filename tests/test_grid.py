"""Grids: bad input, resume after real kill -9, the same rows from every launcher, W&B offline runs."""
import gzip
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import pytest

from longdep import cli

from conftest import ENV, EXE, cluster_nodes, grid
from longdep.records import read_csv as read_table, has_table

KEY = ["run_id", "test_set", "distance", "frame", "attractors"]


def rows(out):
    return read_table(Path(out) / "accuracy.csv").sort_values(KEY).reset_index(drop=True)


def test_reference_has_every_cell_once(reference):
    df = rows(reference)
    assert set(df["model"]) == {"lstm", "transformer"}
    assert not df.duplicated(KEY).any()
    assert len(list((reference / "runs").glob("*.json"))) == 2
    for ext in ("png", "pdf"):
        assert (reference / "figures" / f"accuracy_vs_distance.{ext}").stat().st_size > 0
    assert {"majority", "first_noun", "after_that", "bag_of_words"} <= set(read_table(reference / "baselines.csv")["heuristic"])
    from longdep.analysis.report import grid_time

    log = pd.read_csv(reference / "grid_log.csv")  # the invocation's measured stage times
    assert len(log) == 1 and log.loc[0, "cells"] == 2 and log.loc[0, "cells_done_before"] == 0
    assert 0 < log.loc[0, "cells_s"] <= log.loc[0, "total_s"] and log.loc[0, "sweep_s"] > 0
    assert grid_time(reference).startswith(" The last full run (`longdep grid`, 2 cells, 2 workers")


@pytest.mark.parametrize("damage", ["emptied", "one-run-gone"])
def test_a_resume_over_an_accuracy_csv_that_lost_rows_reruns_those_cells_to_the_uninterrupted_rows(reference, tmp_path,
                                                                                                  damage):
    import shutil

    from longdep.grid import run_grid
    from longdep.records import read_csv, write_atomic

    out = tmp_path / "smoke"
    shutil.copytree(reference, out, ignore=shutil.ignore_patterns("figures", "scaling*", "wandb"))
    acc = read_csv(out / "accuracy.csv")
    lost = sorted(set(acc["run_id"])) if damage == "emptied" else sorted(set(acc["run_id"]))[:1]
    (out / "accuracy.csv.gz").unlink()  # a plain file takes its place: 0 bytes, or the rows less one run's
    write_atomic(out / "accuracy.csv", "" if damage == "emptied" else acc[~acc["run_id"].isin(lost)].to_csv(index=False))
    log = io.StringIO()
    assert run_grid("smoke", out, scale=False, stream=log).ran == len(lost)
    assert all(f"run {rid} has no rows" in log.getvalue() for rid in lost)
    assert sorted(p.name for p in (out / "runs").glob("*.no-rows")) == [f"{rid}.json.no-rows" for rid in lost]
    got, want = rows(out), rows(reference)
    pd.testing.assert_frame_equal(got[KEY + ["n", "correct"]], want[KEY + ["n", "correct"]])


def test_kill_9_then_resume_gives_exactly_the_uninterrupted_rows(reference, tmp_path):
    from longdep.grid import run_grid

    out = tmp_path / "smoke"
    done_at_kill = []
    fast = ["--no-scale", "--no-figures"]  # the cells are what is killed; the sweep resumes in test_scale
    for wait_for in ("start", "first-record"):
        proc = subprocess.Popen([EXE, "grid", "smoke", "--out", str(out), *fast], env=ENV, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 120
        if wait_for == "start":
            time.sleep(4.0)                     # mid-way: imports done, first cell training
        else:
            while time.time() < deadline and not list((out / "runs").glob("*.json")):
                time.sleep(0.05)
            time.sleep(0.3)                     # inside the second cell
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        done_at_kill.append(len(list((out / "runs").glob("*.json"))))
    assert min(done_at_kill) < 2, f"no kill landed mid-grid: {done_at_kill}"
    res = grid(out, *fast)
    assert res.returncode == 0, res.stderr[-3000:]
    got, want = rows(out), rows(reference)
    pd.testing.assert_frame_equal(got[KEY + ["n", "correct"]], want[KEY + ["n", "correct"]])
    assert not [p for p in out.rglob("*.tmp")]
    again = io.StringIO()  # and a further re-run is a no-op (the same code in this process: suite time)
    assert run_grid("smoke", out, scale=False, stream=again).ran == 0 and "0 to run" in again.getvalue()
    log = pd.read_csv(out / "grid_log.csv")
    assert log["cells_done_before"].iloc[-1] == 2  # logged as a resume, never quoted as a full run


@pytest.mark.skipif(bool(cluster_nodes()), reason="a SLURM cluster answers: tests/test_slurm_cluster.py runs the same submitit "
                                        "path for real (suite time)")
def test_submitit_local_launcher_gives_the_same_rows(reference, tmp_path):
    out = tmp_path / "smoke"
    res = grid(out, "--launcher", "submitit-local", "--workers", "2", "--no-scale", "--no-figures")
    assert res.returncode == 0, res.stderr[-3000:]
    pd.testing.assert_frame_equal(rows(out)[KEY + ["n", "correct"]], rows(reference)[KEY + ["n", "correct"]])
    assert (out / ".submitit").is_dir()


def test_wandb_offline_runs_hold_the_metrics(reference):
    runs = sorted((reference / "wandb").glob("offline-run-*"))
    assert len(runs) == 3                       # two cells + the grid summary run
    seen = {}
    for run in runs:
        res = subprocess.run([str(Path(sys.executable).with_name("wandb")), "leet", "inspect", "--summary", "--json",
                              str(run)], capture_output=True, text=True, timeout=120, env=ENV)
        assert res.returncode == 0, res.stderr[-2000:]
        info = json.loads(res.stdout)
        seen[info["name"]] = info
    cells = {k: v for k, v in seen.items() if not k.endswith("summary")}
    assert {v["config"]["model"]["name"] for v in cells.values()} == {"lstm", "transformer"}
    for info in cells.values():
        s = info["summary"]
        assert info["group"] == "smoke" if "group" in info else True
        assert s["steps"] == 20 and 0 <= s["test/acc"] <= 1
        assert "train/loss" in s and "val/acc" in s and "test/acc_distance_4" in s and "test/acc_attractors_1" in s
        assert s["accelerator"] == "cpu" and s["device_name"]  # where it trained
        assert s["test/accuracy_table"]["nrows"] > 0
        model = info["config"]["model"]["name"]
        assert info["config"]["model"]["backend"] == ("recurrent" if model == "lstm" else "sdpa")  # as in the CSVs
        assert info["config"]["run_id"].startswith(model)  # the config hash, for grouping across attempts
        assert s["steps_to_95"] <= 20 and isinstance(s["steps_to_95_censored"], bool)  # never null
        assert {model, "train_max_distance=4", "objective=classify"} <= set(info["tags"])  # one-click filters
    cell_run = next(r for r in runs if "summary" not in r.name)
    history = subprocess.run([str(Path(sys.executable).with_name("wandb")), "leet", "inspect", "--json", str(cell_run)],
                             capture_output=True, text=True, timeout=120, env=ENV).stdout.splitlines()
    items = [json.loads(line)["history"]["item"] for line in history if '"type":"history"' in line]
    val_steps = [i["trainer/global_step"] for i in items if "val/acc" in i]
    assert val_steps == [10, 20] and not any("epoch" in i for i in items)  # the record's steps, no epoch series
    summary = seen["smoke-summary"]["summary"]
    assert "figure/accuracy_vs_distance" in summary and "table/accuracy" in summary


def test_no_credentials_in_results(reference, tmp_path):
    """A W&B key planted in the environment appears in no file a grid or a train run writes.
    (The grid given as a path to its file: the W&B summary run is named after the file, not its path.)"""
    home = tmp_path / "home"  # W&B keeps its staging, cache and logs inside the results folder, not here
    scratch = Path(tempfile.mkdtemp(prefix="ld"))  # short: a forkserver's socket lives in TMPDIR
    env = {**ENV, "WANDB_API_KEY": "local-secret-0123456789", "HOME": str(home), "TMPDIR": str(scratch)}
    for key in ("WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_ARTIFACT_DIR", "WANDB_DIR", "XDG_CACHE_HOME",
                "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        env.pop(key, None)
    home.mkdir()
    out = tmp_path / "smoke"
    grid = Path(__file__).resolve().parents[1] / "experiments" / "smoke.yaml"
    res = subprocess.run([EXE, "grid", str(grid), "--out", str(out), "--no-figures", "train.max_steps=2"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    one = tmp_path / "one"  # and a single `longdep train`, W&B on (offline)
    res = subprocess.run([EXE, "train", f"results_dir={one}", "name=t", "model.name=lstm", "model.d_model=8",
                          "train.max_steps=2", "train.val_every=1", "train.val_size=16", "eval.span=0", "eval.distances=[2]",
                          "eval.n_per_distance=8", "eval.attractor_distances=[]", "task.max_distance=3",
                          "wandb.enabled=true", "wandb.mode=offline"], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    files = [p for p in (*out.rglob("*"), *one.rglob("*")) if p.is_file()]
    assert any(p.name == "accuracy.csv.gz" for p in files) and len(list((out / "runs").glob("*.json"))) > 0
    assert list(one.rglob("*.wandb")) and list(one.rglob("runs/*.json"))  # the run record and W&B's own files
    outside = [p for root in (home, scratch) for p in root.rglob("*") if p.is_file() and "wandb" in str(p).lower()]
    shutil.rmtree(scratch, ignore_errors=True)
    assert outside == [], outside
    for path in files:  # every file the grid wrote, W&B's offline files and compressed tables too
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        assert b"local-secret" not in data, path


def test_bad_grid_input_exits_2_and_leaves_results_untouched(reference, tmp_path, monkeypatch, capsys):
    before = {p: p.read_bytes() for p in reference.rglob("*") if p.is_file() and "wandb" not in p.parts}
    (tmp_path / "broken.yaml").write_text("axes: [model.name\n")
    (tmp_path / "wrongkey.yaml").write_text("axis: {model.name: [lstm]}\n")
    cases = [(["grid", "nope", "--out", str(reference)], "unknown grid 'nope'"),
             (["grid", "smoke", "--out", str(reference), "--launcher", "mpi"], "unknown launcher 'mpi'"),
             (["grid", "broken", "--out", str(reference)], "is not valid YAML"),
             (["grid", "wrongkey", "--out", str(reference)], "unknown key 'axis'"),
             (["grid", "smoke", "--out", str(reference), "model.name=gru"], "unknown model 'gru'"),
             (["grid", "smoke", "--out", str(reference), f"results_dir={tmp_path}"], "valid: --out DIR instead of")]
    monkeypatch.setenv("LONGDEP_EXPERIMENTS", str(tmp_path))
    (tmp_path / "smoke.yaml").write_text((Path(__file__).parents[1] / "experiments" / "smoke.yaml").read_text())
    for argv, needle in cases:
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1, err
    after = {p: p.read_bytes() for p in reference.rglob("*") if p.is_file() and "wandb" not in p.parts}
    assert before == after


def test_a_grid_given_as_a_file_path_defaults_to_results_named_after_the_file():
    from longdep.grid import default_folder

    assert default_folder("/abs/path/g.yaml") == "g" and default_folder("experiments/quick.yml") == "quick"
    assert default_folder("paper") == "paper"


def test_slurm_launcher_writes_the_configured_sbatch_settings(tmp_path, monkeypatch):
    """No cluster here: a stand-in `srun` lets submitit build its sbatch file, which we read."""
    from longdep.launch import load_launcher, make_executor

    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "srun"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    lcfg = load_launcher("slurm", ["slurm_partition=gpu", "slurm_gpus_per_node=1", "timeout_min=30",
                                   "slurm_additional={account: proj}"])
    ex = make_executor("slurm", lcfg, tmp_path / "%j")
    text = ex._executor._make_submission_file_text("python -m x", "uid")
    for line in ("--partition=gpu", "--gpus-per-node=1", "--time=30", "--cpus-per-task=2", "--mem=16GB",
                 "--account=proj"):
        assert line in text, line


def test_slurm_without_a_cluster_is_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun there, whatever this machine has installed
    assert cli.main(["grid", "smoke", "--out", str(tmp_path / "s"), "--launcher", "slurm"]) == 2
    assert "needs a SLURM cluster" in capsys.readouterr().err
    assert not has_table(tmp_path / "s" / "accuracy.csv")


TUNED = """
config: train
base: {task.distance: 1, task.max_distance: 3, train.max_steps: 6, train.val_every: 3, train.val_size: 32,
       train.progress: false, model.d_model: 16, model.d_ff: 32, model.heads: 2, eval.span: 1,
       eval.n_per_distance: 4, eval.attractor_distances: [], eval.probes: false, wandb.enabled: false,
       train.patience: 0, train.smooth: 2}
axes: {model.name: [lstm, transformer], train.seed: [0, 1]}
tune:
  by: [model.name, task.objective]
  base: {train.max_steps: 12, train.decay_steps: 6}
  trials: 5
  startup: 2
  min_steps: 3
  reduction: 2
  space:
    train.lr: {low: 0.0001, high: 0.1, log: true}
    train.schedule: {choices: [constant, cosine]}
    model.norm: {choices: [pre, post], families: [attention]}
"""


def _tuned(tmp_path, monkeypatch, folder="out"):
    from longdep.grid import run_grid

    monkeypatch.setenv("LONGDEP_EXPERIMENTS", str(tmp_path))
    (tmp_path / "tuned.yaml").write_text(TUNED)
    return run_grid("tuned", tmp_path / folder, stream=io.StringIO())


def test_tuning_stage_runs_a_study_per_model_and_objective_and_every_cell_uses_its_choice(tmp_path, monkeypatch):
    res = _tuned(tmp_path, monkeypatch)
    assert res.failed == 0
    tuning = pd.read_csv(tmp_path / "out" / "tuning.csv")
    assert tuning.groupby("model.name").size().tolist() == [5, 5]  # the same number of trials for every model
    assert set(tuning["task.objective"]) == {"classify"} and set(tuning["state"]) <= {"complete", "pruned"}
    assert tuning.groupby("model.name")["chosen"].sum().tolist() == [1, 1]
    assert tuning[tuning["model.name"] == "lstm"]["model.norm"].isna().all()  # attention-only dimension
    assert tuning[tuning["model.name"] == "transformer"]["model.norm"].notna().all()
    assert tuning["train.lr"].between(1e-4, 0.1).all() and (tuning["wall_s"] > 0).all()  # pruned trials timed too
    complete = tuning[tuning["state"] == "complete"]
    assert len(list((tmp_path / "out" / "tune" / "runs").glob("*.json"))) == len(complete)  # pruned: no record
    for model, rows in complete.groupby("model.name"):
        chosen = rows[rows["chosen"]].iloc[0]
        assert chosen["score"] == rows["score"].max()
        cells = [c for c in res.cells if c.model.name == model]
        assert len(cells) == 2 and {(c.train.lr, c.train.schedule) for c in cells} == {(chosen["train.lr"], chosen["train.schedule"])}
    assert len(list((tmp_path / "out" / "runs").glob("*.json"))) == 4
    again = _tuned(tmp_path, monkeypatch)  # a finished stage is a no-op
    assert again.ran == 0 and pd.read_csv(tmp_path / "out" / "tuning.csv").equals(tuning)
    from longdep.config import UsageError
    from longdep.grid import run_grid

    (tmp_path / "tuned.yaml").write_text(TUNED.replace("trials: 5", "trials: 6"))  # another search: not resumed
    with pytest.raises(UsageError, match="holds study 'lstm/classify' from other tuning settings"):
        run_grid("tuned", tmp_path / "out", stream=io.StringIO())


def test_a_killed_tuning_stage_resumes_to_the_same_trials_and_choice(tmp_path, monkeypatch):
    """A study killed inside its third trial reruns that trial with its stored parameters: the resumed stage
    holds the trials, scores and choice of an uninterrupted one."""
    from longdep import tuning

    whole = _tuned(tmp_path, monkeypatch, "whole")
    original, calls = tuning._pruning, {"n": 0}

    def dying(trial):
        callback = original(trial)
        inner = callback.on_validation_end

        def on_validation_end(trainer, module):
            if trial.number == 2 and trainer.global_step >= 6:
                raise RuntimeError("killed")
            inner(trainer, module)
        callback.on_validation_end = on_validation_end
        calls["n"] += 1
        return callback

    monkeypatch.setattr(tuning, "_pruning", dying)
    with pytest.raises(SystemExit, match="tuning stud"):
        _tuned(tmp_path, monkeypatch, "killed")
    monkeypatch.setattr(tuning, "_pruning", original)
    resumed = _tuned(tmp_path, monkeypatch, "killed")
    a, b = (pd.read_csv(tmp_path / f / "tuning.csv") for f in ("whole", "killed"))
    timing = ["run_id", "wall_s"]  # the ids and wall times of the trials, not what they found
    assert calls["n"] >= 3 and a.drop(columns=timing).equals(b.drop(columns=timing))
    assert [c.train for c in whole.cells] == [c.train for c in resumed.cells]


def test_a_block_can_start_from_another_config_and_gets_the_tuned_values_not_the_grids_task_keys(tmp_path, monkeypatch):
    from longdep.grid import cell_configs, load_grid

    monkeypatch.setenv("LONGDEP_EXPERIMENTS", str(tmp_path))
    (tmp_path / "mixed.yaml").write_text(TUNED + "also:\n  - config: nested\n    base: {task.max_depth: 2}\n"
                                         "    axes: {model.name: [lstm]}\n")
    cells = cell_configs(load_grid("mixed"), tmp_path / "out", chosen={"lstm/classify": {"train.lr": 0.01}})
    nested = [c for c in cells if c.task.name == "nested"]
    assert len(cells) == 5 and len(nested) == 1
    assert nested[0].task.max_depth == 2 and nested[0].train.lr == 0.01 and nested[0].train.max_steps == 6


def test_local_workers_take_one_gpu_each_on_a_machine_with_several(monkeypatch):
    import multiprocessing as mp
    import os
    import signal

    import torch

    from longdep.launch import init_worker, visible_gpus

    handler, threads = signal.getsignal(signal.SIGINT), torch.get_num_threads()  # init_worker changes both
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", ""))

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert visible_gpus() == ["2", "5"]
    counter, seen = mp.get_context("spawn").Value("i", 0), []
    for _ in range(3):  # three workers in turn (in this process, restoring the variable between them)
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
        init_worker(1, counter, ["2", "5"])
        seen.append(os.environ["CUDA_VISIBLE_DEVICES"])
    assert seen == ["2", "5", "2"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    init_worker(1, counter, ["0"])  # one GPU: every worker shares it, nothing changes
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    signal.signal(signal.SIGINT, handler)
    torch.set_num_threads(threads)


def test_a_resume_trains_again_a_cell_whose_record_is_unreadable_and_keeps_the_bad_file_aside(reference, tmp_path):
    """A truncated run record is not a finished cell: the resume says so in one line, keeps the file as
    `<run_id>.json.unreadable`, trains that cell again to the uninterrupted rows and touches no other."""
    out = tmp_path / "smoke"
    shutil.copytree(reference, out, ignore=shutil.ignore_patterns("wandb", "figures", "scaling*"))
    bad, good = sorted((out / "runs").glob("*.json"))[:2]
    kept = good.read_bytes()
    text = bad.read_text()
    bad.write_text(text[: len(text) // 2])
    res = grid(out, "--no-scale", "--no-figures")
    assert res.returncode == 0, res.stderr[-3000:]
    notes = [line for line in res.stderr.splitlines() if "unreadable" in line]
    assert len(notes) == 1 and bad.name in notes[0] and "runs again" in notes[0], res.stderr[-2000:]
    assert (bad.parent / (bad.name + ".unreadable")).read_text() == text[: len(text) // 2]
    assert json.loads(bad.read_text())["run_id"] == bad.stem and good.read_bytes() == kept
    assert "1 to run" in res.stdout
    got, want = rows(out), rows(reference)
    pd.testing.assert_frame_equal(got[KEY + ["n", "correct"]], want[KEY + ["n", "correct"]])
