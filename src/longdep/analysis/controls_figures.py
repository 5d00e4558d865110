"""Figures of the controls beside a grid's main results (see :mod:`longdep.analysis.controls_report`):
test accuracy against distance for each position encoding, and for each classifier from scratch
against from its own language model, read against the main cells (sinusoidal, from scratch).

    from longdep.analysis import controls_figures
    controls_figures.make(Path("results/paper"))   # -> figures/controls_positions.png, controls_pretrained.png

A panel per objective and model; a line per variant, the mean over seeds with a seed-level 95%
t-interval; grey: the bag-of-words baseline and the best heuristic of that training range; the shaded
span is the training range, distances right of it were never seen in training.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from longdep.analysis import style
from longdep.analysis.data import (ENCODINGS, STARTS, has_controls, load_baselines, load_controls, positions_runs,
                                   pretrained_runs)
from longdep.analysis.panels import (best_baselines, distance_bin, draw_baselines, finish_figure, log2_ticks, panel_grid,
                                     pooled, staged, t_interval, whole)
from longdep.analysis.tables import by_distance
from longdep.records import read_csv

COLORS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a")  # a line per variant (the models keep their own colours)


def distance_rows(folder: Path, keep: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per run of ``keep`` and test-distance bin (the test set by distance), with the run's
    model, objective, training range (``train_min_distance`` .. ``D``) and ``variant``."""
    accs = []
    for part in ("main", *sorted(set(keep["part"]) - {"main"})):
        acc = read_csv((Path(folder) if part == "main" else Path(folder) / part) / "accuracy.csv")
        if acc is not None:
            d = by_distance(staged(acc, False, None))
            accs.append(pooled(d.assign(distance=distance_bin(d["distance"])), ["run_id", "train_min_distance", "distance"]))
    if not accs:
        return pd.DataFrame(columns=["run_id", "train_min_distance", "distance", "accuracy", "model", "objective", "D",
                                     "variant"])
    rows = pd.concat(accs).drop_duplicates(["run_id", "distance"])
    return rows.merge(keep[["run_id", "model", "objective", "D", "variant"]], on="run_id")


def plot_variants(rows: pd.DataFrame, order, legend: str, baselines: pd.DataFrame | None = None) -> plt.Figure:
    """A panel per objective and model (classifier first), a line per variant in ``order`` (those present),
    and the baselines that could explain it away (bag-of-words and the best heuristic of the panel's
    training range, grey)."""
    import seaborn as sns

    style.apply()
    rows = rows.assign(**{legend: rows["variant"]})
    present = [v for v in order if v in set(rows["variant"])]
    panels = sorted(set(zip(rows["objective"], rows["model"])),
                    key=lambda p: (p[0] != "classify", style.model_order().index(p[1]) if p[1] in style.model_order() else 99))
    fig, grid, axes = panel_grid(len(panels))
    for ax, (objective, model) in zip(axes, panels):
        sub = rows[(rows["objective"] == objective) & (rows["model"] == model)]
        sns.lineplot(data=sub, x="distance", y="accuracy", hue=legend, hue_order=present, style=legend,
                     style_order=present, markers=True, dashes=False, palette=dict(zip(present, COLORS)),
                     errorbar=t_interval, ax=ax, legend=ax is axes[-1])
        lo, D = whole(sub["train_min_distance"].iloc[0]), whole(sub["D"].iloc[0])
        if baselines is not None:
            b = best_baselines(baselines, lo, D, "distance")
            draw_baselines(ax, b.assign(distance=distance_bin(b["distance"])), "distance")
        ax.axvspan(lo, D, color="0.9", zorder=0)
        log2_ticks(ax, sub["distance"])
        ax.set_title(f"{style.model_name(model)}, {'classifier' if objective == 'classify' else 'language model'}, {lo}-{D}",
                     fontsize=9)
        ax.set_xlabel("test distance (bin upper end)")
        ax.set_ylim(0.0, 1.02)
    return finish_figure(fig, grid, axes, "accuracy")


def make(folder: Path) -> list[Path]:
    """Draw the controls' figures the folder has data for; return the written paths."""
    folder = Path(folder)
    if not has_controls(folder):
        return []
    runs, base, paths = load_controls(folder), load_baselines(folder), []
    for stem, keep, order, legend in (("controls_positions", positions_runs, ENCODINGS, "positions"),
                                      ("controls_pretrained", pretrained_runs, STARTS, "start")):
        rows = distance_rows(folder, keep(runs)) if len(runs) else pd.DataFrame()
        if len(rows):
            paths += style.save(plot_variants(rows, order, legend, base), folder / "figures", stem)
    return paths
