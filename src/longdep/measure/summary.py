"""What a sweep's rows say in numbers: log-log slopes, speed-ups, the summary table ``longdep scale`` prints.

    from longdep.measure.summary import scaling_summary
    scaling_summary(pd.read_csv("results/quick/scaling.csv"))
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from longdep.models import MODELS

FIT_LARGEST = 3
SERIES = ("model", "backend", "device", "threads", "precision", "batch")
TOKEN_SERIES = ("model", "backend", "device", "threads", "precision", "tokens")


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Rows with ``precision`` (str) and ``tokens`` (int, 0 = fixed batch), also from files written
    before those columns existed (fp32, fixed batch)."""
    df = df.copy()
    df["tokens"] = df["tokens"].fillna(0).astype(int) if "tokens" in df else 0
    df["precision"] = df["precision"].map(_precision) if "precision" in df else "32"
    return df


def _precision(value) -> str:
    """``32`` however a CSV reader typed it (32, 32.0, "32", missing), the mixed names as they are."""
    if isinstance(value, str):
        return value
    return "32" if pd.isna(value) else str(int(value))


def fixed_batch(df: pd.DataFrame) -> pd.DataFrame:
    """The fixed-batch series (B sequences at every N)."""
    df = normalise(df)
    return df[df["tokens"] == 0]


def constant_tokens(df: pd.DataFrame) -> pd.DataFrame:
    """The constant-token series (T = B x N tokens per step at every N), with ``us_per_token``."""
    df = normalise(df)
    df = df[df["tokens"] > 0].copy()
    df["us_per_token"] = df["step_time_s"] / df["tokens"] * 1e6
    return df


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
    ok = normalise(df)
    ok = ok[ok["status"] == "ok"]
    keys = ["model", "backend", "batch", "seq_len", "d_model", "layers", "precision", "tokens"]
    single = (ok["device"] == "cpu") & (ok["threads"] == 1)
    m = ok[~single].merge(ok[single][keys + ["step_time_s"]], on=keys, suffixes=("", "_1"))
    m["speedup"] = m["step_time_s_1"] / m["step_time_s"]
    m["setting"] = np.where(m["device"] == "cpu", "cpu x" + m["threads"].astype(str), m["device"])
    return m[keys[:4] + ["setting", "device", "threads", "speedup", "sequential_steps"]].reset_index(drop=True)


def constant_token_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per constant-token series: time per token at the shortest and the longest ok N, their
    ratio, the log-log slope of step time on N over every ok N (0: flat, 1: linear in N at equal
    work), and the sequential steps of a pass at the longest N."""
    ok = constant_tokens(df)
    ok = ok[ok["status"] == "ok"]
    rows = []
    for key, g in ok.groupby(list(TOKEN_SERIES), sort=False):
        g = g.sort_values("seq_len")
        if len(g) < 2:
            continue
        first, last = g.iloc[0], g.iloc[-1]
        slope = float(np.polyfit(np.log(g["seq_len"].to_numpy(float)), np.log(g["step_time_s"].to_numpy(float)), 1)[0])
        rows.append({**dict(zip(TOKEN_SERIES, key)), "min_len": int(first["seq_len"]), "max_len": int(last["seq_len"]),
                     "us_per_token_min_len": first["us_per_token"], "us_per_token_max_len": last["us_per_token"],
                     "ratio": last["us_per_token"] / first["us_per_token"], "time_slope": slope,
                     "sequential_steps_max_len": int(last["sequential_steps"])})
    cols = [*TOKEN_SERIES, "min_len", "max_len", "us_per_token_min_len", "us_per_token_max_len", "ratio", "time_slope",
            "sequential_steps_max_len"]
    out = pd.DataFrame(rows, columns=cols)
    order = {m: i for i, m in enumerate(MODELS)}
    out = out.sort_values(["device", "threads", "precision", "tokens", "model", "backend"],
                          key=lambda col: col.map(order) if col.name == "model" else col)
    return out.round({"us_per_token_min_len": 3, "us_per_token_max_len": 3, "ratio": 2, "time_slope": 2}
                     ).reset_index(drop=True)


def scaling_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per fixed-batch series: memory and time slopes, and step time and fraction of peak at
    the largest ok N."""
    df = fixed_batch(df)
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
