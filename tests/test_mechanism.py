"""Mechanism analyses: attention from the query to the subject / attractors / offset noun, and the
linear probe of the recurrent state (longdep.training.mechanism, `longdep analyze`)."""
import numpy as np
import pandas as pd
import pytest
import torch

from longdep.config import ModelConfig
from longdep.models import build_model
from longdep.tasks.agreement import AgreementConfig, generate, targets
from longdep.tasks.grammar import VOCAB
from longdep.training.config import load_config
from longdep.training.mechanism import attention_rows, probe_by_offset
from longdep.records import read_csv as read_table

TINY = ["model.d_model=16", "model.d_ff=32", "model.heads=2", "train.max_steps=4", "train.val_every=2",
        "train.val_size=32", "train.progress=false", "eval.span=0", "eval.distances=[2,6]", "eval.n_per_distance=16",
        "eval.attractor_distances=[]", "task.distance=1", "task.max_distance=3", "wandb.enabled=false"]


def test_the_probe_reads_a_known_signal_where_it_is_and_chance_where_it_is_not():
    """Synthetic states: the label is written into dimension 0 with a strength that decays with the
    offset (gone after offset 10); the probe must be near-perfect early and at chance late."""
    rng = np.random.default_rng(0)
    n, span, d = 400, 30, 6
    labels = rng.integers(0, 2, n)
    offsets = np.tile(np.arange(span), n)
    example = np.repeat(np.arange(n), span)
    states = rng.normal(size=(n * span, d))
    signal = np.where(offsets < 10, 4.0 * np.exp(-offsets / 4.0), 0.0)
    states[:, 0] += signal * (2 * labels[example] - 1)
    out = probe_by_offset(states, labels[example], offsets, example).set_index("offset")
    assert out.loc[0, "accuracy"] > 0.97 and out.loc[0, "n"] == n // 2  # only the held-out half is scored
    assert out.loc[range(15, 30), "accuracy"].between(0.35, 0.65).all()
    assert out.loc[range(0, 5), "accuracy"].mean() > out.loc[range(5, 10), "accuracy"].mean()


def test_targets_are_the_subject_the_attractors_and_the_offset_noun():
    cfg = AgreementConfig(distance=1, max_distance=20)  # the offset noun: at verb - 20
    tok, lab, meta = generate(4, 300, cfg)
    t = targets(tok, meta, cfg)
    assert (t["subject"].sum(1) == 1).all() and (t["subject"].argmax(1) == meta["subject_index"]).all()
    assert (t["attractor"].sum(1) == meta["attractors"]).all(), "the attractor mask counts the task's attractors"
    rows = np.flatnonzero(t["offset_noun"].any(1))
    assert len(rows) > 20 and (t["offset_noun"][rows].argmax(1) == meta["verb_index"][rows] - 20).all()
    assert (meta["distance"][rows] < 20).all()  # never the subject itself
    assert (t["source"] == meta["subject_index"]).all()


def test_attention_rows_are_the_models_own_weights_at_the_query():
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="multi_head", d_model=16, heads=2, d_ff=32, layers=2), len(VOCAB), 2).eval()
    cfg = AgreementConfig(distance=5, max_distance=None)
    tok, lab, meta = generate(9, 6, cfg)
    masks = {k: v for k, v in targets(tok, meta, cfg).items() if k != "source"}
    rows = attention_rows(model, tok, meta, {"subject": masks["subject"]})
    assert set(rows["target"]) == {"subject", "uniform"} and (rows["n"] == 6).all()
    got = rows[rows["target"] == "subject"].set_index(["layer", "head"])["weight"]
    from longdep.models.attention import CausalSelfAttention
    from longdep.training.lit import prefix_batch

    attns = [m for m in model.modules() if isinstance(m, CausalSelfAttention)]
    for a in attns:
        a.keep_weights = True
    x, q, _ = prefix_batch(tok, lab, meta["query_index"])
    with torch.no_grad():
        model(x)  # every row, then read the query's
    for layer, a in enumerate(attns):
        for head in range(2):
            want = a.weights[torch.arange(6), head, q, torch.as_tensor(meta["subject_index"])].mean().item()
            assert got[(layer, head)] == pytest.approx(want, abs=1e-5)
        a.keep_weights = False


def test_runs_write_attention_and_probe_rows_and_analyze_redoes_them(tmp_path, monkeypatch, capsys):
    from longdep.cli import main
    from longdep.training.run import run_id, train_one

    for model in ("transformer", "lstm"):
        train_one(load_config("train", [*TINY, f"model.name={model}", f"results_dir={tmp_path}", "name=t",
                                        "train.save_weights=true"]))
    out = tmp_path / "t"
    att, probe = read_table(out / "attention.csv"), read_table(out / "probe.csv")
    assert set(att["model"]) == {"transformer"} and set(probe["model"]) == {"lstm"}
    assert {"subject", "uniform"} <= set(att["target"]) and att["weight"].between(0, 1).all()
    assert set(att["layer"]) == {0, 1} and set(att["head"]) == {0, 1} and set(att["distance"]) <= {2, 6}
    assert probe["accuracy"].between(0, 1).all() and probe["offset"].min() == 0
    same = load_config("train", [*TINY, "model.name=lstm", "eval.analyses=false"])
    assert run_id(same) == run_id(load_config("train", [*TINY, "model.name=lstm"]))  # extra outputs, same run
    before = len(att)
    assert main(["analyze", str(out)]) == 0
    assert len(read_table(out / "attention.csv")) == before  # replaced by run id, not appended twice
    assert (out / "figures" / "attention.png").exists() and (out / "figures" / "state_probe.png").exists()
    for pt in (out / "runs").glob("*.pt"):
        pt.unlink()
    capsys.readouterr()
    assert main(["analyze", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "kept its weights" in err[0]
