"""`longdep data show|export` and `longdep bench data` from the command line."""
import json

from longdep import cli

FIELDS = {"tokens", "tags", "subject_index", "verb_index", "label", "distance", "attractors", "construction", "frame",
          "depth"}


def test_data_show_prints_annotated_examples(capsys):
    assert cli.main(["data", "show", "--n", "3", "distance=5", "max_distance=null", "attractors=1"]) == 0
    out = capsys.readouterr().out
    assert out.count("distance=5") == 3 and out.count("attractors=1") == 3 and "[" in out


def test_data_export_writes_jsonl_with_exactly_the_fields(tmp_path, capsys):
    path = tmp_path / "ex.jsonl"
    assert cli.main(["data", "export", "--out", str(path), "--n", "50", "task.distance=12", "task.max_distance=null"]) == 0
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 50 and all(set(r) == FIELDS for r in records)
    assert all(r["distance"] == 12 and r["verb_index"] - r["subject_index"] == 12 for r in records)
    assert all(r["label"] in ("sg", "pl") and len(r["tokens"]) == len(r["tags"]) for r in records)


def test_data_export_bad_input_exits_2_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / "ex.jsonl"
    for argv in (["distance=0"], ["constructions=[pp,cleft]"], ["distance=3", "attractors=2"], ["--split", "dev"],
                 ["distnce=4"]):
        assert cli.main(["data", "export", "--out", str(path), *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("longdep: error:") and len(err.splitlines()) == 1, err
    assert not path.exists()


def test_bench_data_prints_examples_per_second(capsys):
    assert cli.main(["bench", "data", "--n", "20000", "--distances", "8"]) == 0
    assert "examples/s" in capsys.readouterr().out
