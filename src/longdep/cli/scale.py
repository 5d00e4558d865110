"""``longdep scale``: time, memory and parallel speed-up against sequence length, and their figures."""
from __future__ import annotations

from longdep.cli.configs import add_config_arguments

EPILOG = """\
Every key: longdep config show scale

Examples:
  longdep scale --config quick
  longdep scale model.d_model=128 models=lstm"""


def add_parser(sub) -> None:
    s = sub.add_parser("scale", help="time, memory and parallel speed-up against sequence length", epilog=EPILOG)
    add_config_arguments(s, "default", "configs/scale", "sweep fields, e.g. models=[lstm,transformer]")
    s.set_defaults(func=cmd_scale)


def cmd_scale(args) -> None:
    from longdep.analysis.scaling_figures import make_scaling_figures
    from longdep.measure.plan import load_scale_config
    from longdep.measure.sweep import run_scale

    from longdep.config import results_folder
    from longdep.records import exclusive

    cfg = load_scale_config(args.overrides, args.config)
    with exclusive(results_folder(cfg.results_dir, cfg.name)):  # one writer per folder
        out = run_scale(cfg)
    for path in make_scaling_figures(out):
        print(f"wrote {path}")
