"""A cost sweep's configuration and its points.

    cfg = load_scale_config(["models=lstm", "model.d_model=128"], "quick")   # configs/scale/quick.yaml
    points = plan(cfg)

A *point* is one model x attention backend x device x thread count x precision x batch x length N;
a *series* is the points that differ only in N. The sweep embeds a :class:`ModelConfig` (width,
layers, heads, norm) shared by every model it times; the models and backends are its axes.

Two kinds of series: a fixed batch (``batch``: B sequences of every length N), and constant tokens
(``tokens``: T tokens per step at every N, so B = T / N). The second isolates parallelism across time:
the work per step is the same at every N (up to attention's N^2 term), only how it is laid out changes,
from many short sequences to few long ones.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from typing import List

import torch

from longdep.config import (
    ModelConfig, UsageError, check_choice, check_choices, check_positive, check_writable, find_yaml, merge,
    resource_dir, results_folder,
)
from longdep.models import BACKENDS, MODELS, get_model, validate_model

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("32", "bf16-mixed", "16-mixed")  # Lightning's names; a sweep runs the step under autocast


@dataclass
class ScaleConfig:
    """One sweep. ``name`` selects ``results/<name>/``; lengths are ``seq_lens`` or, when that is
    empty, the doubling series ``min_len, 2*min_len, ... <= max_len``. ``model``: the width, depth,
    heads and norm of every timed model (its ``name``, ``backend`` and ``max_len`` are set per point;
    the sweep times the pre-norm transformer). ``threads``: 0 = all cores. ``device``: ``auto`` = CPU
    at every thread count plus CUDA when present. Budgets are per point; ``skip_predicted_oom``
    records points whose predicted peak exceeds the memory budget as oom without running them.
    ``pin_threads`` pins compute threads to CPUs (see :func:`longdep.measure.harness.compute_threads`).
    ``tokens``: constant-token series, T tokens per step at each length N <= T (batch T / N; every
    such N must divide T), on all the parallel hardware (the most CPU threads of ``threads``; the GPU). ``precision``: ``32`` (fp32) or a mixed precision (the step under autocast;
    the fraction of peak is then taken against a matmul in that precision)."""

    name: str = "scale"
    results_dir: str = "results"
    models: List[str] = field(default_factory=lambda: list(MODELS))
    backends: List[str] = field(default_factory=lambda: list(BACKENDS))
    model: ModelConfig = field(default_factory=lambda: ModelConfig(norm="pre"))
    seq_lens: List[int] = field(default_factory=list)
    min_len: int = 64
    max_len: int = 4096
    batch: List[int] = field(default_factory=lambda: [8])
    tokens: List[int] = field(default_factory=list)
    precision: List[str] = field(default_factory=lambda: ["32"])
    vocab_size: int = 32
    repeats: int = 5
    warmup: int = 1
    threads: List[int] = field(default_factory=lambda: [1, 0])
    device: str = "auto"
    time_budget_s: float = 120.0
    mem_budget_gb: float = 6.0
    skip_predicted_oom: bool = True
    pin_threads: bool = True
    matmul_size: int = 2048
    seed: int = 0


@dataclass
class Point:
    """One measurement: everything that decides its cost (``threads`` already resolved, >= 1).

    ``model`` is the full model config (``name``, ``backend``, ``max_len = seq_len``); ``backend`` is
    the results' label: the attention backend, or the model's family for the others."""

    model: ModelConfig
    backend: str
    seq_len: int
    batch: int = 8
    vocab_size: int = 32
    device: str = "cpu"
    threads: int = 1
    repeats: int = 5
    warmup: int = 1
    seed: int = 0
    pin_threads: bool = True
    tokens: int = 0  # > 0: a point of a constant-token series (batch = tokens / seq_len)
    precision: str = "32"

    @classmethod
    def of(cls, model: str, backend: str, seq_len: int, model_cfg: ModelConfig | None = None, **kw) -> "Point":
        """The point for ``model`` with ``backend`` (an attention backend; ignored by other families)."""
        spec = get_model(model)
        cfg = replace(model_cfg or ModelConfig(norm="pre"), name=model, max_len=seq_len, dropout=0.0,
                      positions="sinusoidal", backend=backend if spec.family == "attention" else "sdpa")
        return cls(cfg, spec.backend_label(backend), seq_len, **kw)

    @classmethod
    def from_dict(cls, d: dict) -> "Point":
        return cls(**{**d, "model": ModelConfig(**d["model"])})

    @property
    def series(self) -> tuple:
        """The points that differ only in N: once one fails, longer ones are skipped."""
        return (self.model.name, self.backend, self.device, self.threads, self.precision,
                0 if self.tokens else self.batch, self.tokens)

    def point_id(self) -> str:
        m = self.model
        ident = {"model": m.name, "backend": self.backend, "device": self.device, "threads": self.threads,
                 "batch": self.batch, "seq_len": self.seq_len, "d_model": m.d_model, "heads": m.heads,
                 "layers": m.layers, "d_ff": m.d_ff, "norm": m.norm, "vocab_size": self.vocab_size}
        ident.update({k: v for k, v in (("tokens", self.tokens), ("precision", self.precision))
                      if v != Point.__dataclass_fields__[k].default})  # fp32 fixed-batch ids as before
        blob = json.dumps(ident, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def load_scale_config(overrides=(), config_name: str = "default", values=None) -> ScaleConfig:
    """Read ``configs/scale/<config_name>.yaml`` (or a path to a YAML file), apply ``values`` (dotted
    key -> value) and ``key=value`` overrides, validate. Every problem is a one-line UsageError."""
    path = find_yaml("scale config", config_name, resource_dir("configs") / "scale")
    return validate_scale(merge(ScaleConfig, [path], overrides, values))


def validate_scale(cfg: ScaleConfig) -> ScaleConfig:
    """Check names and ranges a type cannot; return ``cfg``."""
    check_writable(results_folder(cfg.results_dir, cfg.name))
    check_choices("models", cfg.models, list(MODELS))
    check_choices("backends", cfg.backends, BACKENDS)
    validate_model(replace(cfg.model, name=cfg.models[0]))
    check_choice("device", cfg.device, DEVICES)
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("device=cuda but no CUDA device is available; valid here: auto, cpu")
    for n in cfg.seq_lens:
        check_positive("seq_lens entry", n)
    if not cfg.seq_lens:
        check_positive("min_len", cfg.min_len)
        check_positive("max_len", cfg.max_len)
        if cfg.max_len < cfg.min_len:
            raise UsageError(f"max_len={cfg.max_len} is below min_len={cfg.min_len}")
    if not cfg.batch and not cfg.tokens:
        raise UsageError("batch and tokens are both empty; give batch sizes (e.g. batch=[8]) or tokens per step "
                         "(e.g. tokens=[16384])")
    for b in cfg.batch:
        check_positive("batch entry", b)
    for t in cfg.tokens:
        check_positive("tokens entry", t)
        lens = [n for n in seq_lens(cfg) if n <= t]
        if not lens or any(t % n for n in lens):
            raise UsageError(f"tokens entry {t} must be a multiple of every length up to it (lengths "
                             f"{seq_lens(cfg)}), so that batch = tokens / N is whole")
    if not cfg.precision:
        raise UsageError(f"precision is empty; valid: {', '.join(PRECISIONS)}")
    for prec in cfg.precision:
        check_choice("precision", prec, PRECISIONS)
    if "16-mixed" in cfg.precision and "cuda" not in devices(cfg):
        raise UsageError("precision 16-mixed needs a CUDA device (CPU autocast is bf16); valid here: 32, bf16-mixed")
    for what in ("repeats", "warmup", "matmul_size"):
        check_positive(what, getattr(cfg, what))
    if cfg.vocab_size < 2:
        raise UsageError(f"vocab_size must be >= 2 (id 0 is padding), got {cfg.vocab_size}")
    if not cfg.threads:
        raise UsageError("threads is empty; give thread counts, 0 = all cores, e.g. threads=[1,0]")
    for t in cfg.threads:
        if t < 0:
            raise UsageError(f"threads entry must be >= 0 (0 = all cores), got {t}")
    check_positive("time_budget_s", cfg.time_budget_s)
    check_positive("mem_budget_gb", cfg.mem_budget_gb)
    return cfg


def all_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def seq_lens(cfg: ScaleConfig) -> list[int]:
    if cfg.seq_lens:
        return sorted(set(cfg.seq_lens))
    lens, n = [], cfg.min_len
    while n <= cfg.max_len:
        lens.append(n)
        n *= 2
    return lens


def devices(cfg: ScaleConfig) -> list[str]:
    if cfg.device == "auto":
        return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    return [cfg.device]


def plan(cfg: ScaleConfig) -> list[Point]:
    """Every point of the sweep, series by series, N ascending within a series."""
    cores = all_cores()
    threads = sorted({t or cores for t in cfg.threads})
    shared = dict(vocab_size=cfg.vocab_size, repeats=cfg.repeats, warmup=cfg.warmup, seed=cfg.seed,
                  pin_threads=cfg.pin_threads)
    points = []
    for device in devices(cfg):
        for model in cfg.models:
            backends = cfg.backends if get_model(model).family == "attention" else cfg.backends[:1]
            for backend in backends:
                for t in (threads if device == "cpu" else [cores]):
                    for prec in cfg.precision:
                        if prec == "16-mixed" and device != "cuda":
                            continue
                        kw = dict(device=device, threads=t, precision=prec, **shared)
                        for b in cfg.batch:
                            points += [Point.of(model, backend, n, cfg.model, batch=b, **kw) for n in seq_lens(cfg)]
                        for tok in cfg.tokens if t == max(threads) or device != "cpu" else ():
                            points += [Point.of(model, backend, n, cfg.model, batch=tok // n, tokens=tok, **kw)
                                       for n in seq_lens(cfg) if n <= tok]
    return points
