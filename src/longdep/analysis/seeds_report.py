"""The README section of a seeds-together timing (``results/<name>/alone`` and ``.../together``: the same
grid run twice, the second with ``train.seeds_together=true``): wall times and whether the results agree."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from longdep.analysis.tables import markdown
from longdep.config import UsageError
from longdep.records import DIGESTS, read_csv, read_json, run_digests, run_records

PARTS = ("alone", "together")


def is_timing(folder: Path) -> bool:
    return all((Path(folder) / p / "grid_log.csv").is_file() for p in PARTS)


def _runs(folder: Path) -> pd.DataFrame:
    rows = []
    for rec in run_records(folder):
        group = rec.get("seeds_together")  # trained with other seeds: its wall time is the group's so far
        rows.append({"run_id": rec["run_id"], "model": rec["config"]["model"]["name"], "steps": rec["steps"],
                     "test_accuracy": rec["test_accuracy"], "val_curve": rec["val_curve"],
                     "wall_time_s": rec["wall_time_s"], "resumed": bool(rec.get("resumed_from_step")),
                     "job": json.dumps(group, sort_keys=True) if group else rec["run_id"]})
    return pd.DataFrame(rows)


def _job_time(runs: pd.DataFrame) -> float:
    """Seconds of work: each job's wall time once (a group's is its last seed's, which includes the others)."""
    return float(runs.groupby("job")["wall_time_s"].max().sum())


def render_timing(folder: Path) -> str:
    """Markdown: the two passes' times, and per model the summed job times and how far the two runs'
    results are apart (same steps, test accuracy, validation curves). A pass that ran in one invocation
    from an empty folder is timed by its wall time; one resumed across invocations (a killed grid, a
    session that ended) by its jobs' time, which counts every cell once whichever invocation ran it."""
    from longdep.models import get_model

    folder = Path(folder)
    logs = {p: read_csv(folder / p / "grid_log.csv") for p in PARTS}
    runs = {p: _runs(folder / p) for p in PARTS}
    both = runs["alone"].merge(runs["together"], on=["run_id", "model"], suffixes=("_a", "_t"))
    if not len(runs["alone"]) == len(runs["together"]) == len(both):
        raise UsageError(f"{folder}: alone holds {len(runs['alone'])} runs, together {len(runs['together'])}, "
                         f"{len(both)} in both; finish both passes (rerun the same grid command) to compare them")
    rows = []
    groups = [(get_model(m).display, g) for m, g in both.groupby("model", sort=False)]
    for name, g in groups + ([("**all**", both)] if len(groups) > 1 else []):
        a = _job_time(runs["alone"][runs["alone"]["run_id"].isin(g["run_id"])])
        t = _job_time(runs["together"][runs["together"]["run_id"].isin(g["run_id"])])
        same_curve = sum(x == y for x, y in zip(g["val_curve_a"], g["val_curve_t"]))
        rows.append([name, len(g), f"{a:.0f}", f"{t:.0f}", f"{a / t:.2f}x",
                     f"{int((g['steps_a'] == g['steps_t']).sum())}/{len(g)}", f"{same_curve}/{len(g)}", f"{(g['test_accuracy_a'] - g['test_accuracy_t']).abs().max():.3f}"])
    whole = [_whole_pass(logs[p]) for p in PARTS]
    timed_whole = all(w is not None for w in whole)
    la, lt = whole if timed_whole else (logs[p].iloc[-1] for p in PARTS)
    where = f"{la['workers']} worker{'s' if la['workers'] > 1 else ''}, {la['cores']} cores, {la['cpu']}"
    if timed_whole:
        head = (f"*The same {len(both)} cells trained twice by `longdep grid` ({where}, {str(lt['finished'])[:10]}): "
                f"seeds alone, {la['cells_s'] / 60:.1f} min; seeds together (`train.seeds_together=true`), "
                f"{lt['cells_s'] / 60:.1f} min: {la['cells_s'] / lt['cells_s']:.2f}x.*")
    else:
        a, t = _job_time(runs["alone"]), _job_time(runs["together"])
        head = (f"*The same {len(both)} cells trained twice by `longdep grid` ({where}, last invocation "
                f"{str(lt['finished'])[:10]}), each pass resumed across invocations and so timed by its jobs: "
                f"seeds alone, {a / 3600:.2f} h; seeds together (`train.seeds_together=true`), {t / 3600:.2f} h: "
                f"{a / t:.2f}x.*")
        resumed = {p: int(runs[p]["resumed"].sum()) for p in PARTS}
        if any(resumed.values()):
            head += (f" *{resumed['alone']} run(s) alone and {resumed['together']} together resumed from a checkpoint "
                     "after a kill; their time before it is not counted.*")
    same = {name: _same_table(folder, name) for name in sorted(set(_tables(folder / "alone")) & set(_tables(folder / "together")))}
    tables = ", ".join(f"`{n}` {'identical' if ok else 'DIFFERENT'}" for n, ok in same.items())
    table = markdown(["model", "runs", "jobs' time alone (s)", "together (s)", "ratio", "same steps", "same validation curve",
                      "max \\|Δ test accuracy\\|"], rows)
    return head + "\n\n" + table + f"\n\nThe results tables, row for row: {tables}."


def interrupted_rows(log: pd.DataFrame) -> pd.Series:
    """Which invocations of a ``grid_log.csv`` Ctrl-C stopped (logs written before that column: none)."""
    if "interrupted" not in log:
        return pd.Series(False, index=log.index)
    return log["interrupted"].map(lambda v: str(v).strip().lower() in ("true", "1", "1.0"))


def _whole_pass(log: pd.DataFrame):
    """The invocation that trained every cell from an empty folder (later ones found everything done),
    or None."""
    stopped = interrupted_rows(log)
    fresh = [i for i in range(len(log)) if int(log.iloc[i]["cells_done_before"]) == 0 and not stopped.iloc[i]]
    if not fresh or any(int(r["cells_done_before"]) < int(r["cells"]) for _, r in log.iloc[fresh[-1] + 1:].iterrows()):
        return None
    return log.iloc[fresh[-1]]


def same_rows(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether two tables hold the same rows, in whatever order (the columns in the same order)."""
    a, b = (df.sort_values(list(df.columns)).reset_index(drop=True) for df in (a, b))
    return list(a.columns) == list(b.columns) and a.equals(b)


def _tables(part: Path) -> dict:
    """A pass's results tables: ``{name: digest}`` from its ``tables.json`` (a committed pass keeps the
    checksum of each run's rows, not a copy of tables that results/paper already holds), or
    ``{name: None}`` for a table still on disk."""
    digests = read_json(part / DIGESTS) if (part / DIGESTS).is_file() else {}
    on_disk = {p.name.removesuffix(".gz") for p in (*part.glob("*.csv"), *part.glob("*.csv.gz"))} - {"grid_log.csv"}
    return {**{n: None for n in on_disk}, **digests}


def _same_table(folder: Path, name: str) -> bool:
    """Whether both passes hold the same rows of table ``name`` (by checksums where a pass has only those)."""
    kept = [_tables(folder / p)[name] for p in PARTS]
    if all(k is None for k in kept):
        return same_rows(*(read_csv(folder / p / name) for p in PARTS))
    runs = [k["runs"] if k is not None else run_digests(read_csv(folder / p / name)) for k, p in zip(kept, PARTS)]
    return runs[0] == runs[1]
