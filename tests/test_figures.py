"""`longdep figures` rebuilds every figure of a results folder from its CSVs, offline."""
import io
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from conftest import ENV
from longdep import cli

# (no speedup: the smoke sweep runs one thread count, so there is nothing to compare and no such figure)
FIGURES = ["accuracy_vs_distance", "accuracy_vs_attractors", "counterfactual", "learning_curves", "time_vs_n", "memory_vs_n",
           "constant_tokens", "attention", "state_probe", "sample_efficiency", "sample_efficiency_flops"]


def test_figures_on_missing_folder_exits_2(tmp_path, capsys):
    assert cli.main(["figures", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_figures_need_neither_wandb_nor_network(reference, tmp_path):
    """Regenerating figures imports no W&B and opens no socket: results/ alone is the record."""
    folder = tmp_path / "copy"
    shutil.copytree(reference, folder, ignore=shutil.ignore_patterns("wandb", "figures", ".submitit"))
    script = (
        "import socket, sys\n"
        "sys.modules['wandb'] = None\n"  # any `import wandb` now raises ImportError
        "def refuse(*a, **k): raise RuntimeError('network call')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from longdep import cli\n"
        f"sys.exit(cli.main(['figures', {str(folder)!r}]))\n"
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=ENV)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (folder / "figures" / "memory_vs_n.png").exists()
    assert "wandb" not in res.stderr.lower()


def test_figures_rebuild_every_figure_from_csvs_byte_for_byte(reference, tmp_path, capsys):
    """`longdep figures` on a copy of the CSVs draws every figure, and the same files the grid drew:
    bootstrap intervals use a fixed seed and PDFs carry no creation date."""
    folder = tmp_path / "copy"
    shutil.copytree(reference, folder, ignore=shutil.ignore_patterns("wandb", "figures", ".submitit"))
    assert cli.main(["figures", str(folder)]) == 0
    for stem in FIGURES:
        for ext in ("png", "pdf"):
            assert (folder / "figures" / f"{stem}.{ext}").stat().st_size > 1000, stem
    drawn, grid_drew = ({p.name: p.read_bytes() for p in sorted((f / "figures").iterdir())} for f in (folder, reference))
    assert drawn.keys() == grid_drew.keys() and len(drawn) == 2 * len(FIGURES)
    assert [k for k in drawn if drawn[k] != grid_drew[k]] == []


def test_report_renders_from_results_and_the_readme_section_is_current(reference):
    """The README's results numbers are generated from results/paper; prose and data cannot drift."""
    from pathlib import Path

    from longdep.analysis import report

    text = report.render(reference)
    begin, end = report.markers(reference, report.REPORT)
    assert text.startswith(begin) and text.rstrip().endswith(end) and reference.name in begin
    assert "| LSTM | 1-4 |" in text and "flip_subject" in text
    root = Path(__file__).resolve().parents[1]
    folders = sorted(p.parent for p in (root / "results").glob("*/REPORT.md"))
    assert {f.name for f in folders} >= {"paper", "scale_gpu", "seeds_timing", "seeds_timing_lm", "seeds_timing_paper", "bench"}
    for folder in folders:  # every committed folder's report
        assert report.write(folder, check=True), f"{folder}/REPORT.md is not current: run `longdep report " \
                                                 f"results/{folder.name} --write`"
    assert report.write(root / "results" / "paper", root / "README.md", check=True), \
        "README.md is not current: run `longdep report results/paper --write README.md`"
    short = report.render(reference, short=True)
    assert "Findings" in short and "REPORT.md" in short and "| LSTM |" not in short  # the findings, no tables


def test_report_md_is_created_when_missing_and_a_readme_needs_its_markers(reference, tmp_path):
    import shutil

    from longdep.analysis import report
    from longdep.config import UsageError

    folder = tmp_path / "r"
    shutil.copytree(reference, folder, ignore=shutil.ignore_patterns("wandb", "REPORT.md"))
    assert not report.write(folder, check=True) and not (folder / "REPORT.md").exists()  # check writes nothing
    assert not report.write(folder) and report.write(folder, check=True)
    text = (folder / "REPORT.md").read_text()
    assert text.startswith("# r: the report") and "| LSTM | 1-4 |" in text
    (tmp_path / "README.md").write_text("intro\n")
    with pytest.raises(UsageError, match="no report markers for r"):
        report.write(folder, tmp_path / "README.md")
    begin, end = report.markers(folder)
    (tmp_path / "README.md").write_text(f"intro\n{begin}\n{end}\noutro\n")
    assert not report.write(folder, tmp_path / "README.md")
    readme = (tmp_path / "README.md").read_text()
    assert readme.startswith("intro\n") and readme.endswith("outro\n") and "](r/REPORT.md)" in readme


def test_report_of_a_cost_sweep_alone_names_the_gpu_and_links_the_figures_it_drew(tmp_path):
    import shutil
    from pathlib import Path

    from longdep.analysis import report
    from longdep.config import UsageError

    src = Path(__file__).resolve().parents[1] / "results" / "scale_gpu"
    (tmp_path / "g" / "figures").mkdir(parents=True)
    for f in ("scaling.csv", "scaling_env.json"):
        shutil.copy(src / f, tmp_path / "g" / f)
    (tmp_path / "g" / "figures" / "time_vs_n_bf16-mixed.png").write_bytes(b"")
    text = report.render(tmp_path / "g")
    assert "NVIDIA H200" in text and "time slope, cuda" in text and "N=8192 (oom)" in text
    assert "figures/time_vs_n_bf16-mixed.png" in text and "memory_vs_n" not in text and "speedup" not in text
    with pytest.raises(UsageError, match="no accuracy.csv or scaling.csv"):
        report.render(tmp_path)


def test_a_folder_with_both_objectives_and_the_nested_task_gets_every_figure_and_study_section(reference, tmp_path, monkeypatch):
    """The paper folder holds agreement classifier runs, language-model runs and nested-task runs side by
    side: the headline keeps to the classifier, and each study gets its figure and README section."""
    from pathlib import Path

    from longdep.analysis import figures, report
    from longdep.grid import run_grid

    smoke = (Path(__file__).resolve().parents[1] / "experiments" / "smoke.yaml").read_text()
    (tmp_path / "mixed.yaml").write_text(smoke[:smoke.index("scale:")] + (
        "also:\n"
        "  - config: nested\n    base: {eval.n_per_attractor: 8, task.max_depth: 2, wandb.enabled: false}\n"
        "    axes: {model.name: [lstm]}\n"
        "  - base: {task.objective: lm, wandb.enabled: false}\n    axes: {model.name: [transformer]}\n"))
    monkeypatch.setenv("LONGDEP_EXPERIMENTS", str(tmp_path))
    out = tmp_path / "paper"
    shutil.copytree(reference, out, ignore=shutil.ignore_patterns("wandb", "figures", "scaling.csv"))
    res = run_grid("mixed", out, stream=io.StringIO())
    assert res.failed == 0 and res.ran == 2  # the smoke cells were already there
    written = {p.stem for p in figures.make_all(out)}
    assert {"nested", "objectives", "accuracy_vs_distance", "attention", "state_probe"} <= written
    text = report.render(out)
    for title in ("Two training objectives", "Nested dependencies", "Where attention looks", "What the recurrent state holds"):
        assert f"**{title}" in text
    assert "| transformer | 1-4 | 1 / 1 |" in text and "| LSTM | 1 | " in text  # classifier / LM seeds; nested row
    assert "| LSTM | 1-4 | 1 |" in text  # the headline still counts the classifier runs alone


# ---------------------------------------------------------------- figure details, from tiny synthetic data

def _run_record(folder, model, seed, lo, hi, curve, max_steps=200, stopped_early=False):
    """A run record with what the figures read (results/<name>/runs/<run_id>.json)."""
    import json

    run_id = f"{model}-d{lo}-{hi}-s{seed}"
    s95 = next((step for step, acc in curve if acc >= 0.95), None)
    rec = {"run_id": run_id, "parameters": 10, "steps": curve[-1][0], "steps_to_95": s95, "steps_to_99": None,
           "final_val_acc": curve[-1][1], "wall_time_s": 1.0, "val_curve": curve, "stopped_early": stopped_early,
           "config": {"model": {"name": model, "d_model": 8},
                      "task": {"name": "agreement", "distance": lo, "max_distance": hi},
                      "train": {"seed": seed, "lr": 1e-3, "max_steps": max_steps, "start_steps": 0}}}
    (folder / "runs").mkdir(parents=True, exist_ok=True)
    (folder / "runs" / f"{run_id}.json").write_text(json.dumps(rec))


def test_learning_curves_hold_early_stopped_runs_and_draw_the_criterion(tmp_path):
    import matplotlib.pyplot as plt

    from longdep.analysis import figures
    from longdep.analysis.data import load_curves, load_runs

    _run_record(tmp_path, "lstm", 0, 1, 8, [[50, 0.7], [100, 0.99]], stopped_early=True)
    _run_record(tmp_path, "lstm", 1, 1, 8, [[50, 0.6], [100, 0.8], [150, 0.9], [200, 0.96]])
    _run_record(tmp_path, "transformer", 0, 8, 8, [[50, 0.5], [100, 0.6], [150, 0.7], [200, 0.8]])
    runs = load_runs(tmp_path)
    curves = load_curves(tmp_path, runs)
    held = curves[curves["held"]]
    assert sorted(held["step"]) == [150, 200] and (held["val_acc"] == 0.99).all()  # up to the budget, at its last value
    fig = figures.plot_learning_curves(curves)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["trained on 1-8", "trained at 8"]
    for ax in axes:
        assert any(list(line.get_ydata()) == [0.95, 0.95] for line in ax.get_lines())
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert {"LSTM", "transformer", "criterion (95%)"} <= set(labels)
    plt.close(fig)
    base = pd.DataFrame({"train_min_distance": 1, "train_max_distance": 8, "test_set": "distance",
                         "heuristic": ["bag_of_words", "bag_of_words", "first_noun", "majority"],
                         "distance": [2, 20, 2, 2], "n": 10, "accuracy": [0.7, 0.1, 0.6, 0.9]})
    fig = figures.plot_learning_curves(curves, base)  # the baselines that could explain a curve, in range only
    trained_on = [ax for ax in fig.axes if ax.get_title() == "trained on 1-8"][0]
    levels = {round(line.get_ydata()[0], 3) for line in trained_on.get_lines() if len(set(line.get_ydata())) == 1}
    assert {0.7, 0.6} <= levels and not {0.1, 0.9} & levels
    plt.close(fig)


def test_steps_to_criterion_means_the_converged_seeds_and_marks_the_others_at_the_budget():
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    from longdep.analysis import figures, style

    runs = pd.DataFrame({"model": "lstm", "seed": [0, 1, 2], "train_min_distance": 16, "train_max_distance": 16,
                         "max_steps": 2000, "steps_to_95": [400.0, 600.0, None]})
    fig = figures.plot_steps_to_criterion(runs)
    ax = fig.axes[0]
    means = [line for line in ax.get_lines() if line.get_marker() == style.model_marker("lstm") and len(line.get_ydata())]
    assert [list(line.get_ydata()) for line in means] == [[500.0]]  # (400 + 600) / 2, never (400 + 600 + 2000) / 3
    censored = [c for c in ax.collections if np.allclose(c.get_offsets()[:, 1], 2000)]
    assert len(censored) == 1 and len(censored[0].get_offsets()) == 1
    assert np.allclose(censored[0].get_edgecolor()[0][:3], plt.matplotlib.colors.to_rgb(style.model_color("lstm")))
    assert "did not reach 95% (drawn at the budget)" in [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close(fig)


def _sweep(budget=2.5e9):
    """A tiny fixed-batch sweep: the LSTM, single-head explicit (over its memory budget at N=1024) and SDPA,
    at 1 and 2 CPU threads."""
    import pandas as pd

    rows = []
    for threads in (1, 2):
        for model, backend in (("lstm", "recurrent"), ("single_head", "explicit"), ("single_head", "sdpa")):
            for n in (64, 128, 256, 512, 1024):
                oom = backend == "explicit" and n == 1024
                rows.append({"model": model, "backend": backend, "device": "cpu", "threads": threads, "precision": "32",
                             "tokens": 0, "batch": 4, "seq_len": n, "d_model": 8, "layers": 1,
                             "status": "oom" if oom else "ok", "step_time_s": None if oom else n * 1e-4 / threads,
                             "peak_mem_bytes": None if oom else n * n * 2e3, "flops": n * 1e6,
                             "matmul_peak_flops_per_s": 1e11, "predicted_score_bytes": n * n * 1e3,
                             "predicted_activation_bytes": n * 4e5, "predicted_peak_bytes": n * n * 4e3,
                             "sequential_steps": n, "mem_budget_bytes": budget})
    return pd.DataFrame(rows)


def _labels(axis) -> list[str]:
    lo, hi = axis.get_view_interval()
    return [t.get_text() for t, v in zip(axis.get_ticklabels(), axis.get_ticklocs()) if lo <= v <= hi and t.get_text()]


def test_memory_figure_labels_mb_gb_draws_the_budget_and_shows_recurrent_models_once():
    import matplotlib.pyplot as plt

    from longdep.analysis import scaling_figures

    fig = scaling_figures.plot_memory_vs_n(_sweep())
    fig.canvas.draw()
    panels = {ax.get_title().split(" (")[0]: ax for ax in fig.axes}
    assert list(panels) == ["recurrent models", "explicit attention", "SDPA attention"]
    ticks = _labels(panels["recurrent models"].yaxis)  # the row shares its y axis
    assert ticks and all(t.endswith((" MB", " GB")) for t in ticks), ticks
    for title, ax in panels.items():
        assert _labels(ax.xaxis) == ["64", "128", "256", "512", "1024"]
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert ("LSTM" in " ".join(legend)) == (title == "recurrent models")  # the LSTM once, in its own panel
        assert "memory budget (2.5 GB)" in legend
        assert any(list(line.get_ydata()) == [2.5e9, 2.5e9] for line in ax.get_lines())
    crosses = [line for line in panels["explicit attention"].get_lines() if line.get_marker() == "x"]
    assert [(list(c.get_xdata()), list(c.get_ydata())) for c in crosses] == [([1024], [2.5e9])]  # on the wall, not measured
    plt.close(fig)


def test_time_and_speedup_figures_use_plain_tick_labels_and_keep_the_legend_off_the_data():
    import matplotlib.pyplot as plt

    from longdep.analysis import scaling_figures

    fig = scaling_figures.plot_time_vs_n(_sweep())
    fig.canvas.draw()
    for ax in fig.axes:
        assert _labels(ax.xaxis) == ["64", "128", "256", "512", "1024"]
    ticks = _labels(fig.axes[0].yaxis)
    assert ticks and all(t.endswith(("ms", "µs")) or t.endswith(" s") for t in ticks), ticks
    crosses = [line for ax in fig.axes for line in ax.get_lines() if line.get_marker() == "x"]
    assert len(crosses) == 2 and all(list(c.get_ydata()) == [0.95] for c in crosses)  # in the top band, not a value
    plt.close(fig)
    sweep = _sweep()
    plt.close(scaling_figures.plot_time_vs_n(sweep[sweep["status"] == "ok"]))  # nothing over budget: no crosses
    fig = scaling_figures.plot_speedup(_sweep())
    fig.canvas.draw()
    ax = fig.axes[0]
    assert ax.get_legend() is None and len(fig.legends) == 1
    assert _labels(ax.yaxis) == ["0.5", "1", "2", "4"]  # whole octaves around 1 and the ideal 2x
    assert all(t.isdigit() for t in _labels(ax.xaxis))
    plt.close(fig)


def test_every_model_has_its_own_colour_and_marker():
    from longdep.analysis import style
    from longdep.models import MODELS

    colors = [style.model_color(m) for m in MODELS]
    markers = [style.model_marker(m) for m in MODELS]
    assert len(set(colors)) == len(MODELS) and len(set(markers)) == len(MODELS)
    assert "x" not in markers  # a cross marks a point that was not measured


def test_report_of_bench_logs_tables_their_lines_and_names_a_log_without_any(tmp_path):
    from longdep.analysis import report
    from longdep.config import UsageError

    (tmp_path / "seeds.log").write_text(
        "# today, this machine\n$ longdep bench seeds --steps 2\n"
        "lstm         5 seeds alone      578 examples/s  together      489 examples/s  speedup 0.85x (medians of 3)\n")
    (tmp_path / "notes.log").write_text("not a bench log\n")  # ignored: no `$ longdep bench` line
    text = report.render(tmp_path)
    assert "| lstm | 5 | 578 | 489 | 0.85x |" in text and "notes.log" not in text
    (tmp_path / "loop.log").write_text("# today\n$ longdep bench loop\nTraceback (most recent call last):\n")
    with pytest.raises(UsageError, match="loop.log holds no"):
        report.render(tmp_path)


def test_report_says_where_the_cells_time_went(reference):
    from longdep.analysis.report import time_shares

    text = time_shares(reference)
    shares = [float(x) for x in re.findall(r"([\d.]+)%", text)]
    assert "training steps" in text and abs(sum(shares) - 100) < 0.5


def test_report_tables_end_a_short_row_in_empty_cells_and_link_only_the_figures_drawn(tmp_path):
    from longdep.analysis.tables import figure, image, markdown

    assert markdown(["a", "b", "c"], [["x", 1], ["y", 2, 3]]) == "| a | b | c |\n|---|---|---|\n| x | 1 | |\n| y | 2 | 3 |"
    assert figure(tmp_path, "res", "f", "alt") == ""  # not drawn (yet)
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "f.png").write_bytes(b"")
    assert figure(tmp_path, "res", "f", "alt") == "\n\n" + image("res", "f", "alt") == "\n\n![alt](res/figures/f.png)"
    assert figure(tmp_path, None, "f", "alt") == f"\n\n![alt]({tmp_path.as_posix()}/figures/f.png)"
