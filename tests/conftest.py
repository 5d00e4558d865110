"""Shared test setup: quiet, offline, small thread count."""
import os

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_CONSOLE", "off")
os.environ.setdefault("WANDB_X_DISABLE_STATS", "true")  # no system-metrics sampler in tests
os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
# Small models gain nothing from a second thread, and two busy OpenMP thread pools on two
# cores slow each other down badly: keep the suite (and its subprocesses) on one thread.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)


import functools  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

EXE = str(Path(sys.executable).with_name("longdep"))
# A run that trains in a second: tiny model, 4 steps, small test sets (the training and LM tests).
TINY = ["model.d_model=16", "model.d_ff=32", "model.heads=2", "train.max_steps=4", "train.val_every=2",
        "train.val_size=32", "train.progress=false", "eval.span=0", "eval.distances=[2,6]", "eval.n_per_distance=16",
        "eval.attractor_distances=[5]", "eval.attractor_counts=[0,1]", "eval.n_per_attractor=8",
        "task.distance=1", "task.max_distance=3", "wandb.enabled=false"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true"}


def grid(out, *args, timeout=300):
    """Run ``longdep grid smoke`` into ``out`` through the console script."""
    return subprocess.run([EXE, "grid", "smoke", "--out", str(out), *args], capture_output=True, text=True,
                          timeout=timeout, env=ENV)


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist each worker takes runs of tests in this order. The first test that needs the
    shared smoke grid (``reference``, ~30 s to build) goes first, so one worker builds it at once; the
    other tests that need it go last, so no worker sits waiting for it while other tests remain."""
    uses = [item for item in items if "reference" in getattr(item, "fixturenames", ())]
    if uses:
        first, later = uses[0], set(uses[1:])
        items[:] = [first, *(i for i in items if i is not first and i not in later), *uses[1:]]


@pytest.fixture(scope="session")
def reference(tmp_path_factory, worker_id):
    """An uninterrupted smoke grid (training cells + a tiny scaling sweep) on two local workers, built
    once per test session: under pytest-xdist the first worker to need it builds it (under a file
    lock, in the session's shared temp folder) and the others read it. Tests only read it."""
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    out = root / "reference" / "smoke"
    with FileLock(str(root / "reference.lock")):
        if not (out / "grid_log.csv").exists():  # written last by the grid
            res = grid(out, "--workers", "2")
            assert res.returncode == 0, res.stderr[-3000:]
    return out


@functools.lru_cache(maxsize=1)
def cluster_nodes() -> str:
    """The nodes that answer and take jobs, as sinfo lists them ('' if none or no sinfo). Asked once per
    process: where sinfo is installed but no controller runs, sinfo takes ~9 s to give up, so the wait
    is cut at 4 s (a running controller answers in milliseconds)."""
    if shutil.which("sinfo") is None:
        return ""
    try:
        res = subprocess.run(["sinfo", "-h", "-N", "-r", "-t", "idle,mixed,allocated", "-o", "%N %t"],
                             capture_output=True, text=True, timeout=4)
    except subprocess.TimeoutExpired:
        return ""
    return res.stdout.strip() if res.returncode == 0 else ""
