"""Result files are written atomically and appended idempotently per run."""
import json

import pandas as pd

from longdep.analysis.records import append_rows, environment, write_json


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
