"""Bad input, unsafe paths and faults through the CLI: one line, the right exit code, nothing changed.

A few cases of each kind run the real ``longdep`` console script in a fresh process, as a user would
(exit code, stderr, the files left); the others call ``longdep.cli.main`` in the test's process, the
same code without the ~3 s of interpreter start and imports per case (the suite's time). The faults
a test has to fake (a full disk, W&B's writer reporting one) run in the process; Ctrl-C is sent to
real ``longdep`` processes (a run, a grid with workers, a sweep with its isolated points) as a
terminal sends it, to the whole process group.
"""
import contextlib
import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ENV, EXE
from longdep.cli import main
from longdep.records import has_table

TINY = ["model.d_model=16", "model.d_ff=32", "model.heads=2", "train.max_steps=2", "train.val_every=1",
        "train.val_size=16", "train.progress=false", "eval.span=0", "eval.distances=[2]", "eval.n_per_distance=8",
        "eval.attractor_distances=[]", "task.max_distance=3", "wandb.enabled=false"]


def snapshot(root: Path) -> dict:
    """Every file under ``root`` with its size and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def run_cli(args, capsys=None) -> tuple[int, list[str]]:
    """The real console script in the current folder, as a user runs it: exit code and stderr lines."""
    res = subprocess.run([EXE, *args], capture_output=True, text=True, timeout=300, env=ENV)
    return res.returncode, [line for line in res.stderr.splitlines() if line.strip()]


def run_in_process(args, capsys) -> tuple[int, list[str]]:
    """``longdep.cli.main`` in this process: exit code (argparse's too) and stderr lines."""
    capsys.readouterr()
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    return code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


# The cases that go through the console script in a fresh process (one or two per test).
CONSOLE = {"name-escapes-results", "huge-width", "grid-out-is-a-file", "figures-no-folder", "truncated-row"}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder with a results file in it, as the current directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    (tmp_path / "notes.txt").write_text("mine\n")
    return tmp_path


BAD_TRAIN = {
    "name-escapes-results": (["name=../../etc"], "name must be a plain folder name"),
    "results-dir-in-proc": (["results_dir=/proc/x"], "cannot be written"),
    "results-dir-is-a-file": (["results_dir=notes.txt"], "which is not a directory"),
    "negative-lr": (["train.lr=-1"], "train.lr must be >= 0"),
    "negative-weight-decay": (["train.weight_decay=-0.1"], "train.weight_decay must be >= 0"),
    "negative-grad-clip": (["train.grad_clip=-1"], "train.grad_clip must be >= 0"),
    "devices-not-a-number": (["train.devices=abc"], "train.devices must be auto or a positive number"),
    "batch-never-fills": (["train.batch_size=300000"], "exceeds the 200,000 training examples"),
    "eval-batch-zero": (["eval.batch_size=0"], "eval.batch_size must be positive"),
    "malformed-list": (["eval.distances=[2,4"], "is not valid YAML"),
    "malformed-dict": (["model={name:"], "is not valid YAML"),
    "distance-beyond-seeds": (["eval.distances=[1000000000]"], "beyond the 99,992,999"),
    "huge-width": (["model.d_model=1000000"], "this run needs ~"),
    "huge-preamble": (["task.max_preamble=1000000000"], "this run needs ~"),
    "huge-val-set": (["train.val_size=1000000000"], "this run needs ~"),
    "infeasible-attractors": (["task.distance=2", "task.max_distance=null", "task.attractors=3"], "is infeasible"),
    "infinite-lr": (["train.lr=inf"], "train.lr must be a finite number, got inf"),
    "infinite-weight-decay": (["train.weight_decay=inf"], "train.weight_decay must be a finite number"),
    "nan-grad-clip": (["train.grad_clip=nan"], "train.grad_clip must be a finite number, got nan"),
    "nan-min-lr-ratio": (["train.min_lr_ratio=nan"], "train.min_lr_ratio must be a finite number"),
    "name-too-long": (["name=" + "a" * 300], "is 300 bytes; valid: at most 255 bytes"),
    "name-not-utf8": (["name=\udcff\udcfe"], "not UTF-8 text"),
    "results-dir-dangling-link": (["results_dir=dangling"], "is a symbolic link to nothing"),
    "results-dir-link-loop": (["results_dir=loop1"], "is a symbolic link loop"),
    "wandb-project-path": (["wandb.enabled=true", "wandb.project=a/b/../c"], "wandb.project='a/b/../c' is not a W&B name"),
    "wandb-online-no-key": (["wandb.enabled=true", "wandb.mode=online"], "wandb.mode=online needs a W&B API key"),
    "bool-given-a-number": (["eval.probes=2"], "eval.probes is true or false, got 2"),
    "runs-is-a-file": (["results_dir=rd", "name=n"], "results folder's runs/ 'rd/n/runs' exists and is not a directory"),
}


@pytest.mark.parametrize("overrides,needle", BAD_TRAIN.values(), ids=BAD_TRAIN.keys())
def test_bad_train_input_is_one_line_exit_2_and_writes_nothing(overrides, needle, workdir, capsys, request, monkeypatch):
    if request.node.callspec.id == "runs-is-a-file":  # runs/ cannot hold a record: refused before training
        (workdir / "rd" / "n").mkdir(parents=True)
        (workdir / "rd" / "n" / "runs").write_text("")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(workdir / "no-netrc"))
    (workdir / "dangling").symlink_to(workdir / "nowhere")
    (workdir / "loop1").symlink_to(workdir / "loop2")
    (workdir / "loop2").symlink_to(workdir / "loop1")
    before = snapshot(workdir)
    runner = run_cli if request.node.callspec.id in CONSOLE else run_in_process
    code, err = runner(["train", *TINY, *overrides], capsys)
    assert code == 2 and len(err) == 1 and needle in err[0], err
    assert snapshot(workdir) == before
    assert not (workdir.parent / "etc").exists()


BAD_OTHER = {
    "grid-out-is-a-file": (["grid", "smoke", "--out", "notes.txt"], "is not a directory"),
    "scale-dir-in-proc": (["scale", "--config", "quick", "results_dir=/proc/x"], "cannot be written"),
    "data-n-too-large": (["data", "export", "--n", "1000000000", "--out", "x.jsonl"], "ask for fewer"),
    "data-out-is-a-folder": (["data", "export", "--n", "2", "--out", "results"], "is a directory"),
    "figures-no-folder": (["figures", "results/none"], "does not exist"),
    "data-out-name-too-long": (["data", "export", "--n", "2", "--out", "c" * 244 + ".jsonl"], "its temporary copy needs the rest"),
    "eval-pairs-out-is-a-folder": (["eval-pairs", "p.jsonl", "--run", "r.json", "--out", "results"], "is a directory"),
    "grid-out-too-long": (["grid", "smoke", "--out", "b" * 300], "is 300 bytes"),
    "scale-infinite-budget": (["scale", "--config", "quick", "mem_budget_gb=inf"], "mem_budget_gb must be a finite number"),
    "accelerator-not-here": (["train", *TINY, "train.accelerator=mps"], "train.accelerator=mps, but this machine has no MPS"),
}


@pytest.mark.parametrize("args,needle", BAD_OTHER.values(), ids=BAD_OTHER.keys())
def test_bad_paths_elsewhere_are_one_line_exit_2_and_write_nothing(args, needle, workdir, capsys, request):
    before = snapshot(workdir)
    runner = run_cli if request.node.callspec.id in CONSOLE else run_in_process
    code, err = runner(args, capsys)
    assert code == 2 and len(err) == 1 and needle in err[0], err
    assert snapshot(workdir) == before


@pytest.mark.parametrize("case", ["slurm-without-a-cluster", "analyze-a-truncated-record"])
def test_a_refused_command_leaves_no_lock_file_or_folder_behind(case, workdir, capsys, monkeypatch):
    if case == "slurm-without-a-cluster":
        monkeypatch.setenv("PATH", str(workdir))  # no srun on it
        args, needle = ["grid", "smoke", "--out", "results/new", "--launcher", "slurm"], "needs a SLURM cluster"
    else:
        runs = workdir / "results" / "a" / "runs"
        runs.mkdir(parents=True)
        (runs / "lstm-d1-4-s0-x.json").write_text('{"run_id": "lstm-d1-4-s0-x", "conf')
        (runs / "lstm-d1-4-s0-x.pt").write_bytes(b"")
        args, needle = ["analyze", "results/a"], "lstm-d1-4-s0-x.json"
    before = snapshot(workdir)
    code, err = run_in_process(args, capsys)
    assert code == 2 and len(err) == 1 and needle in err[0], err
    assert snapshot(workdir) == before and not list(workdir.rglob(".longdep.lock")) and not (workdir / "results" / "new").exists()


BAD_FILES = {  # a config or grid file of the wrong shape: the file, the key and what it must be
    "config-not-utf8": ("train", b"model: {name: lstm}\n\xff\xfe\n", "is not UTF-8 text (byte 0xff at offset 20)"),
    "config-top-is-a-list": ("train", b"- 1\n- 2\n", "must be a mapping of keys (key: value) at its top, got a list"),
    "config-section-a-value": ("train", b"model: lstm\n", ": model must be a mapping (key: value), got a value"),
    "config-value-a-list": ("train", b"train: {lr: [1]}\n", ": train.lr must be a value, got a list"),
    "grid-not-utf8": ("grid", b"axes: {train.seed: [0]}\n# caf\xe9\n", "is not UTF-8 text (byte 0xe9"),
    "grid-axes-a-list": ("grid", b"base: {}\naxes: [1]\n", ": axes must be a mapping (key: value), got a list"),
    "grid-also-a-mapping": ("grid", b"axes: {train.seed: [0]}\nalso: {a: 1}\n", ": also must be a list, got a mapping"),
}


@pytest.mark.parametrize("command,text,needle", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_config_or_grid_file_of_the_wrong_shape_names_the_file_and_key_in_one_line(command, text, needle, workdir,
                                                                                      capsys):
    (workdir / "bad.yaml").write_bytes(text)
    before = snapshot(workdir)
    args = ["train", "--config", "bad.yaml", *TINY] if command == "train" else ["grid", "./bad.yaml", "--out", "o"]
    code, err = run_in_process(args, capsys)
    assert code == 2 and len(err) == 1 and "bad.yaml" in err[0] and needle in err[0], err
    assert snapshot(workdir) == before


ACC_HEADER = "run_id,model,seed,train_min_distance,train_max_distance,test_set,distance,frame,attractors,n,correct,accuracy\n"
ACC_ROW = "r1,lstm,0,1,16,distance,2,main,,8,8,1.0\n"
BROKEN = {
    "binary": (b"\x00\x81\xff\xfe garbage \x00" * 20, "not a readable CSV"),
    "wrong-header": (b"a,b,c\n1,2,3\n", "line 1: the header lacks run_id"),
    "truncated-row": ((ACC_HEADER + ACC_ROW + "r2,lstm,0,1,16,dist").encode(), "line 3 is incomplete"),
    "text-in-a-number": ((ACC_HEADER + ACC_ROW + "r2,lstm,0,1,16,distance,2,main,,8,x,1.0\n").encode(),
                         "line 3: correct is 'x', not a number"),
    "second-header": ((ACC_HEADER + ACC_ROW + ACC_HEADER).encode(), "line 3: seed is 'seed', not a number (a second header"),
}


@pytest.mark.parametrize("content,needle", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_results_csv_is_named_with_its_line_and_never_built_on(content, needle, workdir, capsys, request):
    folder = workdir / "results" / "smoke"
    folder.mkdir()
    (folder / "accuracy.csv").write_bytes(content)
    before = snapshot(workdir)
    runner = run_cli if request.node.callspec.id in CONSOLE else run_in_process
    code, err = runner(["figures", "results/smoke"], capsys)
    assert code == 2 and len(err) == 1 and needle in err[0] and "accuracy.csv" in err[0], err
    # A grid resumed over it stops before any cell (the same code in this process: the console script's
    # exit code and one line are checked just above)
    code, err = run_in_process(["grid", "smoke", "--workers", "1", "--no-scale"], capsys)
    assert code == 2 and len(err) == 1 and needle in err[0], err
    assert snapshot(workdir) == before


def test_a_second_grid_on_the_same_folder_stops_at_once(workdir, capsys):
    from longdep.records import exclusive

    with exclusive(workdir / "results" / "smoke"):
        before = snapshot(workdir)
        code, err = run_cli(["grid", "smoke", "--workers", "1", "--no-scale"], capsys)
    assert code == 2 and len(err) == 1 and "another longdep command" in err[0], err
    assert snapshot(workdir) == before


def test_only_longdeps_own_temp_files_are_cleaned(tmp_path):
    from longdep.grid import clean_stale_temp_files

    out = tmp_path / "paper"
    (out / "runs").mkdir(parents=True)
    (out / "mine").mkdir()
    ours = [out / ".accuracy.csv.a1b2c3d4.tmp", out / "runs" / ".lstm-d1-s0-x.json.zz_9yx8w.tmp"]
    theirs = [out / ".notes.tmp", out / "mine" / ".accuracy.csv.a1b2c3d4.tmp", out / ".draft.txt.a1b2c3d4.tmp",
              out / "accuracy.csv.tmp"]
    for p in ours + theirs:
        p.write_text("x")
    clean_stale_temp_files(out)
    assert not any(p.exists() for p in ours) and all(p.exists() for p in theirs)


def test_a_full_disk_is_one_line_naming_the_file_and_leaves_nothing_half_written(workdir, capsys, monkeypatch):
    from longdep import records

    target = workdir / "examples.jsonl"
    target.write_text("old\n")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(records.os, "fsync", full)
    code, err = run_in_process(["data", "export", "--n", "3", "--out", str(target)], capsys)
    assert code == 1 and len(err) == 1 and "no space left" in err[0] and str(target) in err[0], err
    assert target.read_text() == "old\n" and sorted(p.name for p in workdir.iterdir()) == [
        "examples.jsonl", "notes.txt", "results"]


@pytest.mark.parametrize("err", [errno.EROFS, errno.EACCES])
def test_figures_on_a_read_only_mount_is_one_line_naming_the_figure_and_changes_nothing(reference, tmp_path, capsys,
                                                                                        monkeypatch, err):
    import shutil
    import tempfile

    from longdep import records

    out = tmp_path / "r"
    shutil.copytree(reference, out, ignore=shutil.ignore_patterns("wandb", "REPORT.md"))
    before = snapshot(out)

    def read_only(dir=None, prefix=None, suffix=None):  # what a read-only mount answers (as root, too)
        raise OSError(err, os.strerror(err), str(Path(dir) / f"{prefix}x{suffix}"))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert records.tempfile is tempfile
    code, lines = run_in_process(["figures", str(out)], capsys)
    assert code == 2 and len(lines) == 1 and "cannot write" in lines[0] and os.strerror(err).lower() in lines[0], lines
    assert ".png (" in lines[0] and ".tmp" not in lines[0]
    assert snapshot(out) == before


def test_wandb_out_of_space_is_one_line_and_leaves_no_truncated_run(workdir, capsys, monkeypatch):
    """W&B's writer is its own process: a full disk only shows in its log (seen on a 2 MB tmpfs:
    "writer: failed closing store: ... no space left on device"). That log line, faked here, makes the
    run one line, exit 1, with neither the truncated W&B run nor a result that claims the cell is done."""
    from longdep import tracking

    line = '{"level":"ERROR","msg":"writer: failed closing store: write x.wandb: no space left on device"}'
    monkeypatch.setattr(tracking, "write_error", lambda run_dir: line)
    code, err = run_in_process(["train", *TINY, "wandb.enabled=true", "wandb.mode=offline", "name=w"], capsys)
    assert code == 1 and len(err) == 1 and "no space left" in err[0] and "results/w/wandb" in err[0], err
    folder = workdir / "results" / "w"
    assert not list((folder / "wandb").glob("offline-run-*")) and not list(folder.glob("runs/*.json"))


def test_a_full_disk_under_wandbs_own_temporary_file_names_the_runs_wandb_folder(workdir, capsys, monkeypatch):
    import wandb

    def table(**kwargs):  # what W&B raises when the disk fills while it writes a table's JSON
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/tmp/tmpq1w2e3/media/table/accuracy_table.json")

    monkeypatch.setattr(wandb, "Table", table)
    code, err = run_in_process(["train", *TINY, "wandb.enabled=true", "wandb.mode=offline", "name=w"], capsys)
    assert code == 1 and len(err) == 1 and "no space left" in err[0] and "results/w/wandb" in err[0], err
    folder = workdir / "results" / "w"
    assert "tmpq1w2e3" not in err[0] and not list(folder.glob("runs/*.json")) and not list(folder.glob("wandb/offline-run-*"))


def test_wandb_writer_log_is_read_for_a_full_disk(tmp_path):
    from longdep.tracking import check_written, write_error

    run = tmp_path / "offline-run-1-x"
    (run / "logs").mkdir(parents=True)
    log = run / "logs" / "debug-internal.log"
    log.write_text('{"level":"INFO","msg":"stream: started"}\n')
    assert write_error(run) is None and write_error(tmp_path / "none") is None
    check_written(run)  # nothing wrong: kept
    log.write_text(log.read_text() + '{"level":"ERROR","msg":"write y.wandb: No space left on device"}\n')
    with pytest.raises(OSError) as info:
        check_written(run)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(tmp_path) and not run.exists()


def test_a_killed_runs_local_wandb_folder_is_removed_when_it_reruns(tmp_path):
    from longdep.tracking import remove_unfinished

    runs = tmp_path / "wandb"
    stale = runs / "offline-run-20260101_000000-lstm-d1-16-s0-abc"
    other = runs / "offline-run-20260101_000000-lstm-d1-16-s1-def"
    for d in (stale, other):
        d.mkdir(parents=True)
        (d / "run.wandb").write_text("x")
    assert remove_unfinished(tmp_path, "lstm-d1-16-s0-abc") == [stale]
    assert not stale.exists() and other.exists()


def test_ctrl_c_is_one_line_and_exit_130(tmp_path):
    """A real ``longdep train`` process, interrupted while it trains."""
    args = [sys.executable, "-m", "longdep", "train", "model.name=lstm", "train.max_steps=100000",
            "train.val_every=1000", "train.progress=false", "wandb.enabled=false", f"results_dir={tmp_path}", "name=ctrl"]
    import psutil

    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    watch, start = psutil.Process(proc.pid), time.time()
    while watch.cpu_times().user < 6 and time.time() - start < 120:  # past the imports, into data and training
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 130, err
    assert lines[-1] == "longdep: interrupted; rerun the same command to resume" and "Traceback" not in err
    assert not has_table(tmp_path / "ctrl" / "accuracy.csv")  # no half result


def _ctrl_c_group(args, cwd, ready) -> tuple[int, str, list]:
    """Start ``args`` in its own process group, wait until ``ready(process)``, then Ctrl-C the whole group
    (what a terminal does: every process of the command gets SIGINT). Returns the exit code, stderr and
    the processes that were running under it when it was interrupted."""
    import psutil

    proc = subprocess.Popen(args, cwd=cwd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    watch, start = psutil.Process(proc.pid), time.time()
    while not ready(watch) and time.time() - start < 120 and proc.poll() is None:
        time.sleep(0.3)
    children = watch.children(recursive=True)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err, children


def _busy_children(watch, cpu_s: float) -> bool:
    import psutil

    try:
        return sum(c.cpu_times().user for c in watch.children(recursive=True)) > cpu_s
    except psutil.Error:
        return False


def _assert_interrupted(code, err, children, folder):
    import psutil

    from longdep.records import exclusive

    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 130, err
    assert lines == ["longdep: interrupted; rerun the same command to resume"], err  # nothing from the workers
    assert children, "the command had started no worker to stop"
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"workers left running: {alive}"
    with exclusive(folder):  # the folder's lock went with the command
        pass


def test_ctrl_c_stops_a_grid_and_its_workers(tmp_path):
    out = tmp_path / "g"
    args = [sys.executable, "-m", "longdep", "grid", "smoke", "--workers", "2", "--no-scale", "--out", str(out),
            "train.max_steps=100000", "train.val_every=100000", "wandb.enabled=false"]
    code, err, children = _ctrl_c_group(args, tmp_path, lambda w: _busy_children(w, 4))
    _assert_interrupted(code, err, children, out)
    assert not has_table(out / "accuracy.csv") and not list((out / "runs").glob("*.json"))  # no half cell
    from longdep.records import read_csv

    log = read_csv(out / "grid_log.csv")  # the invocation is logged all the same: stopped while training cells
    assert len(log) == 1 and bool(log["interrupted"].iloc[0]) and log["cells"].iloc[0] == 2
    assert log["cells_done_before"].iloc[0] == 0 and log["cells_s"].iloc[0] > 0 and log["failed"].iloc[0] == 0


def test_ctrl_c_stops_a_sweep_between_whole_rows(tmp_path):
    from longdep.records import read_csv

    out = tmp_path / "s"
    args = [sys.executable, "-m", "longdep", "scale", "--config", "quick", f"results_dir={tmp_path}", "name=s",
            "models=[lstm,transformer]", "threads=[1]", "repeats=2"]
    code, err, children = _ctrl_c_group(args, tmp_path, lambda w: (out / "scaling.csv").exists() and _busy_children(w, 1))
    _assert_interrupted(code, err, children, out)
    rows = read_csv(out / "scaling.csv")  # whole rows only (a broken one raises)
    assert rows is not None and len(rows) >= 1 and rows["status"].notna().all()


def test_a_symlinked_lock_is_refused_and_its_target_untouched(tmp_path, capsys):
    """A `.longdep.lock` (the folder's) or `.accuracy.csv.lock` (a table's) planted as a symbolic link to a
    file outside the results folder: one line naming it, exit 2, the target's bytes unchanged."""
    import pandas as pd

    from longdep.records import BrokenResults, append_rows, exclusive

    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    out = tmp_path / "r"
    out.mkdir()
    (out / ".longdep.lock").symlink_to(target)
    code, err = run_in_process(["grid", "smoke", "--out", str(out), "--no-figures", "--no-scale"], capsys)
    assert code == 2 and len(err) == 1 and ".longdep.lock" in err[0] and "symbolic link" in err[0], err
    assert target.read_text() == "keep me\n"
    with pytest.raises(BrokenResults, match="symbolic link"):
        with exclusive(out):
            pass
    (out / ".accuracy.csv.lock").symlink_to(target)
    with pytest.raises(BrokenResults, match=r"\.accuracy\.csv\.lock is a symbolic link"):
        append_rows(out / "accuracy.csv", pd.DataFrame({"run_id": ["a"]}))
    assert target.read_text() == "keep me\n" and not list(out.glob("accuracy.csv*"))


@pytest.mark.parametrize("damage,needle", [("truncate", ": not valid JSON"), ("folder", "is a folder, not a run record"),
                                           ("list", "is not a run record")])
def test_report_and_figures_name_a_broken_run_record_in_one_line(reference, tmp_path, capsys, damage, needle):
    import shutil

    out = tmp_path / "r"
    shutil.copytree(reference, out, ignore=shutil.ignore_patterns("wandb", "figures", "REPORT.md"))
    record = sorted((out / "runs").glob("*.json"))[0]
    if damage == "truncate":
        record.write_text(record.read_text()[:40])
    elif damage == "folder":
        (out / "runs" / "zz-a-folder.json").mkdir()
        record = out / "runs" / "zz-a-folder.json"
    else:
        record.write_text("[1, 2]")
    for argv in (["report", str(out)], *([["figures", str(out)]] if damage == "truncate" else [])):
        code, err = run_in_process(argv, capsys)
        assert code == 2 and len(err) == 1 and record.name in err[0] and needle in err[0], (argv, err)


@pytest.mark.parametrize("damage,needle", [
    ("grid_log.csv", "grid_log.csv line 2: total_s is 'soon', not a number"),
    ("scaling_env.json", "scaling_env.json line 3 is not JSON"),
])
def test_report_names_a_broken_grid_log_or_sweep_environment_in_one_line(reference, tmp_path, capsys, damage, needle):
    import shutil

    import pandas as pd

    out = tmp_path / "r"
    shutil.copytree(reference, out, ignore=shutil.ignore_patterns("wandb", "figures", "REPORT.md"))
    path = out / damage
    if damage == "grid_log.csv":
        log = pd.read_csv(path)
        log["total_s"] = log["total_s"].astype(object)
        log.loc[0, "total_s"] = "soon"
        log.to_csv(path, index=False)
    else:
        path.write_text(path.read_text()[:30])
    code, err = run_in_process(["report", str(out)], capsys)
    assert code == 2 and len(err) == 1 and needle in err[0], err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_no_worker_outlives_a_grid_killed_by_sigterm_or_sigkill(tmp_path, sig):
    """The grid's main process killed mid-training: its worker processes die with it (no orphan goes on to
    write records after the folder's lock is released)."""
    import psutil

    proc = subprocess.Popen([EXE, "grid", "smoke", "--out", str(tmp_path / "g"), "--workers", "2", "--no-scale",
                             "--no-figures"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, workers = time.time() + 120, []
    while time.time() < deadline and len(workers) < 2:
        with contextlib.suppress(psutil.Error):
            workers = [c for c in psutil.Process(proc.pid).children(recursive=True)
                       if "spawn_main" in " ".join(c.cmdline())]
        time.sleep(0.1)
    assert len(workers) >= 2, "the grid started no workers"
    time.sleep(1.0)  # inside training
    proc.send_signal(sig)
    proc.wait(timeout=60)
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == [], [p.pid for p in alive]


def test_ctrl_c_while_the_command_is_still_importing_is_one_line_and_exit_130(tmp_path):
    """SIGINT in the first fraction of a second (imports, not yet main()): no traceback, exit 130. The delays
    count from the end of the interpreter's own start (timed here, on this machine's current load): before
    it no code of longdep's can run."""
    mark = time.perf_counter()
    subprocess.run([str(Path(EXE).with_name("python")), "-c", "pass"], env=ENV, check=True)
    start = time.perf_counter() - mark
    for delay in (0.15, 0.3, 0.6):
        delay += start
        proc = subprocess.Popen([EXE, "grid", "smoke", "--out", str(tmp_path / "g"), "--no-scale"], env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
        lines = [line for line in err.splitlines() if line.strip()]
        assert proc.returncode == 130 and lines == ["longdep: interrupted; rerun the same command to resume"], (delay, err)
