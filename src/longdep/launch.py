"""Where grid cells run: local worker processes, or submitit (its local executor, or SLURM job
arrays), with one progress line per finished cell. :mod:`longdep.grid` decides which cells run."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from longdep.config import UsageError, merge, resource_dir


LAUNCHERS = ("local", "submitit-local", "slurm")


@dataclass
class LauncherConfig:
    """Where cells run. ``slurm_*`` settings go to submitit's SLURM executor."""

    timeout_min: int = 120
    slurm_partition: Optional[str] = None
    slurm_gpus_per_node: int = 0
    slurm_cpus_per_task: int = 2
    slurm_mem_gb: int = 16
    slurm_array_parallelism: int = 64
    slurm_additional: dict = field(default_factory=dict)


def _threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def visible_gpus() -> list[str]:
    """The GPUs this process may use (``CUDA_VISIBLE_DEVICES`` when set, else every one torch counts)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g for g in env.split(",") if g.strip() and g.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def die_with_parent() -> None:
    """On Linux, ask the kernel to SIGKILL this process when the grid's process dies however it dies
    (SIGTERM, SIGKILL, a crash): no worker outlives its grid to write records after the folder's lock
    is released (``prctl(PR_SET_PDEATHSIG)``). Elsewhere the pool's own shutdown is all there is."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before the request took effect (re-parented to init)
        os._exit(1)


def init_worker(threads: int, counter=None, gpus=()) -> None:
    """A local worker: threads, Ctrl-C left to the parent, and on a machine with several GPUs one GPU of
    its own (worker k gets GPU k mod n, through ``CUDA_VISIBLE_DEVICES``, before CUDA starts)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle (one line, then it stops us)
    die_with_parent()
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if counter is not None and len(gpus) > 1:
        with counter.get_lock():
            index = counter.value
            counter.value += 1
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]
    import torch

    torch.set_num_threads(threads)


def run_cells(cfgs: list, threads: int = 0, done=None) -> list[dict]:
    """Run cells one after another in this process (a worker or a submitit job); skip finished ones
    (``done``: whether a cell is finished, by default its record is there). Cells with
    ``train.seeds_together`` that differ only in their seed train as one group (:mod:`longdep.training.seeds`)."""
    from longdep.training.run import is_done, run_id, train_one
    from longdep.training.seeds import seed_groups, train_seeds

    if threads:
        init_worker(threads)
    done = done or is_done
    out = []
    for group in seed_groups([cfg for cfg in cfgs if not done(cfg)]):
        try:
            recs = train_seeds(group) if len(group) > 1 else [train_one(group[0])]
            out.extend({"run_id": rec["run_id"], "ok": True, "test_accuracy": rec["test_accuracy"],
                        "steps": rec["steps"], "wall_time_s": rec["wall_time_s"]} for rec in recs)
        except Exception as exc:  # a failed cell (or group) is reported, the grid goes on
            error = f"{type(exc).__name__}: {exc}"
            out.extend({"run_id": run_id(cfg), "ok": False, "error": error} for cfg in group if not done(cfg))
    return out


class Progress:
    """One line per finished cell: done / total, failures, elapsed, ETA."""

    def __init__(self, total: int, stream):
        self.total, self.stream = total, stream
        self.done = self.failed = 0
        self.start = time.perf_counter()

    def update(self, result: dict) -> None:
        self.done += 1
        self.failed += not result["ok"]
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        what = (result.get("summary") or f"test acc {result['test_accuracy']:.3f}, steps {result['steps']}" if result["ok"]
                else f"FAILED {result['error']}")
        print(f"[{self.done}/{self.total}] {result['run_id']}: {what} | failures {self.failed} | "
              f"elapsed {hms(elapsed)}, eta {hms(eta)}", file=self.stream, flush=True)


def hms(seconds: float) -> str:
    """Seconds as h:mm:ss."""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _chunks(items: list, n: int) -> list[list]:
    n = max(1, min(n, len(items)))
    return [items[i::n] for i in range(n)]


def _jobs(todo, fn, group):
    """What a worker runs (``fn``, by default :func:`run_cells`) and the jobs (``group``, by default one cell
    each, or the seeds of a cell trained together)."""
    from longdep.training.seeds import seed_groups

    return fn or run_cells, (group or seed_groups)(todo)


def run_local(todo, workers, progress, fn=None, group=None):
    """Run the cells here: one after another, or in ``workers`` spawned processes (one GPU each where
    there are several)."""
    fn, jobs = _jobs(todo, fn, group)
    if workers <= 1:
        for job in jobs:
            for res in fn(job):
                progress.update(res)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = _threads_per_worker(workers)
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=init_worker,
                             initargs=(threads, ctx.Value("i", 0), visible_gpus())) as pool:
        futures = [pool.submit(fn, job) for job in jobs]
        for fut in as_completed(futures):
            for res in fut.result():
                progress.update(res)


def check_launcher(launcher: str) -> None:
    """Refuse a launcher this machine cannot use before anything is written (SLURM needs ``srun``, as
    submitit looks for it)."""
    import shutil

    if launcher == "slurm" and shutil.which("srun") is None:
        raise UsageError("launcher 'slurm' needs a SLURM cluster (no srun on this machine's PATH); "
                         "valid here: local, submitit-local")


def make_executor(launcher: str, lcfg: LauncherConfig, folder: Path):
    """A submitit executor: SLURM with the configured sbatch settings, or submitit's local executor."""
    import submitit

    if launcher == "slurm":
        try:
            ex = submitit.AutoExecutor(folder=folder, cluster="slurm")
        except RuntimeError as exc:  # no srun on this machine
            raise UsageError(f"launcher 'slurm' needs a SLURM cluster ({exc}); valid here: local, submitit-local") from None
        ex.update_parameters(timeout_min=lcfg.timeout_min, slurm_partition=lcfg.slurm_partition,
                             gpus_per_node=lcfg.slurm_gpus_per_node, cpus_per_task=lcfg.slurm_cpus_per_task,
                             mem_gb=lcfg.slurm_mem_gb, slurm_array_parallelism=lcfg.slurm_array_parallelism,
                             slurm_additional_parameters=dict(lcfg.slurm_additional))
    else:
        ex = submitit.AutoExecutor(folder=folder, cluster="local")
        ex.update_parameters(timeout_min=lcfg.timeout_min)
    return ex


def run_submitit(todo, launcher, workers, lcfg: LauncherConfig, out: Path, progress, fn=None, group=None):
    """Submit through submitit: SLURM on a cluster, its local executor otherwise (same code path)."""
    ex = make_executor(launcher, lcfg, out / ".submitit" / "%j")
    fn, groups = _jobs(todo, fn, group)  # a cell, or the seeds of a cell trained together: never split across jobs
    if launcher == "slurm":  # one job per cell (an array), unless --workers asks for fewer, bigger jobs
        batches = groups if workers <= 1 else [sum(chunk, []) for chunk in _chunks(groups, workers)]
        threads = lcfg.slurm_cpus_per_task
    else:  # the local executor starts every job at once: cap concurrency with one job per worker
        batches = [sum(chunk, []) for chunk in _chunks(groups, max(1, workers))]
        threads = _threads_per_worker(len(batches))
    with ex.batch():
        jobs = [ex.submit(fn, batch, threads) for batch in batches]
    pending = dict(enumerate(jobs))
    start = time.monotonic()
    absent, next_check = set(), start + 2.0
    while pending:
        lost = set()
        if launcher == "slurm" and time.monotonic() >= next_check:
            queued = slurm_queue()
            now_absent = set() if queued is None else {job.job_id for job in pending.values()} - queued
            lost, absent = now_absent & absent, now_absent
            # every 2 s at first, then a quarter of the time waited so far, at most once a minute
            next_check = time.monotonic() + min(60.0, max(2.0, (time.monotonic() - start) / 4))
        for key, job in list(pending.items()):
            if job.done():
                del pending[key]
                try:
                    results = job.result()
                except Exception as exc:
                    results = [{"run_id": f"job {job.job_id}", "ok": False, "error": str(exc).splitlines()[-1]}]
            elif job.job_id in lost:  # cancelled, timed out or killed, and no sacct to tell submitit so
                del pending[key]
                results = [{"run_id": f"job {job.job_id}", "ok": False,
                            "error": f"left the SLURM queue without a result; its log: {job.paths.stderr}"}]
            else:
                continue
            for res in results:
                progress.update(res)
        time.sleep(0.5)


def slurm_queue() -> set | None:
    """Ids (``123``, array tasks ``123_4``) of this user's jobs that SLURM still holds (pending, running,
    completing), or None when squeue does not answer. A job absent from two checks in a row and with no
    result has ended without one: submitit alone learns that only through accounting (sacct), which a
    small cluster may not run, and would wait for it forever."""
    import subprocess

    try:
        out = subprocess.run(["squeue", "--me", "--noheader", "--array", "--format=%i"], capture_output=True,
                             text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return set(out.split())


def load_launcher(launcher: str, overrides=()) -> LauncherConfig:
    """Launcher settings: ``configs/launcher/<launcher>.yaml`` when it exists, then ``launcher.*`` overrides."""
    path = resource_dir("configs") / "launcher" / f"{launcher}.yaml"
    return merge(LauncherConfig, [path] if path.exists() else [], overrides)


def split_overrides(overrides) -> tuple[list, list]:
    """Separate ``launcher.*`` overrides from run-config overrides."""
    run, launch = [], []
    for item in overrides:
        (launch if item.startswith("launcher.") else run).append(item.removeprefix("launcher."))
    return run, launch
