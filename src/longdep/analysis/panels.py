"""What every figure module shares: the run keys, the training-stage filter, seed-level t-intervals,
pooling, distance bins and the panel layout (:mod:`longdep.analysis.figures`,
:mod:`longdep.analysis.study_figures`)."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from longdep.analysis import style

RUN_KEYS = ("run_id", "model", "seed", "train_min_distance", "train_max_distance")
SETTING = ("train_min_distance", "train_max_distance")
START = "train_start_max_distance"  # > 0: a starting-small run, an experiment of its own
PANELS_PER_ROW = 3


def staged(df: pd.DataFrame | None, start_small: bool, objective: str | None = "classify") -> pd.DataFrame | None:
    """The runs trained from the start on their distances (default), or the starting-small runs; of
    one training objective (results written before the ``lm`` objective existed are ``classify``;
    None: both). Every figure but :func:`plot_objectives` shows one objective at a time."""
    if df is None:
        return None
    start = df[START].fillna(0) if START in df else pd.Series(0, index=df.index)
    df = df.assign(objective=df["objective"].fillna("classify") if "objective" in df else "classify")
    keep = (start > 0) if start_small else (start == 0)
    if objective is not None:
        keep &= df["objective"] == objective
    return df[keep].reset_index(drop=True)


def t_interval(values) -> tuple[float, float]:
    """Seed-level 95% t-interval of the mean: mean +- t(0.975, n-1) * s / sqrt(n) (a point for n < 2)."""
    from scipy import stats

    v = np.asarray(values, float)
    m = float(v.mean())
    if len(v) < 2:
        return m, m
    h = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return m - h, m + h


def ci_text(values) -> str:
    """``mean ± half-width`` of the seed-level 95% t-interval, the mean alone for one value, '-' for none."""
    v = np.asarray(list(values), float)
    if not len(v):
        return "-"
    lo, hi = t_interval(v)
    return f"{v.mean():.2f} ± {(hi - lo) / 2:.2f}" if len(v) > 1 else f"{v.mean():.2f}"


def whole(x):
    """``16`` for 16.0 (a distance read from a CSV column that also holds NaN for another task's rows)."""
    try:
        return int(x) if float(x).is_integer() else x
    except (TypeError, ValueError):
        return x


def setting_label(lo: int, hi: int) -> str:
    lo, hi = whole(lo), whole(hi)
    return f"trained at {lo}" if lo == hi else f"trained on {lo}-{hi}"


def pooled(df: pd.DataFrame, by) -> pd.DataFrame:
    """Accuracy pooled over the slices within each ``by`` group: sum(correct) / sum(n)."""
    if "correct" not in df.columns:  # baselines carry accuracy and n only
        df = df.assign(correct=df["accuracy"] * df["n"])
    g = df.groupby(list(by), as_index=False, observed=True)[["n", "correct"]].sum()
    g["accuracy"] = g["correct"] / g["n"]
    return g


def distance_bin(d: pd.Series) -> pd.Series:
    """Test distances binned on a log2 scale (1, 2, 3-4, 5-8, ...), labelled by the bin's upper end."""
    return (2 ** np.ceil(np.log2(d.astype(float)))).astype(int)


def panel_grid(n: int, width: float = 3.6, height: float = 3.0):
    nrows = max(1, math.ceil(n / PANELS_PER_ROW))
    ncols = max(1, math.ceil(n / nrows))
    fig, grid = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows + 0.4), sharey=True, squeeze=False)
    axes = list(grid.flat)
    for ax in axes[n:]:
        ax.set_axis_off()
    return fig, grid, axes[:n]


def per_setting(df: pd.DataFrame, x: str, y: str, **line_kws):
    """A panel per training setting (mixed ranges first), one line per model: the mean over seeds with
    a seed-level t-interval (``line_kws`` go to seaborn's lineplot). Returns the figure, the panel grid,
    the axes and ``[(ax, lo, hi, rows)]`` for the caller to add baselines, ticks and titles."""
    import seaborn as sns

    settings = sorted(set(zip(df["train_min_distance"], df["train_max_distance"])), key=lambda s: (s[0] == s[1], s[1]))
    fig, grid, axes = panel_grid(len(settings))
    panels = []
    for ax, (lo, hi) in zip(axes, settings):
        sub = df[(df["train_min_distance"] == lo) & (df["train_max_distance"] == hi)]
        sns.lineplot(data=sub, x=x, y=y, **style.lines(**line_kws), errorbar=t_interval, ax=ax, legend=ax is axes[-1])
        panels.append((ax, lo, hi, sub))
    return fig, grid, axes, panels


def best_baselines(base: pd.DataFrame, lo: int, hi: int, test_set: str) -> pd.DataFrame:
    """Bag-of-words and the best other heuristic (not the majority label) of one training setting."""
    b = base[(base["train_min_distance"] == lo) & (base["train_max_distance"] == hi) & (base["test_set"] == test_set)]
    if not len(b):
        return b
    overall = pooled(b, ["heuristic"]).set_index("heuristic")["accuracy"]
    rules = overall.drop(["majority", "bag_of_words"], errors="ignore")
    keep = [h for h in ("bag_of_words",) if h in overall] + ([rules.idxmax()] if len(rules) else [])
    return b[b["heuristic"].isin(keep)]


def draw_baselines(ax, b: pd.DataFrame, x: str, transform=None) -> None:
    for i, (h, hdf) in enumerate(b.groupby("heuristic")):
        hdf = pooled(hdf, [x]).sort_values(x)
        xs = transform(hdf[x]) if transform else hdf[x]
        ax.plot(xs, hdf["accuracy"], color="0.45", lw=1, ls=("--", ":", "-.")[i % 3],
                label=style.baseline_name(h))


def log2_ticks(ax, values) -> None:
    """A log2 x axis ticked at the values themselves (4, 16, 64), not 2^k."""
    ax.set_xscale("log", base=2)
    ticks = sorted(set(values))
    ax.set_xticks(ticks, [str(t) for t in ticks], fontsize=7)
    ax.minorticks_off()


def finish_figure(fig, grid, axes, ylabel: str) -> plt.Figure:
    """Label the first column, one legend outside the panels, tight layout."""
    for row in grid:
        row[0].set_ylabel(ylabel)
    _legend_outside(fig, axes)
    fig.tight_layout()
    return fig


def empty_panel(text: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5, 2))
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def _legend_outside(fig, axes) -> None:
    """One legend for a figure: the last panel's entries plus any others, right of the figure."""
    h2, l2 = axes[-1].get_legend_handles_labels()
    if axes[-1].get_legend():
        axes[-1].get_legend().remove()
    h1, l1 = axes[0].get_legend_handles_labels()
    extra = [(h, lab) for h, lab in zip(h1, l1) if lab not in l2]
    fig.legend([*h2, *[h for h, _ in extra]], [*l2, *[lab for _, lab in extra]],
               loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
