"""How fast models learn, from the run records (``results/<name>/runs/*.json``): the learning curves
(validation accuracy against step) and the steps to the validation criterion against the training
distance. Same conventions as :mod:`longdep.analysis.figures`: ``df -> Figure``, the mean over seeds
with a seed-level t-interval, a panel per training setting.

    from longdep.analysis import curves, data
    runs = data.load_runs("results/paper")
    curves.plot_learning_curves(data.load_curves("results/paper", runs))
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from longdep.analysis import style
from longdep.analysis.panels import best_baselines, empty_panel, finish_figure, per_setting, pooled, setting_label, t_interval

CRITERION = 0.95  # the validation accuracy steps_to_95 counts to


def plot_learning_curves(curves: pd.DataFrame, baselines: pd.DataFrame | None = None) -> plt.Figure:
    """Validation accuracy against training step, a line per model (mean over seeds, shaded: the
    seed-level 95% t-interval), a panel per training setting; dashed: the 95% criterion; grey: the
    bag-of-words classifier and the best surface heuristic on the test distances of the training range
    (what the validation set holds), the accuracy a curve must pass to mean more than a shortcut."""
    style.apply()
    if curves is None or not len(curves):
        return empty_panel("no validation curves in these run records")
    fig, grid, axes, panels = per_setting(style.display(curves), "step", "val_acc", markevery=5, markersize=5)
    for ax, lo, hi, sub in panels:
        ax.axhline(CRITERION, color="0.45", lw=0.9, ls="--", label=f"criterion ({CRITERION:.0%})")
        b = best_baselines(baselines, lo, hi, "distance") if baselines is not None else None
        if b is not None and len(b):
            b = b[b["distance"].between(lo, hi)]
            for i, (h, acc) in enumerate(pooled(b, ["heuristic"]).set_index("heuristic")["accuracy"].items()):
                ax.axhline(acc, color="0.6", lw=1, ls=(":", "-.")[i % 2], label=style.baseline_name(h))
        ax.set_title(setting_label(lo, hi))
        ax.set_xlabel("training step")
        ax.set_xlim(0, sub["step"].max())
        ax.set_ylim(min(0.4, sub["val_acc"].min() - 0.02), 1.02)
    fig = finish_figure(fig, grid, axes, "validation accuracy")
    fig.suptitle("mean over seeds, shaded: seed-level 95% t-interval; a run stopped early at its target accuracy "
                 "is held at its last value", fontsize=8, y=1.0)
    fig.tight_layout()
    return fig


def plot_steps_to_criterion(runs: pd.DataFrame, criterion: str = "steps_to_95") -> plt.Figure:
    """The learning cost of distance (fixed-distance runs only): steps to reach the validation
    criterion against the training distance. The line is the mean over the seeds that reached it
    (bars: their t-interval), each such seed a small dot; a seed that never did is an open marker at
    the step budget, in its model's colour, never counted in the mean."""
    style.apply()
    df = runs[runs["train_min_distance"] == runs["train_max_distance"]]
    if not len(df):
        return empty_panel("no fixed-distance runs in these results")
    df = df.assign(train_distance=df["train_min_distance"].astype(int), reached=df[criterion].notna())
    pct = criterion.rsplit("_", 1)[-1]
    budget = int(df["max_steps"].max())
    dists = sorted(set(df["train_distance"]))
    models = [m for m in style.model_order() if m in set(df["model"])]
    width = 0.9  # octaves shared by one distance's models, side by side
    fig, ax = plt.subplots(figsize=(7.6, 4.0))
    slot = width / len(models)
    for i, model in enumerate(models):
        shift = 2 ** (slot * (i + 0.5) - width / 2)
        color, marker = style.model_color(model), style.model_marker(model)
        sub = df[df["model"] == model].sort_values(["train_distance", "seed"])
        rank, n = sub.groupby("train_distance").cumcount(), sub.groupby("train_distance")["seed"].transform("size")
        jitter = 2 ** (0.8 * slot * ((rank + 0.5) / n - 0.5)).to_numpy(float)  # a distance's seeds side by side
        x = sub["train_distance"].to_numpy(float) * shift * jitter
        ok = sub["reached"].to_numpy()
        ax.scatter(x[ok], sub[criterion].to_numpy(float)[ok], s=14, color=color, alpha=0.7, lw=0, zorder=3)
        ax.scatter(x[~ok], np.full((~ok).sum(), budget), s=30, facecolors="white", edgecolors=color, lw=1.3,
                   marker=marker, zorder=4)
        reached = sub[sub["reached"]].groupby("train_distance")[criterion]
        if len(reached):
            d = np.array(sorted(reached.groups), float)
            mean = np.array([g.mean() for _, g in reached])
            lo, hi = np.array([t_interval(g) for _, g in reached]).T
            ax.errorbar(d * shift, mean, yerr=[mean - lo, hi - mean], color=color, marker=marker, ms=6, lw=1.6,
                        capsize=2, elinewidth=0.9, zorder=5)
    ax.axhline(budget, color="0.6", lw=0.8, ls="--")
    ax.set_xscale("log", base=2)
    ax.set_xticks(dists, [str(d) for d in dists])
    ax.minorticks_off()
    ax.set_xlim(min(dists) / 2 ** (width * 0.75), max(dists) * 2 ** (width * 0.75))
    ax.set_ylim(0, budget * 1.1)
    ax.set_xlabel("training distance (fixed)")
    ax.set_ylabel(f"steps to {pct}% validation accuracy")
    ax.set_title(f"the learning cost of distance (budget {budget:,} steps)")
    handles = [Line2D([], [], color=style.model_color(m), marker=style.model_marker(m), ms=6) for m in models]
    labels = [style.model_name(m) for m in models]
    handles += [Line2D([], [], color="0.3", marker="o", ms=7, lw=1.6),
                Line2D([], [], color="0.3", marker="o", ms=4, ls="none", alpha=0.7),
                Line2D([], [], marker="o", ms=6, mfc="white", mec="0.3", ls="none"),
                Line2D([], [], color="0.6", lw=0.8, ls="--")]
    labels += [f"mean over the seeds that reached {pct}%\n(bar: seed-level 95% t-interval)",
               f"one seed that reached {pct}%", f"did not reach {pct}% (drawn at the budget)", "step budget"]
    ax.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
