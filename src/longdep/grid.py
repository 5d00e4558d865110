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
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from longdep.config import UsageError, find_yaml, merge, resource_dir
from longdep.launch import LAUNCHERS, Progress, check_launcher, load_launcher, run_local, run_submitit, split_overrides
from longdep.records import SCHEMAS, exclusive, on_interrupt, read_csv
from longdep.training.config import load_grid_cell
from longdep.tuning import Study, Tune, check_tune, subject_key


@dataclass
class Block:
    """Cells: the product of ``axes`` (dotted key -> list of values), on top of ``base``; ``config``: the
    run config these cells start from when it is not the grid's (e.g. ``nested``, another task).
    ``pretrain``: each cell first trains a pretraining run, the cell itself (recipe included) with these
    values (e.g. ``{task.objective: lm}``: its own language model), into ``<out>/pretrain/``, and starts
    from its weights (``train.init_from``). A block's own values win over the tuning stage's recipe,
    so a block can ablate a part of it (e.g. ``train.lr``). ``folder``: the block's cells write to
    ``<out>/<folder>/`` (a control beside the main results, which its tables and figures leave out); a
    cell that another block already has is run once, where that block writes it."""

    base: Dict[str, Any] = field(default_factory=dict)
    axes: Dict[str, List[Any]] = field(default_factory=dict)
    config: Optional[str] = None
    pretrain: Optional[Dict[str, Any]] = None
    folder: Optional[str] = None


@dataclass
class Grid:
    """A grid file (schema; unknown keys are errors). ``base`` and ``axes`` map dotted run-config
    keys to values (``axes``: to lists of values); ``also``: more blocks of cells with their own base
    and axes; ``tune``: a tuning stage (:class:`Tune`); ``scale``: a cost sweep run after the cells,
    ``{config: NAME, key: value ...}``."""

    name: str = ""
    description: str = ""
    config: str = "train"
    base: Dict[str, Any] = field(default_factory=dict)
    axes: Dict[str, List[Any]] = field(default_factory=dict)
    also: List[Block] = field(default_factory=list)
    tune: Optional[Tune] = None
    scale: Optional[Dict[str, Any]] = None


def experiments_dir() -> Path:
    """Grid files: the package's ``experiments/``, or ``$LONGDEP_EXPERIMENTS`` (tests, forks)."""
    return resource_dir("experiments")


def load_grid(name: str) -> Grid:
    """Read ``experiments/<name>.yaml`` (or a path to a grid file); UsageError on an unknown name or a malformed file."""
    path = find_yaml("grid", name, experiments_dir())
    grid = merge(Grid(name=path.stem), [path])
    for block in [grid, *grid.also]:
        for key, values in block.axes.items():
            if not values:
                raise UsageError(f"grid file {path}: axis {key!r} must be a non-empty list")
    for block in grid.also:
        if block.folder is not None and (not re.fullmatch(r"[a-z][a-z0-9_]*", str(block.folder)) or block.folder in RESERVED):
            raise UsageError(f"grid file {path}: folder {block.folder!r} is not a part's folder name; valid: lower-case "
                             f"letters, digits and _, not {', '.join(RESERVED)}")
    if grid.tune is not None:
        check_tune(grid.tune, f"grid file {path}")
    return grid


def _products(grid: Grid):
    """``(config name, values, the block's own values, block)`` of every cell of the grid's blocks, in
    order. A block with a config of its own gets the grid's ``base`` without its ``task.*`` keys (they
    belong to the grid's task)."""
    main = Block(grid.base, grid.axes)
    for block in [main, *grid.also]:
        keys = list(block.axes)
        own = block.config not in (None, grid.config)
        base = {k: v for k, v in grid.base.items() if not (own and k.startswith("task."))}
        for combo in itertools.product(*block.axes.values()):
            mine = {**(block.base if block is not main else {}), **dict(zip(keys, combo))}
            yield block.config or grid.config, {**base, **mine}, mine, block


def tune_studies(grid: Grid, out: Path, overrides=(), cells: list | None = None) -> list[Study]:
    """The tuning stage's studies (trials written to ``<out>/tune/``): one per distinct value of ``tune.by``
    among the cells (``cells``: the grid's untuned cells, when already built), in order; [] without a stage.
    A ``tune.by`` key that no cell config has is an error (a typo would otherwise tune nothing)."""
    if grid.tune is None:
        return []
    from longdep.models import get_model

    cells = cells if cells is not None else cell_configs(grid, out, overrides, chosen={})
    studies = {}
    for cfg in cells:
        subject = {key: _get(cfg, key) for key in grid.tune.by}
        if subject_key(subject) not in studies:
            studies[subject_key(subject)] = Study(grid, subject, str(out), list(overrides), get_model(cfg.model.name).family)
    for study in studies.values():
        study.trial_config({})  # every trial's cell validates (its sampled values are checked again per trial)
    return list(studies.values())


def load_cell(grid: Grid, overrides, values: dict, config: str | None = None):
    """One cell's validated RunConfig (from ``config``, by default the grid's): :func:`load_grid_cell`."""
    return load_grid_cell(grid.name, config or grid.config, overrides, values)


def cell_configs(grid: Grid, out: Path, overrides=(), chosen: dict | None = None) -> list:
    """Every cell of the grid as a validated RunConfig writing to ``out`` (all checked up front), with
    the tuning stage's ``chosen`` values (``{subject key: {key: value}}``; by default read from its
    finished studies; ``{}``: untuned), each run once (blocks may share cells)."""
    return grid_cells(grid, out, overrides, chosen)[1]


PRETRAIN = "pretrain"  # the folder under a grid's results folder that its pretraining runs write
RESERVED = ("runs", "tune", PRETRAIN, "figures", "checkpoints", "logs", "wandb", "tmp")  # a grid's own folders


def grid_cells(grid: Grid, out: Path, overrides=(), chosen: dict | None = None) -> tuple[list, list]:
    """``(pretraining runs, cells)`` of the grid (see :func:`cell_configs`): a cell of a block with
    ``pretrain`` starts from its pretraining run's record (``<out>/pretrain/runs/<run_id>.json``)."""
    from longdep.training.run import run_id

    out = Path(out)
    if grid.tune is not None and chosen is None:
        from longdep.tuning import results

        chosen = results(tune_studies(grid, out, overrides))[0]
    cells, pre, seen = [], {}, set()
    for config, values, mine, block in _products(grid):
        place = {"name": block.folder, "results_dir": str(out)} if block.folder else {"name": out.name, "results_dir": str(out.parent)}
        values = {**values, **place}
        cfg = load_cell(grid, overrides, values, config)
        extra = (chosen or {}).get(subject_key({k: _get(cfg, k) for k in grid.tune.by})) if grid.tune else None
        if extra:  # the recipe, less what the block itself sets
            values = {**values, **extra, **mine}
            cfg = load_cell(grid, overrides, values, config)
        if block.pretrain:
            where = {"name": PRETRAIN, "results_dir": str(out), "train.save_weights": True}  # one for all blocks
            source = load_cell(grid, overrides, {**values, **block.pretrain, **where}, config)
            pre.setdefault(run_id(source), source)
            record = out / PRETRAIN / "runs" / f"{run_id(source)}.json"
            cfg = load_cell(grid, overrides, {**values, "train.init_from": str(record)}, config)
        if run_id(cfg) not in seen:
            seen.add(run_id(cfg))
            cells.append(cfg)
    return list(pre.values()), cells


def _get(cfg, dotted: str):
    try:
        for part in dotted.split("."):
            cfg = getattr(cfg, part)
    except AttributeError:
        raise UsageError(f"tune.by: unknown key {dotted!r} (e.g. model.name, task.objective)") from None
    return cfg


def write_tuning(rows: list, out: Path) -> None:
    """``<out>/tuning.csv``: every trial of every study (its subject, parameters, state, score, and
    whether it was chosen)."""
    import pandas as pd

    from longdep.records import write_atomic

    write_atomic(Path(out) / "tuning.csv", pd.DataFrame(rows).to_csv(index=False))


def scale_config(grid: Grid, out: Path):
    """The grid's scaling sweep config (validated), writing into the same results folder."""
    from longdep.measure.plan import load_scale_config

    values = {k: v for k, v in grid.scale.items() if k != "config"}
    values.update(name=out.name, results_dir=str(out.parent))
    return load_scale_config((), grid.scale.get("config", "default"), values)


# What records.write_atomic and style.save leave when killed: ``.<file>.<8 random chars>.tmp`` beside
# a results file (CSV, JSON, figure), in the folders a grid writes; nothing else is ever removed.
_TEMP = re.compile(r"^\.[^/]+\.(csv|json|png|pdf)\.[a-z0-9_]{8}\.tmp$")
_WRITTEN = ("", "runs", "figures", "tune", "tune/runs", "tune/figures", "pretrain", "pretrain/runs")


def clean_stale_temp_files(out: Path, parts=()) -> None:
    """Remove temp files a killed longdep writer left in ``out`` and its ``parts`` folders (call with the
    folder's lock held)."""
    for sub in [*_WRITTEN, *parts, *(f"{p}/runs" for p in parts)]:
        folder = Path(out) / sub
        if folder.is_dir():
            for path in folder.iterdir():
                if _TEMP.match(path.name) and path.is_file():
                    path.unlink(missing_ok=True)


@dataclass
class GridResult:
    out: Path
    failed: int
    cells: list
    ran: int = 0  # cells this invocation trained (0: a resume with nothing left to do)


def default_folder(name: str) -> str:
    """``results/<this>`` when no ``--out`` is given: the grid's name, or its file's stem for a path to a
    grid file (never the file itself or a folder beside it)."""
    return Path(name).stem if name.endswith((".yaml", ".yml")) or "/" in name else name


def run_grid(name: str, out: Path | None = None, overrides=(), launcher: str = "local", workers: int = 1,
             stream=None, scale: bool = True) -> GridResult:
    """Run the missing cells of grid ``name`` with ``launcher`` (its tuning stage first, if any); return
    the folder, failures and cells."""
    stream = stream or sys.stdout  # looked up at call time: sys.stdout may have been replaced since import

    if launcher not in LAUNCHERS:
        raise UsageError(f"unknown launcher {launcher!r}; valid: {', '.join(LAUNCHERS)}")
    if workers < 1:
        raise UsageError(f"--workers must be a positive integer, got {workers}")
    grid = load_grid(name)
    run_overrides, launch_overrides = split_overrides(overrides)
    placed = [o for o in run_overrides if o.split("=", 1)[0].strip() in ("results_dir", "name")]
    if placed:
        raise UsageError(f"{placed[0]!r}: a grid writes every cell into its --out folder (its lock and log too); "
                         "valid: --out DIR instead of results_dir= / name=")
    lcfg = load_launcher(launcher, launch_overrides)
    check_launcher(launcher)
    out = Path(out or Path("results") / default_folder(name))
    cells = cell_configs(grid, out, run_overrides, chosen={})  # every cell checked (untuned) before anything runs
    tuned = tune_studies(grid, out, run_overrides, cells)
    sweep = scale_config(grid, out) if grid.scale is not None and scale else None
    for file in SCHEMAS:  # a broken results file stops the grid before any cell builds on it
        read_csv(out / file)
    with exclusive(out):  # one grid per folder: a second one stops here with one line
        clean_stale_temp_files(out, [b.folder for b in grid.also if b.folder])
        if tuned:
            from longdep.tuning import check_settings

            for study in tuned:  # a changed stage never resumes an old study
                check_settings(study)
        return _run_grid(name, grid, out, tuned, cells, sweep, run_overrides, launcher, workers, lcfg, stream)


def _run_grid(name, grid, out, tuned, cells, sweep, run_overrides, launcher, workers, lcfg, stream) -> GridResult:
    from longdep.training.run import is_done, run_id

    failed = 0
    log = {"grid": name, "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "launcher": launcher, "workers": workers}
    start = time.perf_counter()

    def interrupted():  # Ctrl-C: the log still says how long this invocation ran, and in which stage
        elapsed = time.perf_counter() - start
        if "cells_s" in log:
            stage = {"sweep_s": elapsed - log["tune_s"] - log["cells_s"]}
        elif "tune_s" in log:
            stage = {"cells_s": elapsed - log["tune_s"]}
        else:  # still tuning: no training cell reached
            stage = {"tune_s": elapsed, "cells": 0, "cells_done_before": 0}
        record_grid_run(out, {**log, **stage, "failed": failed, "interrupted": True})

    with on_interrupt(interrupted):
        if tuned:
            from longdep.tuning import is_done as study_done, results, run_studies

            log.update(tune_cells=len(tuned), tune_done_before=sum(map(study_done, tuned)))
            failed += _run_stage(f"grid {name} (tuning)", tuned, launcher, workers, lcfg, out, stream,
                                 done=study_done, fn=run_studies, group=lambda jobs: [[j] for j in jobs])
            if failed:
                raise SystemExit(f"longdep: {failed} tuning stud(ies) failed; re-run the same command to resume them")
            chosen, rows = results(tuned)
            write_tuning(rows, out)
            print(f"grid {name}: chosen on validation: {chosen}", file=stream, flush=True)
        pre, cells = grid_cells(grid, out, run_overrides, chosen if tuned else {})
        set_aside_rowless(cells, stream)
        log.update(tune_s=time.perf_counter() - start, cells=len(cells), cells_done_before=sum(map(is_done, cells)))
        # the pretraining runs that a cell still to run starts from, first (each keeps its weights: a fresh
        # clone has their records only), then those cells, while the weights they start from are on disk
        todo = {Path(c.train.init_from).stem for c in cells if c.train.init_from and not is_done(c)}
        pre = [p for p in pre if run_id(p) in todo]
        cells = sorted(cells, key=lambda c: not c.train.init_from)  # stable: the grid's order otherwise
        if pre:
            failed += _run_stage(f"grid {name} (pretraining)", pre, launcher, workers, lcfg, out / PRETRAIN, stream,
                                 done=has_weights, fn=run_pretraining)
            if failed:
                raise SystemExit(f"longdep: {failed} pretraining run(s) failed; re-run the same command to resume them")
        failed += _run_stage(f"grid {name}", cells, launcher, workers, lcfg, out, stream)
        log["cells_s"] = time.perf_counter() - start - log["tune_s"]
        if sweep is not None:  # after the training cells, alone on the machine: timings need quiet cores
            from longdep.measure.sweep import run_scale

            print(f"grid {name}: scaling sweep -> {out / 'scaling.csv'}", file=stream, flush=True)
            run_scale(sweep, stream=stream)
        log["sweep_s"] = time.perf_counter() - start - log["tune_s"] - log["cells_s"]
    record_grid_run(out, {**log, "failed": failed, "interrupted": False})
    ran = (log.get("tune_cells", 0) - log.get("tune_done_before", 0)) + log["cells"] - log["cells_done_before"]
    return GridResult(out, failed, cells, ran)


def set_aside_rowless(cells, stream) -> None:
    """A finished cell whose rows its folder's accuracy.csv lacks (the file emptied, truncated or replaced)
    runs again: its record is kept aside as ``<run_id>.json.no-rows``, with one line, so a resume ends
    with every cell's rows."""
    from longdep.training.run import is_done, results_dir, run_id

    rows = {}
    for cfg in cells:
        folder = results_dir(cfg)
        if folder not in rows:
            acc = read_csv(folder / "accuracy.csv")
            rows[folder] = set() if acc is None else set(acc["run_id"])
        if run_id(cfg) not in rows[folder] and is_done(cfg):
            record = folder / "runs" / f"{run_id(cfg)}.json"
            record.rename(record.with_name(record.name + ".no-rows"))
            print(f"longdep: run {run_id(cfg)} has no rows in {folder / 'accuracy.csv'}; its record is kept as "
                  f"{record.name}.no-rows and the cell runs again", file=stream, flush=True)


def has_weights(cfg) -> bool:
    """A pretraining run is done when its record and its weights are there (a fresh clone has the
    committed record only: the run trains again)."""
    from longdep.training.run import is_done, results_dir, run_id
    from longdep.training.weights import weights_path

    return is_done(cfg) and weights_path(results_dir(cfg), run_id(cfg)).exists()


def run_pretraining(cfgs: list, threads: int = 0) -> list[dict]:
    """A worker's pretraining runs: each one whose weights are missing trains again, also where its record
    is there (a fresh clone); the new record replaces the old one."""
    from longdep.launch import run_cells

    return run_cells(cfgs, threads, done=has_weights)


def record_grid_run(out: Path, row: dict) -> None:
    """Append one invocation's timing to ``<out>/grid_log.csv`` (stage wall times in seconds, how many
    cells were already done, the machine): the report quotes the last invocation that ran everything."""
    import pandas as pd

    from longdep.environment import environment
    from longdep.records import append_rows

    env = environment()
    row = {**row, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "cores": env.get("cpu_count"), "cpu": env.get("cpu"),
           "total_s": row.get("tune_s", 0) + row.get("cells_s", 0) + row.get("sweep_s", 0)}
    append_rows(Path(out) / "grid_log.csv", pd.DataFrame([row]), key="finished")


def _run_stage(title, cells, launcher, workers, lcfg, out, stream, done=None, fn=None, group=None) -> int:
    """Run the missing ``cells`` (``done``: whether one is finished; ``fn``: what a worker runs on a list of
    them; ``group``: cells -> jobs, by default the training cells' seed groups); return how many failed."""
    from longdep.training.run import is_done

    todo = [c for c in cells if not (done or is_done)(c)]
    print(f"{title}: {len(cells)} cells, {len(cells) - len(todo)} done, {len(todo)} to run -> {out} "
          f"(launcher {launcher}, workers {workers})", file=stream, flush=True)
    progress = Progress(len(todo), stream)
    if todo:
        if launcher == "local":
            run_local(todo, workers, progress, fn, group)
        else:
            run_submitit(todo, launcher, workers, lcfg, out, progress, fn, group)
    return progress.failed
