"""Figures and summary tables from a results folder: functions ``df -> Figure``, no training, no W&B.

    longdep figures results/quick      # rebuilds results/quick/figures/*.png|pdf

Every figure reports the mean over seeds with a 95% interval (never the best seed).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from longdep.analysis import style


def load_accuracy(folder: Path) -> pd.DataFrame:
    return pd.read_csv(Path(folder) / "accuracy.csv")


def load_baselines(folder: Path) -> pd.DataFrame | None:
    path = Path(folder) / "baselines.csv"
    return pd.read_csv(path) if path.exists() else None


def load_runs(folder: Path) -> pd.DataFrame:
    """One row per run record: model, seed, train_distance, steps-to-criterion, wall time."""
    rows = []
    for path in sorted((Path(folder) / "runs").glob("*.json")):
        rec = json.loads(path.read_text())
        cfg = rec["config"]
        rows.append({"run_id": rec["run_id"], "model": cfg["model"]["name"], "seed": cfg["train"]["seed"],
                     "train_distance": cfg["task"]["distance"], "steps": rec["steps"],
                     "max_steps": cfg["train"]["max_steps"], "steps_to_95": rec["steps_to_95"],
                     "steps_to_99": rec["steps_to_99"], "wall_time_s": rec["wall_time_s"]})
    return pd.DataFrame(rows)


RUN_KEYS = ("run_id", "model", "seed", "train_distance")


def pooled(df: pd.DataFrame, by) -> pd.DataFrame:
    """Accuracy pooled over the slices within each ``by`` group: sum(correct) / sum(n)."""
    if "correct" not in df.columns:  # baselines carry accuracy and n only
        df = df.assign(correct=df["accuracy"] * df["n"])
    g = df.groupby(list(by), as_index=False, observed=True)[["n", "correct"]].sum()
    g["accuracy"] = g["correct"] / g["n"]
    return g


def by_distance(acc: pd.DataFrame, keys=RUN_KEYS) -> pd.DataFrame:
    """Collapse attractor slices: accuracy per run (or heuristic) and test distance."""
    return pooled(acc, [*keys, "distance"])


PANELS_PER_ROW = 3
BOOTSTRAP_SEED = 0  # seaborn bootstraps the 95% intervals: a fixed seed makes figures reproducible


def _per_training_distance(df, base, draw, draw_baseline, xlabel, ylabel) -> plt.Figure:
    """One panel per training distance: ``draw(sub, ax, legend)`` draws the models of that panel,
    ``draw_baseline(ax, hdf, line_kwargs)`` each heuristic baseline (grey, a line style per heuristic)."""
    panels = sorted(df["train_distance"].unique())
    nrows = math.ceil(len(panels) / PANELS_PER_ROW)
    ncols = math.ceil(len(panels) / nrows)  # balanced rows: 4 panels -> 2 x 2, 6 -> 2 x 3
    fig, grid = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.0 * nrows + 0.4), sharey=True, squeeze=False)
    axes = list(grid.flat)
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    axes = axes[:len(panels)]
    for ax, td in zip(axes, panels):
        draw(df[df["train_distance"] == td], ax, ax is axes[-1])
        if base is not None:
            for h, hdf in base.groupby("heuristic"):
                draw_baseline(ax, hdf, dict(color="0.45", lw=1, ls=style.BASELINE_STYLES.get(h, ":"),
                                            label=style.BASELINE_NAMES.get(h, h)))
        ax.set_title(f"trained at distance {td}")
        ax.set_xlabel(xlabel)
        ax.set_ylim(0.0, 1.02)
    for row in grid:
        row[0].set_ylabel(ylabel)
    _legend_outside(fig, axes)
    fig.tight_layout()
    return fig


def plot_accuracy_vs_distance(acc: pd.DataFrame, baselines: pd.DataFrame | None = None) -> plt.Figure:
    """Accuracy vs test distance, one panel per training distance, mean and 95% CI over seeds."""
    style.apply()
    base = by_distance(baselines, keys=("heuristic",)) if baselines is not None and len(baselines) else None

    def draw(sub, ax, legend):
        sns.lineplot(data=sub, x="distance", y="accuracy", hue="model", palette=style.model_colors(),
                     errorbar=("ci", 95), seed=BOOTSTRAP_SEED, marker="o", ax=ax, legend=legend)
        ax.axvline(sub["train_distance"].iloc[0], color="0.6", lw=0.8)
        ax.set_xscale("log", base=2)

    return _per_training_distance(
        style.display(by_distance(acc)), base, draw,
        lambda ax, hdf, kw: ax.plot(hdf["distance"], hdf["accuracy"], **kw),
        "test distance (verb index - subject index)", "accuracy")


ATTRACTOR_BINS = [-0.5, 0.5, 1.5, 2.5, 4.5, 8.5, 16.5, 1e9]
ATTRACTOR_LABELS = ["0", "1", "2", "3-4", "5-8", "9-16", "17+"]


def by_attractors(acc: pd.DataFrame, keys=RUN_KEYS) -> pd.DataFrame:
    """Accuracy per run (or heuristic) and attractor bin, over all test distances."""
    acc = acc.assign(attractor_bin=pd.cut(acc["attractors"], ATTRACTOR_BINS, labels=ATTRACTOR_LABELS))
    return pooled(acc, [*keys, "attractor_bin"])


def plot_accuracy_vs_attractors(acc: pd.DataFrame, baselines: pd.DataFrame | None = None) -> plt.Figure:
    """Accuracy vs number of attractors (binned), one panel per training distance; mean, 95% CI over seeds."""
    style.apply()
    base = by_attractors(baselines, keys=("heuristic",)) if baselines is not None and len(baselines) else None

    def draw(sub, ax, legend):
        sns.pointplot(data=sub, x="attractor_bin", y="accuracy", hue="model", palette=style.model_colors(),
                      errorbar=("ci", 95), seed=BOOTSTRAP_SEED, markersize=4, linewidth=1.2, ax=ax, legend=legend,
                      order=ATTRACTOR_LABELS)

    def draw_baseline(ax, hdf, kw):
        hdf = hdf.set_index("attractor_bin").reindex(ATTRACTOR_LABELS)
        ax.plot(range(len(ATTRACTOR_LABELS)), hdf["accuracy"].values, **kw)

    return _per_training_distance(style.display(by_attractors(acc)), base, draw, draw_baseline,
                                  "attractors (nouns of the other number)", "accuracy (all test distances)")


def plot_steps_to_criterion(runs: pd.DataFrame, criterion: str = "steps_to_95") -> plt.Figure:
    """Steps to reach the validation criterion vs training distance; runs that never got there sit at the budget."""
    style.apply()
    df = runs.copy()
    df["reached"] = df[criterion].notna()
    df["steps"] = df[criterion].fillna(df["max_steps"]).astype(float)
    df = style.display(df)
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    sns.lineplot(data=df, x="train_distance", y="steps", hue="model", palette=style.model_colors(),
                 errorbar=("ci", 95), seed=BOOTSTRAP_SEED, marker="o", ax=ax)
    missed = df[~df["reached"]]
    if len(missed):
        ax.scatter(missed["train_distance"], missed["steps"], marker="x", color="k", s=30, zorder=5,
                   label="not reached within budget")
    budget = runs["max_steps"].max()
    ax.axhline(budget, color="0.6", lw=0.8, ls="--")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(runs["train_distance"].unique()), [str(d) for d in sorted(runs["train_distance"].unique())])
    ax.set_ylim(0, budget * 1.08)
    ax.set_xlabel("training distance")
    ax.set_ylabel(f"steps to {criterion[-2:]}% validation accuracy")
    ax.set_title(f"the learning cost of distance (budget {budget} steps)")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def _legend_outside(fig, axes) -> None:
    """One legend for a row of panels: the last panel's entries plus any others, right of the figure."""
    h2, l2 = axes[-1].get_legend_handles_labels()
    if axes[-1].get_legend():
        axes[-1].get_legend().remove()
    h1, l1 = axes[0].get_legend_handles_labels()
    extra = [(h, l) for h, l in zip(h1, l1) if l not in l2]
    fig.legend([*h2, *[h for h, _ in extra]], [*l2, *[l for _, l in extra]],
               loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)


def accuracy_summary(acc: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per model and training distance: accuracy at the training distance and beyond, steps-to-criterion."""
    d = by_distance(acc)
    at = d[d["distance"] == d["train_distance"]].groupby(["model", "train_distance"])["accuracy"].mean()
    beyond = d[d["distance"] > d["train_distance"]].groupby(["model", "train_distance"])["accuracy"].mean()
    table = pd.DataFrame({"acc_at_train_distance": at, "acc_beyond": beyond})
    if len(runs):
        steps = runs.groupby(["model", "train_distance"])[["steps_to_95", "steps_to_99", "steps"]].mean()
        table = table.join(steps)
    table = table.reset_index()
    table["model"] = pd.Categorical(table["model"], [m for m in style.model_order() if m in set(table["model"])])
    return table.sort_values(["model", "train_distance"]).reset_index(drop=True)


def baseline_table(baselines: pd.DataFrame) -> pd.DataFrame:
    return pooled(baselines, ["heuristic"])[["heuristic", "accuracy"]]


def make_all(folder: Path) -> list[Path]:
    """Rebuild every figure the folder has data for; return the written paths."""
    folder = Path(folder)
    paths = []
    if (folder / "accuracy.csv").exists():
        acc, base = load_accuracy(folder), load_baselines(folder)
        paths += style.save(plot_accuracy_vs_distance(acc, base), folder / "figures", "accuracy_vs_distance")
        paths += style.save(plot_accuracy_vs_attractors(acc, base), folder / "figures", "accuracy_vs_attractors")
        runs = load_runs(folder)
        if len(runs):
            paths += style.save(plot_steps_to_criterion(runs), folder / "figures", "steps_to_criterion")
    if (folder / "scaling.csv").exists():
        from longdep.analysis.scaling_figures import make_scaling_figures

        paths += make_scaling_figures(folder)
    return paths
