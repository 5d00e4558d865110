"""Figures of cost against sequence length, from ``results/<name>/scaling.csv`` (no torch needed).

    from longdep.analysis.scaling_figures import make_scaling_figures
    make_scaling_figures("results/scale_quick")   # -> figures/time_vs_n, memory_vs_n, speedup (.png, .pdf)

Log-log axes; each measured line's legend entry carries its fitted slope over the largest lengths
(:func:`fit_slope`), and the prediction is drawn dashed beside it: FLOPs / matmul peak for time,
the N x N score bytes for explicit attention and the activations linear in N otherwise for memory.
The recurrent models (recurrent, scan) get a panel of their own, then one panel per attention
backend, sharing the row's y axis. Points over their memory or time budget (``status`` oom/timeout)
were not measured: a cross at their N, on the memory budget line (dash-dot, ``mem_budget_bytes``)
for oom on the memory figure, else in a shaded band above the data. Axes read as numbers: N as
integers (64, 128), memory in MB/GB, time in ms/s, speed-ups as 0.5, 1, 2. Constant-token series
(``tokens`` > 0) get their own figure, ``constant_tokens``: time per token against N at T = B x N
fixed, beside the sequential steps of a pass. Each precision other than fp32 gets its own files
(``time_vs_n_bf16-mixed``, ...).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from longdep.analysis import style
from longdep.records import read_csv
from longdep.measure.summary import constant_token_summary, constant_tokens, fit_slope, fixed_batch, speedups

PANELS = {"explicit": "explicit attention", "sdpa": "SDPA attention"}


def settings(df: pd.DataFrame, every_thread_count: bool = True) -> list[tuple[str, int]]:
    """(device, threads) pairs to draw: each CPU thread count (or only the most), then each GPU."""
    out = []
    cpu = sorted(int(t) for t in set(df[df["device"] == "cpu"]["threads"]))
    out += [("cpu", t) for t in (cpu if every_thread_count else cpu[-1:])]
    for dev in sorted(set(df["device"]) - {"cpu"}):
        out.append((dev, int(df[df["device"] == dev]["threads"].max())))
    return out


def _own_backend(backend) -> bool:
    """A model without an attention backend (its label is its family): drawn in every panel."""
    return backend not in PANELS


def _ordered_series(sub: pd.DataFrame):
    for model in style.model_order():
        own = sorted(b for b in set(sub[sub["model"] == model]["backend"]) if _own_backend(b))
        for backend in (*own, "explicit", "sdpa"):
            g = sub[(sub["model"] == model) & (sub["backend"] == backend)]
            if len(g):
                yield model, backend, g.sort_values("seq_len")


FAILED = ("oom", "timeout")
OWN = "own"  # the panel of the models without an attention backend
STRIP = 0.1  # the height of the band that holds them, a fraction of the panel
NOT_MEASURED = dict(marker="x", markersize=8, markeredgewidth=2, linestyle="none", clip_on=False, zorder=6)


def _columns(df: pd.DataFrame) -> list[str]:
    """Panel columns: the recurrent models (recurrent, scan) once, then each attention backend."""
    cols = [OWN] if df["backend"].map(_own_backend).any() else []
    return cols + ([b for b in PANELS if (df["backend"] == b).any()] or ([] if cols else list(PANELS)))


def _in_column(df: pd.DataFrame, column: str) -> pd.DataFrame:
    own = df["backend"].map(_own_backend).astype(bool)  # bool even when empty: a row mask, never a column list
    return df[own] if column == OWN else df[df["backend"] == column]


def _where(device: str, threads: int) -> str:
    return f"cpu, {threads} thread{'s' if threads > 1 else ''}" if device == "cpu" else device


def _log2_x(ax, values) -> None:
    ticks = sorted({int(v) for v in values})
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks, [str(t) for t in ticks], fontsize=7 if len(ticks) > 6 else 8)
    ax.minorticks_off()
    ax.set_xlim(ticks[0] / 2 ** 0.3, ticks[-1] * 2 ** 0.3)


def _loglog_panels(df: pd.DataFrame, measured: str, predicted, ylabel: str, slope_col: str,
                   predicted_label, every_thread_count: bool, budget_col: str | None = None,
                   ticks=style.seconds_text) -> plt.Figure:
    """Rows: device settings; columns: the recurrent models, then one per attention backend;
    ``predicted_label(column)`` names the dashed prediction of a column.

    A point over its memory or time budget (status oom/timeout) was not measured: it is a cross at
    its N, on the budget line when ``budget_col`` names that budget (memory), else in a shaded band
    above the data labelled "not measured".
    """
    style.apply()
    ok = df[df["status"] == "ok"]
    failed = df[df["status"].isin(FAILED)]
    rows = settings(ok, every_thread_count) or [("cpu", 1)]
    columns = _columns(df[df["status"] != "skipped"])
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(4.3 * len(columns), 4.6 * len(rows)),
                             squeeze=False, sharey="row")
    lengths = df["seq_len"]
    for r, (device, threads) in enumerate(rows):
        here = (df["device"] == device) & (df["threads"] == threads)
        sub, walls = ok[here.loc[ok.index]], failed[here.loc[failed.index]]
        budget = df[here][budget_col].max() if budget_col in df else None
        slopes = fit_slope(sub, y=measured)
        strips = []  # panels with points marked in the top strip
        for c, column in enumerate(columns):
            ax = axes[r][c]
            for model, be, g in _ordered_series(_in_column(sub, column)):
                color, marker = style.model_color(model), style.model_marker(model)
                s = slopes[(slopes["model"] == model) & (slopes["backend"] == be)]
                label = style.model_name(model) + (f" (slope {s[slope_col].iloc[0]:.2f})" if len(s) else "")
                ax.plot(g["seq_len"], g[measured], marker=marker, mfc="white", mew=1.4, ms=6, color=color, label=label)
                pred = predicted(g)
                if pred is not None and np.all(pred > 0):
                    ax.plot(g["seq_len"], pred, linestyle=(0, (4, 3)), linewidth=0.9, color=color, alpha=0.7)
            wall = _in_column(walls, column)
            on_budget = budget is not None and pd.notna(budget) and set(wall["status"]) == {"oom"}
            _not_measured(ax, wall, float(budget) if on_budget else None)
            if len(wall) and not on_budget:
                strips.append(ax)
            if budget is not None and pd.notna(budget):
                ax.axhline(float(budget), color="0.25", lw=1.0, ls="-.", label=f"memory budget ({style.bytes_text(budget)})")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            _log2_x(ax, lengths)
            ax.set_xlabel("sequence length N")
            ax.set_title(f"{'recurrent models' if column == OWN else PANELS[column]} ({_where(device, threads)})")
            handles, labels = ax.get_legend_handles_labels()
            handles.append(Line2D([], [], color="grey", linestyle=(0, (4, 3)), linewidth=0.9))
            labels.append(predicted_label(column))
            if len(wall):
                handles.append(Line2D([], [], color="grey", marker="x", markeredgewidth=2, linestyle="none"))
                what = "/".join(sorted(set(wall["status"])))
                labels.append(f"over budget ({what}): not measured, marked "
                              + ("on the budget line" if on_budget else "in the top band"))
            ax.legend(handles, labels, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=1,
                      frameon=False)
        axes[r][0].set_ylabel(ylabel)
        lo, hi = axes[r][0].get_ylim()
        if strips:  # a band above the data, shaded, for the crosses of the points that were not measured
            axes[r][0].set_ylim(lo, hi * (hi / lo) ** (STRIP / (1 - STRIP)))
            for ax in strips:
                ax.add_patch(Rectangle((0, 1 - STRIP), 1, STRIP, transform=ax.transAxes, color="0.93", lw=0, zorder=1))
                ax.text(0.01, 1 - STRIP / 2, "not measured", transform=ax.transAxes, fontsize=6, color="0.4", va="center")
        style.unit_ticks(axes[r][0], ticks, below=hi)  # the row shares it; no label in the band
    fig.tight_layout()
    return fig


def _not_measured(ax, wall: pd.DataFrame, budget: float | None) -> None:
    """A cross per point over its budget, at its N (side by side where several share one N): on the
    memory budget line when ``budget`` is given, else in the band at the top of the panel."""
    if not len(wall):
        return
    wall = wall.assign(order=wall["model"].map(style.model_order().index)).sort_values(["seq_len", "order"])
    j = wall.groupby("seq_len").cumcount().to_numpy(float)
    k = wall.groupby("seq_len")["model"].transform("size").to_numpy(float)
    x = wall["seq_len"].to_numpy(float) * 2 ** (0.15 * (j - (k - 1) / 2))
    for m in dict.fromkeys(wall["model"]):
        xs = x[(wall["model"] == m).to_numpy()]
        if budget is not None:
            ax.plot(xs, np.full(len(xs), budget), color=style.model_color(m), **NOT_MEASURED)
        else:
            ax.plot(xs, np.full(len(xs), 1 - STRIP / 2), color=style.model_color(m), transform=ax.get_xaxis_transform(),
                    **NOT_MEASURED)


def plot_time_vs_n(df: pd.DataFrame) -> plt.Figure:
    """Median step time (forward + backward) against N, a row per thread count / device; dashed: FLOPs /
    matmul peak at that thread count (the compute floor)."""
    def floor(g):
        return (g["flops"] / g["matmul_peak_flops_per_s"]).to_numpy(float)

    return _loglog_panels(df, "step_time_s", floor, "step time, forward + backward", "step_time_s_slope",
                          lambda column: "predicted: FLOPs / matmul peak", every_thread_count=True)


def plot_memory_vs_n(df: pd.DataFrame) -> plt.Figure:
    """Peak memory of one step against N (at the most CPU threads; memory does not depend on them);
    dashed: N x N score bytes (explicit) or the activations linear in N (sdpa, recurrent); dash-dot:
    the sweep's memory budget (``mem_budget_bytes``)."""
    def predicted(g):
        col = "predicted_score_bytes" if (g["backend"] == "explicit").all() else "predicted_activation_bytes"
        return g[col].to_numpy(float)

    return _loglog_panels(df, "peak_mem_bytes", predicted, "peak memory of a step", "peak_mem_bytes_slope",
                          lambda column: "predicted: N x N score bytes" if column == "explicit" else
                          "predicted: activations, linear in N", every_thread_count=False,
                          budget_col="mem_budget_bytes", ticks=style.bytes_text)


def _series_style(model: str, backend: str) -> dict:
    """A model's colour and marker; SDPA dotted with open markers beside explicit attention's solid line."""
    sdpa = backend == "sdpa"
    return dict(color=style.model_color(model), marker=style.model_marker(model), ls=":" if sdpa else "-",
                mfc="white" if sdpa else style.model_color(model), mew=1.2, ms=5)


def _octaves(ax, values, lo: float, hi: float) -> None:
    """A log2 y axis with plain labels (0.5, 1, 2), spanning whole octaves from ``lo`` to ``hi`` and
    beyond only as far as the values go."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    low = 2.0 ** np.floor(np.log2(min([lo, *v.tolist()])))
    high = 2.0 ** np.ceil(np.log2(max([hi, *v.tolist()])))
    ax.set_yscale("log", base=2)
    ax.set_ylim(low / 1.1, high * 1.1)
    from matplotlib.ticker import LogLocator

    ax.yaxis.set_major_locator(LogLocator(base=2, numticks=9))
    style.plain_ticks(ax, "y")


def plot_speedup(df: pd.DataFrame) -> plt.Figure:
    """Speed-up over 1 CPU thread against N, one panel per setting (more threads, GPU). The y axis spans
    whole octaves, 0.5 to twice the ideal at least, so that one noisy point cannot set its range."""
    style.apply()
    sp = speedups(df)
    cpu = sp[sp["device"] == "cpu"].sort_values("threads")["setting"].unique().tolist()
    names = cpu + sorted(set(sp["setting"]) - set(cpu))
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(4.6 * max(1, len(names)), 3.8), squeeze=False)
    if not names:
        axes[0][0].text(0.5, 0.5, "no point measured at 1 thread and at more threads or on a GPU",
                        ha="center", va="center", transform=axes[0][0].transAxes)
        axes[0][0].set_axis_off()
        return fig
    entries = {}
    for ax, setting in zip(axes[0], names):
        sub = sp[sp["setting"] == setting]
        for model, backend, g in _ordered_series(sub):
            name = style.model_name(model)
            label = name if _own_backend(backend) else f"{name}, {backend}"
            ax.plot(g["seq_len"], g["speedup"], label=label, **_series_style(model, backend))
        ax.axhline(1.0, color="grey", linewidth=0.8, label="1x: no faster than 1 thread")
        ideal = int(sub["threads"].iloc[0]) if setting.startswith("cpu") else 1
        if setting.startswith("cpu"):
            ax.axhline(ideal, color="grey", linestyle="--", linewidth=0.8, label=f"ideal ({ideal}x)")
        _log2_x(ax, sub["seq_len"])
        _octaves(ax, sub["speedup"], 0.5, 2 * ideal)
        ax.set_xlabel("sequence length N")
        title = f"{sub['threads'].iloc[0]} CPU threads" if setting.startswith("cpu") else setting
        ax.set_title(f"{title} vs 1 CPU thread")
        entries.update({lab: h for h, lab in zip(*ax.get_legend_handles_labels()) if lab not in entries})
    axes[0][0].set_ylabel("speed-up  t(1 thread) / t")
    fig.legend(list(entries.values()), list(entries), fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5),
               frameon=False)
    fig.suptitle("sequential steps per pass: N x layers (RNN, LSTM), ~log2 N x layers (parallel scan), layers "
                 "(attention)", fontsize=9, y=1.02)
    fig.tight_layout()
    return fig


def plot_constant_tokens(df: pd.DataFrame) -> plt.Figure:
    """Constant tokens per step: a row per (device, threads, precision, T); left, time per token against
    N (the legend carries each line's ratio longest / shortest N); right, sequential steps of a pass."""
    style.apply()
    ct = constant_tokens(df)
    ok = ct[ct["status"] == "ok"]
    table = constant_token_summary(df)
    rows = sorted(set(zip(ok["device"], ok["threads"], ok["precision"], ok["tokens"])))
    fig, axes = plt.subplots(max(1, len(rows)), 2, figsize=(11.0, 3.8 * max(1, len(rows))), squeeze=False)
    for r, (device, threads, precision, tokens) in enumerate(rows):
        sub = ok[(ok["device"] == device) & (ok["threads"] == threads) & (ok["precision"] == precision)
                 & (ok["tokens"] == tokens)]
        t = table[(table["device"] == device) & (table["threads"] == threads) & (table["precision"] == precision)
                  & (table["tokens"] == tokens)]
        left, right = axes[r]
        for model, backend, g in _ordered_series(sub):
            name = style.model_name(model)
            label = name if _own_backend(backend) else f"{name}, {backend}"
            row = t[(t["model"] == model) & (t["backend"] == backend)]
            left.plot(g["seq_len"], g["us_per_token"], **_series_style(model, backend),
                      label=label + (f" ({row['ratio'].iloc[0]:.1f}x)" if len(row) else ""))
            right.plot(g["seq_len"], g["sequential_steps"], **_series_style(model, backend), label=label)
        where = _where(device, threads)
        prec = "" if precision == "32" else f", {precision}"
        for ax in (left, right):
            ax.set_yscale("log")
            _log2_x(ax, sub["seq_len"])
            style.plain_ticks(ax, "y")
            ax.set_xlabel("sequence length N (batch = T / N)")
        left.set_ylabel("step time per token (µs)")
        left.set_title(f"T = {tokens:,} tokens per step ({where}{prec})")
        left.legend(fontsize=7, loc="upper left", title="time at longest / shortest N", title_fontsize=7)
        right.set_ylabel("sequential steps per pass")
        right.set_title("the dependency chain of a pass")
    fig.tight_layout()
    return fig


def make_scaling_figures(folder) -> list[Path]:
    """Write time_vs_n, memory_vs_n, speedup and constant_tokens (PNG + PDF) under ``<folder>/figures/``;
    [] without data."""
    folder = Path(folder)
    path = folder / "scaling.csv"
    if not path.exists():
        return []
    df = read_csv(path)
    if df is None:
        return []
    if not (df["status"] == "ok").any():
        return []
    out = folder / "figures"
    paths = []
    fixed = fixed_batch(df)
    for precision in sorted(set(fixed["precision"]), key=lambda p: (p != "32", p)):
        sub = fixed[fixed["precision"] == precision]
        if not (sub["status"] == "ok").any():
            continue
        suffix = "" if precision == "32" else f"_{precision}"
        plots = [("time_vs_n", plot_time_vs_n), ("memory_vs_n", plot_memory_vs_n)]
        if len(speedups(sub)):  # a thread count against one thread (or a GPU against the CPU) to compare
            plots.append(("speedup", plot_speedup))
        for stem, plot in plots:
            paths += style.save(plot(sub), out, stem + suffix)
    tokens = constant_tokens(df)
    if (tokens["status"] == "ok").any():
        paths += style.save(plot_constant_tokens(df), out, "constant_tokens")
    return paths
