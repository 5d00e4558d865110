"""The paper notebook runs headless (nbclient) on a small results folder and draws every figure."""
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from conftest import ENV

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "paper.ipynb"
FIGURES = 9  # accuracy vs distance, attractors, probes, steps to criterion, time, memory, speed-up,
# attention and the state probe (no lm runs in the smoke grid: no objectives figure)


def test_paper_notebook_runs_on_smoke_results_and_draws_every_figure(reference, tmp_path, monkeypatch):
    assert (reference / "scaling.csv").exists() and (reference / "accuracy.csv").exists()
    for key, value in {**ENV, "LONGDEP_RESULTS": str(reference)}.items():
        monkeypatch.setenv(key, value)  # the kernel inherits this environment
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == FIGURES
    assert sum("text/html" in o.get("data", {}) for o in outputs) >= 5  # the tables behind the figures
    assert any(str(reference) in o.get("text", "") for o in outputs)  # it read the folder it was given
