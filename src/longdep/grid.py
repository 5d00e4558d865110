"""Experiment grids: one YAML file per figure under ``experiments/``, run cell by cell, resumable.

A grid file names the config it starts from, overrides shared by every cell (``base``) and the
axes whose product is the grid (``axes``)::

    config: train
    base: {train.max_steps: 800}
    axes:
      model.name: [rnn, lstm, single_head, multi_head, transformer]
      task.distance: [8, 32, 64, 128]
      train.seed: [0]

``longdep grid quick`` runs every cell whose run record is missing from ``results/quick/runs/``
(the record is keyed by the run's config hash and written last), so an interrupted grid resumes
where it stopped and a finished one is a no-op.
"""
from __future__ import annotations

import itertools
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from longdep.config import UsageError, load_config

EXPERIMENTS_DIR = Path(__file__).resolve().parents[2] / "experiments"
GRID_KEYS = ("description", "config", "base", "axes")


@dataclass
class Grid:
    name: str
    description: str = ""
    config: str = "train"
    base: dict = field(default_factory=dict)
    axes: dict = field(default_factory=dict)


def available(experiments_dir: Path = EXPERIMENTS_DIR) -> list[str]:
    return sorted(p.stem for p in Path(experiments_dir).glob("*.yaml"))


def load_grid(name: str, experiments_dir: Path = EXPERIMENTS_DIR) -> Grid:
    """Read ``experiments/<name>.yaml``; UsageError on an unknown name or a malformed file."""
    path = Path(experiments_dir) / f"{name}.yaml"
    if not path.exists():
        raise UsageError(f"unknown grid {name!r}; valid: {', '.join(available(experiments_dir))}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UsageError(f"grid file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise UsageError(f"grid file {path} must be a mapping with keys {', '.join(GRID_KEYS)}")
    unknown = sorted(set(raw) - set(GRID_KEYS))
    if unknown:
        raise UsageError(f"grid file {path}: unknown key {unknown[0]!r}; valid: {', '.join(GRID_KEYS)}")
    grid = Grid(name=name, **raw)
    if not isinstance(grid.base, dict) or not isinstance(grid.axes, dict):
        raise UsageError(f"grid file {path}: 'base' and 'axes' must be mappings of key: value")
    for key, values in grid.axes.items():
        if not isinstance(values, list) or not values:
            raise UsageError(f"grid file {path}: axis {key!r} must be a non-empty list, got {values!r}")
    return grid


def _fmt(value) -> str:
    if isinstance(value, list):
        return "[" + ",".join(map(str, value)) + "]"
    return "null" if value is None else str(value)


def cell_configs(grid: Grid, out: Path, overrides=()) -> list:
    """Every cell of the grid as a validated RunConfig writing to ``out`` (all checked up front)."""
    out = Path(out)
    keys = list(grid.axes)
    cells = []
    for values in itertools.product(*grid.axes.values()):
        items = [f"{k}={_fmt(v)}" for k, v in grid.base.items()]
        items += [f"{k}={_fmt(v)}" for k, v in zip(keys, values)]
        items += list(overrides)
        items += [f"name={out.name}", f"results_dir={out.parent}"]
        cells.append(load_config(grid.config, items))
    return cells


def run_grid(name: str, out: Path | None = None, overrides=(), stream=sys.stdout) -> Path:
    """Run the missing cells of grid ``name`` in this process; return the results folder."""
    from longdep.training.run import is_done, train_one

    grid = load_grid(name)
    out = Path(out or Path("results") / name)
    cells = cell_configs(grid, out, overrides)
    todo = [c for c in cells if not is_done(c)]
    print(f"grid {name}: {len(cells)} cells, {len(cells) - len(todo)} done, {len(todo)} to run -> {out}", file=stream)
    start = time.perf_counter()
    for i, cfg in enumerate(todo, 1):
        rec = train_one(cfg)
        elapsed = time.perf_counter() - start
        eta = elapsed / i * (len(todo) - i)
        print(f"[{i}/{len(todo)}] {rec['run_id']}: test acc {rec['test_accuracy']:.3f}, "
              f"steps {rec['steps']}, {rec['wall_time_s']:.1f}s | elapsed {elapsed:.0f}s, eta {eta:.0f}s",
              file=stream, flush=True)
    return out
