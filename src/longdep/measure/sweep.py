"""The sweep: every point of a plan, one isolated process each, rows appended as they come.

    longdep scale [--config NAME] [key=value ...]     # configs/scale/default.yaml + overrides
    python -c "from longdep.measure.sweep import run_scale; from longdep.measure.plan import load_scale_config; run_scale(load_scale_config(['name=x'], 'quick'))"

Each point becomes a row of ``results/<name>/scaling.csv`` (:data:`COLUMNS`) holding what was
measured (:mod:`longdep.measure.harness`) beside what theory predicts (:mod:`longdep.measure.cost`).
A point whose predicted peak exceeds the memory budget is not run; a point over a budget is a row
with ``status`` oom or timeout and the longer lengths of its series are ``skipped``; the sweep goes
on. Rows are appended after every point, keyed by ``point_id``, so an interrupted sweep resumes
where it stopped and a finished one is a no-op.
"""
from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import pandas as pd

from longdep.config import results_folder
from longdep.measure.cost import effective_heads, predict
from longdep.measure.isolate import run_isolated
from longdep.measure.plan import Point, ScaleConfig, all_cores, plan, validate_scale
from longdep.measure.summary import FIT_LARGEST, constant_token_summary, normalise, scaling_summary
from longdep.environment import environment
from longdep.records import append_rows, read_csv, write_json

# The columns every row has, in this order.
COLUMNS = [
    "point_id", "model", "backend", "device", "threads", "precision", "tokens", "batch", "seq_len", "d_model", "heads", "layers",
    "d_ff", "norm", "status", "note", "step_time_s", "step_time_p20_s", "step_time_p80_s", "forward_time_s",
    "peak_mem_bytes", "predicted_score_bytes", "predicted_activation_bytes", "predicted_peak_bytes", "flops",
    "sequential_steps", "achieved_flops_per_s", "matmul_peak_flops_per_s", "peak_fraction", "repeats",
    "pinned", "wall_s", "time_budget_s", "mem_budget_bytes", "timestamp",
]



def _row(p: Point, cfg: ScaleConfig, status: str, note: str = "", measured: Optional[dict] = None,
         mm_peak: float = float("nan"), wall: float = float("nan")) -> dict:
    row = {c: float("nan") for c in COLUMNS}
    m = p.model
    row.update(point_id=p.point_id(), model=m.name, backend=p.backend, device=p.device, threads=p.threads,
               precision=p.precision, tokens=p.tokens, batch=p.batch, seq_len=p.seq_len, d_model=m.d_model, heads=effective_heads(p), layers=m.layers,
               d_ff=m.d_ff, norm=m.norm, status=status, note=note, repeats=p.repeats, pinned=p.pin_threads,
               wall_s=wall, time_budget_s=cfg.time_budget_s, mem_budget_bytes=int(cfg.mem_budget_gb * 1e9),
               matmul_peak_flops_per_s=mm_peak, timestamp=time.strftime("%Y-%m-%dT%H:%M:%S"))
    row.update(predict(p))
    if measured:
        row.update(measured)
        row["status"] = measured.get("status", status)
        row["note"] = measured.get("note", "") or note
    if row["status"] == "ok":
        row["achieved_flops_per_s"] = row["flops"] / row["step_time_s"]
        row["peak_fraction"] = row["achieved_flops_per_s"] / mm_peak if mm_peak == mm_peak else float("nan")
    return row


def _describe(row: dict) -> str:
    prec = "" if row["precision"] == "32" else f" {row['precision']}"
    head = (f"{row['model']}/{row['backend']} {row['device']}{prec} threads={row['threads']} B={row['batch']} "
            f"N={row['seq_len']}: {row['status']}")
    if row["status"] != "ok":
        return f"{head} ({row['note']})"
    frac = row["peak_fraction"]
    return (f"{head}  step {row['step_time_s'] * 1e3:.1f} ms [{row['step_time_p20_s'] * 1e3:.1f}, "
            f"{row['step_time_p80_s'] * 1e3:.1f}]  fwd {row['forward_time_s'] * 1e3:.1f} ms  "
            f"peak {row['peak_mem_bytes'] / 1e6:.1f} MB  {row['achieved_flops_per_s'] / 1e9:.2f} GFLOP/s"
            + (f" ({frac:.0%} of mm peak)" if frac == frac else ""))


def run_scale(cfg: ScaleConfig, stream=None) -> Path:
    """Run every point of ``cfg`` missing from ``results/<name>/scaling.csv``; return the folder.

    Prints one line per point. A failed point (oom/timeout) is a row, and the longer lengths of its
    series are ``skipped`` rows; nothing a point does can stop the sweep.
    """
    stream = stream or sys.stdout  # looked up at call time: sys.stdout may have been replaced since import

    validate_scale(cfg)
    folder = results_folder(cfg.results_dir, cfg.name)
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "scaling.csv"
    old = read_csv(csv)
    if old is None:
        old = pd.DataFrame(columns=COLUMNS)
    elif not {"precision", "tokens"} <= set(old.columns):  # written before those columns: fp32, fixed batch
        from longdep.records import write_atomic

        old = normalise(old)[[c for c in COLUMNS if c in old.columns or c in ("precision", "tokens")]]
        write_atomic(csv, old.to_csv(index=False))
    points = plan(cfg)
    by_id = {p.point_id(): p for p in points}
    mine = old[old["point_id"].isin(by_id)]
    failed: dict[tuple, tuple] = {}  # series -> (N, status) of its first oom/timeout
    for pid, status in zip(mine["point_id"], mine["status"]):
        p = by_id[pid]
        if status in ("oom", "timeout") and (p.series not in failed or p.seq_len < failed[p.series][0]):
            failed[p.series] = (p.seq_len, status)
    todo = [p for p in points if p.point_id() not in set(mine["point_id"])]
    print(f"scale {cfg.name}: {len(points)} points, {len(points) - len(todo)} already in {csv}, "
          f"{len(todo)} to run", file=stream, flush=True)
    budget = int(cfg.mem_budget_gb * 1e9)
    peaks: dict[tuple, float] = {}
    env_peaks: dict[str, float] = {}
    env = environment()
    env.update(all_cores=all_cores(), matmul_peak_flops_per_s=env_peaks, config=asdict(cfg))
    if todo:
        write_json(folder / "scaling_env.json", env)  # again at the end, with the matmul peaks
    start = time.perf_counter()
    for i, p in enumerate(todo, 1):
        key = (p.device, p.threads, p.precision)
        if key not in peaks and not (p.series in failed and p.seq_len > failed[p.series][0]):
            status, value, _ = run_isolated("matmul", {"device": p.device, "threads": p.threads, "precision": p.precision,
                                                       "size": cfg.matmul_size, "pin_threads": cfg.pin_threads},
                                            max(cfg.time_budget_s, 60.0), budget)
            peaks[key] = value if status == "ok" else float("nan")
            label = f"{p.device} x{p.threads}" + ("" if p.precision == "32" else f" {p.precision}")
            env_peaks[label] = peaks[key]
            print(f"  matmul peak {label}: {peaks[key] / 1e9:.1f} GFLOP/s", file=stream, flush=True)
        mm = peaks.get(key, float("nan"))
        pred = predict(p)
        if p.series in failed and p.seq_len > failed[p.series][0]:
            n0, why = failed[p.series]
            row = _row(p, cfg, "skipped", f"{why} at N={n0}; longer lengths not run", mm_peak=mm)
        elif cfg.skip_predicted_oom and pred["predicted_peak_bytes"] > budget:
            row = _row(p, cfg, "oom", f"predicted peak {pred['predicted_peak_bytes'] / 1e9:.2f} GB > budget "
                                      f"{cfg.mem_budget_gb:g} GB; not run", mm_peak=mm)
        else:
            status, value, wall = run_isolated("point", asdict(p), cfg.time_budget_s, budget)
            if status == "ok":
                row = _row(p, cfg, "ok", measured=value, mm_peak=mm, wall=wall)
            else:
                row = _row(p, cfg, status, value, mm_peak=mm, wall=wall)
        if row["status"] in ("oom", "timeout") and p.series not in failed:
            failed[p.series] = (p.seq_len, row["status"])
        append_rows(csv, pd.DataFrame([row], columns=COLUMNS), key="point_id")
        print(f"[{i}/{len(todo)} {time.perf_counter() - start:6.1f}s] {_describe(row)}", file=stream, flush=True)
    if todo:
        write_json(folder / "scaling_env.json", env)
    df = read_csv(csv)
    table = scaling_summary(df[df["point_id"].isin({p.point_id() for p in points})])
    if len(table):
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            print(f"log-log slopes over the largest {FIT_LARGEST} lengths; step time and fraction of the matmul "
                  f"peak at the largest N:\n{table.to_string(index=False)}", file=stream)
    tokens = constant_token_summary(df[df["point_id"].isin({p.point_id() for p in points})])
    if len(tokens):
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            print(f"constant tokens per step (B = T / N): time per token at the shortest and longest N, their "
                  f"ratio, log-log slope of step time on N:\n{tokens.to_string(index=False)}", file=stream)
    return folder

