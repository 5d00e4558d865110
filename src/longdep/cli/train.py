"""``longdep train``: train and evaluate one run, print its result line."""
from __future__ import annotations

from longdep.cli.configs import add_config_arguments

EPILOG = """\
Every key, its default, type and valid choices: longdep config show train

Examples:
  longdep train model.name=lstm task.distance=1 task.max_distance=64 train.max_steps=2000
  longdep train model.name=transformer task.objective=lm train.save_weights=true
  longdep train --config nested model.name=lstm"""


def add_parser(sub) -> None:
    t = sub.add_parser("train", help="train and evaluate one run", epilog=EPILOG)
    add_config_arguments(t, "train", "configs", "config fields, e.g. model.name=lstm", paths=True)
    t.set_defaults(func=cmd_train)


def cmd_train(args) -> None:
    from longdep.training.config import load_config
    from longdep.training.run import results_dir, train_one

    cfg = load_config(args.config, args.overrides)
    rec = train_one(cfg)
    if "rank" in rec:  # a non-zero DDP rank: rank 0 reports
        return
    reached = "/".join("-" if rec[c] is None else str(rec[c]) for c in ("steps_to_95", "steps_to_99"))
    print(f"{rec['run_id']}: test accuracy {rec['test_accuracy']:.3f}, {rec['steps']} steps, "
          f"steps to 95%/99% validation accuracy: {reached} (-: not reached), {rec['wall_time_s']:.1f}s "
          f"-> {results_dir(cfg)}")
