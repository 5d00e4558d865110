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

import numpy as np
import pandas as pd

from longdep.analysis.panels import RUN_KEYS, START, staged
from longdep.analysis.tables import mixed, run_accuracy
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


# The controls beside a grid's main results (issue 28): their folders, one row per run, and the runs each
# control is read against (its tables and figures share them).
CONTROL_PARTS = ("positions", "pretrained", "recipe")
CRITERION = 0.95


def has_controls(folder: Path) -> bool:
    return any((Path(folder) / p / "runs").is_dir() for p in CONTROL_PARTS)


def load_controls(folder: Path) -> pd.DataFrame:
    """One row per run of ``folder`` (as ``part`` "main") and of its control folders: model, objective,
    seed, training range, the options the controls vary, how it ended, examples to 95% and the best
    validation accuracy, and its test accuracy on the trained, unseen and far distances."""
    rows, accs = [], []
    for part in ("main", *CONTROL_PARTS):
        where = Path(folder) if part == "main" else Path(folder) / part
        if not (where / "runs").is_dir():
            continue
        acc = read_csv(where / "accuracy.csv")
        if acc is not None:
            accs.append(run_accuracy(mixed(staged(acc, False, None))))
        for rec in run_records(where):
            c, t = rec["config"], rec["config"]["train"]
            if c["task"].get("name", "agreement") != "agreement" or c["task"].get("max_distance") in (None, c["task"].get("distance")):
                continue
            curve = rec.get("val_curve") or []
            pre = (rec.get("init_from") or {}).get("examples", 0)
            reach = next((s * t["batch_size"] for s, a in curve if a >= CRITERION), None)
            rows.append({"part": part, "run_id": rec["run_id"], "model": c["model"]["name"],
                         "objective": c["task"].get("objective", "classify"), "seed": t["seed"],
                         "D": c["task"]["max_distance"], "small": bool(t.get("start_steps")),
                         "positions": c["model"].get("positions", "sinusoidal"), "norm": c["model"].get("norm"),
                         "lr": t["lr"], "schedule": t.get("schedule", "constant"), "warmup": t.get("warmup_steps", 0),
                         "pretrained": bool(t.get("init_from")), "pretrain_examples": pre,
                         "end": rec.get("end_reason") or "cap", "rising": bool(rec.get("still_improving")),
                         "to95": None if reach is None else reach + pre,
                         "best_val": max((a for _, a in curve), default=np.nan)})
    runs = pd.DataFrame(rows)
    if not len(runs):
        return runs
    runs = runs[~runs["small"]]
    acc = pd.concat(accs) if accs else pd.DataFrame(columns=["run_id", "trained", "unseen", "far"])
    return runs.merge(acc.drop_duplicates("run_id"), on="run_id", how="left")


ENCODINGS = ("sinusoidal", "learned", "rope", "none")
STARTS = ("scratch", "own LM")


def positions_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs of the positions control and the main cells it is read against (same models and range;
    the main cells are sinusoidal), with ``variant`` = the encoding; empty without that control."""
    pos = runs[runs["part"] == "positions"]
    if not len(pos):
        return pos.assign(variant=pd.Series(dtype=str))
    keep = runs[(runs["D"] == pos["D"].iloc[0]) & runs["model"].isin(set(pos["model"]))
                & runs["part"].isin(["main", "positions"])]
    return keep.assign(variant=keep["positions"])


def pretrained_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The classifiers of the self-pretraining control and their main cells from scratch (same models and
    range, sinusoidal), with ``variant`` = ``scratch`` or ``own LM``; empty without that control."""
    pre = runs[runs["part"] == "pretrained"]
    if not len(pre):
        return pre.assign(variant=pd.Series(dtype=str))
    keep = runs[(runs["D"] == pre["D"].iloc[0]) & (runs["objective"] == "classify") & runs["model"].isin(set(pre["model"]))
                & ((runs["part"] == "pretrained") | ((runs["part"] == "main") & (runs["positions"] == "sinusoidal")))]
    return keep.assign(variant=keep["pretrained"].map({False: STARTS[0], True: STARTS[1]}))
