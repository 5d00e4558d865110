"""Result files are written atomically and appended idempotently per run."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from longdep.environment import PROJECT_ROOT, environment, git_commit
from longdep.records import append_rows, write_json


def test_append_rows_replaces_same_run_id(tmp_path):
    path = tmp_path / "acc.csv"
    append_rows(path, pd.DataFrame({"run_id": ["a", "a"], "x": [1, 2]}))
    append_rows(path, pd.DataFrame({"run_id": ["b"], "x": [3]}))
    append_rows(path, pd.DataFrame({"run_id": ["a", "a"], "x": [1, 2]}))  # a re-run after a crash
    df = pd.read_csv(path)
    assert sorted(df["run_id"]) == ["a", "a", "b"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_write_json_roundtrip_of_the_environment_record(tmp_path):
    """(That no secret reaches any file is tested end to end in test_grid.test_no_credentials_in_results.)"""
    env = environment()
    write_json(tmp_path / "r.json", env)
    back = json.loads((tmp_path / "r.json").read_text())
    assert back == env and back["versions"]["torch"] and back["cpu_count"] >= 1


def _commit_seen_by(src: Path, cwd: Path) -> str:
    """``git_commit()`` as reported by the package copy under ``src``, run from ``cwd``."""
    code = "from longdep.environment import git_commit; print(git_commit())"
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


def test_per_run_tables_are_stored_gzip_compressed_and_read_back(tmp_path):
    """accuracy.csv and the other per-run tables lie on disk as <name>.gz (pandas reads them directly),
    byte-identical for the same rows; an older plain copy is read, then replaced on the next append."""
    import gzip

    from longdep.records import BrokenResults, has_table, read_csv, stored

    plain = tmp_path / "accuracy.csv"
    rows = pd.DataFrame({"run_id": ["a"], "model": ["rnn"], "seed": [0], "test_set": ["distance"], "n": [4],
                         "correct": [3], "accuracy": [0.75]})
    rows.assign(run_id="old").to_csv(plain, index=False)  # a folder written before compression
    assert has_table(plain) and stored(plain) == plain and len(read_csv(plain)) == 1
    append_rows(plain, rows)
    gz = tmp_path / "accuracy.csv.gz"
    assert not plain.exists() and stored(plain) == gz and sorted(pd.read_csv(gz)["run_id"]) == ["a", "old"]
    first = gz.read_bytes()
    append_rows(plain, rows)  # the same rows again: the same bytes (no timestamp in the gzip header)
    assert gz.read_bytes() == first and gzip.decompress(first).decode().startswith("run_id,")
    gz.write_bytes(first[: len(first) // 2])  # a truncated file names itself
    with pytest.raises(BrokenResults, match="accuracy.csv.gz is not a readable CSV"):
        read_csv(plain)
    append_rows(tmp_path / "tuning.csv", pd.DataFrame({"run_id": ["a"]}))  # other tables stay plain text
    assert (tmp_path / "tuning.csv").read_text().startswith("run_id")


def test_digests_stand_for_a_table_run_by_run(tmp_path):
    """A folder may keep checksums of each run's rows instead of a table another folder holds; they
    ignore row and column order and change with any value."""
    from longdep.records import read_json, run_digests, write_digests

    df = pd.DataFrame({"run_id": ["a", "a", "b"], "model": "lstm", "seed": 0, "offset": [1, 2, 1], "n": 10,
                       "accuracy": [1.0, 2.0, 3.0]})
    same = df.iloc[::-1][list(df.columns)[::-1]]
    assert run_digests(df) == run_digests(same)
    changed = df.copy()
    changed.loc[1, "accuracy"] = 2.5
    d, c = run_digests(df), run_digests(changed)
    assert d["b"] == c["b"] and d["a"] != c["a"]
    append_rows(tmp_path / "probe.csv", df)
    kept = write_digests(tmp_path, ["probe.csv", "accuracy.csv"])
    assert not list(tmp_path.glob("probe.csv*")) and list(kept) == ["probe.csv"]
    assert read_json(tmp_path / "tables.json")["probe.csv"]["runs"] == d
