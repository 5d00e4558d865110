"""What a sweep's rows say in numbers: log-log slopes, speed-ups, the summary table ``longdep scale`` prints.

    from longdep.measure.summary import scaling_summary
    scaling_summary(pd.read_csv("results/quick/scaling.csv"))
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from longdep.models import MODELS

FIT_LARGEST = 3
SERIES = ("model", "backend", "device", "threads", "batch")


def fit_slope(df: pd.DataFrame, y=("peak_mem_bytes", "step_time_s"), x: str = "seq_len", by=SERIES,
              largest: int = FIT_LARGEST) -> pd.DataFrame:
    """Least-squares slope of log(y) on log(x) over the ``largest`` lengths with status ok, per group.

    Returns one row per group: the ``by`` columns, ``<y>_slope`` for each y, ``n_points``, ``min_len``,
    ``max_len``; groups with fewer than 2 ok lengths are left out.
    """
    ys = [y] if isinstance(y, str) else list(y)
    by = list(by)
    ok = df[df["status"] == "ok"] if "status" in df else df
    rows = []
    for key, g in ok.groupby(by, sort=False):
        g = g.sort_values(x).drop_duplicates(x, keep="last").tail(largest)
        if len(g) < 2:
            continue
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        lx = np.log(g[x].to_numpy(float))
        for col in ys:
            vals = g[col].to_numpy(float)
            row[f"{col}_slope"] = float(np.polyfit(lx, np.log(vals), 1)[0]) if np.all(vals > 0) else float("nan")
        row.update(n_points=len(g), min_len=int(g[x].min()), max_len=int(g[x].max()))
        rows.append(row)
    return pd.DataFrame(rows, columns=[*by, *(f"{c}_slope" for c in ys), "n_points", "min_len", "max_len"])


def speedups(df: pd.DataFrame) -> pd.DataFrame:
    """Speed-up of every ok row over the same point at 1 CPU thread, ``t(1 thread) / t(row)``.

    Columns: model, backend, batch, seq_len, setting (``cpu x T`` or ``cuda``), device, threads,
    speedup, sequential_steps.
    """
    ok = df[df["status"] == "ok"]
    keys = ["model", "backend", "batch", "seq_len", "d_model", "layers"]
    single = (ok["device"] == "cpu") & (ok["threads"] == 1)
    m = ok[~single].merge(ok[single][keys + ["step_time_s"]], on=keys, suffixes=("", "_1"))
    m["speedup"] = m["step_time_s_1"] / m["step_time_s"]
    m["setting"] = np.where(m["device"] == "cpu", "cpu x" + m["threads"].astype(str), m["device"])
    return m[keys[:4] + ["setting", "device", "threads", "speedup", "sequential_steps"]].reset_index(drop=True)


def scaling_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per series: memory and time slopes, and step time and fraction of peak at the largest ok N."""
    slopes = fit_slope(df)
    if not len(slopes):
        return slopes
    ok = df[df["status"] == "ok"]
    last = ok.sort_values("seq_len").groupby(list(SERIES), as_index=False).tail(1)
    last = last[[*SERIES, "seq_len", "step_time_s", "peak_mem_bytes", "peak_fraction"]]
    out = slopes.merge(last, on=list(SERIES))
    out["peak_mem_mb"] = out.pop("peak_mem_bytes") / 1e6
    out = out.rename(columns={"peak_mem_bytes_slope": "mem_slope", "step_time_s_slope": "time_slope",
                              "seq_len": "largest_n"})
    order = {m: i for i, m in enumerate(MODELS)}
    out = out.sort_values(["device", "threads", "model", "backend"],
                          key=lambda col: col.map(order) if col.name == "model" else col)
    cols = [*SERIES, "min_len", "max_len", "mem_slope", "time_slope", "largest_n", "step_time_s", "peak_mem_mb",
            "peak_fraction"]
    return out[cols].round({"mem_slope": 2, "time_slope": 2, "step_time_s": 4, "peak_mem_mb": 1,
                            "peak_fraction": 3}).reset_index(drop=True)
