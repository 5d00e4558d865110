"""Typed configuration: one dataclass per group, YAML files under ``configs/``, ``key=value`` overrides.

A run is described by :class:`RunConfig` (task + model + train + eval + output). YAML files are
merged onto the dataclass schema with OmegaConf's structured configs, so an unknown key or a
value of the wrong type is an error, never a silent default. Value checks that need more than a
type (a model name, heads dividing d_model, a distance the positions allow) live in
:func:`validate`. Every problem raises :class:`UsageError`, which the CLI prints as one line and
turns into exit code 2 before anything is written.

    cfg = load_config("train", ["model.name=lstm", "task.distance=64"])
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import List, Optional, get_type_hints

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"

MODEL_NAMES = ("rnn", "lstm", "single_head", "multi_head", "transformer")
RECURRENT = ("rnn", "lstm")
TASK_NAMES = ("agreement",)
CONSTRUCTIONS = ("pp", "src", "orc", "filler")
POSITIONS = ("sinusoidal", "learned")
BACKENDS = ("explicit", "sdpa")
NORMS = ("post", "pre")
SRC_VERBS = ("past", "agree")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")


class UsageError(ValueError):
    """Bad user input: printed as one line by the CLI, exit code 2."""


@dataclass
class TaskConfig:
    """The agreement task (see :mod:`longdep.tasks.agreement`).

    distance: dependency distance ``verb_index - subject_index``; exact unless ``max_distance``
    is set, in which case each example draws uniformly from ``[distance, max_distance]``.
    attractors: exact number of intervening nouns of the other number (None: random).
    constructions: the mix the intervening material is drawn from.
    max_preamble: the preamble before the subject has 0..max_preamble tokens and may hold nouns.
    src_verb: "past" (number-neutral, the default: the subject is the only cue) or "agree" (the
    relative-clause verb agrees with the subject, a nearer cue, as in English).
    """

    name: str = "agreement"
    distance: int = 8
    max_distance: Optional[int] = None
    attractors: Optional[int] = None
    constructions: List[str] = field(default_factory=lambda: list(CONSTRUCTIONS))
    max_preamble: int = 10
    src_verb: str = "past"


@dataclass
class ModelConfig:
    """One rung of the model ladder (see :mod:`longdep.models`)."""

    name: str = "transformer"
    d_model: int = 64
    layers: int = 2
    heads: int = 4
    d_ff: int = 128
    dropout: float = 0.0
    positions: str = "sinusoidal"
    max_len: int = 512
    backend: str = "sdpa"
    norm: str = "post"


@dataclass
class TrainConfig:
    """Optimisation: AdamW with gradient clipping, a step cap and early stop at a target accuracy."""

    seed: int = 0
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    max_steps: int = 1000
    val_every: int = 50
    val_size: int = 512
    target_acc: float = 0.99
    accelerator: str = "auto"
    devices: str = "auto"
    threads: int = 0
    progress: bool = True


@dataclass
class EvalConfig:
    """The fixed test set: ``n_per_distance`` examples at every test distance."""

    distances: List[int] = field(default_factory=lambda: [2, 4, 8, 16, 32, 64, 128, 192])
    n_per_distance: int = 256
    batch_size: int = 128


@dataclass
class WandbConfig:
    """W&B mirror of local results. ``mode`` None: the environment decides, default offline."""

    enabled: bool = True
    project: str = "longdep"
    entity: Optional[str] = None
    group: Optional[str] = None
    mode: Optional[str] = None


@dataclass
class RunConfig:
    """Everything one training run needs. ``name`` selects ``results/<name>/``."""

    name: str = "default"
    results_dir: str = "results"
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _valid_keys(schema, dotted: str) -> str:
    """List the valid keys at the level where ``dotted`` went wrong."""
    node = schema
    parts = dotted.split(".")
    for part in parts[:-1]:
        hints = get_type_hints(node) if is_dataclass(node) else {}
        if part in hints and is_dataclass(hints[part]):
            node = hints[part]
        else:
            break
    if is_dataclass(node):
        return ", ".join(f.name for f in fields(node))
    return ""


def merge(schema, yaml_files=(), overrides=()):
    """Merge YAML files and ``key=value`` overrides onto a dataclass ``schema``; return an object."""
    base = OmegaConf.structured(schema)
    for path in yaml_files:
        try:
            base = OmegaConf.merge(base, OmegaConf.load(path))
        except OmegaConfBaseException as exc:
            key = getattr(exc, "full_key", "") or ""
            hint = f" (valid keys: {_valid_keys(schema, key)})" if key else ""
            raise UsageError(f"config {path}: {_one_line(exc)}{hint}") from None
    for item in overrides:
        if "=" not in item:
            raise UsageError(f"override {item!r} is not key=value (e.g. model.name=lstm)")
        key, value = item.split("=", 1)
        try:
            base = OmegaConf.merge(base, OmegaConf.from_dotlist([f"{key}={value}"]))
        except OmegaConfBaseException as exc:
            valid = _valid_keys(schema, key)
            raise UsageError(
                f"bad override {item!r}: {_one_line(exc)}" + (f" (valid keys: {valid})" if valid else "")
            ) from None
    return OmegaConf.to_object(base)


def load_config(name: str = "train", overrides=(), config_dir: Path | None = None) -> RunConfig:
    """Load ``configs/<name>.yaml`` onto :class:`RunConfig`, apply overrides, validate."""
    config_dir = Path(config_dir or CONFIG_DIR)
    path = config_dir / f"{name}.yaml"
    if not path.exists():
        valid = sorted(p.stem for p in config_dir.glob("*.yaml"))
        raise UsageError(f"unknown config {name!r}; valid: {', '.join(valid)}")
    cfg = merge(RunConfig, [path], overrides)
    validate(cfg)
    return cfg


def check_choice(what: str, value, valid) -> None:
    """UsageError naming ``value`` and the valid choices unless ``value`` is one of them."""
    if value not in valid:
        raise UsageError(f"unknown {what} {value!r}; valid: {', '.join(map(str, valid))}")


def check_positive(what: str, value) -> None:
    """UsageError unless ``value`` is a positive number."""
    if value is None or value <= 0:
        raise UsageError(f"{what} must be positive, got {value!r}")


def check_heads(d_model: int, heads: int, prefix: str = "") -> None:
    """UsageError listing the valid head counts unless ``heads`` divides ``d_model``."""
    if d_model % heads:
        valid = [h for h in range(1, d_model + 1) if d_model % h == 0]
        raise UsageError(f"{prefix}heads={heads} does not divide {prefix}d_model={d_model}; valid heads: {valid}")


def validate_task(t: TaskConfig) -> TaskConfig:
    """Check a task config: name, constructions, a positive distance, a sane range."""
    check_choice("task", t.name, TASK_NAMES)
    if not t.constructions:
        raise UsageError(f"task.constructions is empty; valid: {', '.join(CONSTRUCTIONS)}")
    for c in t.constructions:
        check_choice("construction", c, CONSTRUCTIONS)
    check_choice("task.src_verb", t.src_verb, SRC_VERBS)
    check_positive("task.distance", t.distance)
    if t.max_distance is not None and t.max_distance < t.distance:
        raise UsageError(f"task.max_distance={t.max_distance} is below task.distance={t.distance}")
    if t.attractors is not None and t.attractors < 0:
        raise UsageError(f"task.attractors must be >= 0 or null, got {t.attractors}")
    if t.max_preamble < 0:
        raise UsageError(f"task.max_preamble must be >= 0, got {t.max_preamble}")
    return t


def validate(cfg: RunConfig) -> RunConfig:
    """Check values a type cannot: names, ranges, and that positions cover every length used."""
    t, m, tr, ev = cfg.task, cfg.model, cfg.train, cfg.eval
    validate_task(t)
    check_choice("model", m.name, MODEL_NAMES)
    check_choice("model.positions", m.positions, POSITIONS)
    check_choice("model.backend", m.backend, BACKENDS)
    check_choice("model.norm", m.norm, NORMS)
    check_choice("train.accelerator", tr.accelerator, ACCELERATORS)
    for what in ("d_model", "layers", "heads", "d_ff", "max_len"):
        check_positive(f"model.{what}", getattr(m, what))
    check_heads(m.d_model, m.heads, "model.")
    if not 0.0 <= m.dropout < 1.0:
        raise UsageError(f"model.dropout must be in [0, 1), got {m.dropout}")
    for what in ("batch_size", "max_steps", "val_every", "val_size"):
        check_positive(f"train.{what}", getattr(tr, what))
    if tr.seed < 0 or tr.seed >= 10**8:
        raise UsageError(f"train.seed must be in [0, 100000000), got {tr.seed}")
    if not 0.0 < tr.target_acc <= 1.0:
        raise UsageError(f"train.target_acc must be in (0, 1], got {tr.target_acc}")
    if tr.threads < 0:
        raise UsageError(f"train.threads must be >= 0 (0: torch default), got {tr.threads}")
    if cfg.wandb.mode is not None:
        check_choice("wandb.mode", cfg.wandb.mode, ("online", "offline", "disabled"))
    if not ev.distances:
        raise UsageError("eval.distances is empty")
    for d in ev.distances:
        check_positive("eval.distances entry", d)
    check_positive("eval.n_per_distance", ev.n_per_distance)
    if m.name not in RECURRENT and m.positions == "learned":
        from longdep.tasks.agreement import max_length

        longest = max([t.max_distance or t.distance, *ev.distances])
        need = max_length(longest, t.max_preamble)
        if need > m.max_len:
            raise UsageError(
                f"distance {longest} needs sequences of {need} tokens but learned positions stop at "
                f"model.max_len={m.max_len}; raise model.max_len or use model.positions=sinusoidal"
            )
    return cfg


def to_dict(cfg) -> dict:
    return asdict(cfg)


def config_hash(cfg) -> str:
    """Stable short hash of a config (dataclass or dict) for run ids and resume keys."""
    data = asdict(cfg) if is_dataclass(cfg) else cfg
    blob = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]
