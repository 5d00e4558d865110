"""The protocol's report: how the runs ended, the verdict, sample efficiency and the asymptote, the tuning
table, from tiny synthetic run records."""
import json

import pandas as pd
import pytest

from longdep.analysis import convergence_report as cr


def _record(folder, model, seed, curve, reason=None, hi=16, objective="classify", batch=32, improving=None):
    rec = {"run_id": f"{model}-{objective}-{hi}-s{seed}", "steps": curve[-1][0], "val_curve": curve,
           "stopped_early": reason == "target",
           "config": {"model": {"name": model}, "task": {"name": "agreement", "distance": 1, "max_distance": hi,
                                                        "objective": objective},
                      "train": {"seed": seed, "batch_size": batch, "start_steps": 0}}}
    if reason is not None:
        rec["end_reason"] = reason
    if improving is not None:
        rec["still_improving"] = improving
    (folder / "runs").mkdir(parents=True, exist_ok=True)
    (folder / "runs" / f"{rec['run_id']}.json").write_text(json.dumps(rec))


RISING = [[s, 0.5 + s / 4000] for s in range(100, 2001, 100)]  # 0.525 .. 1.0, still climbing at the end
FLAT = [[s, 0.7] for s in range(100, 2001, 100)]


def test_the_end_table_counts_each_reason_and_the_verdict_flags_runs_capped_while_improving(tmp_path):
    for seed in range(4):
        _record(tmp_path, "lstm", seed, [[100, 0.6], [200, 0.995]], "target")
    _record(tmp_path, "lstm", 4, FLAT, "plateau")
    for seed in range(5):
        _record(tmp_path, "rnn", seed, RISING if seed < 2 else FLAT, "cap")
    runs = cr.load_protocol_runs(tmp_path)
    table = cr.end_table(runs)
    assert "| classify | 1-16 | LSTM | 5 | 4 | 1 | 0 | 0 |" in table
    assert "| classify | 1-16 | Elman RNN | 5 | 0 | 0 | 5 | 2 |" in table  # two of the capped runs still rising
    assert cr.unfinished(runs) == ["classify 1-16 Elman RNN"] and cr.verdict(runs).startswith("**Not finished:**")
    only_lstm = runs[runs["model"] == "lstm"]
    assert cr.verdict(only_lstm).startswith("**Finished:**")


def test_records_from_before_the_protocol_get_their_end_reason_from_stopped_early(tmp_path):
    _record(tmp_path, "lstm", 0, [[100, 0.6], [200, 0.995]], reason="target")
    _record(tmp_path, "rnn", 0, RISING)  # no end_reason, not stopped early: the budget
    (tmp_path / "runs" / "lstm-classify-16-s0.json").write_text(
        json.dumps({**json.loads((tmp_path / "runs" / "lstm-classify-16-s0.json").read_text()), "end_reason": None}))
    runs = cr.load_protocol_runs(tmp_path).set_index("model")
    assert runs.loc["lstm", "end_reason"] == "target" and runs.loc["rnn", "end_reason"] == "cap"
    assert bool(runs.loc["rnn", "still_improving"])  # computed from the curve


def test_examples_to_95_counts_censored_runs_and_the_budget_view_reads_64k_examples(tmp_path):
    _record(tmp_path, "lstm", 0, [[1000, 0.8], [2000, 0.9], [3000, 0.96], [4000, 0.995]], "target")  # 96,000 ex.
    _record(tmp_path, "lstm", 1, [[1000, 0.7], [2000, 0.96], [3000, 0.995]], "target")  # 64,000 examples
    _record(tmp_path, "lstm", 2, [[1000, 0.6], [2000, 0.7], [5000, 0.8]], "plateau")  # never: censored
    row = next(line for line in cr.efficiency_table(cr.load_protocol_runs(tmp_path)).splitlines() if "LSTM" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] == "2/3" and cells[4] == "80,000"  # median of 96,000 and 64,000
    fpe = cr.load_protocol_runs(tmp_path)["flops_per_example"].iloc[0]
    assert float(cells[5]) == pytest.approx(80_000 * fpe, rel=0.01)
    mean = (0.9 + 0.96 + 0.7) / 3  # each run's validation at 2,000 steps x 32
    assert cells[6].startswith(f"{mean:.2f} ±")
    assert cells[7].startswith(f"{(0.995 + 0.995 + 0.8) / 3:.2f}")
    assert cr.at_examples([[1000, 0.5], [2000, 0.6]], 32, 63_999) == 0.5


def test_efficiency_curves_hold_target_runs_only_and_the_figure_draws_a_line_per_model(tmp_path):
    import matplotlib.pyplot as plt

    _record(tmp_path, "lstm", 0, [[100, 0.6], [200, 0.995]], "target")
    _record(tmp_path, "lstm", 1, [[100, 0.5], [200, 0.6], [300, 0.7], [400, 0.8]], "plateau")
    _record(tmp_path, "transformer", 0, [[100, 0.5], [200, 0.6]], "plateau", hi=64)
    curves = cr.efficiency_curves(cr.load_protocol_runs(tmp_path))
    held = curves[(curves["model"] == "lstm") & (curves["seed"] == 0)]
    assert held["examples"].max() == 400 * 32 and (held[held["examples"] > 200 * 32]["val_acc"] == 0.995).all()
    assert curves[(curves["model"] == "transformer")]["examples"].max() == 200 * 32  # a plateau run is not extended
    assert (curves["flops"] > curves["examples"]).all()
    runs = cr.load_protocol_runs(tmp_path).set_index("model")
    assert runs.loc["transformer", "flops_per_example"] > runs.loc["lstm", "flops_per_example"].iloc[0] > 0  # 1-64: longer
    fig = cr.plot_sample_efficiency(curves)
    assert [len(ax.get_lines()) - 2 for ax in fig.axes] == [1, 1]  # one model per panel (+ two reference lines)
    flops = cr.plot_sample_efficiency(curves, "flops")
    assert flops.axes[0].get_xlabel() == "training FLOPs (cost model)"
    assert sorted(ax.get_title() for ax in fig.axes) == ["classify, trained on 1-16", "classify, trained on 1-64"]
    plt.close(fig)


def test_the_tuning_table_shows_each_choice_and_the_next_best(tmp_path):
    rows = [{"model.name": "lstm", "task.objective": "lm", "trial": i, "state": st, "score": sc, "train.lr": lr,
             "model.norm": None, "chosen": ch}
            for i, (st, sc, lr, ch) in enumerate([("complete", 0.9, 0.001, True), ("complete", 0.8, 0.01, False),
                                                   ("pruned", None, 0.0001, False)])]
    pd.DataFrame(rows).to_csv(tmp_path / "tuning.csv", index=False)
    table = cr.tuning_table(tmp_path)
    assert "| LSTM | lm | lr=0.001 | 0.900 | 3 (1) | 0.800 |" in table
    pd.DataFrame([{"model.name": "lstm", "final_val_acc": 0.9}]).to_csv(tmp_path / "tuning.csv", index=False)
    assert cr.tuning_table(tmp_path) is None  # the older grid-search format: the report's own table
