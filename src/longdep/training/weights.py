"""A run's weights: kept with its record (``train.save_weights``), read back for analysis
(:func:`load_trained`) and as the start of another run (``train.init_from``, self-pretraining)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from longdep.config import one_line


def weights_path(out: Path, rid: str) -> Path:
    return Path(out) / "runs" / f"{rid}.pt"


def save_weights(model, path: Path) -> None:
    """The model's state dict (tensors only, read back with ``torch.load(weights_only=True)``), atomically."""
    import io

    from longdep.records import write_atomic

    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buf)
    write_atomic(path, buf.getvalue())


@dataclass
class Source:
    """The run a run starts from (``train.init_from``): its weights and what its record says of it."""

    weights: dict
    summary: dict  # run_id, steps, examples (steps x batch size), objective: kept in the new run's record


def init_source(cfg: RunConfig) -> Source | None:
    """``train.init_from``'s weights and summary, read and checked before any work (None without one):
    a one-line UsageError when the record is missing or unreadable or kept no weights."""
    from longdep.config import UsageError
    from longdep.records import read_json

    if not cfg.train.init_from:
        return None
    path = Path(cfg.train.init_from)
    try:
        rec = read_json(path)
        rid, steps, batch = rec["run_id"], int(rec["steps"]), int(rec["config"]["train"]["batch_size"])
        objective = rec["config"]["task"].get("objective", "classify")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        what = f"it lacks {exc}" if isinstance(exc, KeyError) else one_line(exc)
        raise UsageError(f"train.init_from={path}: not a run record (results/<name>/runs/<run_id>.json): {what}") from None
    weights = weights_path(path.parent.parent, rid)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UsageError(f"train.init_from={path}: run {rid} kept no weights ({weights} is missing); "
                         "train it with train.save_weights=true") from None
    except Exception as exc:  # noqa: BLE001 -- truncated, corrupted or not ours
        raise UsageError(f"train.init_from={path}: {weights} is not a state dict: {one_line(exc)}") from None
    if not isinstance(state, dict):
        raise UsageError(f"train.init_from={path}: {weights} is not a state dict")
    return Source(state, {"run_id": rid, "steps": steps, "examples": steps * batch, "objective": objective})


# What a run started from another may leave as initialised: the output head (a language model's covers
# the vocabulary, a classifier's the labels).
OWN_HEAD = "head."


def load_source(model, source: Source) -> None:
    """Copy every tensor of ``source`` whose name and shape the model shares; every other tensor of the
    model must belong to its output head (else the weights are another architecture's: UsageError)."""
    from longdep.config import UsageError

    own = model.state_dict()
    fits = {k: v for k, v in source.weights.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    missing = [k for k in own if k not in fits and not k.startswith(OWN_HEAD)]
    if missing:
        k = missing[0]
        got = tuple(source.weights[k].shape) if k in source.weights else "no such tensor"
        raise UsageError(f"train.init_from: run {source.summary['run_id']}'s weights do not fit this model: "
                         f"{k} {tuple(own[k].shape)} vs {got}; valid: a run of the same model and width")
    model.load_state_dict(fits, strict=False)


def load_trained(record_path: Path):
    """The trained module of a run record written with ``train.save_weights=true`` (eval mode, CPU)."""
    from longdep.config import UsageError
    from longdep.records import read_json
    from longdep.training.config import load_config
    from longdep.training.lit import ClassifierModule

    record_path = Path(record_path)
    try:
        rec = read_json(record_path)
        rid, config = rec["run_id"], rec["config"]
        if not isinstance(rid, str) or not isinstance(config, dict):
            raise TypeError("run_id must be text and config a mapping")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        what = f"it lacks {exc}" if isinstance(exc, KeyError) else one_line(exc)
        raise UsageError(f"--run {record_path} is not a run record (results/<name>/runs/<run_id>.json): {what}") from None
    weights = weights_path(record_path.parent.parent, rid)
    if not weights.exists():
        raise UsageError(f"run {rid} kept no weights ({weights} is missing); retrain it with train.save_weights=true")
    def flat(d, prefix=""):
        for k, v in d.items():
            yield from flat(v, f"{prefix}{k}.") if isinstance(v, dict) and k != "slurm_additional" else [(prefix + k, v)]

    out = record_path.parent.parent  # <results_dir>/<name>/runs/<run_id>.json
    cfg = load_config("train", values={**dict(flat(config)), "results_dir": str(out.parent), "name": out.name})
    module = ClassifierModule(cfg)
    try:
        module.model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError, EOFError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"{weights} is not the weights of run {rid} (a {cfg.model.name} state dict): {one_line(exc)}; "
                         "retrain the run with train.save_weights=true") from None
    return cfg, module.eval()
