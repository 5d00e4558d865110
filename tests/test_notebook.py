"""The paper notebook runs headless (nbclient) on a small results folder and draws every figure."""
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from conftest import ENV
from longdep.records import has_table

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "paper.ipynb"
FIGURES = 10  # accuracy vs distance, attractors, probes, steps to criterion, time, memory, speed-up,
# attention, the state probe and learning curves (no lm or nested runs in the smoke grid)


def test_paper_notebook_runs_on_smoke_results_and_draws_every_figure(reference, tmp_path, monkeypatch):
    assert (reference / "scaling.csv").exists() and has_table(reference / "accuracy.csv")
    for key, value in {**ENV, "LONGDEP_RESULTS": str(reference)}.items():
        monkeypatch.setenv(key, value)  # the kernel inherits this environment
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == FIGURES
    assert sum("text/html" in o.get("data", {}) for o in outputs) >= 5  # the tables behind the figures
    assert any(str(reference) in o.get("text", "") for o in outputs)  # it read the folder it was given


def test_the_committed_notebook_holds_its_outputs_from_results_paper():
    """`make notebook` executes it on results/paper and saves the outputs, so a repository preview shows
    the tables and figures; no cell failed."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    outputs = [o for cell in code for o in cell.get("outputs", [])]
    assert all(cell.get("execution_count") for cell in code), "run `make notebook` and commit the result"
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert "results folder: ../results/paper" in "".join(o.get("text", "") for o in outputs)
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= FIGURES + 2  # + objectives, nested
