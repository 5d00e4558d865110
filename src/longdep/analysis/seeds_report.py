"""The README section of a seeds-together timing (``results/<name>/alone`` and ``.../together``: the same
grid run twice, the second with ``train.seeds_together=true``): wall times and whether the results agree."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from longdep.config import UsageError
from longdep.records import read_csv

PARTS = ("alone", "together")


def is_timing(folder: Path) -> bool:
    return all((Path(folder) / p / "grid_log.csv").is_file() for p in PARTS)


def _runs(folder: Path) -> pd.DataFrame:
    rows = []
    for path in sorted((folder / "runs").glob("*.json")):
        rec = json.loads(path.read_text())
        group = rec.get("seeds_together")  # trained with other seeds: its wall time is the group's so far
        rows.append({"run_id": rec["run_id"], "model": rec["config"]["model"]["name"], "steps": rec["steps"],
                     "test_accuracy": rec["test_accuracy"], "val_curve": rec["val_curve"],
                     "wall_time_s": rec["wall_time_s"], "job": json.dumps(group, sort_keys=True) if group else rec["run_id"]})
    return pd.DataFrame(rows)


def _job_time(runs: pd.DataFrame) -> float:
    """Seconds of work: each job's wall time once (a group's is its last seed's, which includes the others)."""
    return float(runs.groupby("job")["wall_time_s"].max().sum())


def render_timing(folder: Path) -> str:
    """Markdown: each invocation's wall time, and per model the summed cell times and how far the two
    runs' results are apart (same steps, test accuracy, validation curves)."""
    from longdep.models import get_model

    folder = Path(folder)
    logs = {p: read_csv(folder / p / "grid_log.csv").iloc[-1] for p in PARTS}
    runs = {p: _runs(folder / p) for p in PARTS}
    both = runs["alone"].merge(runs["together"], on=["run_id", "model"], suffixes=("_a", "_t"))
    lines = ["| model | runs | jobs' time alone (s) | together (s) | ratio | same steps | same validation curve | "
             "max \\|Δ test accuracy\\| |", "|---|---|---|---|---|---|---|---|"]
    for model, g in both.groupby("model", sort=False):
        a = _job_time(runs["alone"][runs["alone"]["run_id"].isin(g["run_id"])])
        t = _job_time(runs["together"][runs["together"]["run_id"].isin(g["run_id"])])
        same_curve = sum(x == y for x, y in zip(g["val_curve_a"], g["val_curve_t"]))
        lines.append(f"| {get_model(model).display} | {len(g)} | {a:.0f} | {t:.0f} | {a / t:.2f}x | "
                     f"{int((g['steps_a'] == g['steps_t']).sum())}/{len(g)} | {same_curve}/{len(g)} | "
                     f"{(g['test_accuracy_a'] - g['test_accuracy_t']).abs().max():.3f} |")
    la, lt = logs["alone"], logs["together"]
    for p, log in logs.items():
        if int(log["cells_done_before"]):
            raise UsageError(f"{folder / p / 'grid_log.csv'}: its last invocation found cells already done; "
                             "time a fresh folder")
    head = (f"*The same {len(both)} cells trained twice by `longdep grid` ({la['workers']} workers, {la['cores']} cores, "
            f"{la['cpu']}, {str(lt['finished'])[:10]}): seeds alone, {la['cells_s'] / 60:.1f} min; seeds together "
            f"(`train.seeds_together=true`), {lt['cells_s'] / 60:.1f} min: {la['cells_s'] / lt['cells_s']:.2f}x.*")
    same = {name: _same_table(folder, name) for name in sorted(p.name for p in (folder / "alone").glob("*.csv"))
            if name != "grid_log.csv" and (folder / "together" / name).is_file()}
    tables = ", ".join(f"`{n}` {'identical' if ok else 'DIFFERENT'}" for n, ok in same.items())
    return head + "\n\n" + "\n".join(lines) + f"\n\nThe results tables, row for row: {tables}."


def _same_table(folder: Path, name: str) -> bool:
    a, b = (read_csv(folder / p / name) for p in PARTS)
    a, b = (df.sort_values(list(df.columns)).reset_index(drop=True) for df in (a, b))
    return list(a.columns) == list(b.columns) and a.equals(b)
