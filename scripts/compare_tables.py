"""Do two results folders hold the same tables? Compared on the runs both hold, row for row, after
filling the columns added since older results were written (`objective`: classify,
`train_start_max_distance`: 0). Prints a line per table; exit 1 when any differs.
    python scripts/compare_tables.py results/paper results/seeds_timing_paper/alone"""
import sys
from pathlib import Path

from longdep.records import read_csv

TABLES = ("accuracy.csv", "attention.csv", "baselines.csv", "counterfactual.csv", "probe.csv")
FILL = {"objective": "classify", "train_start_max_distance": 0.0}


def compare(old: Path, new: Path, name: str) -> tuple[bool, str]:
    a, b = read_csv(old / name), read_csv(new / name)
    common = set(a["run_id"]) & set(b["run_id"])
    only = len(set(b["run_id"]) - set(a["run_id"])), len(set(a["run_id"]) - set(b["run_id"]))
    if set(a.columns) != set(b.columns):
        return False, f"{name}: columns differ: {sorted(set(a.columns) ^ set(b.columns))}"
    a, b = a[a["run_id"].isin(common)], b[b["run_id"].isin(common)][list(a.columns)]
    a, b = (d.fillna({k: v for k, v in FILL.items() if k in d}) for d in (a, b))
    a, b = (d.sort_values(list(d.columns)).reset_index(drop=True) for d in (a, b))
    line = f"{name}: {len(common)} runs in both ({only[0]} only in {new}, {only[1]} only in {old}), {len(a)} rows"
    if a.equals(b):
        return True, line + ", identical"
    if len(a) != len(b):
        return False, line + f" against {len(b)}, DIFFERENT"
    cols = [c for c in a.columns if not a[c].equals(b[c])]
    keys = [c for c in a.columns if c not in cols]
    a, b = (d.sort_values(keys).reset_index(drop=True) for d in (a, b))
    rows = (a[cols].ne(b[cols]) & ~(a[cols].isna() & b[cols].isna())).any(axis=1)
    what = "; ".join(f"{c} max |Δ| {(a[c] - b[c]).abs().max():.4g}" for c in cols if a[c].dtype.kind == "f")
    head = f" in {a.loc[rows, 'heuristic'].unique().tolist()}" if "heuristic" in a else ""
    return False, line + f", DIFFERENT in {int(rows.sum())} rows{head}: {what or cols}"


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python scripts/compare_tables.py OLD_RESULTS NEW_RESULTS")
    old, new = Path(sys.argv[1]), Path(sys.argv[2])
    results = [compare(old, new, n) for n in TABLES if (old / n).is_file() and (new / n).is_file()]
    print("\n".join(line for _, line in results))
    sys.exit(0 if all(ok for ok, _ in results) else 1)
