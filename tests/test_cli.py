"""The command line itself: version, defaults a fresh clone can use."""
import shutil

import pytest

from longdep.cli import main


def test_version_is_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    out = capsys.readouterr().out.strip()
    assert info.value.code == 0 and out.startswith("longdep ") and len(out.splitlines()) == 1


def test_figures_without_an_argument_uses_the_committed_paper_folder(reference, tmp_path, monkeypatch, capsys):
    """A fresh clone has results/paper (committed) and no results/quick until make demo."""
    shutil.copytree(reference, tmp_path / "results" / "paper", ignore=shutil.ignore_patterns("figures", "wandb"))
    monkeypatch.chdir(tmp_path)
    assert main(["figures"]) == 0
    assert (tmp_path / "results" / "paper" / "figures" / "accuracy_vs_distance.png").exists()
    assert "results/paper/figures" in capsys.readouterr().out
