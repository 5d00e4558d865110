"""``longdep grid``: run an experiment grid (resumable), print its summary, draw its figures."""
from __future__ import annotations

from pathlib import Path

from longdep.cli.configs import config_names
from longdep.cli.figures import print_summary

EPILOG = """\
Examples:
  longdep grid paper --workers 2
  longdep grid quick --out /tmp/q --no-scale train.max_steps=200
  longdep grid paper --launcher slurm launcher.slurm_partition=gpu launcher.slurm_gpus_per_node=1"""


def add_parser(sub) -> None:
    g = sub.add_parser("grid", help="run an experiment grid from experiments/NAME.yaml", epilog=EPILOG)
    g.add_argument("name", help=f"a grid under experiments/ ({', '.join(config_names('experiments'))}) "
                                "or a path to a grid file")
    g.add_argument("--out", help="results folder (default: results/NAME)")
    g.add_argument("--launcher", default="local", help="where cells run: local, submitit-local, slurm")
    g.add_argument("--workers", type=int, default=1, help="parallel workers (local) or jobs (submitit)")
    g.add_argument("--no-scale", action="store_true", help="skip the grid's cost sweep")
    g.add_argument("--no-figures", action="store_true", help="skip the figures at the end (later: longdep figures FOLDER)")
    g.add_argument("overrides", nargs="*", metavar="key=value", help="run-config fields for every cell, or launcher.*")
    g.set_defaults(func=cmd_grid)


def cmd_grid(args) -> None:
    from longdep.analysis import figures
    from longdep.grid import run_grid

    from longdep import tracking

    res = run_grid(args.name, Path(args.out) if args.out else None, args.overrides,
                   launcher=args.launcher, workers=args.workers, scale=not args.no_scale)
    print_summary(res.out)
    paths = [] if args.no_figures else figures.make_all(res.out)
    for path in paths:
        print(f"wrote {path}")
    if res.cells and res.ran:  # a resume with nothing left to do adds no summary run
        tracking.log_grid_summary(res.cells[0].wandb, Path(args.name).stem, res.out, paths)  # a grid file's name, not its path
    if res.failed:
        raise SystemExit(f"longdep: {res.failed} cell(s) failed; re-run the same command to retry them")
