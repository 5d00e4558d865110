"""Measuring one point in this process: step time, forward time, peak memory, a matmul peak.

    from longdep.measure.harness import measure_point
    from longdep.measure.plan import Point
    measure_point(Point.of("lstm", "sdpa", 256, batch=8))   # {"status": "ok", "step_time_s": ...}

We time one training step (forward + backward, median and p20/p80 of ``repeats`` after
``warmup``) and one forward pass under ``no_grad``, and measure the step's peak memory: on CPU
the peak of the running sum of the allocation events of ``torch.profiler(profile_memory=True)``
(exact and repeatable; RSS is not), on CUDA ``max_memory_allocated`` after
``reset_peak_memory_stats``, both counted from the start of the step with gradients set to None.
The fraction of peak is taken against a large ``torch.mm`` timed at the same thread count and in
the same precision. A mixed-precision point (``bf16-mixed``, ``16-mixed``) runs the forward pass
under ``torch.autocast`` (the backward follows the autocast graph), as Lightning's flag of that name
does in training.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from longdep.measure.cost import N_OUT
from longdep.measure.plan import Point
from longdep.models import build_model

MATMUL_SIZE_CUDA = 8192  # square matmul that reaches a GPU's peak (CPU: ScaleConfig.matmul_size)
AUTOCAST = {"32": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def autocast(device: torch.device, precision: str):
    """The autocast context of ``precision`` on ``device`` (disabled for ``32``)."""
    dtype = AUTOCAST[precision]
    return torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


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
    p = Point.from_dict(point) if isinstance(point, dict) else point
    start = time.perf_counter()
    with compute_threads(p.threads, p.pin_threads):
        device = torch.device(p.device)
        torch.manual_seed(p.seed)
        model = build_model(p.model, p.vocab_size, N_OUT).to(device)
        gen = torch.Generator().manual_seed(p.seed)
        tokens = torch.randint(1, p.vocab_size, (p.batch, p.seq_len), generator=gen).to(device)  # no padding
        labels = torch.randint(0, N_OUT, (p.batch * p.seq_len,), generator=gen).to(device)

        def step():
            model.zero_grad(set_to_none=True)
            with autocast(device, p.precision):
                logits = model(tokens)  # (B, N, n_out)
                loss = F.cross_entropy(logits.reshape(-1, N_OUT).float(), labels)
            loss.backward()

        def forward():
            with torch.no_grad(), autocast(device, p.precision):
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
                        pin_threads: bool = True, precision: str = "32") -> float:
    """FLOP/s of a square ``torch.mm`` in ``precision``'s compute type (fp32, bf16 or fp16; median of
    ``repeats`` after one warm-up)."""
    with compute_threads(threads, pin_threads):
        dev = torch.device(device)
        size = MATMUL_SIZE_CUDA if dev.type == "cuda" else size
        dtype = AUTOCAST[precision] or torch.float32
        a = torch.randn(size, size, device=dev, dtype=dtype)
        b = torch.randn(size, size, device=dev, dtype=dtype)
        torch.mm(a, b)
        times = [_timed(lambda: torch.mm(a, b), dev) for _ in range(repeats)]
        return 2.0 * size ** 3 / float(np.median(times))


@contextmanager
def compute_threads(n: int, pin: bool = True):
    """Run the block with ``n`` torch threads; with ``pin``, the calling thread on the first allowed CPU
    and every other thread of the process round-robin on the rest (like ``OMP_PROC_BIND``).

    Pinning matters on machines whose scheduler packs threads onto one CPU (some small cloud VMs
    boot with ``sched_vcpu_pack``): unpinned, a 2-thread step there can take 10-100x its 1-thread time.
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

