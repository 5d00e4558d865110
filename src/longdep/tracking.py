"""W&B mirror of local results: offline by default, online when the user asks.

``results/`` stays the source of truth; W&B gets a copy for dashboards. Mode resolution:
``wandb.mode=online|offline|disabled`` in the config wins; otherwise the user's ``WANDB_MODE``
environment variable; otherwise ``offline`` is put into the environment (a keyword alone would
still make a network call). Offline runs are written under the results folder
(``results/<name>/wandb/``); upload them later with ``wandb sync results/<name>/wandb/offline-run-*``.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

from longdep.config import RunConfig, UsageError, to_dict

MODES = ("online", "offline", "disabled")
# W&B's own locations outside a run folder (its documented variables): where it stages tables for upload,
# caches artifacts and downloads them. Unless the user set one, each goes under the results folder's
# wandb/ (offline `wandb sync` still finds staged files there), never under the home folder.
PLACES = {"WANDB_DATA_DIR": ".data", "WANDB_CACHE_DIR": ".cache", "WANDB_ARTIFACT_DIR": ".artifacts"}
USER_PLACES = {k: os.environ.get(k) for k in PLACES}


def keep_files_in(folder: Path) -> None:
    """Point W&B's staging, cache and artifact folders (and so its debug logs) inside ``<folder>/wandb/``,
    except those the user chose; called before every run or summary that starts W&B."""
    for key, sub in PLACES.items():
        if USER_PLACES[key] is None:
            place = Path(folder).resolve() / "wandb" / sub
            place.mkdir(parents=True, exist_ok=True)
            os.environ[key] = str(place)


def resolve_mode(mode: str | None) -> str:
    """Put the chosen W&B mode into the environment and return it."""
    if mode is not None:
        if mode not in MODES:
            raise UsageError(f"unknown wandb.mode {mode!r}; valid: {', '.join(MODES)}")
        os.environ["WANDB_MODE"] = mode
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    return os.environ["WANDB_MODE"]


def run_name(cfg: RunConfig) -> str:
    """``<model>[-<attention backend>]-<task tag>-s<seed>``, e.g. ``transformer-sdpa-d32-s0``."""
    from longdep.models import get_model
    from longdep.tasks import get_task

    m = cfg.model
    extra = f"-{m.backend}" if get_model(m.name).family == "attention" else ""
    return f"{m.name}{extra}-{get_task(cfg.task.name).run_tag(cfg.task)}-s{cfg.train.seed}"


def make_logger(cfg: RunConfig, run_id: str, save_dir: Path):
    """A Lightning ``WandbLogger`` for this run, or None when W&B is off."""
    if not cfg.wandb.enabled or resolve_mode(cfg.wandb.mode) == "disabled":
        return None
    import secrets

    from longdep.models import get_model
    from longdep.tasks import get_task

    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    remove_unfinished(save_dir, run_id)
    keep_files_in(save_dir)
    config = to_dict(cfg)
    spec = get_model(cfg.model.name)
    config["model"]["backend"] = spec.backend_label(cfg.model.backend)  # "recurrent" for an LSTM, as in the CSVs
    config["run_id"] = run_id  # the config hash: the same cell in every folder and attempt
    task = get_task(cfg.task.name).run_columns(cfg.task)
    tags = [cfg.model.name, spec.family, *(f"{k}={v}" for k, v in task.items())]
    # A fresh W&B id per attempt: a cell retried after a kill, or the same grid in two folders, must not
    # be merged into one run by `wandb sync` (W&B would resume a run with a known id).
    logger = _logger_class()(project=cfg.wandb.project, entity=cfg.wandb.entity, group=cfg.wandb.group or cfg.name,
                         name=run_name(cfg), id=f"{run_id}-{secrets.token_hex(3)}", save_dir=str(save_dir),
                         config=config, job_type="train", tags=tags, settings=_settings())
    # Lightning passes anonymous=None, which wandb >= 0.19 answers with a deprecation warning on every run.
    getattr(logger, "_wandb_init", {}).pop("anonymous", None)
    return logger


def csv_logger(save_dir: Path, run_id: str):
    """Lightning's CSV logger for a run without W&B: ``<save_dir>/logs/<run_id>/metrics.csv`` (training
    loss every 10 steps, validation accuracy at each validation), so learning curves are never lost."""
    from lightning.pytorch.loggers import CSVLogger

    return CSVLogger(save_dir=str(Path(save_dir) / "logs"), name=run_id, version="")


def _logger_class():
    from lightning.pytorch.loggers import WandbLogger

    class Logger(WandbLogger):
        """Lightning's W&B logger without the ``epoch`` series (always 0 here: training is one stream)."""

        def log_metrics(self, metrics, step=None):
            super().log_metrics({k: v for k, v in metrics.items() if k != "epoch"}, step)

    return Logger


def remove_unfinished(save_dir: Path, run_id: str) -> list[Path]:
    """Remove the local W&B runs of earlier attempts at ``run_id`` (``wandb/offline-run-<time>-<id>``):
    a run is started only when it is not done, so such a folder is a killed or interrupted attempt,
    which ``wandb sync`` would otherwise upload beside the complete one. Returns what was removed."""
    import shutil

    folder = Path(save_dir) / "wandb"
    found = [*folder.glob(f"*run-*-{run_id}"), *folder.glob(f"*run-*-{run_id}-" + "[0-9a-f]" * 6)]
    gone = [d for d in found if d.is_dir() and not d.is_symlink()]
    for d in gone:
        shutil.rmtree(d, ignore_errors=True)
    return gone


def _settings():
    """Quiet, but with system metrics and console capture (the Logs tab) as W&B has them by default;
    the test suite turns both off through WANDB_CONSOLE and WANDB_X_DISABLE_STATS."""
    import wandb

    return wandb.Settings(silent=True)


def log_run_summary(logger, record: dict, rows) -> None:
    """Steps-to-criterion, test accuracy and the accuracy table into the run; then finish it."""
    import wandb

    run = logger.experiment
    budget = record["config"]["train"]["max_steps"]
    summary = {
        "steps": record["steps"], "test/acc": record["test_accuracy"], "wall_time_s": record["wall_time_s"],
        "accelerator": record["accelerator"], "device_name": record["device_name"],
    }
    for c in ("steps_to_95", "steps_to_99"):  # never reached: the budget, flagged (a bar chart keeps the run)
        summary[c] = record[c] if record[c] is not None else budget
        summary[f"{c}_censored"] = record[c] is None
    for test_set, column in (("distance", "distance"), ("attractors", "attractors")):
        part = rows[rows["test_set"] == test_set] if "test_set" in rows else rows
        if column in part and len(part):
            for value, r in part.groupby(column)[["correct", "n"]].sum().iterrows():
                summary[f"test/acc_{column}_{int(value)}"] = float(r.correct / r.n)
    for key, value in summary.items():
        run.summary[key] = value
    run_dir = Path(run.dir).parent  # wandb/offline-run-<time>-<id>
    try:
        run.log({"test/accuracy_table": wandb.Table(dataframe=rows.astype({"run_id": str}))})
        run.finish()
    except OSError as exc:  # W&B's own temporary file (a table's JSON) on a full disk: name the W&B folder
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        import shutil

        run.finish(exit_code=1)
        shutil.rmtree(run_dir, ignore_errors=True)  # truncated: ``wandb sync`` would upload it
        raise OSError(exc.errno, os.strerror(exc.errno), str(run_dir.parent)) from None
    check_written(run_dir)


def write_error(run_dir: Path) -> str | None:
    """What W&B's writer process reported failing to write in ``run_dir``, or None. The writer runs in
    its own process (wandb-core): a full disk shows up only in its log, never as a Python error."""
    log = Path(run_dir) / "logs" / "debug-internal.log"
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if "no space left on device" in line.lower():
            return line
    return None


def check_written(run_dir: Path) -> None:
    """Raise ENOSPC (after removing the truncated local run, which ``wandb sync`` would upload) when W&B
    could not write this run for lack of space."""
    import shutil

    if write_error(run_dir) is not None:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(Path(run_dir).parent))


def finish(failed: bool = False) -> None:
    """Close this process's W&B run (marked failed), if one was started."""
    import wandb

    if wandb.run is not None:
        wandb.run.finish(exit_code=1 if failed else 0)


def log_grid_summary(cfg_wandb, grid: str, folder: Path, images: list) -> None:
    """One extra run per grid invocation (job_type "summary") with the result tables and figures."""
    if not cfg_wandb.enabled or resolve_mode(cfg_wandb.mode) == "disabled":
        return
    import wandb

    from longdep.records import read_csv

    folder = Path(folder)
    tables = sorted({p.name.removesuffix(".gz") for p in (*folder.glob("*.csv"), *folder.glob("*.csv.gz"))})
    payload = {f"table/{Path(n).stem}": wandb.Table(dataframe=df) for n in tables
               if (df := read_csv(folder / n)) is not None}
    payload.update({f"figure/{Path(p).stem}": wandb.Image(str(p)) for p in images if str(p).endswith(".png")})
    if not payload:
        return
    from longdep.config import config_hash

    # One summary run per grid and folder: the same id each time, so W&B updates it (resume="allow").
    keep_files_in(folder)
    run = wandb.init(project=cfg_wandb.project, entity=cfg_wandb.entity, group=cfg_wandb.group or grid,
                     name=f"{grid}-summary", id=f"{grid}-summary-{config_hash(str(folder.resolve()))[:8]}",
                     resume="allow", job_type="summary", dir=str(folder), settings=_settings())
    run.log(payload)
    run_dir = Path(run.dir).parent
    run.finish()
    check_written(run_dir)
