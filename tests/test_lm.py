"""The language-model objective (``task.objective=lm``): the loss's masking, minimal-pair scoring at the
queried verb, and a tiny run end to end beside the classifier."""
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from conftest import TINY
from longdep.tasks import get_task
from longdep.tasks.agreement import AgreementConfig, generate
from longdep.tasks.grammar import VOCAB, WORD2ID, number_forms
from longdep.training.config import load_config
from longdep.training.evaluate import predict
from longdep.training.lit import ClassifierModule, lm_loss, sentence_batch
from longdep.records import read_csv as read_table



def test_lm_loss_counts_every_real_next_token_once_and_no_padding():
    tokens = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0], [11, 0, 0, 0]])  # lengths 4, 2, 1
    logits = torch.randn(3, 4, 30, generator=torch.Generator().manual_seed(0))
    real = [(0, 0, 6), (0, 1, 7), (0, 2, 8), (1, 0, 10)]  # (row, position, next token): 4 targets
    expected = torch.stack([-logits[b, t].log_softmax(-1)[y] for b, t, y in real]).mean()
    torch.testing.assert_close(lm_loss(logits, tokens), expected)
    changed = logits.clone()
    changed[1, 1:], changed[2], changed[0, 3] = 100.0, -100.0, 7.0  # positions whose next token is padding or none
    torch.testing.assert_close(lm_loss(changed, tokens), expected)
    more = torch.cat([tokens, torch.zeros(3, 5, dtype=tokens.dtype)], 1)  # extra padding changes nothing
    torch.testing.assert_close(lm_loss(torch.cat([logits, torch.randn(3, 5, 30)], 1), more), expected)


def test_sentence_batches_keep_the_whole_sentence_and_crop_padding():
    tok, lab, meta = generate(3, 8, AgreementConfig(distance=4, max_distance=None))
    x, q, y = sentence_batch(tok, lab, meta["query_index"])
    assert x.shape[1] == meta["length"].max() and (x.numpy() == tok[:, :x.shape[1]]).all()
    verbs = x[torch.arange(8), q + 1]  # the queried verb is in the input: the target of position q
    assert (verbs.numpy() == tok[np.arange(8), meta["verb_index"]]).all()


def test_label_tokens_are_the_queried_verbs_minimal_pair():
    tok, lab, meta = generate(5, 400, AgreementConfig(max_distance=12))
    ids = get_task("agreement").label_tokens(tok, meta)
    verbs = tok[np.arange(400), meta["verb_index"]]
    assert (ids[np.arange(400), lab] == verbs).all(), "the label's column is the verb in the sentence"
    assert (ids[:, 0] != ids[:, 1]).all() and (ids[np.arange(400), 1 - lab] != verbs).all()
    assert {VOCAB[i] for i in ids[:, 0]} >= {"was", "is"} and {VOCAB[i] for i in ids[:, 1]} >= {"were", "are"}
    sg, pl = number_forms(np.array([WORD2ID["chef"], WORD2ID["chefs"], WORD2ID["the"], WORD2ID["were"]]))
    assert [VOCAB[i] for i in sg] == ["chef", "chef", "the", "was"] and [VOCAB[i] for i in pl] == ["chefs", "chefs", "the", "were"]


class _Fixed(nn.Module):
    """A stand-in language model: at the query it scores every singular word ``sg`` and every plural one
    ``pl`` (the answer key says which number each sentence needs, looked up by its prefix)."""

    def __init__(self, key: dict | None):
        super().__init__()
        self.key, self.w = key, nn.Parameter(torch.zeros(1))
        sg, pl = number_forms(np.arange(len(VOCAB)))
        self.register_buffer("is_pl", torch.from_numpy((np.arange(len(VOCAB)) == pl) & (sg != pl)))

    def forward(self, tokens, at=None):
        rows = []
        for b in range(len(tokens)):
            prefix = tuple(tokens[b, :int(at[b]) + 1].tolist())
            want_pl = self.key[prefix] if self.key is not None else False  # None: always the singular
            rows.append(torch.where(self.is_pl, 1.0 if want_pl else -1.0, -1.0 if want_pl else 1.0))
        return torch.stack(rows) + 0 * self.w


@pytest.mark.parametrize("oracle", [True, False], ids=["always-right", "constant"])
def test_minimal_pair_scoring_is_1_for_the_right_form_and_the_label_share_for_a_constant(oracle):
    cfg = load_config("train", [*TINY, "task.objective=lm", "model.name=lstm"])
    tok, lab, meta = generate(11, 600, AgreementConfig(max_distance=20))
    q = meta["query_index"]
    module = ClassifierModule(cfg)
    key = {tuple(tok[i, :q[i] + 1].tolist()): bool(lab[i]) for i in range(len(lab))} if oracle else None
    module.model, module._reads_at = _Fixed(key), True
    pred = predict(module, tok, lab, q, 64, get_task("agreement").label_tokens(tok, meta))
    accuracy = float((pred == lab).mean())
    if oracle:
        assert accuracy == 1.0
    else:
        assert accuracy == pytest.approx(float((lab == 0).mean())) and 0.45 < accuracy < 0.55


def test_an_lm_run_writes_the_objective_beside_classifier_runs(tmp_path):
    from longdep.training.run import run_id, train_one

    common = [*TINY, "model.name=lstm", f"results_dir={tmp_path}", "name=t"]
    lm, clf = load_config("train", [*common, "task.objective=lm"]), load_config("train", common)
    assert "-lm-" in run_id(lm) and "-lm" not in run_id(clf)
    for cfg in (lm, clf):
        train_one(cfg)
    acc = read_table(tmp_path / "t" / "accuracy.csv")
    assert set(acc["objective"]) == {"lm", "classify"} and acc["accuracy"].between(0, 1).all()
    assert acc.groupby("objective")["n"].sum().tolist() == [48, 48]  # the same test sets for both
    probes = read_table(tmp_path / "t" / "counterfactual.csv")
    assert set(probes["objective"]) == {"lm", "classify"}
    assert len(read_table(tmp_path / "t" / "baselines.csv")["run_id"].unique()) == 1  # one set of baselines
    from longdep.analysis import figures
    from longdep.analysis.data import load_accuracy

    assert set(load_accuracy(tmp_path / "t")["objective"]) == {"classify"}  # the headline: one objective
    fig = figures.plot_objectives(load_accuracy(tmp_path / "t", objective=None))
    labels = {t.get_text() for legend in fig.legends for t in legend.get_texts()}
    assert labels == {figures.OBJECTIVES[o][0] for o in ("classify", "lm")}


def test_an_unknown_objective_is_one_line():
    from longdep.config import UsageError

    with pytest.raises(UsageError, match="task.objective.*'mlm'.*classify, lm"):
        load_config("train", ["task.objective=mlm"])


@pytest.mark.parametrize("objective", ["lm", "classify"])
def test_eval_pairs_on_a_runs_own_test_items_reproduces_its_accuracy(objective, tmp_path, monkeypatch, capsys):
    """``data pairs`` at the test split's seed for distance 2 writes the very items the run was tested on
    at distance 2 (BLiMP fields); ``eval-pairs`` scores the saved weights on them: the same accuracy."""
    import json

    from longdep.cli import main
    from longdep.tasks.agreement import TEST_SEED_BASE
    from longdep.training.run import train_one

    monkeypatch.chdir(tmp_path)
    rec = train_one(load_config("train", [*TINY, "model.name=lstm", f"task.objective={objective}", "train.max_steps=30",
                                          "train.save_weights=true", f"results_dir={tmp_path}", "name=t"]))
    pairs = tmp_path / "pairs.jsonl"
    assert main(["data", "pairs", "--split", "test", "--seed", str(TEST_SEED_BASE * 1000 + 2), "--n", "16",
                 "--out", str(pairs), "distance=2", "max_distance=null"]) == 0
    first = json.loads(pairs.read_text().splitlines()[0])
    assert first["sentence_good"] == f"{first['one_prefix_prefix']} {first['one_prefix_word_good']}"
    assert first["linguistics_term"] == "subject_verb_agreement" and first["distance"] == 2
    record = tmp_path / "t" / "runs" / f"{rec['run_id']}.json"
    assert main(["eval-pairs", str(pairs), "--run", str(record), "--out", "scores.csv"]) == 0
    scores = pd.read_csv(tmp_path / "scores.csv")
    acc = read_table(tmp_path / "t" / "accuracy.csv")
    at2 = acc[(acc["test_set"] == "distance") & (acc["distance"] == 2)]
    assert len(scores) == 16 and scores["correct"].sum() == at2["correct"].sum()
    assert "of 16 minimal pairs right" in capsys.readouterr().out


def test_eval_pairs_bad_input_is_one_line(tmp_path, monkeypatch, capsys):
    from longdep.cli import main
    from longdep.training.run import train_one

    monkeypatch.chdir(tmp_path)
    rec = train_one(load_config("train", [*TINY, "model.name=lstm", "task.objective=lm", "train.max_steps=2",
                                          f"results_dir={tmp_path}", "name=t"]))
    record = tmp_path / "t" / "runs" / f"{rec['run_id']}.json"
    pairs = tmp_path / "p.jsonl"
    pairs.write_text('{"one_prefix_prefix": "the chef", "one_prefix_word_good": "was", "one_prefix_word_bad": "were"}\n')
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "shape.json").write_text('{"run_id": 3, "config": {}}')
    (tmp_path / "w" / "runs").mkdir(parents=True)
    (tmp_path / "w" / "runs" / record.name).write_text(record.read_text())
    (tmp_path / "w" / "runs" / f"{rec['run_id']}.pt").write_bytes(b"PK\x03\x04 truncated")  # foreign weights
    cases = [([str(pairs), "--run", str(record)], "kept no weights"),
             ([str(pairs), "--run", str(tmp_path / "none.json")], "is not a run record"),
             ([str(pairs), "--run", str(tmp_path / "list.json")], "is not a run record"),
             ([str(pairs), "--run", str(tmp_path / "shape.json")], "run_id must be text"),
             ([str(pairs), "--run", str(tmp_path / "w" / "runs" / record.name)], f"is not the weights of run {rec['run_id']}")]
    for args, needle in cases:
        capsys.readouterr()
        assert main(["eval-pairs", *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
    from longdep.training.pairs import read_pairs

    pairs.write_text('{"one_prefix_prefix": "the zebra", "one_prefix_word_good": "was", "one_prefix_word_bad": "were"}\n')
    from longdep.config import UsageError

    with pytest.raises(UsageError, match="'zebra' is not in the task's vocabulary"):
        read_pairs(pairs, VOCAB)
    pairs.write_text('{"one_prefix_prefix": "the chef"}\n')
    with pytest.raises(UsageError, match="line 1 lacks one_prefix_word_good, one_prefix_word_bad"):
        read_pairs(pairs, VOCAB)
    pairs.write_text('{"one_prefix_prefix": ["the", "chef"], "one_prefix_word_good": "was", "one_prefix_word_bad": 1}\n')
    with pytest.raises(UsageError, match="line 1: one_prefix_prefix is list .* expected text"):
        read_pairs(pairs, VOCAB)
    pairs.write_text('[1, 2]\n')
    with pytest.raises(UsageError, match="line 1 is not a JSON object"):
        read_pairs(pairs, VOCAB)
