"""The tables a results folder holds, loaded for the figures and reports: no plotting, no W&B.

    from longdep.analysis.data import load_accuracy, load_runs
    acc, runs = load_accuracy("results/paper"), load_runs("results/paper")

``load_accuracy``, ``load_baselines`` and ``load_counterfactual`` read the folder's CSVs (compressed or
plain) and keep one stage of its runs (the main runs, or with ``start_small`` the starting-small ones)
and one training objective (None: both); ``load_runs`` has one row per run record, ``load_curves`` one
per validation of those runs.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from longdep.analysis.panels import RUN_KEYS, START, staged
from longdep.records import read_csv, read_record, run_records


def load_accuracy(folder: Path, start_small: bool = False, objective: str | None = "classify") -> pd.DataFrame:
    return staged(read_csv(Path(folder) / "accuracy.csv"), start_small, objective)


def load_baselines(folder: Path, start_small: bool = False) -> pd.DataFrame | None:
    return staged(read_csv(Path(folder) / "baselines.csv"), start_small, None)


def load_counterfactual(folder: Path, start_small: bool = False, objective: str | None = "classify") -> pd.DataFrame | None:
    return staged(read_csv(Path(folder) / "counterfactual.csv"), start_small, objective)


def load_runs(folder: Path, start_small: bool = False, objective: str | None = "classify",
              task: str | None = "agreement") -> pd.DataFrame:
    """One row per run record of ``task`` (None: every task): model, seed, training setting, lr, width,
    parameters, steps-to-criterion."""
    rows = []
    for rec in run_records(folder):
        cfg = rec["config"]
        t = cfg["task"]
        if task is not None and t.get("name", "agreement") != task:
            continue
        rows.append({"run_id": rec["run_id"], "model": cfg["model"]["name"], "seed": cfg["train"]["seed"],
                     "task": t.get("name", "agreement"), "train_min_distance": t.get("distance"),
                     "train_max_distance": t.get("max_distance") or t.get("distance"),
                     START: t.get("start_max_distance") or 0, "objective": t.get("objective", "classify"),
                     "start_steps": cfg["train"].get("start_steps", 0), "lr": cfg["train"]["lr"], "d_model": cfg["model"]["d_model"],
                     "parameters": rec.get("parameters"), "steps": rec["steps"],
                     "max_steps": cfg["train"]["max_steps"], "steps_to_95": rec["steps_to_95"],
                     "steps_to_99": rec["steps_to_99"], "final_val_acc": rec.get("final_val_acc"),
                     "wall_time_s": rec["wall_time_s"]})
    return staged(pd.DataFrame(rows), start_small, objective) if rows else pd.DataFrame(rows)


def load_curves(folder: Path, runs: pd.DataFrame) -> pd.DataFrame:
    """The validation curve of every run in ``runs`` (rows of :func:`load_runs`), one row per
    (run, step): the run keys, ``step``, ``val_acc``, ``held`` (True where a run that stopped early at
    its target accuracy is held at its last value up to its step budget, so that a mean over seeds
    never loses the runs that learned fastest)."""
    rows = []
    for run in runs.itertuples(index=False):
        rec = read_record(Path(folder) / "runs" / f"{run.run_id}.json")
        curve = [(int(step), float(acc)) for step, acc in rec.get("val_curve") or []]
        if not curve:
            continue
        keys = {k: getattr(run, k) for k in RUN_KEYS}
        rows += [{**keys, "step": step, "val_acc": acc, "held": False} for step, acc in curve]
        if rec.get("stopped_early"):
            every = curve[1][0] - curve[0][0] if len(curve) > 1 else curve[0][0]
            last_step, last = curve[-1]
            rows += [{**keys, "step": step, "val_acc": last, "held": True}
                     for step in range(last_step + every, int(run.max_steps) + 1, every)]
    return pd.DataFrame(rows, columns=[*RUN_KEYS, "step", "val_acc", "held"])
