"""Figures and summary tables from a results folder: functions ``df -> Figure``, no training, no W&B.

    longdep figures results/paper      # rebuilds results/paper/figures/*.png|pdf

Every figure reports the mean over seeds with a seed-level 95% t-interval (mean +- t * s / sqrt(n),
n = seeds), never the best seed; a panel per training setting ("trained on 1-64" for mixed
distances, "trained at 32" for a fixed one). The baselines that could explain a curve away are
drawn beside it: the bag-of-words classifier and the best surface heuristic of that panel. The
learning curves and steps-to-criterion live in :mod:`longdep.analysis.curves` (re-exported here), the
loaders of a folder's tables in :mod:`longdep.analysis.data`.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from longdep.analysis import data, style
from longdep.analysis.curves import plot_learning_curves, plot_steps_to_criterion  # noqa: F401
from longdep.analysis.panels import (PANELS_PER_ROW, RUN_KEYS, SETTING, START, best_baselines,  # noqa: F401
                                     distance_bin, draw_baselines, empty_panel, finish_figure, log2_ticks, panel_grid,
                                     per_setting, pooled, setting_label, staged, t_interval)
from longdep.records import has_table


def by_distance(acc: pd.DataFrame, keys=RUN_KEYS) -> pd.DataFrame:
    """Accuracy per run (or heuristic) and distance bin on the test set by distance."""
    d = acc[acc["test_set"] == "distance"] if "test_set" in acc else acc
    return pooled(d.assign(distance=distance_bin(d["distance"])), [*keys, "distance"])


def plot_accuracy_vs_distance(acc: pd.DataFrame, baselines: pd.DataFrame | None = None) -> plt.Figure:
    """Accuracy vs test distance (log2 bins), a panel per training setting; the shaded span is the
    training range, distances right of it were never seen in training."""
    style.apply()
    fig, grid, axes, panels = per_setting(style.display(by_distance(acc)), "distance", "accuracy")
    for ax, lo, hi, sub in panels:
        if baselines is not None:
            b = best_baselines(baselines, lo, hi, "distance")
            draw_baselines(ax, b.assign(distance=distance_bin(b["distance"])), "distance")
        ax.axvspan(lo, hi, color="0.9", zorder=0)
        log2_ticks(ax, sub["distance"])
        ax.set_title(setting_label(lo, hi))
        ax.set_xlabel("test distance (bin upper end)")
        ax.set_ylim(0.0, 1.02)
    return finish_figure(fig, grid, axes, "accuracy")


def plot_accuracy_vs_attractors(acc: pd.DataFrame, baselines: pd.DataFrame | None = None) -> plt.Figure:
    """Accuracy vs the exact number of attractors at a fixed test distance (the controlled test sets),
    a panel per training setting x test distance."""
    style.apply()
    a = acc[acc["test_set"] == "attractors"]
    if not len(a):
        return empty_panel("no controlled attractor test sets in these results")
    a = style.display(pooled(a, [*RUN_KEYS, "distance", "attractors"]))
    panels = sorted(set(zip(a["train_min_distance"], a["train_max_distance"], a["distance"])),
                    key=lambda s: (s[0] == s[1], s[1], s[2]))
    fig, grid, axes = panel_grid(len(panels))
    for ax, (lo, hi, dist) in zip(axes, panels):
        sub = a[(a["train_min_distance"] == lo) & (a["train_max_distance"] == hi) & (a["distance"] == dist)]
        sns.lineplot(data=sub, x="attractors", y="accuracy", **style.lines(), errorbar=t_interval, ax=ax,
                     legend=ax is axes[-1])
        if baselines is not None:
            b = best_baselines(baselines, lo, hi, "attractors")
            draw_baselines(ax, b[b["distance"] == dist], "attractors")
        ax.set_title(f"{setting_label(lo, hi)}; tested at {dist}", fontsize=9)
        ax.set_xlabel("attractors (nouns of the other number)")
        ax.set_xticks(sorted(set(sub["attractors"])))
        ax.set_ylim(0.0, 1.02)
    return finish_figure(fig, grid, axes, "accuracy")


OBJECTIVES = {"classify": ("predict the number (classifier)", "#333333"),
              "lm": ("language model (minimal pair)", "#e69f00")}


def plot_objectives(acc: pd.DataFrame, baselines: pd.DataFrame | None = None) -> plt.Figure:
    """The two training objectives side by side: accuracy vs test distance per model (a panel each),
    the classifier against the language model scored on the verb's minimal pair, for every mixed
    training setting that has language-model runs (a row each); grey: bag-of-words and the best
    surface heuristic of that setting, as on the headline figure."""
    style.apply()
    d = by_distance(acc[acc["test_set"] == "distance"], (*RUN_KEYS, "objective"))
    lm = d[d["objective"] == "lm"]
    settings = sorted(set(zip(lm["train_min_distance"], lm["train_max_distance"])), key=lambda s: s[1])
    models = [m for m in style.model_order() if m in set(lm["model"])]
    if not settings:
        return empty_panel("no language-model runs in these results")
    fig, grid = plt.subplots(len(settings), len(models), figsize=(3.2 * len(models), 2.8 * len(settings) + 0.4),
                             sharey=True, squeeze=False)
    palette = {label: color for label, color in OBJECTIVES.values()}
    d = d.assign(objective=d["objective"].map(lambda o: OBJECTIVES.get(o, (o,))[0]))
    for r, (lo, hi) in enumerate(settings):
        for c, model in enumerate(models):
            ax = grid[r][c]
            sub = d[(d["train_min_distance"] == lo) & (d["train_max_distance"] == hi) & (d["model"] == model)]
            sns.lineplot(data=sub, x="distance", y="accuracy", hue="objective", palette=palette, errorbar=t_interval,
                         marker="o", ax=ax, legend=(r, c) == (0, len(models) - 1))
            if baselines is not None:  # bag-of-words and the best heuristic, as on the headline figure
                b = best_baselines(baselines, lo, hi, "distance")
                draw_baselines(ax, b.assign(distance=distance_bin(b["distance"])), "distance")
            ax.axvspan(lo, hi, color="0.9", zorder=0)
            ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
            log2_ticks(ax, sub["distance"])
            ax.set_ylim(0.0, 1.02)
            ax.set_title(f"{style.model_name(model)}\n{setting_label(lo, hi)}", fontsize=8)
            ax.set_xlabel("test distance (bin upper end)")
    return finish_figure(fig, grid, [grid[0][-1]], "accuracy")


PROBES = {"flip_subject": "flip the subject (should flip)", "flip_attractor": "flip an intervening noun (should not)",
          "flip_offset_noun": "flip the noun at the training offset (should not)"}


def plot_counterfactual(cf: pd.DataFrame) -> plt.Figure:
    """Share of predictions that change when one noun's number is flipped, by test distance: a row per
    training setting, a column per probe."""
    style.apply()
    if cf is None or not len(cf):
        return empty_panel("no counterfactual probes in these results")
    cf = cf.assign(distance=distance_bin(cf["distance"]), changed=cf["rate"] * cf["n"])
    g = cf.groupby([*RUN_KEYS, "probe", "distance"], as_index=False)[["n", "changed"]].sum()
    g = style.display(g.assign(rate=g["changed"] / g["n"]))
    settings = sorted(set(zip(g["train_min_distance"], g["train_max_distance"])), key=lambda s: (s[0] == s[1], s[1]))
    probes = [p for p in PROBES if p in set(g["probe"])]
    fig, grid = plt.subplots(len(settings), len(probes), figsize=(3.8 * len(probes), 2.9 * len(settings) + 0.4),
                             sharey=True, squeeze=False)
    for r, (lo, hi) in enumerate(settings):
        for c, probe in enumerate(probes):
            ax = grid[r][c]
            sub = g[(g["train_min_distance"] == lo) & (g["train_max_distance"] == hi) & (g["probe"] == probe)]
            sns.lineplot(data=sub, x="distance", y="rate", **style.lines(), errorbar=t_interval, ax=ax,
                         legend=(r, c) == (0, len(probes) - 1))
            ax.axhline(1.0 if probe == "flip_subject" else 0.0, color="0.6", lw=0.8, ls="--")
            log2_ticks(ax, sub["distance"])
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(f"{PROBES[probe]}\n{setting_label(lo, hi)}", fontsize=8)
            ax.set_xlabel("test distance (bin upper end)")
    return finish_figure(fig, grid, [grid[0][-1]], "predictions changed")


def accuracy_summary(acc: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per model and training setting, mean over seeds: accuracy on the trained distances and on the
    others (test set by distance; for mixed training 1-D the others are the longer, unseen ones),
    steps-to-criterion, seeds."""
    d = acc[acc["test_set"] == "distance"] if "test_set" in acc else acc
    d = d.assign(seen=(d["distance"] >= d["train_min_distance"]) & (d["distance"] <= d["train_max_distance"]))
    per_run = pooled(d, [*RUN_KEYS, "seen"])
    wide = per_run.pivot_table(index=list(RUN_KEYS), columns="seen", values="accuracy").reset_index()
    wide = wide.rename(columns={True: "acc_trained", False: "acc_unseen"})
    keys = ["model", *SETTING]
    table = wide.groupby(keys).agg(seeds=("seed", "nunique"), **{c: (c, "mean") for c in ("acc_trained", "acc_unseen")
                                                                 if c in wide})
    if len(runs):
        table = table.join(runs.groupby(keys)[["steps_to_95", "steps"]].mean())
    table = table.reset_index()
    table["model"] = pd.Categorical(table["model"], [m for m in style.model_order() if m in set(table["model"])])
    return table.sort_values(["model", *SETTING]).reset_index(drop=True)


def baseline_table(baselines: pd.DataFrame) -> pd.DataFrame:
    """Each heuristic's accuracy on the test set by distance, per training setting."""
    b = baselines[baselines["test_set"] == "distance"] if "test_set" in baselines else baselines
    g = pooled(b, [*SETTING, "heuristic"])
    return g.pivot_table(index="heuristic", columns=list(SETTING), values="accuracy").round(3)


def make_all(folder: Path) -> list[Path]:
    """Rebuild every figure the folder has data for; return the written paths."""
    folder = Path(folder)
    paths = []
    from longdep.analysis.study_figures import mechanism_figures, plot_nested

    tests = set(data.load_accuracy(folder)["test_set"]) if has_table(folder / "accuracy.csv") else set()
    if "nested" in tests:
        paths += style.save(plot_nested(data.load_accuracy(folder), data.load_baselines(folder)), folder / "figures", "nested")
    if tests - {"nested"}:  # the agreement task's test sets
        acc, base = data.load_accuracy(folder), data.load_baselines(folder)
        paths += style.save(plot_accuracy_vs_distance(acc, base), folder / "figures", "accuracy_vs_distance")
        paths += style.save(plot_accuracy_vs_attractors(acc, base), folder / "figures", "accuracy_vs_attractors")
        cf = data.load_counterfactual(folder)
        if cf is not None:
            paths += style.save(plot_counterfactual(cf), folder / "figures", "counterfactual")
        runs = data.load_runs(folder)
        if len(runs) and (runs["train_min_distance"] == runs["train_max_distance"]).any():
            paths += style.save(plot_steps_to_criterion(runs), folder / "figures", "steps_to_criterion")
        curves = data.load_curves(folder, runs) if len(runs) else None
        if curves is not None and len(curves):
            paths += style.save(plot_learning_curves(curves, base), folder / "figures", "learning_curves")
        paths += mechanism_figures(folder)
        from longdep.analysis import controls_figures

        paths += controls_figures.make(folder)
        from longdep.analysis.convergence_report import efficiency_curves, load_protocol_runs, plot_sample_efficiency

        protocol = load_protocol_runs(folder)
        if len(protocol):
            efficiency = efficiency_curves(protocol)
            paths += style.save(plot_sample_efficiency(efficiency), folder / "figures", "sample_efficiency")
            paths += style.save(plot_sample_efficiency(efficiency, "flops"), folder / "figures", "sample_efficiency_flops")
        both = data.load_accuracy(folder, objective=None)
        if (both["objective"] == "lm").any():
            paths += style.save(plot_objectives(both, base), folder / "figures", "objectives")
    if (folder / "scaling.csv").exists():
        from longdep.analysis.scaling_figures import make_scaling_figures

        paths += make_scaling_figures(folder)
    return paths
