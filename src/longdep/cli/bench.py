"""``longdep bench``: benchmarks that print figures (not tests): the task generators' speed (data),
where one run's time goes (cell), the suite's training loop against a plain PyTorch loop (loop), and
a cell's seeds trained one after another against together (seeds)."""
from __future__ import annotations

import time

from longdep.config import UsageError

EPILOG = """\
Examples:
  longdep bench data --distances 8 64
  longdep bench cell model.name=lstm train.max_steps=200
  longdep bench loop --models lstm transformer --steps 100
  longdep bench seeds --seeds 5 model.name=lstm"""


def add_parser(sub) -> None:
    b = sub.add_parser("bench", help="benchmarks that print figures (not tests)", epilog=EPILOG)
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
    b.set_defaults(func=cmd_bench)


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


def bench_cell(overrides) -> None:
    """Train one grid cell (``key=value`` as for ``longdep train``) in a temporary folder and print where
    its wall time went: process start and imports, data, W&B, training steps, validation, test sets,
    evaluation, probes, analyses, the W&B summary and writing."""
    import tempfile

    import psutil

    from longdep.training.config import load_config
    from longdep.training.run import train_one

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config("train", [*overrides, f"results_dir={tmp}", "name=bench", "train.progress=false"])
        import lightning  # noqa: F401 -- counted with the imports, as a grid worker pays them once
        imports = time.time() - psutil.Process().create_time()  # the interpreter, longdep and its libraries
        rec = train_one(cfg)
    parts = {"process start and imports": imports, **rec["timings_s"]}
    total = sum(parts.values())
    print(f"{rec['run_id']}: {rec['steps']} steps, {total:.1f} s in all")
    for name, secs in parts.items():
        print(f"  {name.replace('_', ' '):28s} {secs:8.2f} s  {100 * secs / total:5.1f}%")
