"""Do two results folders hold the same tables? Compared on the runs both hold, row for row, after
filling the columns added since older results were written (`objective`: classify,
`train_start_max_distance`: 0). Prints a line per table; exit 0 when all are the same, 1 when any
differs, 2 on bad input. A folder that keeps checksums in place of its tables (``tables.json``, written
by ``--digest``) is compared run by run against the other folder's rows.
    python scripts/compare_tables.py results/budget2000 results/seeds_timing_paper/alone
    python scripts/compare_tables.py --digest results/seeds_timing_paper/alone   # tables -> tables.json"""
import sys
from pathlib import Path

from longdep.analysis.seeds_report import same_rows
from longdep.records import DIGESTS, has_table, read_csv, read_json, run_digests, write_digests

TABLES = ("accuracy.csv", "attention.csv", "baselines.csv", "counterfactual.csv", "probe.csv")
FILL = {"objective": "classify", "train_start_max_distance": 0.0}


def digests(folder: Path) -> dict:
    return read_json(folder / DIGESTS) if (folder / DIGESTS).is_file() else {}


def compare_digests(old: Path, new: Path, name: str) -> tuple[bool, str]:
    """``new`` keeps checksums of ``name``: the runs both hold, each compared by the checksum of its rows."""
    kept, a = digests(new)[name], read_csv(old / name)
    if set(a.columns) != set(kept["columns"]):
        return False, f"{name}: columns differ: {sorted(set(a.columns) ^ set(kept['columns']))}"
    mine, theirs = run_digests(a, FILL), kept["runs"]
    common = sorted(set(mine) & set(theirs))
    differ = [r for r in common if mine[r] != theirs[r]]
    line = (f"{name}: {len(common)} runs in both ({len(set(theirs) - set(mine))} only in {new}, "
            f"{len(set(mine) - set(theirs))} only in {old}), compared by checksum")
    if not differ:
        return True, line + ", identical"
    return False, line + f", DIFFERENT in {len(differ)} runs (e.g. {differ[0]})"


def compare(old: Path, new: Path, name: str) -> tuple[bool, str]:
    if name in digests(new) and not has_table(new / name):
        return compare_digests(old, new, name)
    a, b = read_csv(old / name), read_csv(new / name)
    common = set(a["run_id"]) & set(b["run_id"])
    only = len(set(b["run_id"]) - set(a["run_id"])), len(set(a["run_id"]) - set(b["run_id"]))
    if set(a.columns) != set(b.columns):
        return False, f"{name}: columns differ: {sorted(set(a.columns) ^ set(b.columns))}"
    a, b = a[a["run_id"].isin(common)], b[b["run_id"].isin(common)][list(a.columns)]
    a, b = (d.fillna({k: v for k, v in FILL.items() if k in d}) for d in (a, b))
    line = f"{name}: {len(common)} runs in both ({only[0]} only in {new}, {only[1]} only in {old}), {len(a)} rows"
    if same_rows(a, b):
        return True, line + ", identical"
    if len(a) != len(b):
        return False, line + f" against {len(b)}, DIFFERENT"
    # the same rows but for some columns' values: line the rows up by the columns that agree
    a, b = (d.sort_values(list(d.columns)).reset_index(drop=True) for d in (a, b))
    cols = [c for c in a.columns if not a[c].equals(b[c])]
    keys = [c for c in a.columns if c not in cols]
    a, b = (d.sort_values(keys).reset_index(drop=True) for d in (a, b))
    rows = (a[cols].ne(b[cols]) & ~(a[cols].isna() & b[cols].isna())).any(axis=1)
    what = "; ".join(f"{c} max |Δ| {(a[c] - b[c]).abs().max():.4g}" for c in cols if a[c].dtype.kind == "f")
    if "accuracy" in cols and "n" in a and "test_set" in a:  # the same as sentences of a slice
        k = ((a["accuracy"] - b["accuracy"]).abs() * a["n"]).round().groupby(a["test_set"]).max()
        what += " (at most " + ", ".join(f"{int(v)} sentence(s) in one {t}-test slice" for t, v in k.items() if v) + ")"
    head = f" in {a.loc[rows, 'heuristic'].unique().tolist()}" if "heuristic" in a else ""
    return False, line + f", DIFFERENT in {int(rows.sum())} rows{head}: {what or cols}"


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--digest":
        folder = Path(argv[1])
        if not any(has_table(folder / n) for n in TABLES):
            print(f"compare_tables: {folder} holds none of the tables {', '.join(TABLES)}", file=sys.stderr)
            return 2
        kept = write_digests(folder, TABLES, FILL)
        print(f"{folder / DIGESTS}: checksums of {', '.join(kept)} (the tables are removed)")
        return 0
    if len(argv) != 2:
        print("compare_tables: give two results folders: python scripts/compare_tables.py OLD NEW "
              "(or --digest FOLDER)", file=sys.stderr)
        return 2
    old, new = map(Path, argv)
    names = [n for n in TABLES if has_table(old / n) and (has_table(new / n) or n in digests(new))]
    if not names:
        print(f"compare_tables: {old} and {new} share none of the tables {', '.join(TABLES)}; "
              "give two results folders", file=sys.stderr)
        return 2
    results = [compare(old, new, n) for n in names]
    print("\n".join(line for _, line in results))
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
