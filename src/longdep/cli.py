"""The ``longdep`` command line.

    longdep data show [--n N] [key=value ...]          sample sentences with annotations
    longdep data export --out F.jsonl [--n N] [...]    one JSON object per example
    longdep train [--config NAME] [key=value ...]      one run -> results/<name>/
    longdep grid NAME [--out DIR] [key=value ...]      a grid from experiments/NAME.yaml, resumable
    longdep scale [--config NAME] [key=value ...]      cost vs sequence length -> results/<name>/scaling.csv
    longdep figures [RESULTS_DIR]                      rebuild figures from CSVs (offline)
    longdep report [DIR] [--write|--check [FILE]]      DIR/REPORT.md (every table), or FILE's short block
    longdep bench data                                 task generation speed
    longdep bench loop [--models ...] [key=value]      the suite's loop against plain PyTorch
    longdep bench seeds [--seeds 5] [key=value]        a cell's seeds alone against trained together

Bad input (unknown names, malformed values, impossible settings) prints one line naming the
bad value and the valid choices and exits with code 2 before anything is written.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import signal
import sys
import threading
from pathlib import Path

from longdep.cli_tools import bench_cell, cmd_analyze, cmd_config, cmd_eval_pairs
from longdep.config import UsageError

DATA_SPLITS = ("train", "val", "test")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown beside every option that has one; descriptions and examples kept as written."""

    def _get_help_string(self, action):
        if action.default in (None, False, argparse.SUPPRESS) or action.nargs == "*":
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message):  # one line, exit 2 (argparse's own convention too)
        self.exit(2, f"longdep: error: {message}\n")


def _task(overrides):
    """The task spec and its validated config from ``key=value`` task fields (``task.`` prefix optional)."""
    from longdep.config import TaskConfig, merge
    from longdep.tasks import get_task

    items = [o[len("task."):] if o.startswith("task.") else o for o in overrides]
    names = [i.split("=", 1)[1] for i in items if i.startswith("name=")]
    spec = get_task(names[-1] if names else TaskConfig().name)
    return spec, spec.validate(merge(spec.config, [], items))


def _generate(args):
    from longdep.tasks import split_seed

    from longdep.config import EvalConfig, check_writable
    from longdep.training.resources import available_bytes, example_bytes

    spec, cfg = _task(args.overrides)
    if args.n <= 0:
        raise UsageError(f"--n must be a positive integer, got {args.n}")
    need = 4 * example_bytes(args.n, spec.max_length(cfg, EvalConfig(span=1, attractor_distances=[])))
    if need > available_bytes():  # x4: the records and their JSON beside the arrays
        raise UsageError(f"--n {args.n} examples need ~{need / 1e9:.3g} GB but {available_bytes() / 1e9:.3g} GB "
                         "is available; ask for fewer")
    if getattr(args, "action", None) == "pairs" and spec.to_pairs is None:
        raise UsageError(f"task {spec.name!r} has no minimal-pair form; valid: data show, data export")
    if getattr(args, "action", None) in ("export", "pairs") and args.out:
        out = Path(args.out)
        if out.is_dir():
            raise UsageError(f"--out {args.out} is a directory; give a file, e.g. {out / 'examples.jsonl'}")
        check_writable(out.parent if str(out.parent) else Path("."), "output folder")
    try:
        seed = split_seed(args.split, args.seed)
        tok, lab, meta = spec.generate(seed, args.n, cfg)
    except ValueError as exc:
        raise UsageError(str(exc).splitlines()[0]) from None
    if getattr(args, "action", None) == "pairs":
        return spec, spec.to_pairs(tok, lab, meta)
    return spec, spec.to_records(tok, lab, meta)


def cmd_data(args) -> None:
    if args.action != "show" and not args.out:
        raise UsageError(f"data {args.action} needs --out FILE.jsonl")
    spec, records = _generate(args)
    if args.action == "show":
        for rec in records:
            print(spec.format_record(rec) + "\n")
        return
    from longdep.records import write_atomic

    what = "examples" if args.action == "export" else "minimal pairs (BLiMP fields)"
    write_atomic(Path(args.out), "".join(json.dumps(r) + "\n" for r in records))
    print(f"wrote {len(records)} {what} to {args.out}")


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


def print_summary(folder: Path) -> None:
    import pandas as pd

    from longdep.analysis import figures
    from longdep.records import has_table

    if not has_table(folder / "accuracy.csv"):
        return
    acc = figures.load_accuracy(folder)
    if "train_min_distance" not in acc:  # another task's results (nested: by depth and level)
        slices = [c for c in ("depth", "level") if c in acc]
        print(figures.pooled(acc, ["model", *slices]).pivot_table(index="model", columns=slices, values="accuracy")
              .round(3).to_string())
        return
    table = figures.accuracy_summary(acc, figures.load_runs(folder))
    for c in ("steps_to_95", "steps"):  # whole steps, not 20.000
        if c in table:
            table[c] = table[c].round().astype("Int64")
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.float_format", "{:.3f}".format):
        print("\nMean over seeds (acc_trained: the training distances; acc_unseen: every other test distance):")
        print(table.to_string(index=False))
        base = figures.load_baselines(folder)
        if base is not None:
            print("\nHeuristic baselines on the same test set:")
            print(figures.baseline_table(base).to_string())


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


def cmd_bench(args) -> None:
    if args.what == "cell":
        return bench_cell(args.overrides)
    if args.what in ("loop", "seeds"):
        from longdep.training import bench_loop

        for flag in ("steps", "repeats", "seeds"):
            if getattr(args, flag) < 1:
                raise UsageError(f"--{flag} must be a positive integer, got {getattr(args, flag)}")

        threads = [] if any(o.startswith("train.threads=") for o in args.overrides) else ["train.threads=1"]
        if args.what == "seeds":
            bench_loop.run_seeds([*threads, *args.overrides], args.models, args.steps, args.repeats, args.seeds)
        else:
            bench_loop.run([*threads, *args.overrides], args.models, args.steps, args.repeats)
        return
    from longdep.tasks import TASKS

    import dataclasses

    for spec in TASKS.values():
        has_distance = "distance" in {f.name for f in dataclasses.fields(spec.config)}
        for distance in args.distances if has_distance else [0]:
            res = spec.benchmark(n=args.n, distance=distance)
            where = f"distance {distance:4d}: " if has_distance else ""
            print(f"{spec.name} generator: {where}{res['examples_per_s']:,.0f} examples/s ({res['n']:,} examples)")


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("longdep")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _names(folder: str) -> list[str]:
    """The YAML names under a resource folder (for --help)."""
    from longdep.config import resource_dir, yaml_names

    top, *rest = folder.split("/")
    try:
        return yaml_names(resource_dir(top).joinpath(*rest))
    except Exception:  # noqa: BLE001 -- help text only
        return []


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="longdep", description=__doc__.split("\n\n")[0])
    p.add_argument("--version", action="version", version=f"longdep {_version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    d = sub.add_parser("data", help="show or export task examples, or export them as minimal pairs")
    d.add_argument("action", choices=("show", "export", "pairs"),
                   help="show: print; export: JSONL records; pairs: JSONL minimal pairs in BLiMP's fields")
    d.epilog = ("examples:\n  longdep data show --n 2 distance=12 max_distance=null\n"
                "  longdep data export --n 1000 --out examples.jsonl\n"
                "  longdep data pairs --n 1000 --out pairs.jsonl distance=16 max_distance=null\n"
                "  longdep data show name=nested")
    d.add_argument("--n", type=int, default=5, help="examples")
    d.add_argument("--seed", type=int, default=0, help="seed within the split's seed range")
    d.add_argument("--split", default="train", help=f"which seed range: {', '.join(DATA_SPLITS)}")
    d.add_argument("--out", help="output .jsonl (export, pairs)")
    d.add_argument("overrides", nargs="*", metavar="key=value", help="task fields, e.g. distance=16 (name=nested: the nested task)")
    d.set_defaults(func=cmd_data)

    a = sub.add_parser("analyze", help="attention to the subject and state probes for runs that kept their weights")
    a.add_argument("results", help="a results folder, e.g. results/paper (runs trained with train.save_weights=true)")
    a.set_defaults(func=cmd_analyze)

    e = sub.add_parser("eval-pairs", help="score a trained run on minimal pairs (BLiMP JSONL)")
    e.add_argument("file", help="JSONL with one_prefix_prefix, one_prefix_word_good, one_prefix_word_bad per line")
    e.add_argument("--run", required=True, help="a run record, results/<name>/runs/<run_id>.json, trained with "
                                                "train.save_weights=true")
    e.add_argument("--out", help="write one row per pair (pairID, correct, distance, ...) to this CSV")
    e.set_defaults(func=cmd_eval_pairs)

    t = sub.add_parser("train", help="train and evaluate one run", epilog=(
        "examples:\n  longdep train model.name=lstm task.distance=1 task.max_distance=64 train.max_steps=2000\n"
        "  longdep train model.name=transformer task.objective=lm train.save_weights=true\n"
        "  longdep train --config nested model.name=lstm\n"
        "every key, its default, type and valid choices: longdep config show train"))
    t.add_argument("--config", default="train", help=f"a YAML file under configs/ ({', '.join(_names('configs'))}) or a path")
    t.add_argument("overrides", nargs="*", metavar="key=value", help="config fields, e.g. model.name=lstm")
    t.set_defaults(func=cmd_train)

    g = sub.add_parser("grid", help="run an experiment grid from experiments/NAME.yaml", epilog=(
        "examples:\n  longdep grid paper --workers 2\n  longdep grid quick --out /tmp/q --no-scale train.max_steps=200\n"
        "  longdep grid paper --launcher slurm launcher.slurm_partition=gpu launcher.slurm_gpus_per_node=1"))
    g.add_argument("name", help=f"a grid under experiments/ ({', '.join(_names('experiments'))}) or a path to a grid file")
    g.add_argument("--out", help="results folder (default: results/NAME)")
    g.add_argument("--launcher", default="local", help="where cells run: local, submitit-local, slurm")
    g.add_argument("--workers", type=int, default=1, help="parallel workers (local) or jobs (submitit)")
    g.add_argument("--no-scale", action="store_true", help="skip the grid's cost sweep")
    g.add_argument("--no-figures", action="store_true", help="skip the figures at the end (later: longdep figures FOLDER)")
    g.add_argument("overrides", nargs="*", metavar="key=value", help="run-config fields for every cell, or launcher.*")
    g.set_defaults(func=cmd_grid)

    s = sub.add_parser("scale", help="time, memory and parallel speed-up against sequence length", epilog=(
        "examples:\n  longdep scale --config quick\n  longdep scale model.d_model=128 models=lstm\n"
        "every key: longdep config show scale"))
    s.add_argument("--config", default="default", help=f"a YAML file under configs/scale/ ({', '.join(_names('configs/scale'))})")
    s.add_argument("overrides", nargs="*", metavar="key=value", help="sweep fields, e.g. models=[lstm,transformer]")
    s.set_defaults(func=cmd_scale)

    f = sub.add_parser("figures", help="rebuild figures from a results folder")
    f.add_argument("results_dir", nargs="?", default="results/paper",
                   help="a results folder (default: results/paper, committed; make demo writes results/quick)")
    f.set_defaults(func=cmd_figures)

    r = sub.add_parser("report", help="the README's results section, generated from a results folder")
    r.add_argument("results_dir", nargs="?", default="results/paper", help="a results folder")
    r.add_argument("--write", metavar="FILE", nargs="?", const="",
                   help="write RESULTS_DIR/REPORT.md (every table), or with FILE (the README) its short block "
                        "between the report markers")
    r.add_argument("--check", metavar="FILE", nargs="?", const="",
                   help="exit 2 unless RESULTS_DIR/REPORT.md (or FILE's block) is current")
    r.set_defaults(func=cmd_report)

    b = sub.add_parser("bench", help="benchmarks that print figures (not tests)")
    b.add_argument("what", choices=("data", "cell", "loop", "seeds"), help="data: the task generator's speed; cell: "
                   "where one run's time goes; loop: the suite's training loop against a plain PyTorch loop; seeds: "
                   "a cell's seeds trained one after another against together (train.seeds_together)")
    b.add_argument("--n", type=int, default=200_000, help="examples per repeat")
    b.add_argument("--models", nargs="+", default=["rnn", "lstm", "mingru", "single_head", "multi_head", "transformer"],
                   help="models (loop, seeds)")
    b.add_argument("--steps", type=int, default=200, help="training steps per repeat (loop, seeds)")
    b.add_argument("--repeats", type=int, default=5, help="alternating repeats of each loop; medians are compared (loop, seeds)")
    b.add_argument("--seeds", type=int, default=5, help="seeds of the cell (seeds)")
    b.add_argument("--distances", type=int, nargs="+", default=[8, 64, 128], help="dependency distances (data)")
    b.add_argument("overrides", nargs="*", metavar="key=value", help="the cell's config (cell), as for longdep train")

    c = sub.add_parser("config", help="every config key with its default, type and valid choices")
    c.add_argument("action", choices=("show",))
    c.add_argument("which", nargs="?", default="train",
                   help=f"train, scale, or a YAML under configs/ ({', '.join(_names('configs'))})")
    c.set_defaults(func=cmd_config)
    b.set_defaults(func=cmd_bench)
    return p


def _interrupted(signum, frame) -> None:
    """Ctrl-C: one line, stop every process this command started, exit 130. Everything written so far
    is whole (atomic writes); temp files and half W&B runs are cleaned when the command is rerun."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print("\nlongdep: interrupted; rerun the same command to resume", file=sys.stderr, flush=True)
    import psutil

    from longdep.records import run_interrupt_hooks

    for child in psutil.Process().children(recursive=True):  # the workers first: they stop writing
        with contextlib.suppress(psutil.Error):
            child.kill()
    run_interrupt_hooks()  # then what the command asked to record (a grid: how long it ran)
    os._exit(130)


def main(argv=None) -> int:
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, _interrupted) if on_main else None
    try:
        return _main(argv)
    finally:
        if on_main and previous is not None:  # a caller in the same process (a test, a notebook) gets its own Ctrl-C back
            signal.signal(signal.SIGINT, previous)


def _main(argv) -> int:
    from longdep.records import BrokenResults, FolderBusy

    os.environ.setdefault("WANDB_MODE", "offline")  # no network unless the user chose a mode
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)  # key=value may come before or after options
    bad = [e for e in extra if e.startswith("-") or "=" not in e or not hasattr(args, "overrides")]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    try:
        args.func(args)
    except (UsageError, BrokenResults, FolderBusy) as exc:
        print(f"longdep: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        print(f"longdep: error: no space left on the device writing {exc.filename or 'a result file'}; "
              "free some and rerun the same command (finished results are intact)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
