"""One training run, end to end: train, evaluate on the fixed test set, write tidy rows.

    longdep train model.name=lstm task.distance=64 train.max_steps=1500

writes (appending, atomically, idempotently per run id):
- ``results/<name>/accuracy.csv``: one row per (run, test set, slice) with ``run_id, model, seed``,
  the task's run columns (``train_min_distance, train_max_distance``), the model options,
  ``test_set`` and its slice columns (``distance, frame`` or ``distance, attractors``) and
  ``n, correct, accuracy``;
- ``results/<name>/counterfactual.csv``: the counterfactual probes (see :mod:`longdep.training.evaluate`);
- ``results/<name>/baselines.csv``: the task's heuristic baselines on the same test sets;
- ``results/<name>/runs/<run_id>.json``: config, config hash, commit, library versions,
  hardware, wall time, steps-to-criterion and the validation curve.

The test set is fixed (the task's ``test_sets``): the same seeded examples for every model and
training seed, at every distance in ``eval.distances`` (so it includes distances beyond the
training distance). Nothing here is specific to a task or a model: both come from their registries.
"""
from __future__ import annotations

import errno
import logging
import time
import warnings
from pathlib import Path

import torch

from longdep import tracking
from longdep.config import RunConfig, config_hash, results_folder, to_dict
from longdep.environment import environment
from longdep.records import append_rows, write_json
from longdep.tasks import get_task
from longdep.training.convergence import still_improving
from longdep.training.evaluate import evaluate, write_baselines
from longdep.training.weights import init_source, load_source, save_weights, weights_path


# Keys added to the schema after runs were published, per section, at the values that reproduce the results
# from before them: a config holding such a value leaves the key out of its hash and keeps its old run id.
# (A new key that changes what a run computes goes here with its neutral value.)
ADDED_KEYS = {"train": {"schedule": "constant", "warmup_steps": 0, "min_lr_ratio": 0.1, "decay_steps": 0,  # the
                        "patience": 0, "smooth": 5, "min_delta": 0.005, "weights": "last",  # convergence protocol
                        "init_from": None}}  # self-pretraining


def run_id(cfg: RunConfig) -> str:
    """Hash of what determines the result (not the output place, progress bar or W&B settings)."""
    d = to_dict(cfg)
    for k in ("name", "results_dir", "wandb"):
        d.pop(k)
    for k in ("progress", "threads", "accelerator", "save_weights", "checkpoint_every",
              "seeds_together", "seeds_forward"):  # where and how it runs, not what it computes
        d["train"].pop(k)
    for section, keys in ADDED_KEYS.items():
        for k, before in keys.items():
            if d[section].get(k, before) == before:
                d[section].pop(k, None)
    if d["train"].get("init_from"):  # the source run, wherever its folder now lives
        d["train"]["init_from"] = Path(d["train"]["init_from"]).stem
    if str(d["train"]["devices"]) == "1":  # one device: the result of any device; N: N ranks, N x the batch
        d["train"].pop("devices")
    if d["train"]["precision"] == "32":  # fp32 runs keep the ids they had before the setting existed
        d["train"].pop("precision")
    if d["task"].get("objective") == "classify":  # and so do classifier runs
        d["task"].pop("objective")
    d["eval"].pop("analyses")  # extra outputs, not a different result
    tag = get_task(cfg.task.name).run_tag(cfg.task)
    return f"{cfg.model.name}-{tag}-s{cfg.train.seed}-{config_hash(d)}"


def results_dir(cfg: RunConfig) -> Path:
    return results_folder(cfg.results_dir, cfg.name)


def quiet_lightning() -> None:
    """Silence Lightning's start-up chatter and known-harmless warnings."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
                 "lightning.fabric.utilities.seed"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*number of training batches.*")
    warnings.filterwarnings("ignore", message=".*IterableDataset.*__len__.*")
    from lightning.pytorch.utilities.warnings import PossibleUserWarning

    warnings.filterwarnings("ignore", category=PossibleUserWarning)


def _progress_bar():
    """Lightning's bar without the meaningless parts here (training is one stream of steps, not
    epochs; no logger version): ``train`` step / max steps, loss, last validation accuracy."""
    from lightning.pytorch.callbacks import TQDMProgressBar

    class Bar(TQDMProgressBar):
        def on_train_epoch_start(self, trainer, *args):
            super().on_train_epoch_start(trainer, *args)
            self.train_progress_bar.reset(total=trainer.max_steps)
            self.train_progress_bar.initial = 0
            self.train_progress_bar.set_description("train")

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            bar = self.train_progress_bar
            bar.n = trainer.global_step
            bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
            bar.refresh()

        def get_metrics(self, trainer, pl_module):
            metrics = super().get_metrics(trainer, pl_module)
            metrics.pop("v_num", None)
            return metrics

    return Bar()


def checkpoint_path(out: Path, rid: str) -> Path:
    return Path(out) / "checkpoints" / f"{rid}.ckpt"


def checkpointer(path: Path, every: int):
    """A callback that saves the run's full training state (weights, optimiser, loops, validation
    history) to ``path`` at the first validation ``every`` steps after the last save, atomically (a
    kill mid-write leaves the previous checkpoint)."""
    import lightning as L

    class Checkpointer(L.Callback):
        last = 0

        def on_validation_end(self, trainer, module):
            step = trainer.global_step
            if trainer.sanity_checking or trainer.should_stop or step - self.last < every:
                return
            tmp = path.with_name(f".{path.name}.tmp")
            path.parent.mkdir(parents=True, exist_ok=True)
            trainer.save_checkpoint(tmp, weights_only=False)  # the whole training state (and no log line)
            if trainer.global_rank == 0:
                tmp.replace(path)
            self.last = step

    return Checkpointer()


def resume_from(path: Path, stream=None) -> Path | None:
    """``path`` when it holds a checkpoint that loads safely (tensors and plain values only), else None
    (a broken one is removed with a one-line note: the run starts from step 0)."""
    import sys

    if not path.exists():
        return None
    try:
        torch.load(path, map_location="cpu", weights_only=True)
        return path
    except Exception as exc:  # truncated, corrupted or not ours: never unpickle arbitrary objects
        from longdep.config import one_line

        print(f"longdep: ignoring checkpoint {path} ({one_line(exc)}); training from step 0", file=stream or sys.stderr)
        path.unlink(missing_ok=True)
        return None


def make_trainer(cfg: RunConfig, logger=False, extra_callbacks=()):
    import lightning as L

    t = cfg.train
    return L.Trainer(
        callbacks=([_progress_bar()] if t.progress else []) + list(extra_callbacks),
        accelerator=t.accelerator, devices=t.devices if t.devices == "auto" else int(t.devices),
        max_steps=t.max_steps, val_check_interval=t.val_every, check_val_every_n_epoch=None,
        num_sanity_val_steps=0, gradient_clip_val=t.grad_clip, logger=logger, precision=t.precision,
        enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=t.progress,
        log_every_n_steps=10, default_root_dir=str(results_dir(cfg) / "tmp"),
    )


def prepare_run(cfg: RunConfig):
    """The process settings a run trains under, then its seed, data (set up) and module, in that order
    (the order fixes the initialisation): ``(data, module, {"data": seconds})``."""
    import lightning as L

    from longdep.training.lit import ClassifierModule, TaskData

    quiet_lightning()
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    torch.set_flush_denormal(True)  # Adam's tiny second moments otherwise hit slow denormal arithmetic
    start = time.perf_counter()
    L.seed_everything(cfg.train.seed, verbose=False)
    data = TaskData(cfg.task, cfg.train.seed, cfg.train.batch_size, cfg.train.max_steps, cfg.train.val_size,
                    cfg.train.start_steps)
    data.setup()  # here rather than inside fit, so that its time is its own
    return data, ClassifierModule(cfg), {"data": time.perf_counter() - start}


def remove_checkpoint(ckpt: Path) -> None:
    """A finished run's (or group's) checkpoint, and the folder once it is empty."""
    ckpt.unlink(missing_ok=True)
    try:
        ckpt.parent.rmdir()  # the last run of the folder to finish leaves no empty checkpoints/
    except OSError:
        pass


WRITES = ("runs", "checkpoints", "logs", "wandb")  # the folders a run writes under its results folder


def check_places(cfg: RunConfig, out: Path) -> None:
    """Before any work: the device asked for is on this machine, and every folder the run writes (its
    results folder, runs/, checkpoints/, logs/, wandb/) is or can be made a writable directory, so a run
    never leaves rows of a run its folder has no record of."""
    from longdep.config import UsageError, check_writable

    accel = cfg.train.accelerator
    if accel in ("gpu", "cuda", "mps"):
        import torch

        have = torch.cuda.is_available() if accel != "mps" else torch.backends.mps.is_available()
        if not have:
            here = ["auto", "cpu"] + (["gpu", "cuda"] if torch.cuda.is_available() else [])
            raise UsageError(f"train.accelerator={accel}, but this machine has no "
                             f"{'MPS' if accel == 'mps' else 'CUDA GPU'}; valid here: {', '.join(here)}")
    check_writable(out)
    for sub in WRITES:
        check_writable(Path(out) / sub, f"results folder's {sub}/")


def train_one(cfg: RunConfig, logger=None, callbacks=()) -> dict:
    """Train and evaluate one run; write its rows and run record; return the record.

    ``logger``: a Lightning logger; by default a W&B logger when ``wandb.enabled`` (offline unless
    the user chose a mode), else none. ``callbacks``: more Lightning callbacks (a tuning trial's pruner).
    """
    rid = run_id(cfg)
    out = results_dir(cfg)
    check_places(cfg, out)
    source = init_source(cfg)
    start = time.perf_counter()
    data, module, clock = prepare_run(cfg)
    if source is not None:
        load_source(module.model, source)
    if logger is None:
        logger = tracking.make_logger(cfg, rid, out)
    ckpt = checkpoint_path(out, rid)
    saver = [checkpointer(ckpt, cfg.train.checkpoint_every)] if cfg.train.checkpoint_every else []
    saver += list(callbacks)
    trainer = make_trainer(cfg, logger=logger if logger is not None else tracking.csv_logger(out, rid), extra_callbacks=saver)
    resume = resume_from(ckpt) if cfg.train.checkpoint_every else None
    try:
        mark = time.perf_counter()
        if logger is not None:
            logger.experiment  # W&B starts here, not inside the first training step
        clock["wandb_start"] = time.perf_counter() - mark
        mark = time.perf_counter()
        trainer.fit(module, datamodule=data, ckpt_path=resume, weights_only=True)
        train_time = time.perf_counter() - start
        clock["validation"] = module.val_time
        clock["training_steps"] = time.perf_counter() - mark - module.val_time
        if trainer.global_rank != 0:  # under DDP only rank 0 evaluates and writes results
            return {"run_id": rid, "rank": trainer.global_rank}
        extra = {"init_from": source.summary} if source is not None else None
        return finish_run(cfg, rid, module, int(trainer.global_step), start, train_time, clock, logger, extra)
    except BaseException as exc:
        if logger is not None:  # never leave a W&B run open for the next cell of this process
            tracking.finish(failed=True)
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:  # a disk-full run: no half W&B copy
                tracking.remove_unfinished(out, rid)
        raise


def finish_run(cfg: RunConfig, rid: str, module, steps: int, start: float, train_time: float, clock: dict, logger,
               extra: dict | None = None) -> dict:
    """Evaluate a trained module (a :class:`~longdep.training.lit.ClassifierModule` with its validation
    history), write its rows, baselines and run record (last: it marks the run done); return the record.
    ``extra``: more fields for the record (a run trained with other seeds says so)."""
    out = results_dir(cfg)
    module.use_evaluated_weights()  # train.weights=best: the best validation's weights, not the last step's
    if module.train_device is not None:
        module.to(module.train_device)  # evaluate where it trained (fit leaves the module on the CPU)
    rows, probes, test_accuracy, analyses = evaluate(module, cfg, rid, clock)
    conv = module.convergence
    record = {
        "run_id": rid,
        "config": to_dict(cfg),
        "config_hash": rid.rsplit("-", 1)[1],
        "steps": steps,
        "end_reason": module.end_reason,  # target, plateau or cap (longdep.training.convergence)
        "stopped_early": module.end_reason == "target",
        "steps_to_95": module.steps_to[0.95],
        "steps_to_99": module.steps_to[0.99],
        "final_val_acc": module.val_history[-1][1] if module.val_history else None,
        "best_val_acc": conv.best_acc if conv.best_step is not None else None,
        "best_step": conv.best_step,  # the evaluated weights' step with train.weights=best
        "evaluated_weights": cfg.train.weights,
        "still_improving": still_improving(module.val_history),
        "val_curve": module.val_history,
        "test_accuracy": test_accuracy,
        "train_time_s": round(train_time, 3),
        "wall_time_s": round(time.perf_counter() - start, 3),
        "parameters": sum(p.numel() for p in module.parameters()),
        "accelerator": module.train_device,  # e.g. cpu or cuda:0, read while training ran
        "device_name": module.train_device_name,
        "environment": environment(),
        "timings_s": clock,  # where this run's wall time went (``longdep bench cell`` prints the shares)
        "resumed_from_step": module.resumed_from,  # None: trained from step 0 in one go
        **(extra or {}),
    }
    mark = time.perf_counter()
    if logger is not None:
        tracking.log_run_summary(logger, record, rows)
    clock["wandb_summary"] = time.perf_counter() - mark
    mark = time.perf_counter()
    append_rows(out / "accuracy.csv", rows)
    if len(probes):
        append_rows(out / "counterfactual.csv", probes)
    for name, df in analyses.items():
        append_rows(out / name, df)
    clock["writing"] = time.perf_counter() - mark
    mark = time.perf_counter()
    write_baselines(cfg, out / "baselines.csv")  # once per results folder and test-set config
    clock["baselines"] = time.perf_counter() - mark
    mark = time.perf_counter()
    if cfg.train.save_weights:
        save_weights(module.model, weights_path(out, rid))
    clock["writing"] += time.perf_counter() - mark
    for k, v in clock.items():
        clock[k] = round(v, 3)
    write_json(out / "runs" / f"{rid}.json", record)  # written last: its presence marks the run done
    remove_checkpoint(checkpoint_path(out, rid))
    return record


def is_done(cfg: RunConfig) -> bool:
    """Whether the cell's run record exists and reads as its record. One that does not (truncated,
    malformed, another run's, a folder) is kept aside as ``<run_id>.json.unreadable`` with one line on
    stderr, and the cell counts as not done, so a resume trains it again and loses nothing else."""
    import json
    import sys

    rid = run_id(cfg)
    path = results_dir(cfg) / "runs" / f"{rid}.json"
    if not path.exists() and not path.is_symlink():
        return False
    try:
        if json.loads(path.read_text())["run_id"] == rid:
            return True
        problem = "it is another run's record"
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        problem = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
    aside = path.with_name(path.name + ".unreadable")
    path.rename(aside)
    print(f"longdep: run record {path} is unreadable ({problem}); kept as {aside.name}, the cell runs again",
          file=sys.stderr)
    return False

