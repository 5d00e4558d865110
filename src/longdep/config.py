"""Typed configuration, the ground floor: dataclass schemas and one merge mechanism (the checks of
user input are in :mod:`longdep.checks`, re-exported here).

Every configuration (a training run, a cost sweep, a grid file, the SLURM launcher) is a
dataclass schema. YAML files, ``key=value`` strings from the command line and plain values from
grid files are all merged onto it with OmegaConf's structured configs by :func:`merge`, so an
unknown key or a value of the wrong type is an error, never a silent default. Checks that need
more than a type (a registered model name, heads dividing d_model) live beside what they check:
:func:`longdep.models.validate_model`, each task's ``validate``, :mod:`longdep.training.config`,
:mod:`longdep.measure.plan`. Every problem raises :class:`UsageError`, which the CLI prints as one
line and turns into exit code 2 before anything is written.

The YAML files ship inside the package (``configs/`` and ``experiments/`` are installed as
``longdep.configs`` and ``longdep.experiments``); ``LONGDEP_CONFIGS`` / ``LONGDEP_EXPERIMENTS``
point elsewhere.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from importlib import resources
from pathlib import Path
from typing import List, Optional, get_type_hints

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from longdep.checks import (NAME_MAX, UsageError, check_choice, check_choices, check_finite,  # noqa: F401
                            check_heads, check_output_file, check_path, check_positive, check_writable, one_line,
                            results_folder)

_CONFIG_ERRORS = (OmegaConfBaseException, yaml.YAMLError)  # a wrong key or type; a malformed value or file


# ---------------------------------------------------------------- schemas shared by several layers

@dataclass
class TaskConfig:
    """Base of every task's config (each task defines its own subclass beside its generator).

    objective: ``classify`` (predict the label at the query position) or ``lm`` (a causal language
    model on the task's sentences, scored on minimal pairs at the query; tasks that provide
    ``TaskSpec.label_tokens``)."""

    name: str = "agreement"
    objective: str = "classify"


@dataclass
class ModelConfig:
    """One rung of the model ladder (see :mod:`longdep.models`); fields a model does not use are ignored."""

    name: str = "transformer"
    d_model: int = 64
    layers: int = 2
    heads: int = 4
    d_ff: int = 128
    dropout: float = 0.0
    positions: str = "sinusoidal"  # sinusoidal or learned (added once), rope (rotary, every layer), none
    max_len: int = 512
    backend: str = "sdpa"
    norm: str = "post"


@dataclass
class TrainConfig:
    """Optimisation: AdamW with gradient clipping, a step cap and early stop at a target accuracy.
    ``start_steps``: the first steps train on the task's starting-small stage (see the task config).
    ``precision``: Lightning's flag: ``32``, ``bf16-mixed`` (CPU or GPU) or ``16-mixed`` (GPU).
    ``save_weights``: keep the trained model's weights beside the run record (``runs/<run_id>.pt``),
    for ``longdep eval-pairs`` and for runs that start from it.
    ``init_from``: start from the weights of an earlier run (the path of its run record,
    ``results/<name>/runs/<run_id>.json``, trained with ``save_weights``): every tensor of the same name
    and shape is copied, so a classifier can start from its own language model (self-pretraining: all
    but the output head). The record keeps the source's run id and steps; the run id hashes the
    source's run id, not its path.
    ``devices``: devices one run trains on: 1 (the default: one GPU, or the CPU), N > 1 for data-parallel
    training (DDP, N x the batch: part of the run id), ``auto`` for every device Lightning finds.
    ``checkpoint_every``: keep a checkpoint (``checkpoints/<run_id>.ckpt``) at the first validation
    at least this many steps after the last one, so a killed run resumes there with the same result;
    0: never. It is removed when the run finishes.
    ``seeds_together``: a grid trains the cells that differ only in ``train.seed`` as one job, their
    parameters stacked (:mod:`longdep.training.seeds`): each seed's data, initialisation, optimiser,
    clipping, early stop and records as if trained alone; not part of the run id. ``seeds_forward``:
    how such a group runs its forward pass: ``loop`` (each seed's model in turn: the same bits as
    alone) or ``vmap`` (``torch.func.vmap``: one batched op per layer for every seed, for a GPU; equal
    to alone up to float rounding, as another device is; the recurrent models, which vmap cannot
    batch, keep the loop). Not part of the run id either.

    The convergence protocol (:mod:`longdep.training.convergence`): a run ends at ``target_acc``
    (``target``), when the mean of the last ``smooth`` validation accuracies has not risen by
    ``min_delta`` for ``patience`` steps (``plateau``; 0: never), or at ``max_steps`` (``cap``); the
    record says which (``end_reason``). ``weights``: the weights evaluated on the test sets, ``best``
    (those of the best validation, the earliest of equals) or ``last``. ``schedule``: the learning rate
    after ``warmup_steps`` of linear warmup, ``constant`` or ``cosine`` (down to ``min_lr_ratio`` x lr at
    step ``decay_steps``, 0: at ``max_steps``; a tuning trial, cut short, decays as the full run would)."""

    seed: int = 0
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    max_steps: int = 20000
    val_every: int = 25
    val_size: int = 512
    target_acc: float = 0.99
    start_steps: int = 0
    precision: str = "32"
    accelerator: str = "auto"
    devices: str = "1"
    threads: int = 0
    progress: bool = True
    save_weights: bool = False
    checkpoint_every: int = 500
    seeds_together: bool = False
    seeds_forward: str = "loop"
    schedule: str = "constant"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1
    decay_steps: int = 0
    patience: int = 3000
    smooth: int = 5
    min_delta: float = 0.005
    weights: str = "best"
    init_from: Optional[str] = None


@dataclass
class EvalConfig:
    """The fixed test sets. By distance: ``n_per_distance`` examples at every distance from 1 to
    ``span`` x the longest training distance, plus any in ``distances``. By attractors:
    ``n_per_attractor`` examples at each of ``attractor_distances`` with exactly each of
    ``attractor_counts`` attractors. ``probes``: run the counterfactual probes on the test set.
    ``analyses``: the mechanism analyses (attention to the subject, the state probe; see
    :mod:`longdep.training.mechanism`) on part of the test set by distance."""

    span: int = 4
    distances: List[int] = field(default_factory=list)
    n_per_distance: int = 64
    attractor_distances: List[int] = field(default_factory=lambda: [16, 64])
    attractor_counts: List[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    n_per_attractor: int = 1000
    probes: bool = True
    analyses: bool = True
    batch_size: int = 256


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
    """Everything one training run needs. ``name`` selects ``results/<name>/``; ``task`` holds the
    config of the task named by ``task.name`` (a subclass of :class:`TaskConfig`)."""

    name: str = "default"
    results_dir: str = "results"
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)


# ---------------------------------------------------------------- where the YAML files are

def resource_dir(kind: str) -> Path:
    """The folder of ``kind`` ("configs" or "experiments"): ``$LONGDEP_<KIND>`` or the package's copy."""
    env = os.environ.get(f"LONGDEP_{kind.upper()}")
    if env:
        if not Path(env).is_dir():
            raise UsageError(f"LONGDEP_{kind.upper()}={env!r} is not a folder")
        return Path(env)
    return Path(str(resources.files(f"longdep.{kind}")))


def yaml_names(folder: Path) -> list[str]:
    return sorted(p.stem for p in Path(folder).glob("*.yaml"))


def find_yaml(what: str, name: str, folder: Path) -> Path:
    """``<folder>/<name>.yaml``, or ``name`` itself when it is a path to a YAML file; else a UsageError."""
    path = Path(name)
    if path.suffix not in (".yaml", ".yml"):
        path = Path(folder) / f"{name}.yaml"
    if not path.is_file():
        raise UsageError(f"unknown {what} {name!r}; valid: {', '.join(yaml_names(folder))}")
    return path


# ---------------------------------------------------------------- merging

def _valid_keys(schema, dotted: str) -> str:
    """List the valid keys at the level where ``dotted`` went wrong (``schema``: a dataclass or an instance)."""
    node = schema
    for part in dotted.split(".")[:-1]:
        if isinstance(node, type):
            sub = get_type_hints(node).get(part) if is_dataclass(node) else None
        else:
            sub = getattr(node, part, None)
        if not is_dataclass(sub):
            break
        node = sub
    return ", ".join(f.name for f in fields(node)) if is_dataclass(node) else ""


def _parse_override(base, item: str):
    """``key=value`` -> (key, value) with YAML typing; a single value for a list field becomes a list."""
    if "=" not in item:
        raise UsageError(f"override {item!r} is not key=value (e.g. model.name=lstm)")
    key = item.split("=", 1)[0]
    value = OmegaConf.to_container(OmegaConf.from_dotlist([item]))
    for part in key.split("."):
        value = value[part]
    node = OmegaConf.select(base, key, throw_on_missing=False) if isinstance(base, DictConfig) else None
    if isinstance(node, ListConfig) and not isinstance(value, list) and value is not None:
        value = [value]
    if isinstance(node, bool) and not isinstance(value, bool):  # OmegaConf would read 2 or "yes" as true
        raise UsageError(f"bad override {item!r}: {key} is true or false, got {value!r}")
    return key, value


_BASES: dict = {}  # (schema, YAML files with their mtimes) -> the merged DictConfig (never mutated)


def _base(schema, yaml_files, fail):
    """``schema`` with the YAML files merged on, cached per process: a grid builds hundreds of cells
    from one config file, and OmegaConf's structured merge costs milliseconds per call."""
    paths = [Path(p) for p in yaml_files]
    key = (schema if isinstance(schema, type) else repr(schema),
           tuple((str(p), p.stat().st_mtime_ns if p.exists() else None) for p in paths))
    if key not in _BASES:
        base = OmegaConf.structured(schema)
        for path in paths:
            loaded = load_yaml_file(path, fail)
            try:
                base = OmegaConf.merge(base, loaded)
            except (*_CONFIG_ERRORS, TypeError, ValueError) as exc:  # TypeError: "incompatible container types"
                found = _shape_mismatch(base, loaded)
                if found is None:
                    fail(f"config {path}", exc, "")
                where, want, got = found
                raise UsageError(f"config {path}: {where} must be {want}, got {got}") from None
        _BASES[key] = base  # shared: OmegaConf.merge returns a new object, never changes its inputs
    return _BASES[key]


def load_yaml_file(path: Path, fail=None):
    """A YAML file's mapping (OmegaConf), read as UTF-8; a one-line UsageError for a file that is not
    UTF-8 text, not YAML, or not a mapping at its top."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"config {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                         "valid: a YAML file in UTF-8") from None
    except OSError as exc:
        raise UsageError(f"config {path} cannot be read: {one_line(exc)}") from None
    try:
        loaded = OmegaConf.create(text) if text.strip() else OmegaConf.create({})
    except _CONFIG_ERRORS as exc:
        if fail is None:
            raise UsageError(f"config {path} is not valid YAML: {one_line(exc)}") from None
        fail(f"config {path}", exc, "")
    if not isinstance(loaded, DictConfig):
        raise UsageError(f"config {path} must be a mapping of keys (key: value) at its top, got a list; "
                         "valid: e.g. model: {name: lstm}")
    return loaded


def _kind(node) -> str:
    return "a mapping (key: value)" if isinstance(node, (DictConfig, dict)) else "a list" if isinstance(node, (ListConfig, list)) else "a value"


def _shape_mismatch(base, loaded, prefix: str = ""):
    """``(dotted key, what the schema holds there, what the file gives)`` at the first key where one is
    a mapping, a list or a plain value and the other is not the same kind; None if there is none."""
    for key in loaded:
        if key not in base:
            continue
        b, v = base._get_node(key), loaded._get_node(key)
        if isinstance(b, DictConfig) and b._is_none():
            continue  # an optional section left empty: anything of its schema may fill it
        if isinstance(b, DictConfig) and isinstance(v, DictConfig):
            found = _shape_mismatch(b, v, f"{prefix}{key}.")
            if found:
                return found
        elif _kind(b) != _kind(v) and not v._is_none():
            return f"{prefix}{key}", _kind(b), _kind(v)
    return None


def _update(pairs):
    """One DictConfig holding every ``(dotted key, value)`` of ``pairs``, later ones winning."""
    update = OmegaConf.create()
    for key, value in pairs:
        OmegaConf.update(update, key, value)
    return update


def merge(schema, yaml_files=(), overrides=(), values=None):
    """Merge YAML files, then ``values`` (a mapping of dotted keys to values, as grid files hold
    them), then ``key=value`` override strings onto ``schema`` (a dataclass type or instance);
    return the object. Every problem is a one-line :class:`UsageError` naming the valid keys.

    The values and the overrides are each merged in one step (an override is read against the
    config with the values merged; of a key given twice, the last wins); where that fails they are
    merged one at a time, so the error names the key that broke it."""

    def fail(where: str, exc: Exception, key: str):
        if isinstance(exc, yaml.YAMLError):
            raise UsageError(f"{where} is not valid YAML: {one_line(exc)}") from None
        key = getattr(exc, "full_key", "") or key
        if isinstance(exc, ConfigKeyError) and key:
            valid = _valid_keys(schema, key)
            raise UsageError(f"{where}: unknown key {key!r}" + (f"; valid: {valid}" if valid else "")) from None
        raise UsageError(f"{where}: {one_line(exc)}") from None

    def merged(base, pairs, name):
        """``base`` with ``pairs`` merged on: at once, or one by one to name the one that fails."""
        if not pairs:
            return base
        try:
            return OmegaConf.merge(base, _update(pairs))
        except _CONFIG_ERRORS:
            pass
        for (key, value), label in zip(pairs, name):  # the slow path: which one is wrong
            try:
                base = OmegaConf.merge(base, _update([(key, value)]))
            except _CONFIG_ERRORS as exc:
                fail(label, exc, key)
        return base

    base = _base(schema, yaml_files, fail)
    items = list((values or {}).items())
    base = merged(base, items, [f"bad value {k}={v!r}" for k, v in items])
    parsed = []
    for item in overrides:
        try:
            item.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f"bad override {item.encode('utf-8', 'surrogateescape')!r}: not UTF-8 text; valid: "
                             "key=value in UTF-8") from None
        try:
            parsed.append(_parse_override(base, item))
        except _CONFIG_ERRORS as exc:
            fail(f"bad override {item!r}", exc, item.split("=", 1)[0])
    base = merged(base, parsed, [f"bad override {item!r}" for item in overrides])
    obj = OmegaConf.to_object(base)
    check_finite(obj)
    return obj


# ---------------------------------------------------------------- registries

class Registry(dict):
    """Name -> spec (anything with a ``name``), in registration order; the models' and tasks' registries."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, spec):
        """Add ``spec`` (a later spec of the same name replaces the earlier one); return it."""
        self[spec.name] = spec
        return spec

    def lookup(self, name: str):
        """The spec called ``name``; a UsageError listing the valid names otherwise."""
        if name not in self:
            raise UsageError(f"unknown {self.kind} {name!r}; valid: {', '.join(self)}")
        return self[name]


# ---------------------------------------------------------------- identity

def to_dict(cfg) -> dict:
    return asdict(cfg)


def config_hash(cfg) -> str:
    """Stable short hash of a config (dataclass or dict) for run ids and resume keys."""
    data = asdict(cfg) if is_dataclass(cfg) else cfg
    blob = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]
