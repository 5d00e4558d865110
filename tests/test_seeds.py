"""Seeds trained together (train.seeds_together): the same runs as training each seed alone."""
import json

import pytest
import torch

from longdep.launch import run_cells
from longdep.training.config import load_config
from longdep.training.run import weights_path
from longdep.training.seeds import seed_groups

TINY = ["model.d_model=16", "model.d_ff=32", "model.heads=2", "train.max_steps=12", "train.val_every=4",
        "train.val_size=64", "train.batch_size=8", "task.max_distance=4", "eval.span=1", "eval.n_per_distance=4",
        "eval.attractor_distances=[]", "train.progress=false", "wandb.enabled=false", "train.checkpoint_every=0",
        "train.save_weights=true"]


def _cells(tmp, extra, seeds=(0, 1), together=False):
    return [load_config("train", [*TINY, *extra, f"train.seed={s}", f"results_dir={tmp}",
                                  f"train.seeds_together={str(together).lower()}"]) for s in seeds]


def _records(cells):
    from longdep.training.run import results_dir, run_id

    out = []
    for cfg in cells:
        path = results_dir(cfg) / "runs" / f"{run_id(cfg)}.json"
        rec = json.loads(path.read_text())
        rec["weights"] = torch.load(weights_path(path.parent.parent, rec["run_id"]), weights_only=True)
        out.append(rec)
    return out


def _outputs(cfg, weights):
    """The trained model's logits at every position of fixed sentences. (Outputs, not weights: a parameter
    with no effect, such as the attention's key bias, has a gradient of pure rounding noise, which Adam
    scales up to full-size steps in either run.)"""
    from longdep.training.lit import ClassifierModule

    model = ClassifierModule(cfg).model
    model.load_state_dict(weights)
    tokens = torch.randint(1, model.embed.num_embeddings, (8, 10), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return model.eval()(tokens)


def _first_at(curve, target):
    return next((step for step, acc in curve if acc >= target), None)


def _split_target(tmp_path, extra):
    """A target some seeds reach at a validation and others later or never (per-seed early stop), and
    the validation curves it was chosen from."""
    probe = _cells(tmp_path / "probe", [*extra, "train.target_acc=1.0"], together=True)
    curves = [r["val_curve"] for r in (run_cells(probe) and _records(probe))]
    accs = sorted({acc for curve in curves for _, acc in curve})
    return next((t for t in accs if len({_first_at(c, t) for c in curves}) > 1), accs[-1]), curves


PROTOCOL = ["train.schedule=cosine", "train.warmup_steps=3", "train.patience=4", "train.smooth=2", "train.min_delta=0.05"]


@pytest.mark.parametrize("extra", [["model.name=lstm"], ["model.name=transformer"], ["model.name=mingru", "task.objective=lm"],
                                   ["model.name=transformer", *PROTOCOL]],
                         ids=["lstm", "transformer", "mingru-lm", "transformer-cosine-plateau"])  # each family; both objectives
def test_seeds_together_train_as_each_seed_alone(tmp_path, extra):
    target, curves = _split_target(tmp_path, extra)
    alone = _cells(tmp_path / "alone", [*extra, f"train.target_acc={target}"])
    together = _cells(tmp_path / "together", [*extra, f"train.target_acc={target}"], together=True)
    assert [len(g) for g in seed_groups(together)] == [2] and [len(g) for g in seed_groups(alone)] == [1, 1]
    assert all(r["ok"] for r in run_cells(alone) + run_cells(together))
    for a, b in zip(_records(alone), _records(together)):
        assert a["run_id"] == b["run_id"]  # the same runs: grouping is not part of the result's identity
        assert (a["steps"], a["end_reason"], a["best_step"], a["steps_to_95"]) == (b["steps"], b["end_reason"], b["best_step"], b["steps_to_95"])
        assert a["val_curve"] == b["val_curve"] and a["test_accuracy"] == b["test_accuracy"]
        torch.testing.assert_close(_outputs(together[0], b["weights"]), _outputs(alone[0], a["weights"]), atol=1e-5, rtol=1e-5)
        # on the CPU the same bits: the same operations on the same values, clipping included
        assert all(torch.equal(a["weights"][k], b["weights"][k]) for k in a["weights"])
        assert b["seeds_together"]["seeds"] == [0, 1] and "seeds_together" not in a
    if len({_first_at(c, target) for c in curves}) > 1:  # a seed stopped while others went on
        assert len({r["steps"] for r in _records(together)}) > 1


@pytest.mark.parametrize("extra", [["model.name=transformer"], ["model.name=mingru", "task.objective=lm"]],
                         ids=["transformer", "mingru-lm"])
def test_seeds_forward_vmap_trains_as_each_seed_alone_to_1e_5(tmp_path, extra):
    """One vmap over the seeds (batches padded to one length, the pad mask always built): the stop steps
    and validation curves of training alone, the trained model's outputs to 1e-5."""
    target, curves = _split_target(tmp_path, extra)
    alone = _cells(tmp_path / "alone", [*extra, f"train.target_acc={target}"])
    vmapped = _cells(tmp_path / "vmap", [*extra, f"train.target_acc={target}", "train.seeds_forward=vmap"], together=True)
    assert [len(g) for g in seed_groups(vmapped)] == [2]
    assert all(r["ok"] for r in run_cells(alone) + run_cells(vmapped))
    for a, b in zip(_records(alone), _records(vmapped)):
        assert a["run_id"] == b["run_id"] and b["seeds_together"]["forward"] == "vmap"
        assert (a["steps"], a["val_curve"], a["test_accuracy"]) == (b["steps"], b["val_curve"], b["test_accuracy"])
        torch.testing.assert_close(_outputs(vmapped[0], b["weights"]), _outputs(alone[0], a["weights"]), atol=1e-5, rtol=1e-5)
    if len({_first_at(c, target) for c in curves}) > 1:  # a seed stopped while the other went on
        assert len({r["steps"] for r in _records(vmapped)}) > 1


def test_seeds_forward_vmap_leaves_the_recurrent_models_on_the_loop_and_rejects_a_typo(tmp_path):
    from longdep.config import UsageError
    from longdep.training.seeds import uses_vmap

    assert [uses_vmap(c) for n in ("rnn", "lstm", "mingru", "single_head", "multi_head", "transformer")
            for c in _cells(tmp_path, [f"model.name={n}"], seeds=(0,))] == [False, False, True, True, True, True]
    with pytest.raises(UsageError, match="unknown train.seeds_forward 'vmapp'; valid: loop, vmap"):
        load_config("train", ["train.seeds_forward=vmapp"])


def test_only_cells_that_differ_in_their_seed_alone_are_grouped(tmp_path):
    cells = (_cells(tmp_path, ["model.name=lstm"], seeds=(0, 1), together=True)
             + _cells(tmp_path, ["model.name=rnn"], seeds=(0, 1), together=True)
             + _cells(tmp_path, ["model.name=lstm", "train.lr=0.003"], seeds=(0,), together=True)
             + _cells(tmp_path, ["model.name=mingru", "model.dropout=0.1"],
                      seeds=(0, 1), together=True))
    groups = seed_groups(cells)
    assert [[(c.model.name, c.train.seed) for c in g] for g in groups] == [
        [("lstm", 0), ("lstm", 1)], [("rnn", 0), ("rnn", 1)], [("lstm", 0)], [("mingru", 0)], [("mingru", 1)]]


def test_a_killed_group_resumes_from_its_checkpoint_with_the_uninterrupted_result(tmp_path, monkeypatch):
    """Seed 1 is stopped at step 4, the group checkpoints at step 8 and is killed at step 13; rerun, it
    resumes at step 8 (seed 1 still stopped, with its step-4 weights) and ends as the uninterrupted group."""
    import lightning as L

    from longdep.training import run

    class Stop(L.Callback):
        def on_validation_end(self, trainer, module):
            if trainer.global_step == 4 and 1 in module.active:
                module.retire([1], 4)

    class Kill(L.Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == 13:
                raise RuntimeError("killed")

    make = run.make_trainer
    extra = ["model.name=lstm", "train.max_steps=20", "train.checkpoint_every=8", "train.target_acc=1.0",
             "eval.probes=false", "eval.analyses=false"]

    def group(where, *callbacks):
        monkeypatch.setattr(run, "make_trainer", lambda c, logger=False, extra_callbacks=(): make(
            c, logger, [*extra_callbacks, Stop(), *callbacks]))
        cells = _cells(tmp_path / where, extra, together=True)
        return cells, run_cells(cells)

    clean, _ = group("clean")
    killed, results = group("killed", Kill())
    assert not any(r["ok"] for r in results) and "killed" in results[0]["error"]
    ckpts = list((tmp_path / "killed" / "default" / "checkpoints").glob("seeds-*.ckpt"))
    assert len(ckpts) == 1
    _, results = group("killed")
    assert all(r["ok"] for r in results) and not ckpts[0].parent.exists()
    for a, b in zip(_records(clean), _records(killed)):
        assert a["resumed_from_step"] is None and b["resumed_from_step"] == 8
        assert (a["steps"], a["val_curve"]) == (b["steps"], b["val_curve"])
        torch.testing.assert_close(_outputs(killed[0], b["weights"]), _outputs(clean[0], a["weights"]), atol=1e-6, rtol=1e-6)
    assert [r["steps"] for r in _records(killed)] == [20, 4]


def test_the_timing_report_times_a_resumed_pass_by_its_jobs_and_refuses_unequal_passes(tmp_path):
    """A pass that found cells already done (a killed grid, resumed) is timed by its jobs' summed wall
    time, not by an invocation that ran only part of it; passes holding different runs are refused."""
    import shutil
    from pathlib import Path

    import pandas as pd

    from longdep.analysis import report
    from longdep.config import UsageError

    shutil.copytree(Path(__file__).resolve().parents[1] / "results" / "seeds_timing", tmp_path / "t")
    whole = report.render(tmp_path / "t")
    assert "seeds alone, 8.3 min" in whole and "| **all** | 30 | 969 | 916 | 1.06x | 30/30 |" in whole
    log = tmp_path / "t" / "together" / "grid_log.csv"
    first = pd.read_csv(log)
    first.assign(cells_done_before=12, cells_s=60.0).to_csv(log, index=False)  # the invocation after a kill
    text = report.render(tmp_path / "t")
    assert "resumed across invocations and so timed by its jobs: seeds alone, 0.27 h; " in text
    assert "1.06x.*" in text and "8.3 min" not in text and "checkpoint" not in text
    import json

    rec = next((tmp_path / "t" / "together" / "runs").glob("*.json"))
    rec.write_text(json.dumps({**json.loads(rec.read_text()), "resumed_from_step": 500}))
    assert "0 run(s) alone and 1 together resumed from a checkpoint after a kill" in report.render(tmp_path / "t")
    pd.concat([first, first.assign(cells_done_before=30, cells_s=0.1)]).to_csv(log, index=False)  # a rerun: nothing to do
    assert report.render(tmp_path / "t") == whole
    next((tmp_path / "t" / "together" / "runs").glob("*.json")).unlink()
    with pytest.raises(UsageError, match="alone holds 30 runs, together 29, 29 in both; finish both passes"):
        report.render(tmp_path / "t")


def test_an_interrupted_invocation_is_neither_a_whole_pass_nor_the_last_full_run(tmp_path):
    """grid_log.csv rows that Ctrl-C stopped (``interrupted``) say how long they ran, but a report never
    quotes one as the time of a whole grid."""
    import shutil
    from pathlib import Path

    import pandas as pd

    from longdep.analysis import report

    shutil.copytree(Path(__file__).resolve().parents[1] / "results" / "seeds_timing", tmp_path / "t")
    log = tmp_path / "t" / "together" / "grid_log.csv"
    whole = pd.read_csv(log)
    stopped = whole.assign(cells_s=40.0, total_s=40.0, interrupted=True)
    pd.concat([stopped, whole.assign(interrupted=False)]).to_csv(log, index=False)  # a Ctrl-C, then a fresh rerun
    assert "seeds alone, 8.3 min" in report.render(tmp_path / "t")
    stopped.to_csv(log, index=False)  # only a stopped invocation: not a whole pass
    assert "timed by its jobs" in report.render(tmp_path / "t")
    assert report.grid_time(tmp_path / "t" / "together") == " The last invocation ({}) was interrupted after 1 min.".format(
        str(stopped["finished"].iloc[0])[:10])
    pd.concat([stopped, whole.assign(interrupted=False)]).to_csv(log, index=False)
    assert report.grid_time(tmp_path / "t" / "together").startswith(" The last full run (`longdep grid`, 30 cells")


def test_compare_tables_script_finds_equal_and_changed_tables(tmp_path, capsys):
    """scripts/compare_tables.py (the README's check of the timing passes against results/paper)."""
    import importlib.util
    import shutil
    from pathlib import Path

    from longdep.records import read_csv

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("compare_tables", root / "scripts" / "compare_tables.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for p in ("a", "b"):
        (tmp_path / p).mkdir()
        read_csv(root / "results" / "paper" / "baselines.csv").to_csv(tmp_path / p / "baselines.csv", index=False)
    ok, line = mod.compare(tmp_path / "a", tmp_path / "b", "baselines.csv")
    assert ok and line.endswith("identical")
    b = read_csv(tmp_path / "b" / "baselines.csv")
    row = b.index[b["heuristic"] == "bag_of_words"][0]
    b.loc[row, "accuracy"] += 0.25
    b.sample(frac=1.0, random_state=0).to_csv(tmp_path / "b" / "baselines.csv", index=False)  # row order is not compared
    ok, line = mod.compare(tmp_path / "a", tmp_path / "b", "baselines.csv")
    assert not ok and "DIFFERENT in 1 rows in ['bag_of_words']" in line and "0.25" in line
    n = int(b.loc[row, "n"])
    assert f"at most {round(0.25 * n)} sentence(s) in one {b.loc[row, 'test_set']}-test slice" in line
    assert mod.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    capsys.readouterr()
    assert mod.main([str(tmp_path / "a"), str(tmp_path / "nope")]) == 2  # no tables to compare: one line, exit 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err and "baselines.csv" in err
    assert mod.main([str(tmp_path / "a")]) == 2
