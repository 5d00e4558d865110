"""Evaluating a trained model on its task's fixed test sets: tidy accuracy rows, counterfactual
probes, and the heuristic baselines of the same test sets. Task-agnostic: the task's spec says
what the test sets, their slices and the probes are.

- accuracy: one row per (run, test set, slice) with ``n, correct, accuracy``;
- counterfactual: one row per (run, test distance, probe) with ``n, rate``, where ``rate`` is the
  share of predictions that changed when one noun's number was flipped (1 is right for
  ``flip_subject``, 0 for the others);
- baselines: the task's heuristics, once per results folder and task/eval config.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from longdep.config import RunConfig, config_hash, to_dict
from longdep.models import get_model
from longdep.records import append_rows, locked, read_csv
from longdep.tasks import get_task


@torch.no_grad()
def predict(module, tokens: np.ndarray, labels: np.ndarray, query_index: np.ndarray, batch_size: int,
            label_ids: np.ndarray | None = None) -> np.ndarray:
    """The module's predicted label for every example (on the module's device). A language model
    (``label_ids`` (n, n_labels): the tokens expressing each label) predicts the label whose token it
    gives the higher probability at the query: the minimal-pair choice."""
    from longdep.training.lit import prefix_batch

    module.eval()
    device = next(module.parameters()).device
    order = np.argsort(query_index, kind="stable")  # similar lengths together: less padding per batch
    out = np.empty(len(labels), np.int64)
    for i in range(0, len(labels), batch_size):
        idx = order[i:i + batch_size]
        x, q, _ = prefix_batch(tokens[idx], labels[idx], query_index[idx])
        extra = [] if label_ids is None else [torch.from_numpy(label_ids[idx])]
        out[idx] = module(x.to(device), q.to(device), *extra).argmax(-1).cpu().numpy()
    return out


def run_columns(cfg: RunConfig, rid: str) -> dict:
    """The columns naming a run in every results table."""
    m = cfg.model
    return {"run_id": rid, "model": m.name, "seed": cfg.train.seed, **get_task(cfg.task.name).run_columns(cfg.task),
            "backend": get_model(m.name).backend_label(m.backend), "positions": m.positions, "norm": m.norm}


def evaluate(module, cfg: RunConfig, rid: str, clock: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame, float, dict]:
    """Accuracy rows, counterfactual rows, the overall accuracy on the test set by distance, and the
    mechanism analyses ``{file name: rows}`` (each with the run's columns; see :mod:`.mechanism`)."""
    spec = get_task(cfg.task.name)
    ident = run_columns(cfg, rid)
    acc_frames, probe_frames, overall, extra = [], [], float("nan"), {}
    clock = {} if clock is None else clock
    for k in ("test_sets", "evaluation", "probes", "analyses"):
        clock.setdefault(k, 0.0)
    mark = time.perf_counter()
    test_sets = spec.test_sets(cfg.task, cfg.eval)
    clock["test_sets"] += time.perf_counter() - mark
    lm = cfg.task.objective == "lm"
    for i, (name, slices, tok, lab, meta) in enumerate(test_sets):
        mark = time.perf_counter()
        ids = spec.label_tokens(tok, meta) if lm else None
        pred = predict(module, tok, lab, meta["query_index"], cfg.eval.batch_size, ids)
        clock["evaluation"] += time.perf_counter() - mark
        per = pd.DataFrame({c: meta[c] for c in slices}).assign(correct=(pred == lab).astype(int))
        rows = per.groupby(list(slices), as_index=False).agg(n=("correct", "size"), correct=("correct", "sum"))
        rows["accuracy"] = rows["correct"] / rows["n"]
        acc_frames.append(rows.assign(test_set=name))
        if i == 0:  # the task's main test set (agreement: by distance): overall accuracy, probes, analyses
            overall = float(per["correct"].mean())
            mark = time.perf_counter()
            if cfg.eval.probes:
                probe_frames.append(_probes(module, cfg, spec, tok, lab, meta, pred, ids))
            clock["probes"] += time.perf_counter() - mark
            mark = time.perf_counter()
            if cfg.eval.analyses:
                from longdep.training.mechanism import analyses

                extra = {name: with_run_columns(ident, df) for name, df in analyses(module, cfg, spec, tok, lab, meta).items()
                         if len(df)}
            clock["analyses"] += time.perf_counter() - mark
    acc = pd.concat(acc_frames, ignore_index=True)
    slices = [c for c in acc.columns if c not in ("test_set", "n", "correct", "accuracy")]
    acc = with_run_columns(ident, acc[["test_set", *slices, "n", "correct", "accuracy"]])
    probes = pd.concat(probe_frames, ignore_index=True) if probe_frames else pd.DataFrame()
    if len(probes):
        probes = with_run_columns(ident, probes)
    return acc, probes, overall, extra


def with_run_columns(ident: dict, df: pd.DataFrame) -> pd.DataFrame:
    """The run's identifying columns, then ``df``'s."""
    return pd.concat([pd.DataFrame([ident] * len(df)), df.reset_index(drop=True)], axis=1)


def _probes(module, cfg, spec, tok, lab, meta, pred, label_ids=None) -> pd.DataFrame:
    frames = []
    for probe, (rows, edited) in spec.counterfactuals(tok, meta, cfg.task).items():
        if not len(rows):
            continue
        ids = None if label_ids is None else label_ids[rows]  # the probes edit nouns, never the queried verb
        new = predict(module, edited, lab[rows], meta["query_index"][rows], cfg.eval.batch_size, ids)
        frames.append(pd.DataFrame({"distance": meta["distance"][rows], "probe": probe,
                                    "changed": (new != pred[rows]).astype(int)}))
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    out = df.groupby(["distance", "probe"], as_index=False).agg(n=("changed", "size"), rate=("changed", "mean"))
    return out


def write_baselines(cfg: RunConfig, path) -> None:
    """The task's baselines for this run's task and eval config, computed once per results file."""
    spec = get_task(cfg.task.name)
    d = to_dict(cfg)
    task = {k: v for k, v in d["task"].items() if k != "objective"}  # the same test sets for both objectives
    bid = "baselines-" + config_hash({"task": task, "eval": {k: v for k, v in d["eval"].items()
                                                                  if k not in ("batch_size", "probes", "analyses")}})
    with locked(path.with_name(path.name + ".baselines")):
        old = read_csv(path)
        if old is not None and (old["run_id"] == bid).any():
            return
        df = spec.baselines(cfg.task, cfg.eval)
        ident = {"run_id": bid, **{k: v for k, v in spec.run_columns(cfg.task).items() if k != "objective"}}
        append_rows(path, with_run_columns(ident, df))
