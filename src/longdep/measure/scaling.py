"""Cost against sequence length: step time, peak memory, parallel speed-up, and what theory predicts.

    longdep scale [key=value ...]                     # configs/scale/default.yaml + overrides
    python -c "from longdep.measure.scaling import *; run_scale(load_scale_config(['name=x'], 'quick'))"
    python -m longdep.measure.scaling --point '{"model": "lstm", "backend": "recurrent", "seq_len": 256}'

A *point* is one model x attention backend x device x thread count x batch x length N. For each
point we time one training step (forward + backward, median and p20/p80 of ``repeats`` after
``warmup``) and one forward pass under ``no_grad``, and measure the step's peak memory: on CPU
the peak of the running sum of the allocation events of ``torch.profiler(profile_memory=True)``
(exact and repeatable; RSS is not), on CUDA ``max_memory_allocated`` after
``reset_peak_memory_stats``, both counted from the start of the step with gradients set to None.
The same row holds the predictions: FLOPs of the step (3x the forward's matmuls, 2*m*n*k each,
QK^T and AV included: the full N x N for ``explicit``, which computes every score and then masks,
N(N+1)/2 for ``sdpa``, whose causal kernel skips the masked half), the bytes of the
N x N attention scores (layers x B x heads x N^2 x 4), the activations linear in N, the number of
sequential steps (N per layer for a recurrent model, one per layer for attention), and the
achieved FLOP/s as a fraction of a large ``torch.mm`` timed at the same thread count.

Faults are data. Every point runs in its own process (forked from a forkserver that imported
torch once, so a point starts in ~0.1 s, not ~2 s) under a time budget (the parent kills it; the
child gives up early when its warm-up step shows it cannot finish) and a memory budget. The budget
is judged on the step's measured peak (the number in ``peak_mem_bytes``), so it means the same on any
machine, thread count and torch version; a looser guard on the whole process (``RLIMIT_DATA`` on CPU,
a per-process memory fraction on CUDA, see :func:`guard_bytes`) stops a point the prediction missed
before it takes the machine down. Points whose predicted peak exceeds the budget are not run. Each becomes a row with ``status`` oom or timeout, and larger N of
the same series are recorded as ``skipped``; the sweep goes on. Rows are appended to
``results/<name>/scaling.csv`` after every point, keyed by ``point_id``, so an interrupted sweep
resumes where it stopped and a finished one is a no-op.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import resource
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import List, Optional

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from longdep.analysis.scaling_figures import FIT_LARGEST, fit_slope, speedups, summary_table  # noqa: F401
from longdep.config import (
    BACKENDS, CONFIG_DIR, MODEL_NAMES, NORMS, RECURRENT, ModelConfig, UsageError, check_choice, check_heads, check_positive,
    merge,
)
from longdep.models import build_model

SCALE_CONFIG_DIR = CONFIG_DIR / "scale"
RECURRENT_BACKEND = "recurrent"  # the backend column of rnn / lstm rows (one fused kernel, no choice)
DEVICES = ("auto", "cpu", "cuda")
STATUSES = ("ok", "oom", "timeout", "skipped", "error")
N_OUT = 2  # logits per position (agreement is binary)
MATMUL_SIZE_CUDA = 8192  # square fp32 matmul that reaches a GPU's peak (CPU: ScaleConfig.matmul_size)
OOM_EXIT, ERROR_EXIT = 3, 4  # child exit codes when even reporting failed

# The columns every row has, in this order (the list first).
COLUMNS = [
    "point_id", "model", "backend", "device", "threads", "batch", "seq_len", "d_model", "heads", "layers",
    "d_ff", "norm", "status", "note", "step_time_s", "step_time_p20_s", "step_time_p80_s", "forward_time_s",
    "peak_mem_bytes", "predicted_score_bytes", "predicted_activation_bytes", "predicted_peak_bytes", "flops",
    "sequential_steps", "achieved_flops_per_s", "matmul_peak_flops_per_s", "peak_fraction", "repeats",
    "pinned", "wall_s", "time_budget_s", "mem_budget_bytes", "timestamp",
]


@dataclass
class ScaleConfig:
    """One sweep. ``name`` selects ``results/<name>/``; lengths are ``seq_lens`` or, when that is
    empty, the doubling series ``min_len, 2*min_len, ... <= max_len``. ``threads``: 0 = all cores.
    ``device``: ``auto`` = CPU at every thread count plus CUDA when present. Budgets are per point;
    ``skip_predicted_oom`` records points whose predicted peak exceeds the memory budget as oom
    without running them (the child's own limit still catches what the prediction misses).
    ``pin_threads`` pins compute threads to CPUs (see :func:`compute_threads`)."""

    name: str = "scale"
    results_dir: str = "results"
    models: List[str] = field(default_factory=lambda: list(MODEL_NAMES))
    backends: List[str] = field(default_factory=lambda: list(BACKENDS))
    seq_lens: List[int] = field(default_factory=list)
    min_len: int = 64
    max_len: int = 4096
    batch: List[int] = field(default_factory=lambda: [8])
    d_model: int = 64
    heads: int = 4
    layers: int = 2
    d_ff: int = 128
    norm: str = "pre"
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
    """One measurement: everything that decides its cost (``threads`` already resolved, >= 1)."""

    model: str
    backend: str
    seq_len: int
    batch: int = 8
    d_model: int = 64
    heads: int = 4
    layers: int = 2
    d_ff: int = 128
    norm: str = "pre"
    vocab_size: int = 32
    device: str = "cpu"
    threads: int = 1
    repeats: int = 5
    warmup: int = 1
    seed: int = 0
    pin_threads: bool = True

    @property
    def attention(self) -> bool:
        return self.model not in RECURRENT

    @property
    def effective_heads(self) -> int:
        """Heads the model really has: 1 for single_head, 0 for recurrent models."""
        return 0 if not self.attention else 1 if self.model == "single_head" else self.heads

    @property
    def series(self) -> tuple:
        """The points that differ only in N: once one fails, longer ones are skipped."""
        return (self.model, self.backend, self.device, self.threads, self.batch)

    def model_config(self) -> ModelConfig:
        backend = self.backend if self.attention else "sdpa"
        return ModelConfig(name=self.model, d_model=self.d_model, layers=self.layers, heads=self.heads,
                           d_ff=self.d_ff, dropout=0.0, positions="sinusoidal", max_len=self.seq_len,
                           backend=backend, norm=self.norm)

    def point_id(self) -> str:
        keys = ("model", "backend", "device", "threads", "batch", "seq_len", "d_model", "heads", "layers",
                "d_ff", "norm", "vocab_size")
        blob = json.dumps({k: getattr(self, k) for k in keys}, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


# ---------------------------------------------------------------- configuration

def _list_fields(schema) -> set:
    return {f.name for f in fields(schema) if str(f.type).startswith("List")}


def _listify(overrides) -> list:
    """``threads=1`` -> ``threads=[1]`` for list fields, so a single value needs no brackets."""
    lists = _list_fields(ScaleConfig)
    out = []
    for item in overrides:
        key, sep, value = item.partition("=")
        if sep and key in lists and value and not value.lstrip().startswith("["):
            item = f"{key}=[{value}]"
        out.append(item)
    return out


def available_configs() -> list[str]:
    return sorted(p.stem for p in SCALE_CONFIG_DIR.glob("*.yaml"))


def load_scale_config(overrides=(), config_name: str = "default") -> ScaleConfig:
    """Read ``configs/scale/<config_name>.yaml`` (or a path to a YAML file), apply ``key=value``
    overrides, validate. Every problem is a one-line :class:`UsageError`."""
    path = Path(config_name)
    if path.suffix not in (".yaml", ".yml"):
        path = SCALE_CONFIG_DIR / f"{config_name}.yaml"
    if not path.exists():
        raise UsageError(f"unknown scale config {config_name!r}; valid: {', '.join(available_configs())}")
    return validate_scale(merge(ScaleConfig, [path], _listify(overrides)))


def _choices(what: str, values, valid) -> None:
    if not values:
        raise UsageError(f"{what} is empty; valid: {', '.join(valid)}")
    for v in values:
        if v not in valid:
            raise UsageError(f"unknown {what[:-1] if what.endswith('s') else what} {v!r}; valid: {', '.join(valid)}")


def validate_scale(cfg: ScaleConfig) -> ScaleConfig:
    """Check names and ranges a type cannot; return ``cfg``."""
    if not cfg.name or "/" in cfg.name or cfg.name.startswith("."):
        raise UsageError(f"name must be a plain folder name, got {cfg.name!r}")
    _choices("models", cfg.models, MODEL_NAMES)
    _choices("backends", cfg.backends, BACKENDS)
    check_choice("norm", cfg.norm, NORMS)
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
    if not cfg.batch:
        raise UsageError("batch is empty; give one or more positive batch sizes, e.g. batch=[8]")
    for b in cfg.batch:
        check_positive("batch entry", b)
    for what in ("d_model", "heads", "layers", "d_ff", "repeats", "warmup", "matmul_size"):
        check_positive(what, getattr(cfg, what))
    if cfg.vocab_size < 2:
        raise UsageError(f"vocab_size must be >= 2 (id 0 is padding), got {cfg.vocab_size}")
    check_heads(cfg.d_model, cfg.heads)
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
    shared = dict(d_model=cfg.d_model, heads=cfg.heads, layers=cfg.layers, d_ff=cfg.d_ff, norm=cfg.norm,
                  vocab_size=cfg.vocab_size, repeats=cfg.repeats, warmup=cfg.warmup, seed=cfg.seed,
                  pin_threads=cfg.pin_threads)
    points = []
    for device in devices(cfg):
        for model in cfg.models:
            for backend in (cfg.backends if model not in RECURRENT else [RECURRENT_BACKEND]):
                for t in (threads if device == "cpu" else [cores]):
                    for b in cfg.batch:
                        points += [Point(model, backend, n, batch=b, device=device, threads=t, **shared)
                                   for n in seq_lens(cfg)]
    return points


# ---------------------------------------------------------------- predictions

# Activations linear in N kept for backward, in floats per token per layer: a count of the saved
# tensors. rnn: input, previous state, new state. lstm: input, previous h and c, the 4d gate
# pre-activations of both matmuls and the 4d gate outputs, c, tanh(c), h. Attention: block input,
# q/k/v, attention output (+ its projection), FFN hidden before and after ReLU; the transformer adds
# two LayerNorm inputs and outputs.
_WIDTH = {
    "rnn": lambda d, f: 3 * d,
    "lstm": lambda d, f: 18 * d,
    "single_head": lambda d, f: 5 * d + 2 * f,
    "multi_head": lambda d, f: 6 * d + 2 * f,
    "transformer": lambda d, f: 9 * d + 2 * f,
}
# Explicit attention holds the scores of every layer for backward plus ~2 more score-sized
# tensors while one layer's softmax is differentiated (measured: ~3x for one layer).
_EXTRA_SCORE_COPIES = 2


def predict(p: Point) -> dict:
    """Analytic cost of one training step at ``p``: FLOPs, score and activation bytes, sequential steps."""
    B, N, d, L, f = p.batch, p.seq_len, p.d_model, p.layers, p.d_ff
    if p.attention:
        proj = 6 * B * N * d * d + (2 * B * N * d * d if p.model != "single_head" else 0)  # QKV (+ out)
        attend = 2 * (2 * B * N * N * d)  # QK^T and AV: heads x (N x d_head x N), summed over heads
        if p.backend == "sdpa":
            attend = attend * (N + 1) // (2 * N)  # the causal kernel computes the lower triangle only
        per_layer = proj + attend + 4 * B * N * d * f  # + FFN d -> d_ff -> d
        sequential = L
        scores = L * B * p.effective_heads * N * N * 4
    else:
        per_layer = (4 if p.model == "rnn" else 16) * B * N * d * d  # input + hidden matmuls (x4 gates)
        sequential = L * N
        scores = 0
    forward = L * per_layer + 2 * B * N * d * N_OUT  # + output head
    activations = (L * _WIDTH[p.model](d, f) + 2 * d) * B * N * 4  # + embedding and head input
    held_scores = scores * (L + _EXTRA_SCORE_COPIES) / L if p.backend == "explicit" else 0
    return {
        "flops": 3 * forward,  # forward + backward ~ 3 x forward
        "predicted_score_bytes": scores,
        "predicted_activation_bytes": activations,
        "predicted_peak_bytes": int(held_scores + activations),
        "sequential_steps": sequential,
    }


# ---------------------------------------------------------------- measuring one point

def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def _profiled_peak_cpu(fn) -> int:
    """Peak of the running sum of allocation events while ``fn`` runs (bytes above the start).

    Uses the profiler under ``torch.profiler.profile`` directly: the wrapper's first use imports
    ``torch._inductor`` (~1.2 s per fresh process) and we need only the raw memory events.
    """
    from torch.autograd.profiler import profile

    with _quiet_stderr(), profile(use_cpu=True, profile_memory=True) as prof:
        fn()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.kineto_results.events() if e.name() == "[memory]")
    running = peak = 0
    for _, nbytes in events:
        running += nbytes
        peak = max(peak, running)
    return int(peak)


class _quiet_stderr:
    """Silence file descriptor 2 (the profiler writes ``USDT:`` lines there from C++)."""

    def __enter__(self):
        sys.stderr.flush()
        self.saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)


def measure_point(point: Point | dict, time_budget_s: Optional[float] = None,
                  mem_budget_bytes: Optional[int] = None) -> dict:
    """Measure ``point`` in this process; return the measured fields plus ``status`` and ``note``.

    Order: warm-up steps, then one step measured for peak memory, then the timed steps and forwards.
    With a ``mem_budget_bytes``, a step whose measured peak exceeds it is ``status="oom"`` (with its
    peak) and is not timed: the budget is judged on the step's own allocations, the same number on any
    machine, thread count or torch version, not on the process heap. With a ``time_budget_s``, gives up
    after the warm-up when the remaining steps cannot fit (``status="timeout"``). Sets torch's thread
    count to ``point.threads`` for the measurement (restored after). Raises whatever the step raises
    (an out-of-memory error included).
    """
    p = Point(**point) if isinstance(point, dict) else point
    start = time.perf_counter()
    with compute_threads(p.threads, p.pin_threads):
        device = torch.device(p.device)
        torch.manual_seed(p.seed)
        model = build_model(p.model_config(), p.vocab_size, N_OUT).to(device)
        gen = torch.Generator().manual_seed(p.seed)
        tokens = torch.randint(1, p.vocab_size, (p.batch, p.seq_len), generator=gen).to(device)  # no padding
        labels = torch.randint(0, N_OUT, (p.batch * p.seq_len,), generator=gen).to(device)

        def step():
            model.zero_grad(set_to_none=True)
            logits = model(tokens)  # (B, N, n_out)
            F.cross_entropy(logits.reshape(-1, N_OUT), labels).backward()

        def forward():
            with torch.no_grad():
                model(tokens)

        model.train()
        warm = [_timed(step, device) for _ in range(p.warmup)]
        if time_budget_s is not None:
            # what is left: repeats steps, a profiled step, (warmup + repeats) forwards at ~1/3 a step
            need = warm[-1] * (p.repeats + 1.5 + (p.warmup + p.repeats) / 3)
            elapsed = time.perf_counter() - start
            if elapsed + need > time_budget_s:
                return {"status": "timeout", "step_time_s": float("nan"),
                        "note": f"warm-up step took {warm[-1]:.2f} s; the point needs ~{elapsed + need:.0f} s "
                                f"> budget {time_budget_s:g} s"}
        model.zero_grad(set_to_none=True)  # the peak counts from a state without gradients
        peak = _peak_memory(step, device)
        if mem_budget_bytes is not None and peak > mem_budget_bytes:
            return {"status": "oom", "peak_mem_bytes": int(peak), "step_time_s": float("nan"),
                    "note": f"measured peak {peak / 1e9:.3g} GB > budget {mem_budget_bytes / 1e9:.3g} GB"}
        times = np.array([_timed(step, device) for _ in range(p.repeats)])
        model.eval()
        for _ in range(p.warmup):
            forward()
        fwd = np.array([_timed(forward, device) for _ in range(p.repeats)])
        return {
            "status": "ok", "note": "",
            "step_time_s": float(np.median(times)),
            "step_time_p20_s": float(np.percentile(times, 20)),
            "step_time_p80_s": float(np.percentile(times, 80)),
            "forward_time_s": float(np.median(fwd)),
            "peak_mem_bytes": int(peak),
        }


def _peak_memory(step, device: torch.device) -> int:
    """Peak bytes ``step`` allocates above what was held before it: on CPU the running sum of the
    profiler's allocation events, on CUDA ``max_memory_allocated`` after a reset."""
    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        step()
        _sync(device)
        return int(torch.cuda.max_memory_allocated(device) - base)
    return _profiled_peak_cpu(step)


def measure_matmul_peak(device: str = "cpu", threads: int = 1, size: int = 2048, repeats: int = 5,
                        pin_threads: bool = True) -> float:
    """FLOP/s of a square fp32 ``torch.mm`` (median of ``repeats`` after one warm-up)."""
    with compute_threads(threads, pin_threads):
        dev = torch.device(device)
        size = MATMUL_SIZE_CUDA if dev.type == "cuda" else size
        a = torch.randn(size, size, device=dev)
        b = torch.randn(size, size, device=dev)
        torch.mm(a, b)
        times = [_timed(lambda: torch.mm(a, b), dev) for _ in range(repeats)]
        return 2.0 * size ** 3 / float(np.median(times))


@contextmanager
def compute_threads(n: int, pin: bool = True):
    """Run the block with ``n`` torch threads; with ``pin``, the calling thread on the first allowed CPU
    and every other thread of the process round-robin on the rest (like ``OMP_PROC_BIND``).

    Pinning matters on machines whose scheduler packs threads onto one CPU (this 2-vCPU VM boots
    with ``sched_vcpu_pack``): unpinned, a 2-thread step there can take 10-100x its 1-thread time.
    Thread count and affinities are restored on exit.
    """
    saved_n = torch.get_num_threads()
    torch.set_num_threads(n)
    torch.ones(1 << 20).sum()  # a parallel region: the worker threads exist from here on
    saved = {}
    try:
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []
        if pin and len(cpus) > 1 and Path("/proc/self/task").is_dir():
            main = threading.get_native_id()
            others = sorted(int(t) for t in os.listdir("/proc/self/task") if int(t) != main)
            for i, tid in enumerate([main, *others]):
                try:
                    saved[tid] = os.sched_getaffinity(tid)
                    os.sched_setaffinity(tid, {cpus[0] if i == 0 else cpus[1 + (i - 1) % (len(cpus) - 1)]})
                except OSError:  # the thread ended meanwhile
                    saved.pop(tid, None)
        yield
    finally:
        for tid, mask in saved.items():
            try:
                os.sched_setaffinity(tid, mask)
            except OSError:
                pass
        torch.set_num_threads(saved_n)


# ---------------------------------------------------------------- isolation: one process per point

def _proc_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


# The guard against a runaway point (a prediction that is badly wrong) is looser than the budget:
# the budget is judged on the step's measured allocations (see measure_point); the guard caps the
# whole process, which also holds freed-but-kept heap, allocator slack, profiler event buffers
# (~20 KB per time step of a CPU LSTM) and per-thread arenas, all of which vary by machine and version.
GUARD_FACTOR, GUARD_SLACK_BYTES = 2, 512 * 2**20


def guard_bytes(budget_bytes: int) -> int:
    """What the child process may hold above its start: ``2 x budget + 512 MiB``."""
    return GUARD_FACTOR * budget_bytes + GUARD_SLACK_BYTES


def _limit_memory(device: str, budget_bytes: int) -> None:
    """Guard this process (:func:`guard_bytes`): CPU -> RLIMIT_DATA at what it holds now + the guard;
    CUDA -> a per-process memory fraction of the guard."""
    guard = guard_bytes(budget_bytes)
    if device == "cuda":
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, guard / total))
        return
    if not Path("/proc/self/status").exists():
        return  # not Linux: rely on the predicted-peak check and the measured peak
    limit = _proc_kb("VmData") * 1024 + guard
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(
        s in text for s in ("can't allocate memory", "out of memory", "not enough memory", "cannot allocate memory"))


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]


def _child(task: str, payload: dict, time_budget_s: float, mem_budget_bytes: int, conn) -> None:
    """Body of an isolated child: set threads, cap memory, measure, send ``(status, result)``."""
    try:
        torch.set_num_threads(payload["threads"])
        torch.ones(1 << 20).sum()  # start the thread pool before the cap is computed
        if task == "noop":
            result = None
        else:
            _limit_memory(payload["device"], mem_budget_bytes)
            if task == "point":
                result = measure_point(Point(**payload), time_budget_s, mem_budget_bytes)
            else:
                result = measure_matmul_peak(**payload)
        conn.send(("ok", result))
    except BaseException as exc:  # noqa: BLE001 -- every fault becomes a row
        status = "oom" if _is_oom(exc) else "error"
        try:
            conn.send((status, _one_line(exc)))
        except BaseException:  # noqa: BLE001
            os._exit(OOM_EXIT if status == "oom" else ERROR_EXIT)
    finally:
        conn.close()


_CTX = None


def _context():
    """A forkserver that imported this module (and torch) once; spawn where there is none."""
    global _CTX
    if _CTX is None:
        if "forkserver" in mp.get_all_start_methods():
            _CTX = mp.get_context("forkserver")
            _CTX.set_forkserver_preload([__name__ if __name__ != "__main__" else "longdep.measure.scaling"])
            run_isolated("noop", {"threads": 1}, time_budget_s=300, mem_budget_bytes=0)  # start it now
        else:
            _CTX = mp.get_context("spawn")
    return _CTX


def run_isolated(task: str, payload: dict, time_budget_s: float, mem_budget_bytes: int) -> tuple:
    """Run ``task`` ("point", "matmul" or "noop") in a fresh child; return ``(status, result, wall_s)``.

    ``status`` is ok (``result`` = the child's return value), oom, timeout or error (``result`` = a note).
    """
    ctx = _context()
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(task, payload, time_budget_s, mem_budget_bytes, send), daemon=True)
    t0 = time.perf_counter()
    proc.start()
    send.close()
    got = None
    try:
        if recv.poll(time_budget_s):
            got = recv.recv()
    except (EOFError, OSError):
        got = None
    wall = time.perf_counter() - t0
    if got is None and proc.is_alive() and wall >= time_budget_s:
        proc.kill()
        proc.join()
        return "timeout", f"killed after the time budget of {time_budget_s:g} s", wall
    proc.join(10)
    if proc.is_alive():
        proc.kill()
        proc.join()
    recv.close()
    if got is not None:
        return got[0], got[1], wall
    code = proc.exitcode
    if code in (OOM_EXIT, -9):
        return "oom", f"child exited with code {code} (out of memory)", wall
    return "error", f"child exited with code {code} without a result", wall


# ---------------------------------------------------------------- the sweep

def results_folder(cfg: ScaleConfig) -> Path:
    return Path(cfg.results_dir) / cfg.name


def _row(p: Point, cfg: ScaleConfig, status: str, note: str = "", measured: Optional[dict] = None,
         mm_peak: float = float("nan"), wall: float = float("nan")) -> dict:
    row = {c: float("nan") for c in COLUMNS}
    row.update(point_id=p.point_id(), model=p.model, backend=p.backend, device=p.device, threads=p.threads,
               batch=p.batch, seq_len=p.seq_len, d_model=p.d_model, heads=p.effective_heads, layers=p.layers,
               d_ff=p.d_ff, norm=p.norm, status=status, note=note, repeats=p.repeats, pinned=p.pin_threads,
               wall_s=wall, time_budget_s=cfg.time_budget_s, mem_budget_bytes=int(cfg.mem_budget_gb * 1e9),
               matmul_peak_flops_per_s=mm_peak, timestamp=time.strftime("%Y-%m-%dT%H:%M:%S"))
    row.update(predict(p))
    if measured:
        row.update(measured)
        row["status"] = measured.get("status", status)
        row["note"] = measured.get("note", "") or note
    if row["status"] == "ok":
        row["achieved_flops_per_s"] = row["flops"] / row["step_time_s"]
        row["peak_fraction"] = row["achieved_flops_per_s"] / mm_peak if mm_peak == mm_peak else float("nan")
    return row


def _describe(row: dict) -> str:
    head = (f"{row['model']}/{row['backend']} {row['device']} T={row['threads']} B={row['batch']} "
            f"N={row['seq_len']}: {row['status']}")
    if row["status"] != "ok":
        return f"{head} ({row['note']})"
    frac = row["peak_fraction"]
    return (f"{head}  step {row['step_time_s'] * 1e3:.1f} ms [{row['step_time_p20_s'] * 1e3:.1f}, "
            f"{row['step_time_p80_s'] * 1e3:.1f}]  fwd {row['forward_time_s'] * 1e3:.1f} ms  "
            f"peak {row['peak_mem_bytes'] / 1e6:.1f} MB  {row['achieved_flops_per_s'] / 1e9:.2f} GFLOP/s"
            + (f" ({frac:.0%} of mm peak)" if frac == frac else ""))


def run_scale(cfg: ScaleConfig, stream=None) -> Path:
    """Run every point of ``cfg`` missing from ``results/<name>/scaling.csv``; return the folder.

    Prints one line per point. A failed point (oom/timeout) is a row, and the longer lengths of its
    series are ``skipped`` rows; nothing a point does can stop the sweep.
    """
    from longdep.analysis.records import append_rows, environment, write_json
    stream = stream or sys.stdout  # looked up at call time: sys.stdout may have been replaced since import

    validate_scale(cfg)
    folder = results_folder(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "scaling.csv"
    old = pd.read_csv(csv) if csv.exists() and csv.stat().st_size else pd.DataFrame(columns=COLUMNS)
    points = plan(cfg)
    by_id = {p.point_id(): p for p in points}
    mine = old[old["point_id"].isin(by_id)]
    failed: dict[tuple, tuple] = {}  # series -> (N, status) of its first oom/timeout
    for pid, status in zip(mine["point_id"], mine["status"]):
        p = by_id[pid]
        if status in ("oom", "timeout") and (p.series not in failed or p.seq_len < failed[p.series][0]):
            failed[p.series] = (p.seq_len, status)
    todo = [p for p in points if p.point_id() not in set(mine["point_id"])]
    print(f"scale {cfg.name}: {len(points)} points, {len(points) - len(todo)} already in {csv}, "
          f"{len(todo)} to run", file=stream, flush=True)
    budget = int(cfg.mem_budget_gb * 1e9)
    peaks: dict[tuple, float] = {}
    env_peaks: dict[str, float] = {}
    env = environment()
    env.update(all_cores=all_cores(), matmul_peak_flops_per_s=env_peaks, config=asdict(cfg))
    if todo:
        write_json(folder / "scaling_env.json", env)  # again at the end, with the matmul peaks
    start = time.perf_counter()
    for i, p in enumerate(todo, 1):
        key = (p.device, p.threads)
        if key not in peaks and not (p.series in failed and p.seq_len > failed[p.series][0]):
            status, value, _ = run_isolated("matmul", {"device": p.device, "threads": p.threads,
                                                       "size": cfg.matmul_size, "pin_threads": cfg.pin_threads},
                                            max(cfg.time_budget_s, 60.0), budget)
            peaks[key] = value if status == "ok" else float("nan")
            env_peaks[f"{p.device} x{p.threads}"] = peaks[key]
            print(f"  matmul peak {p.device} T={p.threads}: {peaks[key] / 1e9:.1f} GFLOP/s", file=stream, flush=True)
        mm = peaks.get(key, float("nan"))
        pred = predict(p)
        if p.series in failed and p.seq_len > failed[p.series][0]:
            n0, why = failed[p.series]
            row = _row(p, cfg, "skipped", f"{why} at N={n0}; longer lengths not run", mm_peak=mm)
        elif cfg.skip_predicted_oom and pred["predicted_peak_bytes"] > budget:
            row = _row(p, cfg, "oom", f"predicted peak {pred['predicted_peak_bytes'] / 1e9:.2f} GB > budget "
                                      f"{cfg.mem_budget_gb:g} GB; not run", mm_peak=mm)
        else:
            status, value, wall = run_isolated("point", asdict(p), cfg.time_budget_s, budget)
            if status == "ok":
                row = _row(p, cfg, "ok", measured=value, mm_peak=mm, wall=wall)
            else:
                row = _row(p, cfg, status, value, mm_peak=mm, wall=wall)
        if row["status"] in ("oom", "timeout") and p.series not in failed:
            failed[p.series] = (p.seq_len, row["status"])
        append_rows(csv, pd.DataFrame([row], columns=COLUMNS), key="point_id")
        print(f"[{i}/{len(todo)} {time.perf_counter() - start:6.1f}s] {_describe(row)}", file=stream, flush=True)
    if todo:
        write_json(folder / "scaling_env.json", env)
    df = pd.read_csv(csv)
    table = summary_table(df[df["point_id"].isin({p.point_id() for p in points})])
    if len(table):
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            print(f"log-log slopes over the largest {FIT_LARGEST} lengths; step time and fraction of the matmul "
                  f"peak at the largest N:\n{table.to_string(index=False)}", file=stream)
    return folder


def main(argv=None) -> int:
    """``python -m longdep.measure.scaling --point JSON``: measure one point here, print JSON."""
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--point", required=True, help='JSON fields of Point, e.g. {"model": "lstm", ...}')
    ap.add_argument("--time-budget-s", type=float, default=None)
    args = ap.parse_args(argv)
    fields_ = json.loads(args.point)
    fields_.setdefault("backend", RECURRENT_BACKEND if fields_.get("model") in RECURRENT else "sdpa")
    p = Point(**fields_)
    out = {**asdict(p), **predict(p), **measure_point(p, args.time_budget_s)}
    print(json.dumps(out, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
