"""The structure holds: registries are the only lists, imports flow one way, defaults live in one
place, an installed (non-editable) longdep works from anywhere, and the committed results are what
the grid would produce."""
import ast
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from omegaconf import OmegaConf

from conftest import ENV
from longdep.config import RunConfig, UsageError, resource_dir
from longdep.models import MODELS
from longdep.tasks.agreement import AgreementConfig
from longdep.records import read_csv as read_table

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "longdep"

# The flow: ground floor (config, records, environment) -> tasks, models (and tracking) -> training, measure ->
# grid (launch, tuning) -> analysis -> cli (the package). An import may point to its own layer or below, never above.
LAYERS = {"checks": 0, "config": 0, "records": 0, "environment": 0, "tasks": 1, "models": 1, "tracking": 1, "training": 2, "measure": 2,
          "grid": 3, "launch": 3, "tuning": 3, "analysis": 4, "cli": 5, "__main__": 6}


def _module(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every longdep module ``path`` imports, at the top or inside functions."""
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("longdep"):
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("longdep"))
    modules = {_module(p) for p in SRC.rglob("*.py")}
    return {m for m in out if m in modules}


def _layer(module: str) -> int:
    return LAYERS[module.split(".")[1]] if module != "longdep" else 0


def test_imports_flow_one_way_and_have_no_circle():
    graph = {_module(p): _imports(p) for p in SRC.rglob("*.py")}
    upward = [f"{m} -> {t}" for m, targets in graph.items() for t in targets
              if m != "longdep" and _layer(t) > _layer(m)]
    assert not upward, upward
    seen, stack = {}, []

    def visit(node):  # depth-first search for a cycle
        seen[node] = "open"
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt == node or seen.get(nxt) == "done":
                continue
            assert seen.get(nxt) != "open", " -> ".join(stack[stack.index(nxt):] + [nxt])
            visit(nxt)
        stack.pop()
        seen[node] = "done"

    for node in graph:
        if node not in seen:
            visit(node)


def test_no_source_file_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_train_yaml_equals_the_dataclass_defaults():
    yaml = OmegaConf.to_container(OmegaConf.load(resource_dir("configs") / "train.yaml"))
    defaults = asdict(RunConfig(task=AgreementConfig()))

    def check(sub, ref, where):
        for key, value in sub.items():
            if isinstance(value, dict):
                check(value, ref[key], f"{where}{key}.")
            else:
                assert value == ref[key], f"{where}{key}: yaml {value!r} != default {ref[key]!r}"

    check(yaml, defaults, "")


def test_default_sweep_yaml_equals_the_dataclass_defaults():
    from longdep.measure.plan import ScaleConfig

    yaml = OmegaConf.to_container(OmegaConf.load(resource_dir("configs") / "scale" / "default.yaml"))
    defaults = asdict(ScaleConfig())
    for key, value in yaml.items():
        ref = defaults[key]
        assert (value == ref if not isinstance(value, dict) else all(ref[k] == v for k, v in value.items())), key


def _converged_paper_folders():
    """results/paper, which holds the converged grid (complete: every cell), and results/paper_next where
    a grid that adds parts to it is on its way (its main runs and tuning are paper's, linked)."""
    found = [(ROOT / "results" / name, name == "paper") for name in ("paper", "paper_next")
             if (runs := sorted((ROOT / "results" / name / "runs").glob("*.json")))
             and "end_reason" in json.loads(runs[0].read_text())]
    if not found or found[0][0].name != "paper":
        pytest.skip("no converged paper grid committed yet")
    return found


def test_committed_paper_results_are_what_the_paper_grid_produces():
    """Every committed run record of the converged paper grid is a cell of `longdep grid paper` (with the
    recipes its committed tuning journal chose), in the folder of its part, and every tuning record a trial
    of its studies; once published as results/paper, every cell is there: resuming the grid is a no-op, and
    the ids did not drift (also those of a grid on its way, whose tuning is paper's)."""
    from longdep.grid import grid_cells, load_grid, scale_config, tune_studies
    from longdep.measure.plan import plan
    from longdep.training.run import run_id
    from longdep.tuning import results

    folders = _converged_paper_folders()
    out = folders[0][0]
    journal = (out / "tune" / "optuna.journal").read_bytes()
    grid = load_grid("paper")
    chosen, trials = results(tune_studies(grid, out))
    assert (out / "tune" / "optuna.journal").read_bytes() == journal  # reading the studies writes nothing
    assert {p.stem for p in (out / "tune" / "runs").glob("*.json")} <= {r["run_id"] for r in trials}
    for out, complete in folders:
        assert (out / "tune" / "optuna.journal").read_bytes() == journal  # one tuning for both
        pre, cells = grid_cells(grid, out, chosen=chosen)
        parts = {"pretrain": {run_id(c) for c in pre}}
        for c in cells:
            parts.setdefault("runs" if c.name == out.name else c.name, set()).add(run_id(c))
        for part, ids in parts.items():
            committed = {p.stem for p in (out / ("" if part == "runs" else part)).glob("runs/*.json")}
            assert committed <= ids, (out.name, part, sorted(committed - ids)[:5])
            assert ids == committed or not complete or (part != "runs" and not (out / part).exists()), (out.name, part)
    out = folders[0][0]
    if (out / "scaling.csv").exists():
        points = {p.point_id() for p in plan(scale_config(grid, out))}
        assert set(pd.read_csv(out / "scaling.csv")["point_id"]) <= points


TOY = textwrap.dedent('''
    """A toy model registered from outside longdep: the running mean of the embeddings (causal)."""
    import torch
    from torch import nn

    from longdep.models.base import LayerCost, ModelSpec


    class RunningMean(nn.Module):
        def __init__(self, vocab_size, n_out, d_model):
            super().__init__()
            self.embed = nn.Embedding(vocab_size, d_model, padding_idx=0)
            self.head = nn.Linear(d_model, n_out)

        def forward(self, tokens):
            x = self.embed(tokens).cumsum(1)  # (B, N, d)
            return self.head(x / torch.arange(1, tokens.shape[1] + 1, device=x.device)[:, None])


    def cost(cfg, batch, seq_len):
        return LayerCost(flops=2 * batch * seq_len * cfg.d_model, activation_floats=cfg.d_model, sequential_steps=1)


    SPECS = [ModelSpec(name="toy", build=lambda cfg, v, n: RunningMean(v, n, cfg.d_model), family="scan",
                       display="toy mean", color="#111111", cost=cost)]
''')


def test_a_registered_model_trains_gets_sweep_rows_and_appears_in_figures(tmp_path, monkeypatch):
    """One file and a registry entry (here through LONGDEP_PLUGINS), no other edit."""
    (tmp_path / "toy_plugin.py").write_text(TOY)
    env = {**ENV, "LONGDEP_PLUGINS": "toy_plugin", "PYTHONPATH": str(tmp_path), "WANDB_MODE": "disabled"}
    exe = [sys.executable, "-m", "longdep"]
    out = tmp_path / "res"
    for argv in (["train", "model.name=toy", "model.d_model=8", "train.max_steps=3", "train.val_every=3",
                  "train.val_size=16", "train.progress=false", "eval.distances=[2,4]", "eval.n_per_distance=8",
                  "task.distance=2", f"results_dir={out}", "name=t"],
                 ["scale", "models=[toy]", "seq_lens=[16,32]", "batch=2", "model.d_model=8", "model.heads=2",
                  "model.layers=1", "threads=1", "device=cpu", "repeats=1", "matmul_size=64", f"results_dir={out}",
                  "name=t"]):
        res = subprocess.run([*exe, *argv], capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
        assert res.returncode == 0, res.stderr[-2000:]
    acc = read_table(out / "t" / "accuracy.csv")
    assert set(acc["model"]) == {"toy"} and set(acc["backend"]) == {"scan"}
    scale = pd.read_csv(out / "t" / "scaling.csv")
    toy = scale[scale["model"] == "toy"]
    assert len(toy) == 2 and (toy["status"] == "ok").all() and set(toy["backend"]) == {"scan"}
    assert (toy["flops"] == 3 * (2 * 2 * toy["seq_len"] * 8 + 2 * 2 * toy["seq_len"] * 8 * 2)).all()

    from longdep.analysis import figures, scaling_figures

    with pytest.raises(UsageError, match="'toy', which is not registered"):  # never silently dropped
        figures.plot_accuracy_vs_distance(acc)
    sys.path.insert(0, str(tmp_path))
    try:
        import toy_plugin
        monkeypatch.setitem(MODELS, "toy", toy_plugin.SPECS[0])
        fig = figures.plot_accuracy_vs_distance(acc)
        assert "toy mean" in [t.get_text() for legend in fig.legends for t in legend.get_texts()]
        plt.close(fig)
        fig = scaling_figures.plot_time_vs_n(scale)
        labels = [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]
        assert any(label.startswith("toy mean") for label in labels)
        plt.close(fig)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("toy_plugin", None)


@pytest.mark.slow
def test_a_non_editable_install_runs_a_grid_from_another_directory(tmp_path):
    """`pip install .` (not -e): configs and grids ship inside the package."""
    site = tmp_path / "site"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--target", str(site), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert not (site / "longdep" / "__init__.py").is_symlink()
    env = {k: v for k, v in ENV.items() if not k.startswith("LONGDEP_")}
    env.update(PYTHONPATH=str(site), WANDB_MODE="disabled")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run([sys.executable, "-c", "import longdep, json; from longdep.config import resource_dir; "
                            "print(json.dumps([longdep.__file__, str(resource_dir('experiments'))]))"],
                           capture_output=True, text=True, cwd=elsewhere, env=env, timeout=60)
    assert where.returncode == 0, where.stderr
    assert all(p.startswith(str(site)) for p in json.loads(where.stdout))  # the installed copy, not the checkout
    out = tmp_path / "new"
    res = subprocess.run([sys.executable, "-m", "longdep", "grid", "smoke", "--out", str(out), "--no-figures"], capture_output=True,
                         text=True, cwd=elsewhere, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert len(list((out / "runs").glob("*.json"))) == 2 and (out / "scaling.csv").exists()
    assert not (out / "figures").exists()  # --no-figures
    assert os.listdir(elsewhere) == []  # nothing written where it ran


def test_bench_logs_script_entries_are_valid_commands(tmp_path):
    """scripts/bench_logs.sh (the CPU entries, and the GPU entries scripts/gpu_paper.sh runs on a lent
    GPU) writes one log per entry, each with its header and command; every command parses and its
    settings load, so a typo there fails here rather than on a GPU machine's clock."""
    import shlex

    from longdep.cli import build_parser
    from longdep.training.config import load_config

    for mode, n in (("cpu", 5), ("gpu", 4)):
        logs = tmp_path / mode
        env = {**ENV, "LONGDEP": "echo", "PY": "true", "LOGS": str(logs)}  # the log holds the command, not a run
        res = subprocess.run(["bash", str(ROOT / "scripts" / "bench_logs.sh"), mode], capture_output=True, text=True,
                             env=env, timeout=60)
        assert res.returncode == 0, res.stderr[-2000:]
        texts = [p.read_text().splitlines() for p in sorted(logs.glob("*.log"))]
        assert len(texts) == n and all(t[0].startswith("# ") and t[1] == f"$ longdep {t[2]}" for t in texts), texts
        for t in texts:
            args, extra = build_parser().parse_known_args(shlex.split(t[2]))
            assert args.what in ("loop", "seeds") and args.steps >= 1, t
            load_config("train", [*args.overrides, *extra])
    assert all("train.accelerator=gpu" in t[1] for t in texts)
    assert subprocess.run(["bash", "-n", str(ROOT / "scripts" / "gpu_paper.sh")]).returncode == 0


def test_no_private_name_is_imported_across_modules():
    """A name with a leading underscore is its module's own: no `from longdep.x import _y` anywhere."""
    found = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("longdep"):
                found += [f"{path.relative_to(SRC)}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert found == []
