"""The CLI's commands for analysis and inspection (``analyze``, ``eval-pairs``, ``config show``,
``bench cell``); :mod:`longdep.cli` parses the arguments and calls them. Each raises a one-line
:class:`~longdep.config.UsageError` for bad input."""
from __future__ import annotations

import time
from pathlib import Path

from longdep.config import UsageError


def cmd_analyze(args) -> None:
    from longdep.analysis.study_figures import mechanism_figures
    from longdep.records import append_rows, exclusive
    from longdep.tasks import get_task
    from longdep.training.evaluate import run_columns, with_run_columns
    from longdep.training.mechanism import analyses
    from longdep.training.run import load_trained, weights_path

    folder = Path(args.results)
    if not (folder / "runs").is_dir():
        raise UsageError(f"{folder} has no runs/ folder; give a results folder, e.g. results/paper")
    records = sorted((folder / "runs").glob("*.json"))
    kept = [r for r in records if weights_path(folder, r.stem).exists()]
    if not kept:
        raise UsageError(f"none of the {len(records)} runs in {folder} kept its weights; train with train.save_weights=true")
    with exclusive(folder):
        for record in kept:
            cfg, module = load_trained(record)
            spec = get_task(cfg.task.name)
            _, _, tok, lab, meta = spec.test_sets(cfg.task, cfg.eval)[0]  # the test set by distance
            for name, df in analyses(module, cfg, spec, tok, lab, meta).items():
                if len(df):
                    append_rows(folder / name, with_run_columns(run_columns(cfg, record.stem), df))
            print(f"analysed {record.stem}")
        for path in mechanism_figures(folder):
            print(f"wrote {path}")
    if len(kept) < len(records):
        print(f"skipped {len(records) - len(kept)} runs without weights (their analyses, if any, came from training)")


def cmd_eval_pairs(args) -> None:
    from longdep.training.pairs import score_pairs

    scores = score_pairs(Path(args.file), Path(args.run))
    print(f"{Path(args.run).stem}: {scores['correct'].mean():.3f} of {len(scores)} minimal pairs right")
    if "distance" in scores:
        print(scores.groupby("distance")["correct"].agg(["size", "mean"]).rename(
            columns={"size": "pairs", "mean": "accuracy"}).round(3).to_string())
    if args.out:
        from longdep.records import write_atomic

        write_atomic(Path(args.out), scores.to_csv(index=False))
        print(f"wrote {args.out}")


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


def cmd_config(args) -> None:
    """Print every key of a run config (or the scale config) as ``key = default  # type; choices``."""
    import dataclasses
    import typing

    if args.which == "scale":
        from longdep.measure.plan import load_scale_config

        cfg = load_scale_config([], "default")
    else:
        from longdep.training.config import load_config

        cfg = load_config(args.which)
    choices = _choices()

    def walk(obj, prefix=""):
        hints = typing.get_type_hints(type(obj))
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                yield from walk(value, f"{prefix}{f.name}.")
                continue
            hint = hints.get(f.name)
            kind = str(hint).replace("typing.", "") if getattr(hint, "__origin__", None) else getattr(hint, "__name__", str(hint))
            key = prefix + f.name
            note = f"; one of {', '.join(choices[key])}" if key in choices else ""
            yield f"{key} = {value!r}  # {kind}{note}"

    print("\n".join(walk(cfg)))


def _choices() -> dict:
    """Valid values of the keys that have a fixed set (from the registries)."""
    from longdep.models import BACKENDS, MODELS, NORMS, POSITIONS
    from longdep.tasks import TASKS
    from longdep.tasks.base import OBJECTIVES
    from longdep.training.config import ACCELERATORS, PRECISIONS, WANDB_MODES
    from longdep.training.convergence import SCHEDULES, WEIGHTS

    return {"model.name": list(MODELS), "models": list(MODELS), "task.name": list(TASKS), "task.objective": OBJECTIVES,
            "model.backend": BACKENDS, "backends": BACKENDS, "model.norm": NORMS, "model.positions": POSITIONS,
            "train.accelerator": ACCELERATORS, "train.precision": PRECISIONS, "wandb.mode": WANDB_MODES,
            "train.schedule": SCHEDULES, "train.weights": WEIGHTS}
