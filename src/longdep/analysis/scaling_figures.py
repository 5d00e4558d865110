"""Figures of cost against sequence length, from ``results/<name>/scaling.csv`` (no torch needed).

    from longdep.analysis.scaling_figures import make_scaling_figures
    make_scaling_figures("results/scale_quick")   # -> figures/time_vs_n, memory_vs_n, speedup (.png, .pdf)

Log-log axes; each measured line's legend entry carries its fitted slope over the largest lengths
(:func:`fit_slope`), and the prediction is drawn dashed beside it: FLOPs / matmul peak for time,
the N x N score bytes for explicit attention and the activations linear in N otherwise for memory.
One panel per attention backend; the recurrent models appear in both as the reference. Points
over their memory or time budget (``status`` oom/timeout) are crosses at their predicted value.
Constant-token series (``tokens`` > 0) get their own figure, ``constant_tokens``: time per token
against N at T = B x N fixed, beside the sequential steps of a pass. Each precision other than fp32
gets its own files (``time_vs_n_bf16-mixed``, ...).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from longdep.analysis import style
from longdep.records import read_csv
from longdep.measure.summary import constant_token_summary, constant_tokens, fit_slope, fixed_batch, speedups

PANELS = {"explicit": "explicit attention", "sdpa": "SDPA attention"}
BACKEND_MARKERS = {"explicit": "o", "sdpa": "s", "recurrent": "^", "scan": "v"}  # backend labels


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


def _loglog_panels(df: pd.DataFrame, measured: str, predicted, ylabel: str, slope_col: str,
                   predicted_label: str, every_thread_count: bool, wall_predictor) -> plt.Figure:
    """Rows: device settings; columns: attention backends (recurrent models in every panel).

    A point that ran out of its memory or time budget is a cross at its N, at the height
    ``wall_predictor`` predicts, scaled by measured / predicted at the series' largest good N.
    """
    style.apply()
    ok = df[df["status"] == "ok"]
    failed = df[df["status"].isin(FAILED)]
    rows = settings(ok, every_thread_count) or [("cpu", 1)]
    backends = [b for b in PANELS if (ok["backend"] == b).any()] or list(PANELS)
    fig, axes = plt.subplots(len(rows), len(backends), figsize=(5.0 * len(backends), 3.8 * len(rows)),
                             squeeze=False, sharey="row")
    for r, (device, threads) in enumerate(rows):
        sub = ok[(ok["device"] == device) & (ok["threads"] == threads)]
        walls = failed[(failed["device"] == device) & (failed["threads"] == threads)]
        slopes = fit_slope(sub, y=measured)
        for c, backend in enumerate(backends):
            ax = axes[r][c]
            panel = sub[(sub["backend"] == backend) | sub["backend"].map(_own_backend)]
            for model, be, g in _ordered_series(panel):
                name = style.model_name(model)
                color = style.model_color(model)
                s = slopes[(slopes["model"] == model) & (slopes["backend"] == be)]
                label = name + (f" (slope {s[slope_col].iloc[0]:.2f})" if len(s) else "")
                ax.plot(g["seq_len"], g[measured], marker=BACKEND_MARKERS.get(be, "o"), color=color, label=label)
                pred = predicted(g)
                if pred is not None and np.all(pred > 0):
                    ax.plot(g["seq_len"], pred, linestyle="--", linewidth=1.0, color=color, alpha=0.8)
                wall = walls[(walls["model"] == model) & (walls["backend"] == be)]
                if len(wall):
                    scale = g[measured].iloc[-1] / wall_predictor(g.iloc[[-1]])[0]
                    ax.plot(wall["seq_len"], wall_predictor(wall) * scale, marker="x", markersize=9,
                            markeredgewidth=2, linestyle="none", color=color)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("sequence length N")
            where = f"cpu, {threads} thread{'s' if threads > 1 else ''}" if device == "cpu" else device
            ax.set_title(f"{PANELS[backend]} ({where})")
            handles, labels = ax.get_legend_handles_labels()
            handles.append(Line2D([], [], color="grey", linestyle="--", linewidth=1.0))
            labels.append(predicted_label)
            if ((walls["backend"] == backend) | walls["backend"].map(_own_backend)).any():
                handles.append(Line2D([], [], color="grey", marker="x", markeredgewidth=2, linestyle="none"))
                labels.append("over budget (" + "/".join(sorted(set(walls["status"]))) + "), at its prediction")
            ax.legend(handles, labels, fontsize=7, loc="upper left")
        axes[r][0].set_ylabel(ylabel)
    fig.tight_layout()
    return fig


def plot_time_vs_n(df: pd.DataFrame) -> plt.Figure:
    """Median step time (forward + backward) against N, a row per thread count / device; dashed: FLOPs /
    matmul peak at that thread count (the compute floor)."""
    def floor(g):
        return (g["flops"] / g["matmul_peak_flops_per_s"]).to_numpy(float)

    return _loglog_panels(df, "step_time_s", floor, "step time (s), forward + backward", "step_time_s_slope",
                          "predicted: FLOPs / matmul peak", every_thread_count=True, wall_predictor=floor)


def plot_memory_vs_n(df: pd.DataFrame) -> plt.Figure:
    """Peak memory of one step against N (at the most CPU threads; memory does not depend on them);
    dashed: N x N score bytes (explicit) or the activations linear in N (sdpa, recurrent)."""
    def predicted(g):
        col = "predicted_score_bytes" if (g["backend"] == "explicit").all() else "predicted_activation_bytes"
        return g[col].to_numpy(float)

    return _loglog_panels(df, "peak_mem_bytes", predicted, "peak memory of a step (bytes)", "peak_mem_bytes_slope",
                          "predicted: N x N scores (explicit), activations (others)", every_thread_count=False,
                          wall_predictor=lambda g: g["predicted_peak_bytes"].to_numpy(float))


def plot_speedup(df: pd.DataFrame) -> plt.Figure:
    """Speed-up over 1 CPU thread against N, one panel per setting (more threads, GPU)."""
    style.apply()
    sp = speedups(df)
    cpu = sp[sp["device"] == "cpu"].sort_values("threads")["setting"].unique().tolist()
    names = cpu + sorted(set(sp["setting"]) - set(cpu))
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(5.0 * max(1, len(names)), 3.8), squeeze=False)
    if not names:
        axes[0][0].text(0.5, 0.5, "no point measured at 1 thread and at more threads or on a GPU",
                        ha="center", va="center", transform=axes[0][0].transAxes)
        axes[0][0].set_axis_off()
        return fig
    for ax, setting in zip(axes[0], names):
        sub = sp[sp["setting"] == setting]
        for model, backend, g in _ordered_series(sub):
            name = style.model_name(model)
            label = name if _own_backend(backend) else f"{name}, {backend}"
            ax.plot(g["seq_len"], g["speedup"], marker=BACKEND_MARKERS.get(backend, "o"),
                    linestyle="-" if backend != "sdpa" else ":", color=style.model_color(model), label=label)
        ax.axhline(1.0, color="grey", linewidth=0.8)
        if setting.startswith("cpu"):
            ideal = int(sub["threads"].iloc[0])
            ax.axhline(ideal, color="grey", linestyle="--", linewidth=0.8, label=f"ideal ({ideal}x)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length N")
        title = f"{sub['threads'].iloc[0]} CPU threads" if setting.startswith("cpu") else setting
        ax.set_title(f"{title} vs 1 CPU thread")
        ax.legend(fontsize=7, loc="best")
    axes[0][0].set_ylabel("speed-up  t(1 thread) / t")
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
            marker, color = BACKEND_MARKERS.get(backend, "o"), style.model_color(model)
            ls = ":" if backend == "sdpa" else "-"
            left.plot(g["seq_len"], g["us_per_token"], marker=marker, ls=ls, color=color,
                      label=label + (f" ({row['ratio'].iloc[0]:.1f}x)" if len(row) else ""))
            right.plot(g["seq_len"], g["sequential_steps"], marker=marker, ls=ls, color=color, label=label)
        where = f"cpu, {threads} thread{'s' if threads > 1 else ''}" if device == "cpu" else device
        prec = "" if precision == "32" else f", {precision}"
        for ax in (left, right):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("sequence length N (batch = T / N)")
        left.set_ylabel("step time per token (us)")
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
        for stem, plot in (("time_vs_n", plot_time_vs_n), ("memory_vs_n", plot_memory_vs_n), ("speedup", plot_speedup)):
            paths += style.save(plot(sub), out, stem + suffix)
    tokens = constant_tokens(df)
    if (tokens["status"] == "ok").any():
        paths += style.save(plot_constant_tokens(df), out, "constant_tokens")
    return paths
