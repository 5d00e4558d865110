"""The convergence protocol: when a run ends, which weights it is scored with, and its learning-rate schedule.

A run ends at the first of:

* ``target``: a validation accuracy >= ``train.target_acc``;
* ``plateau``: the mean of the last ``train.smooth`` validation accuracies has not risen by
  ``train.min_delta`` above its best for ``train.patience`` steps (0: never);
* ``cap``: ``train.max_steps``.

The weights evaluated on the test sets are, with ``train.weights=best``, those of the best validation
accuracy (the earliest of equals), kept in memory (and in the resume checkpoint).

Why not Lightning's ``EarlyStopping`` / ``ModelCheckpoint``: a group of seeds trained together
(:mod:`longdep.training.seeds`) stops and keeps weights *per seed* inside one trainer, which a
trainer-wide ``should_stop`` and a file per best checkpoint cannot express; one :class:`Convergence`
per seed serves both paths with one rule.

The schedule is torch's: :class:`~torch.optim.lr_scheduler.LambdaLR` over :func:`lr_factor`
(linear warmup, then constant or cosine to ``min_lr_ratio``), stepped every optimiser step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

END_REASONS = ("target", "plateau", "cap")
SCHEDULES = ("constant", "cosine")
WEIGHTS = ("best", "last")


def lr_factor(step: int, schedule: str, warmup: int, horizon: int, floor: float) -> float:
    """The learning rate at optimiser step ``step`` (0-based) as a fraction of ``train.lr``: linear warmup
    over ``warmup`` steps (from 1/warmup to 1), then 1 (``constant``) or a cosine from 1 down to ``floor``
    at step ``horizon`` (``cosine``; ``floor`` after it)."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    span = max(1, horizon - warmup)
    t = min(1.0, (step - warmup) / span)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


def scheduler(optimizer, train):
    """Lightning's scheduler entry for ``optimizer`` under ``train`` (a :class:`~longdep.config.TrainConfig`)."""
    import torch

    horizon = train.decay_steps or train.max_steps
    sched = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, train.schedule, train.warmup_steps, horizon, train.min_lr_ratio))
    return {"scheduler": sched, "interval": "step", "frequency": 1}


@dataclass
class Convergence:
    """One run's validation history and the stopping rule. :meth:`update` after each validation returns
    whether the weights are the best so far (keep them) and the end reason, if the run ends there."""

    target: float
    patience: int = 0
    smooth: int = 5
    min_delta: float = 0.005
    history: list = field(default_factory=list)  # (step, accuracy)
    best_acc: float = -1.0
    best_step: int | None = None
    best_smoothed: float = -1.0
    best_smoothed_step: int = 0
    end_reason: str | None = None

    def smoothed(self) -> float:
        last = [a for _, a in self.history[-self.smooth:]]
        return sum(last) / len(last)

    def update(self, step: int, acc: float) -> tuple[bool, str | None]:
        self.history.append((step, acc))
        is_best = acc > self.best_acc
        if is_best:
            self.best_acc, self.best_step = acc, step
        if self.smoothed() > self.best_smoothed + self.min_delta:
            self.best_smoothed, self.best_smoothed_step = self.smoothed(), step
        if acc >= self.target:
            self.end_reason = "target"
        elif self.patience and step - self.best_smoothed_step >= self.patience:
            self.end_reason = "plateau"
        return is_best, self.end_reason

    def state(self) -> dict:
        """Plain values for a checkpoint."""
        return {"history": [list(v) for v in self.history], "best_acc": self.best_acc, "best_step": self.best_step,
                "best_smoothed": self.best_smoothed, "best_smoothed_step": self.best_smoothed_step,
                "end_reason": self.end_reason}

    def load(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, [tuple(x) for x in v] if k == "history" else v)


def still_improving(curve, last: int = 5, margin: float = 0.02) -> bool:
    """Whether a validation curve ``[(step, acc), ...]`` was still climbing when it ended: the mean of its
    last ``last`` validations is more than ``margin`` above the mean of the ``last`` at 75% of its steps."""
    if len(curve) < 2 * last:
        return False
    steps = [s for s, _ in curve]
    at = next(i for i, s in enumerate(steps) if s >= 0.75 * steps[-1])
    window = [a for _, a in curve[max(0, at - last + 1):at + 1]]
    tail = [a for _, a in curve[-last:]]
    return sum(tail) / len(tail) - sum(window) / len(window) > margin
