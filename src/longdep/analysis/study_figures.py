"""Figures of the studies beside the headline: the nested-dependency task (accuracy per level) and
the mechanism analyses (attention from the query, the state probe). Same conventions as
:mod:`longdep.analysis.figures`: ``df -> Figure``, means over seeds with seed-level t-intervals."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from longdep.analysis import style
from longdep.analysis.panels import (RUN_KEYS, draw_baselines, empty_panel, finish_figure, log2_ticks, panel_grid, staged,
                                     distance_bin, per_setting, pooled, setting_label, t_interval)
from longdep.records import read_csv


NESTED_BASELINES = ("bag_of_words", "first_noun", "nearest_noun")


def plot_nested(acc: pd.DataFrame, baselines: pd.DataFrame | None = None) -> plt.Figure:
    """Nested dependencies (the ``nested`` task): accuracy per level, 0 = the outermost verb (the main
    verb, agreeing with the first noun) to ``depth`` = the innermost, a panel per depth, mean over
    seeds with a t-interval; grey: bag-of-words, the first noun (right at level 0) and the nearest
    noun (right at the innermost level)."""
    style.apply()
    a = acc[acc["test_set"] == "nested"]
    if not len(a):
        return empty_panel("no nested-task results here")
    keys = ["run_id", "model", "seed", "depth", "level"]
    a = style.display(pooled(a, keys))
    a = a.assign(depth=a["depth"].astype(int), level=a["level"].astype(int))
    depths = sorted(set(a["depth"]))
    fig, grid, axes = panel_grid(len(depths))
    for ax, depth in zip(axes, depths):
        sub = a[a["depth"] == depth]
        sns.lineplot(data=sub, x="level", y="accuracy", **style.lines(), errorbar=t_interval, ax=ax,
                     legend=ax is axes[-1])
        if baselines is not None and "depth" in baselines:
            b = baselines[(baselines["test_set"] == "nested") & (baselines["depth"] == depth)
                          & baselines["heuristic"].isin(NESTED_BASELINES)]
            draw_baselines(ax, b, "level")
        ax.set_xticks(range(depth + 1), ["outer" if lv == 0 else ("inner" if lv == depth else str(lv))
                                         for lv in range(depth + 1)])
        ax.set_ylim(0.0, 1.02)
        ax.set_title(f"depth {depth} ({depth + 1} nested dependencies)")
        ax.set_xlabel("queried verb (level)")
    return finish_figure(fig, grid, axes, "accuracy")


TARGETS = {"subject": "to the subject", "attractor": "to an attractor (mean)", "offset_noun": "to the noun at the training offset"}


def plot_attention(att: pd.DataFrame) -> plt.Figure:
    """Where attention looks from the query: per attention model and layer (rows), the weight on the
    subject, on an attractor and on the noun at the training offset (columns), as heads x test-distance
    heat maps, mean over seeds, for the widest training setting. ``uniform`` (1 / keys visible) is
    what attention that looks nowhere in particular would give each position: it is in the titles."""
    style.apply()
    if att is None or not len(att):
        return empty_panel("no attention analyses in these results")
    mixed = att[att["train_min_distance"] != att["train_max_distance"]]
    att = mixed if len(mixed) else att
    hi = att["train_max_distance"].max()
    a = att[att["train_max_distance"] == hi].assign(distance=lambda d: distance_bin(d["distance"]))
    a = a.assign(w=a["weight"] * a["n"]).groupby(["model", "seed", "layer", "head", "distance", "target"],
                                                   as_index=False)[["w", "n"]].sum()
    a = a.assign(weight=a["w"] / a["n"]).groupby(["model", "layer", "head", "distance", "target"], as_index=False)["weight"].mean()
    targets = [t for t in TARGETS if t in set(a["target"])]
    panels = [(m, layer) for m in style.model_order() if m in set(a["model"])
              for layer in sorted(set(a[a["model"] == m]["layer"]))]
    fig, grid = plt.subplots(len(panels), len(targets), figsize=(3.6 * len(targets), 1.9 * len(panels) + 0.6),
                             squeeze=False)
    vmax = float(a[a["target"].isin(targets)]["weight"].max())
    for r, (model, layer) in enumerate(panels):
        sub = a[(a["model"] == model) & (a["layer"] == layer)]
        uniform = sub[sub["target"] == "uniform"]["weight"].mean()
        for c, target in enumerate(targets):
            ax = grid[r][c]
            table = sub[sub["target"] == target].pivot_table(index="head", columns="distance", values="weight")
            sns.heatmap(table, ax=ax, vmin=0.0, vmax=vmax, cmap="viridis", cbar=c == len(targets) - 1,
                        cbar_kws={"label": "attention weight"} if c == len(targets) - 1 else None)
            ax.set_title(f"{style.model_name(model)}, layer {layer + 1}: {TARGETS[target]}\n"
                         f"(uniform: {uniform:.3f})", fontsize=8)
            ax.set_xlabel("test distance (bin upper end)" if r == len(panels) - 1 else "")
            ax.set_ylabel("head" if c == 0 else "")
    fig.suptitle(f"attention from the query position, trained on {setting_label(att['train_min_distance'].min(), hi)[11:]}",
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_state_probe(probe: pd.DataFrame) -> plt.Figure:
    """What the recurrent state holds: a linear probe's accuracy at decoding the subject's number from
    the hidden state, against the distance travelled since the subject (log2 bins), a curve per
    recurrent model, mean over seeds with a t-interval, a panel per training setting."""
    style.apply()
    if probe is None or not len(probe):
        return empty_panel("no state probes in these results")
    p = probe.assign(offset=(2 ** np.ceil(np.log2(probe["offset"].astype(float) + 1))).astype(int),
                     right=probe["accuracy"] * probe["n"])
    p = p.groupby([*RUN_KEYS, "offset"], as_index=False)[["right", "n"]].sum()
    fig, grid, axes, panels = per_setting(style.display(p.assign(accuracy=p["right"] / p["n"])), "offset", "accuracy")
    for ax, lo, hi, sub in panels:
        ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
        log2_ticks(ax, sub["offset"])
        ax.set_ylim(0.4, 1.02)
        ax.set_title(setting_label(lo, hi))
        ax.set_xlabel("tokens since the subject + 1 (bin upper end)")
    return finish_figure(fig, grid, axes, "probe accuracy (subject number)")


def mechanism_figures(folder: Path) -> list[Path]:
    """attention.png and state_probe.png from attention.csv / probe.csv (classifier runs trained from
    the start), where the folder has them."""
    paths = []
    for csv, plot, name in (("attention.csv", plot_attention, "attention"), ("probe.csv", plot_state_probe, "state_probe")):
        rows = staged(read_csv(Path(folder) / csv), False)
        if rows is not None and len(rows):
            paths += style.save(plot(rows), Path(folder) / "figures", name)
    return paths
