"""`longdep figures` rebuilds every figure of a results folder from its CSVs, offline."""
import shutil

from longdep import cli

FIGURES = ["accuracy_vs_distance", "accuracy_vs_attractors", "steps_to_criterion", "time_vs_n", "memory_vs_n",
           "speedup"]


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
