"""Loading and checking a training run's config (:class:`longdep.config.RunConfig`).

    cfg = load_config("train", ["model.name=lstm", "task.distance=64"])

``configs/train.yaml`` lists the defaults (equal to the dataclasses'; a test keeps them so), the
task's own config class comes from the task registry (``task.name``), and every value is checked
before anything is written or trained.
"""
from __future__ import annotations

import functools
from pathlib import Path

from omegaconf import OmegaConf

from longdep.config import (
    RunConfig, TaskConfig, UsageError, check_choice, check_positive, find_yaml, merge, resource_dir, results_folder,
)
from longdep.models import get_model, validate_model
from longdep.training.convergence import SCHEDULES, WEIGHTS
from longdep.training.resources import MAX_TRAIN_EXAMPLES, check_resources
from longdep.tasks import get_task
from longdep.tasks.base import OBJECTIVES

ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
PRECISIONS = ("32", "bf16-mixed", "16-mixed")
WANDB_MODES = ("online", "offline", "disabled")
SEEDS_FORWARD = ("loop", "vmap")


def _task_name(path, overrides, values) -> str:
    """The task a run asks for (``task.name``: overrides, then values, then the YAML file), read
    before the schema is chosen; a broken file is reported by :func:`merge` afterwards."""
    for item in reversed(list(overrides)):
        if item.startswith("task.name="):
            return item.split("=", 1)[1].strip()
    if values and "task.name" in values:
        return str(values["task.name"])
    return _file_task_name(str(path), Path(path).stat().st_mtime_ns if Path(path).exists() else None)


@functools.lru_cache(maxsize=64)
def _file_task_name(path: str, mtime_ns) -> str:
    """``task.name`` in a YAML file (read once per version of the file: a grid loads it per cell)."""
    try:
        return str(OmegaConf.select(OmegaConf.load(path), "task.name", default=TaskConfig().name))
    except Exception:  # noqa: BLE001 -- merge() reports the file's problem in one line
        return TaskConfig().name


WANDB_NAME_BAD = set("/\\#?%:")  # characters a W&B project or entity name cannot hold


def check_wandb(w) -> None:
    """Before any run starts: W&B names it can use, and an API key when the runs go online."""
    import os

    if not w.enabled:
        return
    for what in ("project", "entity"):
        value = getattr(w, what)
        if value is not None and (not str(value).strip() or set(str(value)) & WANDB_NAME_BAD):
            raise UsageError(f"wandb.{what}={value!r} is not a W&B name; valid: text without any of "
                             f"{' '.join(sorted(WANDB_NAME_BAD))}")
    if (w.mode or os.environ.get("WANDB_MODE")) == "online" and not wandb_key():
        raise UsageError("wandb.mode=online needs a W&B API key (WANDB_API_KEY, or `wandb login`) and none is set; "
                         "valid without one: wandb.mode=offline (upload later with wandb sync) or disabled")


def wandb_key() -> bool:
    """Whether a W&B API key is at hand: ``WANDB_API_KEY`` or a netrc entry for the W&B host."""
    import netrc
    import os
    from urllib.parse import urlparse

    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def load_config(name: str = "train", overrides=(), values=None) -> RunConfig:
    """Load ``configs/<name>.yaml`` (or a YAML path) onto :class:`RunConfig` with the named task's
    config class, apply ``values`` (dotted key -> value) and ``key=value`` overrides, validate."""
    path = find_yaml("config", name, resource_dir("configs"))
    spec = get_task(_task_name(path, overrides, values))
    cfg = merge(RunConfig(task=spec.config()), [path], overrides, values)
    return validate(cfg)


def load_grid_cell(grid_name: str, config: str, overrides, values: dict) -> RunConfig:
    """A grid cell's validated config: :func:`load_config` with its W&B runs grouped by the grid's name (not
    the output folder's, which ``--out`` may change) unless the grid or the user sets ``wandb.group``."""
    if grid_name and "wandb.group" not in values and not any(o.startswith("wandb.group=") for o in overrides):
        values = {**values, "wandb.group": grid_name}
    return load_config(config, overrides, values)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def validate(cfg: RunConfig) -> RunConfig:
    """Check values a type cannot: names, ranges, and that positions cover every length used."""
    spec = get_task(cfg.task.name)
    check_choice("task.objective", cfg.task.objective, OBJECTIVES)
    if cfg.task.objective == "lm" and spec.label_tokens is None:
        raise UsageError(f"task {cfg.task.name!r} has no language-model form (no label_tokens); valid: task.objective=classify")
    spec.validate(cfg.task)
    validate_model(cfg.model)
    results_folder(cfg.results_dir, cfg.name)
    tr, ev = cfg.train, cfg.eval
    check_choice("train.accelerator", tr.accelerator, ACCELERATORS)
    for what in ("lr", "weight_decay", "grad_clip"):
        if getattr(tr, what) < 0:
            raise UsageError(f"train.{what} must be >= 0, got {getattr(tr, what)}")
    if tr.devices != "auto" and not (str(tr.devices).isdigit() and int(tr.devices) > 0):
        raise UsageError(f"train.devices must be auto or a positive number of devices, got {tr.devices!r}")
    if tr.batch_size > MAX_TRAIN_EXAMPLES:
        raise UsageError(f"train.batch_size={tr.batch_size} exceeds the {MAX_TRAIN_EXAMPLES:,} training examples "
                         "a run generates; valid: 1..200000")
    check_choice("train.precision", tr.precision, PRECISIONS)
    if tr.precision == "16-mixed" and (tr.accelerator == "cpu" or not _cuda()):
        raise UsageError("train.precision=16-mixed needs a CUDA device; valid on CPU: 32, bf16-mixed")
    for what in ("batch_size", "max_steps", "val_every", "val_size"):
        check_positive(f"train.{what}", getattr(tr, what))
    if tr.seed < 0 or tr.seed >= 10**8:
        raise UsageError(f"train.seed must be in [0, 100000000), got {tr.seed}")
    if not 0.0 < tr.target_acc <= 1.0:
        raise UsageError(f"train.target_acc must be in (0, 1], got {tr.target_acc}")
    if tr.start_steps < 0:
        raise UsageError(f"train.start_steps must be >= 0, got {tr.start_steps}")
    stage = spec.start_small(cfg.task)
    if tr.start_steps and stage is None:
        raise UsageError(f"train.start_steps={tr.start_steps} needs a starting-small stage: set the task's "
                         "start option (agreement: task.start_max_distance)")
    if stage is not None and not 0 < tr.start_steps < tr.max_steps:
        raise UsageError(f"train.start_steps={tr.start_steps} must be in 1..train.max_steps-1 "
                         f"(= {tr.max_steps - 1}) when the task has a starting-small stage")
    if tr.threads < 0:
        raise UsageError(f"train.threads must be >= 0 (0: torch default), got {tr.threads}")
    check_choice("train.seeds_forward", tr.seeds_forward, SEEDS_FORWARD)
    if tr.init_from is not None and not str(tr.init_from).endswith(".json"):
        raise UsageError(f"train.init_from={tr.init_from!r} is not a run record; valid: results/<name>/runs/<run_id>.json")
    if tr.init_from and tr.seeds_together:
        raise UsageError("train.init_from cannot start a stacked seed group (each seed has its own source); "
                         "valid: train.seeds_together=false")
    check_choice("train.schedule", tr.schedule, SCHEDULES)
    check_choice("train.weights", tr.weights, WEIGHTS)
    for what in ("warmup_steps", "decay_steps", "patience"):
        if getattr(tr, what) < 0:
            raise UsageError(f"train.{what} must be >= 0, got {getattr(tr, what)}")
    check_positive("train.smooth", tr.smooth)
    if not 0.0 <= tr.min_delta < 1.0:
        raise UsageError(f"train.min_delta must be in [0, 1), got {tr.min_delta}")
    if not 0.0 <= tr.min_lr_ratio <= 1.0:
        raise UsageError(f"train.min_lr_ratio must be in [0, 1], got {tr.min_lr_ratio}")
    if tr.checkpoint_every < 0:
        raise UsageError(f"train.checkpoint_every must be >= 0 (0: never), got {tr.checkpoint_every}")
    if cfg.wandb.mode is not None:
        check_choice("wandb.mode", cfg.wandb.mode, WANDB_MODES)
    check_wandb(cfg.wandb)
    if ev.span < 0:
        raise UsageError(f"eval.span must be >= 0 (0: only eval.distances), got {ev.span}")
    if not ev.span and not ev.distances:
        raise UsageError("no test distances: set eval.span > 0 or list eval.distances")
    for what, values in (("eval.distances", ev.distances), ("eval.attractor_distances", ev.attractor_distances)):
        for d in values:
            check_positive(f"{what} entry", d)
    for a in ev.attractor_counts:
        if a < 0:
            raise UsageError(f"eval.attractor_counts entry must be >= 0, got {a}")
    for what in ("n_per_distance", "n_per_attractor", "batch_size"):
        check_positive(f"eval.{what}", getattr(ev, what))
    spec.check_eval(cfg.task, ev)
    m = cfg.model
    if get_model(m.name).family == "attention" and m.positions == "learned":
        need = spec.max_length(cfg.task, ev)
        if need > m.max_len:
            raise UsageError(
                f"sequences of up to {need} tokens but learned positions stop at model.max_len={m.max_len}; "
                "raise model.max_len or use model.positions=sinusoidal")
    check_resources(cfg)  # the output folder can be written, the run fits in memory
    return cfg
