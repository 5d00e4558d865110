"""The SLURM launcher on a real cluster: the smoke grid as a job array, one array task killed mid-run
with scancel, the same command again, and the local launcher's rows and records at the end.

Needs a cluster that answers `sinfo` (`make slurm-up` starts a one-node one on this machine) and is
skipped, with the reason, where none does. On a shared cluster, put the test's folders where the
compute nodes see them and pass launcher settings through LONGDEP_TEST_SLURM, e.g.
``LONGDEP_TEST_SLURM="launcher.slurm_partition=debug" pytest --basetemp=/scratch/$USER/t tests/test_slurm_cluster.py``.
"""
import json
import os
import re
import shlex
import signal
import subprocess
import time

import pandas as pd
import pytest

from conftest import ENV, EXE, cluster_nodes, grid
from test_grid import KEY, rows

# What a run computed; left out: where and how fast it ran (environment, timings, wall and train time).
RESULTS = ("run_id", "config_hash", "steps", "test_accuracy", "final_val_acc", "val_curve", "steps_to_95",
           "steps_to_99", "stopped_early", "parameters")


NO_CLUSTER = "no SLURM cluster answers (sinfo missing or no usable node): `make slurm-up` starts one"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not cluster_nodes(), reason=NO_CLUSTER)]


def records(out) -> dict:
    """run id -> the results of its run record (``runs/*.json``)."""
    recs = (json.loads(p.read_text()) for p in (out / "runs").glob("*.json"))
    return {r["run_id"]: {k: r[k] for k in RESULTS} for r in recs}


def started_task(out, deadline: float) -> str | None:
    """The id (``123_1``) of the grid's last array task once its Python has started, or None at the deadline."""
    while time.time() < deadline:
        for folder in sorted((out / ".submitit").glob("*_*")):
            if re.fullmatch(r"\d+_1", folder.name):
                log = folder / f"{folder.name}_0_log.out"
                if log.exists() and "Starting with JobEnvironment" in log.read_text():
                    return folder.name
        time.sleep(0.1)
    return None


def test_scancel_one_array_task_then_rerun_gives_the_local_launchers_results(reference, tmp_path):
    out = tmp_path / "smoke"
    # One CPU per task, so both cells of the array run at once on a two-core node, each on one thread
    # as in the local reference; no W&B, cost sweep or figures (covered elsewhere, and slow here).
    args = ["--launcher", "slurm", "--no-scale", "--no-figures", "launcher.slurm_cpus_per_task=1", "launcher.slurm_mem_gb=1",
            "wandb.enabled=false", *shlex.split(os.environ.get("LONGDEP_TEST_SLURM", ""))]
    with open(tmp_path / "first.out", "w") as stdout, open(tmp_path / "first.err", "w") as stderr:
        proc = subprocess.Popen([EXE, "grid", "smoke", "--out", str(out), *args], env=ENV, stdout=stdout,
                                stderr=stderr, text=True, start_new_session=True)
    task = None
    try:
        task = started_task(out, time.time() + 120)
        assert task, "the array's second task did not start within 120 s (see squeue)"
        time.sleep(1.0)  # inside the cell: importing, building, training
        # Killed now: a plain `scancel 123_1` sends SIGTERM, which submitit ignores, so the cell would
        # run on for the cluster's KillWait (30 s by default) and likely finish.
        subprocess.run(["scancel", "--signal=KILL", f"{task}.0"], check=True, timeout=30)
        proc.wait(timeout=240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            if task:
                subprocess.run(["scancel", task.split("_")[0]], timeout=30)
    first_out, first_err = (tmp_path / "first.out").read_text(), (tmp_path / "first.err").read_text()
    assert proc.returncode == 1, first_err[-3000:]
    assert "1 cell(s) failed; re-run the same command" in first_err
    assert "failures 1" in first_out and "FAILED" in first_out
    want = records(reference)
    (done, rec), = records(out).items()  # the other cell, as it ran locally
    assert rec == want[done]

    res = grid(out, *args)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "2 cells, 1 done, 1 to run" in res.stdout
    pd.testing.assert_frame_equal(rows(out)[KEY + ["n", "correct"]], rows(reference)[KEY + ["n", "correct"]])
    assert records(out) == want
