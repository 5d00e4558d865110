"""Process isolation: every point runs in its own process under a time and a memory budget.

Children are forked from a forkserver that imported torch and the harness once, so a point starts
in ~0.1 s, not ~2 s. The parent kills a child at its time budget (the child also gives up early
when its warm-up step shows it cannot finish). The memory budget is judged on the step's measured
peak (see :func:`longdep.measure.harness.measure_point`), the same number on any machine, thread
count and torch version; a looser guard on the whole process (:func:`guard_bytes`: ``RLIMIT_DATA``
on CPU, a per-process memory fraction on CUDA) stops a point the prediction missed before it takes
the machine down. Faults are data: ``run_isolated`` returns ok, oom, timeout or error, never raises.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import resource
import time
from pathlib import Path

import torch

from longdep.config import one_line
from longdep.measure.harness import measure_matmul_peak, measure_point
from longdep.measure.plan import Point

OOM_EXIT, ERROR_EXIT = 3, 4  # child exit codes when even reporting failed


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



def _one_line_exc(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {one_line(exc) if str(exc).strip() else ''}"[:300]


def _child(task: str, payload: dict, time_budget_s: float, mem_budget_bytes: int, conn) -> None:
    """Body of an isolated child: set threads, cap memory, measure, send ``(status, result)``."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the sweep's to handle; it stops this child
    try:
        torch.set_num_threads(payload["threads"])
        torch.ones(1 << 20).sum()  # start the thread pool before the cap is computed
        if task == "noop":
            result = None
        else:
            _limit_memory(payload["device"], mem_budget_bytes)
            if task == "point":
                result = measure_point(Point.from_dict(payload), time_budget_s, mem_budget_bytes)
            else:
                result = measure_matmul_peak(**payload)
        conn.send(("ok", result))
    except BaseException as exc:  # noqa: BLE001 -- every fault becomes a row
        status = "oom" if _is_oom(exc) else "error"
        try:
            conn.send((status, _one_line_exc(exc)))
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
            _CTX.set_forkserver_preload([__name__])
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

