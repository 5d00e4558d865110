"""`longdep figures` rebuilds every figure of a results folder from its CSVs, offline."""
import io
import shutil
import subprocess
import sys

import pytest

from conftest import ENV
from longdep import cli

FIGURES = ["accuracy_vs_distance", "accuracy_vs_attractors", "counterfactual", "time_vs_n", "memory_vs_n",
           "speedup", "constant_tokens", "attention", "state_probe"]


def test_figures_rebuilds_every_figure_from_csvs(reference, tmp_path, capsys):
    folder = tmp_path / "copy"
    shutil.copytree(reference, folder, ignore=shutil.ignore_patterns("wandb", "figures", ".submitit"))
    assert cli.main(["figures", str(folder)]) == 0
    for stem in FIGURES:
        for ext in ("png", "pdf"):
            assert (folder / "figures" / f"{stem}.{ext}").stat().st_size > 1000, stem


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


def test_figures_are_reproducible_byte_for_byte(reference, tmp_path, capsys):
    """Same CSVs, same files: bootstrap intervals use a fixed seed and PDFs carry no creation date."""
    folder = tmp_path / "copy"
    shutil.copytree(reference, folder, ignore=shutil.ignore_patterns("wandb", "figures", ".submitit"))
    outputs = []
    for _ in range(2):
        assert cli.main(["figures", str(folder)]) == 0
        outputs.append({p.name: p.read_bytes() for p in sorted((folder / "figures").iterdir())})
    assert outputs[0].keys() == outputs[1].keys() and len(outputs[0]) == 2 * len(FIGURES)
    assert [k for k in outputs[0] if outputs[0][k] != outputs[1][k]] == []


def test_report_renders_from_results_and_the_readme_section_is_current(reference):
    """The README's results numbers are generated from results/paper; prose and data cannot drift."""
    from pathlib import Path

    from longdep.analysis import report

    text = report.render(reference)
    begin, end = report.markers(reference)
    assert text.startswith(begin) and text.rstrip().endswith(end) and reference.name in begin
    assert "| LSTM | 1-4 |" in text and "flip_subject" in text
    root = Path(__file__).resolve().parents[1]
    for folder in ("paper", "scale_gpu"):  # one section per committed results folder
        assert report.write(root / "results" / folder, root / "README.md", check=True), \
            f"README.md is not current: run `longdep report results/{folder} --write README.md`"


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
