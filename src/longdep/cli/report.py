"""``longdep report``: a results folder's report (every table) printed, written to REPORT.md, or the
README's short block written or checked."""
from __future__ import annotations

from pathlib import Path

from longdep.config import UsageError

EPILOG = """\
Examples:
  longdep report results/paper
  longdep report results/paper --write
  longdep report results/paper --check README.md"""


def add_parser(sub) -> None:
    r = sub.add_parser("report", help="a results folder's tables (its REPORT.md) or a README's findings, generated", epilog=EPILOG)
    r.add_argument("results_dir", nargs="?", default="results/paper", help="a results folder")
    r.add_argument("--write", metavar="FILE", nargs="?", const="",
                   help="write RESULTS_DIR/REPORT.md (every table), or with FILE (the README) its short block "
                        "between the report markers")
    r.add_argument("--check", metavar="FILE", nargs="?", const="",
                   help="exit 2 unless RESULTS_DIR/REPORT.md (or FILE's block) is current")
    r.set_defaults(func=cmd_report)


def cmd_report(args) -> None:
    from longdep.analysis import report

    folder = Path(args.results_dir)
    if args.write is not None or args.check is not None:
        target = Path(args.write or args.check or folder / report.REPORT)
        current = report.write(folder, target, check=args.check is not None)
        if args.check is not None and not current:
            hint = "" if target == folder / report.REPORT else f" {target}"
            raise UsageError(f"{target} is not current with {folder}; run longdep report {folder} --write{hint}")
        print(f"{target}: {'current' if current else 'written'}")
        return
    print(report.render(folder))
