"""What the convergence protocol says about a results folder: how every run ended, and the two answers
apart, how fast a model learns (sample efficiency) and how far it gets (its best validation accuracy).

    from longdep.analysis import convergence_report as cr
    runs = cr.load_protocol_runs("results/paper")
    print(cr.end_table(runs)); print(cr.verdict(runs)); print(cr.efficiency_table(runs))

A run's cell is its model, objective and training range: mixed distances (``1-16``), a fixed distance
(``d8``), the nested task (``nested``) or starting small (``1-64 small``). Records written before the
protocol have no ``end_reason``: ``target`` when they stopped early, else ``cap`` (their budget).
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from longdep.analysis import style
from longdep.analysis.panels import ci_text, t_interval
from longdep.analysis.tables import image, markdown
from longdep.records import read_record, run_records
from longdep.training.convergence import END_REASONS, still_improving

BUDGET_VIEW = 64_000  # training examples: the 2,000-step budget at batch 32 of the grid before the protocol
CRITERION = 0.95
UNFINISHED = 0.05  # a cell is not finished when more than this share of its runs ended at the cap still improving


def _cell(cfg: dict) -> str:
    t = cfg["task"]
    if t.get("name", "agreement") != "agreement":
        return t["name"]
    if t.get("max_distance") in (None, t.get("distance")):
        return f"d{t['distance']}"
    small = " small" if cfg["train"].get("start_steps") and t.get("start_max_distance") else ""
    return f"{t['distance']}-{t['max_distance']}{small}"


def flops_per_example(config: dict) -> float:
    """Training FLOPs per example of a run (forward + backward, the cost model of ``longdep scale``:
    :func:`longdep.measure.cost.predict`) at the mean length of its training sequences (256 generated
    from its task config: the classifier's prefixes up to the query, the language model's whole
    sentences). At the mean length, so an attention model's N^2 term is read at E[N]^2, not E[N^2]."""
    key = json.dumps({k: config[k] for k in ("task", "model")}, sort_keys=True, default=str)
    if key not in _FPE:
        from longdep.measure.cost import predict
        from longdep.measure.plan import Point
        from longdep.tasks import get_task, split_seed
        from longdep.config import RunConfig, merge

        values = {f"{part}.{k}": v for part in ("task", "model") for k, v in config[part].items()}
        if "task.start_max_distance" in values:  # starting small changes the first steps, not the lengths after them
            values["task.start_max_distance"] = None
        spec = get_task(config["task"].get("name", "agreement"))
        cfg = merge(RunConfig(task=spec.config()), values=values)  # the record's values on the schema's defaults
        tokens, _, meta = spec.generate(split_seed("val", 0), 256, cfg.task)
        lengths = (tokens != 0).sum(1) if cfg.task.objective == "lm" else meta["query_index"] + 1
        n = max(1, int(round(float(np.mean(lengths)))))
        m = cfg.model
        _FPE[key] = float(predict(Point.of(m.name, m.backend, n, model_cfg=m, batch=1))["flops"])
    return _FPE[key]


_FPE: dict = {}


def load_protocol_runs(folder: Path) -> pd.DataFrame:
    """One row per run record of ``folder``: model, objective, cell, seed, end_reason, still_improving,
    steps, best validation accuracy, the batch size and the validation curve (a list of (step, acc))."""
    rows = []
    for rec in run_records(folder):
        cfg, curve = rec["config"], [(int(s), float(a)) for s, a in rec.get("val_curve") or []]
        reason = rec.get("end_reason") or ("target" if rec.get("stopped_early") else "cap")
        rows.append({"run_id": rec["run_id"], "model": cfg["model"]["name"], "seed": cfg["train"]["seed"],
                     "objective": cfg["task"].get("objective", "classify"), "cell": _cell(cfg), "end_reason": reason,
                     "still_improving": rec.get("still_improving", still_improving(curve)), "steps": rec["steps"],
                     "best_val_acc": max((a for _, a in curve), default=np.nan),
                     "batch_size": cfg["train"]["batch_size"], "flops_per_example": flops_per_example(cfg),
                     "curve": curve})
    return pd.DataFrame(rows)


def _groups(runs: pd.DataFrame):
    order = {m: i for i, m in enumerate(style.model_order())}
    keys = sorted(runs.groupby(["objective", "cell", "model"]).groups, key=lambda k: (k[0], k[1], order.get(k[2], 99)))
    for key in keys:
        yield key, runs[(runs["objective"] == key[0]) & (runs["cell"] == key[1]) & (runs["model"] == key[2])]


def end_table(runs: pd.DataFrame) -> str:
    """Markdown: per model, objective and cell, how many runs ended at each reason, and how many ended at
    the cap while still improving (the runs that were not trained to convergence)."""
    rows = []
    for (objective, cell, model), sub in _groups(runs):
        counts = [int((sub["end_reason"] == r).sum()) for r in END_REASONS]
        rising = int(((sub["end_reason"] == "cap") & sub["still_improving"]).sum())
        rows.append([objective, cell, style.model_name(model), len(sub), *counts, rising, f"{sub['steps'].median():.0f}"])
    return markdown(["objective", "cell", "model", "runs", *END_REASONS, "cap, still improving", "median steps"], rows)


def unfinished(runs: pd.DataFrame) -> list[str]:
    """The cells (``objective cell model``) where more than 5% of the runs ended at the cap still improving."""
    out = []
    for (objective, cell, model), sub in _groups(runs):
        rising = ((sub["end_reason"] == "cap") & sub["still_improving"]).mean()
        if rising > UNFINISHED:
            out.append(f"{objective} {cell} {style.model_name(model)}")
    return out


def verdict(runs: pd.DataFrame) -> str:
    """One line: finished (every run at its target or on a plateau, or at the cap no longer improving), or
    not, naming the cells that are not."""
    bad = unfinished(runs)
    if not bad:
        return (f"**Finished:** no cell has more than {UNFINISHED:.0%} of its runs at the step cap while still "
                f"improving ({len(runs)} runs).")
    return (f"**Not finished:** more than {UNFINISHED:.0%} of the runs ended at the step cap still improving in "
            f"{len(bad)} cell(s): " + "; ".join(bad) + ".")


def at_examples(curve, batch: int, examples: int) -> float | None:
    """The validation accuracy after ``examples`` training examples: the last validation at or before it;
    a run that ended at its target earlier holds its last value; None for a run that ended earlier otherwise."""
    seen = [(s * batch, a) for s, a in curve if s * batch <= examples]
    return seen[-1][1] if seen else None


def efficiency_table(runs: pd.DataFrame) -> str:
    """Markdown: per model, objective and cell, the examples to 95% validation accuracy (median over the
    runs that got there, and how many did: the others are censored at their last step), the validation
    accuracy after 64,000 examples (the old budget's view), and the best validation accuracy (how far the
    run got, the weights it is tested with); means with seed-level 95% t-intervals."""
    rows = []
    for (objective, cell, model), sub in _groups(runs):
        reach = [next((s * r.batch_size for s, a in r.curve if a >= CRITERION), None) for r in sub.itertuples()]
        got = [x for x in reach if x is not None]
        early = [a for r in sub.itertuples()
                 if (a := (at_examples(r.curve, r.batch_size, BUDGET_VIEW) if r.steps * r.batch_size >= BUDGET_VIEW
                           or r.end_reason == "target" else None)) is not None]
        rows.append([objective, cell, style.model_name(model), f"{len(got)}/{len(sub)}",
                     f"{np.median(got):,.0f}" if got else "never",
                     f"{np.median(got) * sub.flops_per_example.iloc[0]:.1e}" if got else "never",
                     ci_text(early), ci_text(sub["best_val_acc"])])
    return markdown(["objective", "cell", "model", "reached 95%", "examples to 95% (median of those)", "FLOPs to 95%",
                     "val. acc. at 64k examples", "best val. acc."], rows)


def speed_findings(runs: pd.DataFrame, cells=("1-16", "1-64")) -> str:
    """Bullets, per classifier cell of mixed distances: the models ordered by median examples to 95%
    validation accuracy (the fast ones first; models that never got there last), beside the spread of
    their best validation accuracy: how fast against how far, stated from the records."""
    out = []
    for cell in cells:
        parts, best = [], []
        for (objective, c, model), sub in _groups(runs):
            if objective != "classify" or c != cell:
                continue
            got = [n for r in sub.itertuples()
                   if (n := next((s * r.batch_size for s, a in r.curve if a >= CRITERION), None)) is not None]
            parts.append((np.median(got) if got else np.inf, model, len(got), len(sub)))
            best.append((float(sub["best_val_acc"].mean()), model))
        if not parts:
            continue
        parts.sort()
        order = ", ".join(f"{style.model_name(m)} {f'{e:,.0f}' if np.isfinite(e) else 'never'}"
                          + (f" ({k}/{n} runs)" if k < n else "") for e, m, k, n in parts)
        reached = [b for b, m in best if any(m == p[1] and np.isfinite(p[0]) for p in parts)]
        out.append(f"- Classifier on {cell}, median training examples to 95% validation accuracy: {order}."
                   + (f" The models that got there end at best validation accuracies {min(reached):.2f}-{max(reached):.2f}."
                      if reached else ""))
    return "\n".join(out)


def efficiency_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """Validation accuracy against training examples, one row per (run, validation): model, objective,
    cell, seed, examples, val_acc. A run that ended at its target is held at its last value up to the
    longest run of its cell (so the mean never loses the fastest learners); runs ended on a plateau or
    at the cap are not extended (the mean past their end is over the runs still going)."""
    rows = []
    for (objective, cell, model), sub in _groups(runs):
        longest = max(r.steps for r in sub.itertuples())
        for r in sub.itertuples():
            pts = list(r.curve)
            if r.end_reason == "target" and pts:
                every = pts[1][0] - pts[0][0] if len(pts) > 1 else pts[0][0]
                pts += [(s, pts[-1][1]) for s in range(pts[-1][0] + every, longest + 1, every)]
            rows += [{"model": model, "objective": objective, "cell": cell, "seed": r.seed, "examples": s * r.batch_size,
                      "flops": s * r.batch_size * r.flops_per_example, "val_acc": a} for s, a in pts]
    return pd.DataFrame(rows, columns=["model", "objective", "cell", "seed", "examples", "flops", "val_acc"])


def plot_sample_efficiency(curves: pd.DataFrame, x: str = "examples") -> plt.Figure:
    """Validation accuracy against training examples seen (``x="examples"``) or training FLOPs
    (``x="flops"``, :func:`flops_per_example`), log scale, a panel per objective and mixed training range,
    a line per model: the mean over seeds, shaded its seed-level 95% t-interval. (Against FLOPs the seeds
    of a model share one FLOPs-per-example, so their validations still line up.)"""
    style.apply()
    mixed = curves[curves["cell"].str.match(r"^\d+-\d+$")] if len(curves) else curves
    panels = sorted(mixed.groupby(["objective", "cell"]).groups, key=lambda k: (k[0], int(k[1].split("-")[1])))
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(3.6 * max(1, len(panels)), 3.2), squeeze=False, sharey=True)
    for ax, (objective, cell) in zip(axes[0], panels):
        sub = mixed[(mixed["objective"] == objective) & (mixed["cell"] == cell)]
        for model in [m for m in style.model_order() if m in set(sub["model"])]:
            g = sub[sub["model"] == model].groupby(x)["val_acc"]
            stats = g.agg(["mean", "count"]).join(g.apply(lambda v: pd.Series(t_interval(v), index=["lo", "hi"])).unstack())
            ax.plot(stats.index, stats["mean"], color=style.model_color(model), label=style.model_name(model), lw=1.4)
            ax.fill_between(stats.index, stats["lo"], stats["hi"], color=style.model_color(model), alpha=0.15, lw=0)
        if x == "examples":
            ax.axvline(BUDGET_VIEW, color="0.6", ls=":", lw=0.9)
        ax.axhline(CRITERION, color="0.45", ls="--", lw=0.9)
        ax.set_xscale("log")
        ax.set_title(f"{objective}, trained on {cell}")
        ax.set_xlabel("training examples seen" if x == "examples" else "training FLOPs (cost model)")
    axes[0][0].set_ylabel("validation accuracy")
    if panels:
        axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def tuning_table(folder: Path) -> str | None:
    """Markdown for a tuning stage of Optuna studies (``tuning.csv`` with a ``state`` column): per subject
    its chosen recipe and score, how many trials completed and were pruned, and how far the next best fell."""
    from longdep.records import read_csv

    tuning = read_csv(Path(folder) / "tuning.csv")
    if tuning is None or "state" not in tuning:
        return None
    params = [c for c in tuning.columns if c.startswith(("train.", "model.")) and c not in ("model.name",)]
    rows = []
    for (model, objective), sub in tuning.groupby(["model.name", "task.objective"], sort=False):
        best = sub[sub["chosen"]]
        if not len(best):
            continue
        best = best.iloc[0]
        recipe = ", ".join(f"{k.split('.', 1)[1]}={best[k]:.2g}" if isinstance(best[k], float) else f"{k.split('.', 1)[1]}={best[k]}"
                           for k in params if pd.notna(best[k]))
        others = sub[(~sub["chosen"]) & (sub["state"] == "complete")]["score"]
        nxt = f"{others.max():.3f}" if len(others) else "-"
        rows.append([style.model_name(model), objective, recipe, f"{best['score']:.3f}",
                     f"{len(sub)} ({int((sub['state'] == 'pruned').sum())})", nxt])
    return markdown(["model", "objective", "chosen recipe", "score", "trials (pruned)", "next best"], rows)


def sections(folder: Path, link: str) -> list[str]:
    """The report's protocol sections for a folder whose runs follow it (records with ``end_reason``), else []."""
    runs = load_protocol_runs(folder)
    if not len(runs) or not (Path(folder) / "runs").is_dir() or not _protocol(folder):
        return []
    out = ["**How the runs ended** (convergence protocol: `target` = 99% validation accuracy, `plateau` = no rise "
           "of the smoothed validation accuracy within the patience, `cap` = the step cap):\n\n"
           + end_table(runs) + "\n\n" + verdict(runs),
           "**Two answers: how fast and how far** (examples to 95% validation accuracy, censored runs counted as "
           "not reaching it; validation accuracy after 64,000 examples, the 2,000-step budget of the grid before "
           f"the protocol; the best validation accuracy, the weights each run is tested with):\n\n"
           + efficiency_table(runs) + "\n\n" + image(link, "sample_efficiency", "sample efficiency") + " "
           + image(link, "sample_efficiency_flops", "against FLOPs")]  # linked whether drawn yet or not
    tune = tuning_table(folder)
    if tune:
        out.insert(0, "**Tuning** (one Optuna study per model and objective, the same trials and step budget; score: "
                      "the best smoothed validation accuracy within the budget):\n\n" + tune)
    return out


def _protocol(folder: Path) -> bool:
    first = next(iter(sorted((Path(folder) / "runs").glob("*.json"))), None)
    return first is not None and "end_reason" in read_record(first)
