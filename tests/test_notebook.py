"""The paper notebook runs headless (nbmake) on a small results folder and draws every figure."""
import subprocess
import sys
from pathlib import Path

from conftest import ENV

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "paper.ipynb"


def test_paper_notebook_runs_on_smoke_results(reference, tmp_path):
    assert (reference / "scaling.csv").exists() and (reference / "accuracy.csv").exists()
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "--nbmake", "-p", "no:cacheprovider",
                          "--rootdir", str(tmp_path), str(NOTEBOOK)],
                         capture_output=True, text=True, timeout=300, env={**ENV, "LONGDEP_RESULTS": str(reference)},
                         cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "1 passed" in res.stdout
