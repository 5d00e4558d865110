"""Result files are written atomically and appended idempotently per run."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from longdep.records import PROJECT_ROOT, append_rows, environment, git_commit, write_json


def test_append_rows_replaces_same_run_id(tmp_path):
    path = tmp_path / "acc.csv"
    append_rows(path, pd.DataFrame({"run_id": ["a", "a"], "x": [1, 2]}))
    append_rows(path, pd.DataFrame({"run_id": ["b"], "x": [3]}))
    append_rows(path, pd.DataFrame({"run_id": ["a", "a"], "x": [1, 2]}))  # a re-run after a crash
    df = pd.read_csv(path)
    assert sorted(df["run_id"]) == ["a", "a", "b"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_write_json_roundtrip_and_no_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "sekret-123")
    env = environment()
    write_json(tmp_path / "r.json", env)
    text = (tmp_path / "r.json").read_text()
    assert json.loads(text)["versions"]["torch"]
    assert "sekret-123" not in text


def _commit_seen_by(src: Path, cwd: Path) -> str:
    """``git_commit()`` as reported by the package copy under ``src``, run from ``cwd``."""
    code = "from longdep.records import git_commit; print(git_commit())"
    res = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(src)})
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def _git(cwd, *args):
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=cwd, check=True,
                   capture_output=True)


def test_commit_is_this_projects_or_unknown(tmp_path):
    """A copied tree records ``unknown``, also inside (or run from) another git repository."""
    if (PROJECT_ROOT / ".git").exists():
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                              text=True).stdout.strip()
        assert git_commit().split("-")[0] == head
    outer = tmp_path / "other"
    copy = outer / "copy"
    shutil.copytree(PROJECT_ROOT / "src", copy / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    assert _commit_seen_by(copy / "src", tmp_path) == "unknown"  # no repository at all
    _git(outer, "init", "-q")
    (outer / "notes.txt").write_text("another project\n")
    _git(outer, "add", "notes.txt")
    _git(outer, "commit", "-qm", "x")
    assert _commit_seen_by(copy / "src", outer) == "unknown"  # enclosed by, and run from, another repo
    _git(copy, "init", "-q")  # the copy as a checkout of its own: its commit is recorded
    _git(copy, "add", "src")
    _git(copy, "commit", "-qm", "y")
    own = subprocess.run(["git", "rev-parse", "HEAD"], cwd=copy, capture_output=True, text=True).stdout.strip()
    assert _commit_seen_by(copy / "src", outer) == own
