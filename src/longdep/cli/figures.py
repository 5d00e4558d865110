"""``longdep figures``: rebuild a results folder's figures from its CSVs (offline); and
:func:`print_summary`, the accuracy tables a grid prints when it ends."""
from __future__ import annotations

from pathlib import Path

from longdep.config import UsageError

EPILOG = """\
Examples:
  longdep figures
  longdep figures results/quick"""


def add_parser(sub) -> None:
    f = sub.add_parser("figures", help="rebuild figures from a results folder", epilog=EPILOG)
    f.add_argument("results_dir", nargs="?", default="results/paper",
                   help="a results folder (default: results/paper, committed; make demo writes results/quick)")
    f.set_defaults(func=cmd_figures)


def cmd_figures(args) -> None:
    folder = Path(args.results_dir)
    if not folder.is_dir():  # before the plotting imports (seconds): a typo is answered at once
        raise UsageError(f"results folder {str(folder)!r} does not exist")
    from longdep.analysis import figures
    paths = figures.make_all(folder)
    if not paths:
        raise UsageError(f"no results CSVs (accuracy.csv, scaling.csv) in {str(folder)!r}")
    for path in paths:
        print(f"wrote {path}")


def print_summary(folder: Path) -> None:
    """Print a grid folder's accuracy by model (mean over seeds) and its heuristic baselines; nothing
    without an accuracy table."""
    import pandas as pd

    from longdep.analysis import figures
    from longdep.analysis.data import load_accuracy, load_baselines, load_runs
    from longdep.records import has_table

    if not has_table(folder / "accuracy.csv"):
        return
    acc = load_accuracy(folder)
    if acc is None:  # an empty file
        return
    if "train_min_distance" not in acc:  # another task's results (nested: by depth and level)
        slices = [c for c in ("depth", "level") if c in acc]
        print(figures.pooled(acc, ["model", *slices]).pivot_table(index="model", columns=slices, values="accuracy")
              .round(3).to_string())
        return
    table = figures.accuracy_summary(acc, load_runs(folder))
    for c in ("steps_to_95", "steps"):  # whole steps, not 20.000
        if c in table:
            table[c] = table[c].round().astype("Int64")
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.float_format", "{:.3f}".format):
        print("\nMean over seeds (acc_trained: the training distances; acc_unseen: every other test distance):")
        print(table.to_string(index=False))
        base = load_baselines(folder)
        if base is not None:
            print("\nHeuristic baselines on the same test set:")
            print(figures.baseline_table(base).to_string())
