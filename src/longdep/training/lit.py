"""Lightning wrappers, task-agnostic: a data module over any registered task and a classifier
module around any registered model.

The model sees each sentence up to its query position (``meta["query_index"]``; for agreement the
last token before the main verb) and is read out there: a classification over the task's labels
from per-position logits, so the same model could serve language modelling unchanged.

Training data is a fixed, seeded stream (``max_steps * batch_size`` examples, cycled if needed),
led by ``start_steps`` batches of the task's starting-small stage when it has one;
validation is a seeded held-out set from a disjoint seed range. Validation runs every
``train.val_every`` steps, records the first step at >= 95% and >= 99% accuracy
(steps-to-criterion) and ends training by the convergence protocol
(:mod:`longdep.training.convergence`: target, plateau or cap), keeping the best validation's weights.
"""
from __future__ import annotations

import inspect
import time

import numpy as np
import torch
import torch.nn.functional as F
import lightning as L
from torch.utils.data import DataLoader, IterableDataset

from longdep.config import RunConfig, TaskConfig
from longdep.models import build_model
from longdep.tasks import get_task, split_seed
from longdep.training.convergence import Convergence, scheduler
from longdep.training.resources import MAX_TRAIN_EXAMPLES

CRITERIA = (0.95, 0.99)


def prefix_batch(tokens: np.ndarray, labels: np.ndarray, query_index: np.ndarray):
    """Crop sentences to what the model may see: (tokens (B, N), query (B,), labels (B,)), where
    N = max(query) + 1 and every position after an example's query is padding (0)."""
    n = int(query_index.max()) + 1
    x = tokens[:, :n].copy()
    x[np.arange(n)[None, :] > query_index[:, None]] = 0
    return (torch.from_numpy(x).long(), torch.from_numpy(query_index).long(), torch.from_numpy(labels).long())


def sentence_batch(tokens: np.ndarray, labels: np.ndarray, query_index: np.ndarray):
    """Whole sentences for a language model: (tokens (B, N), query (B,), labels (B,)), N = the longest
    sentence in the batch (right padding 0 is never a target)."""
    n = max(int((tokens != 0).sum(1).max()), 1)
    return (torch.from_numpy(tokens[:, :n].copy()).long(), torch.from_numpy(query_index).long(),
            torch.from_numpy(labels).long())


def lm_loss(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy: position t predicts token t + 1, over every real token after the first
    (padding targets are ignored, so each real next token counts once, whatever the padding)."""
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1), ignore_index=0)


class _Batches(IterableDataset):
    """Yields pre-made batches from arrays, cycling; each epoch reshuffles with a seeded RNG.
    ``start``: arrays of a first stage, yielded once (shuffled) before the cycle begins.
    ``make``: (tokens, labels, query_index) -> batch (the classifier's prefixes, or whole sentences)."""

    def __init__(self, tokens, labels, query_index, batch_size: int, seed: int, start=None, make=None, skip: int = 0):
        self.tokens, self.labels, self.query_index = tokens, labels, query_index
        self.batch_size, self.seed, self.start = batch_size, seed, start
        self.make = make or prefix_batch
        self.skip = skip  # batches already trained on (a resumed run): drawn, not built, so the stream continues

    def _indices(self):
        rng = np.random.default_rng(self.seed)
        if self.start is not None:
            order = rng.permutation(len(self.start[1]))
            for i in range(0, len(order) - self.batch_size + 1, self.batch_size):
                yield self.start, order[i:i + self.batch_size]
        arrays, n = (self.tokens, self.labels, self.query_index), len(self.labels)
        while True:
            order = rng.permutation(n)
            for start in range(0, n - self.batch_size + 1, self.batch_size):
                yield arrays, order[start:start + self.batch_size]

    def __iter__(self):
        for k, ((tok, lab, qi), idx) in enumerate(self._indices()):
            if k >= self.skip:
                yield self.make(tok[idx], lab[idx], qi[idx])


class TaskData(L.LightningDataModule):
    """Seeded train / val streams for one task config (test sets are built by the evaluator)."""

    def __init__(self, task: TaskConfig, seed: int, batch_size: int, steps: int, val_size: int,
                 start_steps: int = 0):
        super().__init__()
        self.task, self.seed, self.batch_size = task, seed, batch_size
        spec = get_task(task.name)
        self.generate, self.stage = spec.generate, spec.start_small(task)
        self.label_tokens = spec.label_tokens if task.objective == "lm" else None
        self.n_start = start_steps * batch_size if self.stage is not None else 0
        self.n_train = min(MAX_TRAIN_EXAMPLES, max((steps - start_steps) * batch_size, 4 * batch_size))
        self.val_size = val_size

    def setup(self, stage=None):
        if hasattr(self, "train_arrays"):
            return
        tok, lab, meta = self.generate(split_seed("train", self.seed), self.n_train, self.task)
        self.train_arrays = (tok, lab, meta["query_index"])
        self.start_arrays = None
        if self.n_start:
            tok, lab, meta = self.generate(split_seed("start", self.seed), self.n_start, self.stage)
            self.start_arrays = (tok, lab, meta["query_index"])
        tok, lab, meta = self.generate(split_seed("val", self.seed), self.val_size, self.task)
        self.val_arrays = (tok, lab, meta["query_index"])
        self.val_label_ids = self.label_tokens(tok, meta) if self.label_tokens else None

    def train_batches(self, rank: int = 0, skip: int = 0) -> _Batches:
        """The training stream of DDP rank ``rank`` (each its own order), less its first ``skip`` batches."""
        make = sentence_batch if self.label_tokens else prefix_batch
        return _Batches(*self.train_arrays, self.batch_size, self.seed + 1000 * rank, self.start_arrays, make, skip=skip)

    def train_dataloader(self):
        rank = self.trainer.global_rank if self.trainer is not None else 0
        done = self.trainer.global_step if self.trainer is not None else 0  # > 0: resumed from a checkpoint
        return DataLoader(self.train_batches(rank, done), batch_size=None)

    def val_dataloader(self):
        tok, lab, vi = self.val_arrays
        bs = 256
        batches = [prefix_batch(tok[i:i + bs], lab[i:i + bs], vi[i:i + bs]) for i in range(0, len(lab), bs)]
        if self.val_label_ids is not None:  # a language model: scored on the minimal pair at the query
            batches = [(*b, torch.from_numpy(self.val_label_ids[i:i + bs])) for b, i in zip(batches, range(0, len(lab), bs))]
        return DataLoader(batches, batch_size=None)


class ClassifierModule(L.LightningModule):
    """A ladder model trained as a classifier over the task's labels at the query position."""

    def __init__(self, cfg: RunConfig):
        super().__init__()
        self.cfg = cfg
        spec = get_task(cfg.task.name)
        self.lm = cfg.task.objective == "lm"  # a language model over the vocabulary, else a classifier over labels
        self.model = build_model(cfg.model, vocab_size=len(spec.vocab), n_out=len(spec.vocab) if self.lm else len(spec.labels))
        self._reads_at = "at" in inspect.signature(self.model.forward).parameters  # plug-in models may not
        self.steps_to = {c: None for c in CRITERIA}
        t = cfg.train
        self.convergence = Convergence(t.target_acc, t.patience, t.smooth, t.min_delta)
        self.best_state: dict | None = None  # the best validation's weights (train.weights=best), on the CPU
        self._correct = self._seen = 0
        self.val_time = 0.0  # seconds spent validating (the run record's timings)
        self.train_device: str | None = None  # where training ran, set once it starts (Lightning moves
        self.train_device_name: str | None = None  # the module back to the CPU after fit)

    resumed_from: int | None = None  # the step a resumed run's checkpoint held

    @property
    def val_history(self) -> list[tuple[int, float]]:
        return self.convergence.history

    def progress_state(self) -> dict:
        """What a checkpoint keeps besides the training state: validations, criteria, the best weights."""
        return {"convergence": self.convergence.state(), "steps_to": [[c, s] for c, s in self.steps_to.items()],
                "best_state": self.best_state}

    def load_progress(self, state: dict, step: int) -> None:
        self.convergence.load(state["convergence"])
        self.steps_to = {c: s for c, s in state["steps_to"]}
        self.best_state = state["best_state"]
        self.resumed_from = step

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["longdep"] = {**self.progress_state(), "val_time": self.val_time}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["longdep"]
        self.load_progress(state, int(checkpoint["global_step"]))
        self.val_time = state["val_time"]

    def keep_best(self, params=None) -> None:
        """Remember the current weights as the best (``params``: name -> tensor, when they live elsewhere,
        as a stacked seed group's do) when ``train.weights=best``."""
        if self.cfg.train.weights == "best":
            source = params if params is not None else dict(self.model.named_parameters())
            state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
            state.update({k: v.detach().cpu().clone() for k, v in source.items()})
            self.best_state = state

    def use_evaluated_weights(self) -> None:
        """Before the test sets: load the best validation's weights (``train.weights=best``), else keep the last."""
        if self.cfg.train.weights == "best" and self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    def on_train_start(self):
        from longdep.environment import device_name

        self.train_device, self.train_device_name = str(self.device), device_name(self.device)

    def forward(self, tokens: torch.Tensor, query: torch.Tensor, label_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Label scores (B, n_labels) at the query: the classifier's logits, or for a language model the
        logits of the tokens that express each label (``label_ids`` (B, n_labels), e.g. "was"/"were"):
        the larger one is the form the model prefers, its minimal-pair choice."""
        if self._reads_at:  # the model computes the query positions only (attention: the last block's rows)
            out = self.model(tokens, at=query)  # (B, n_out)
        else:
            out = self.model(tokens)[torch.arange(len(query), device=tokens.device), query]  # (B, n_out)
        if self.lm:
            if label_ids is None:
                raise ValueError("a language model is scored on label_ids (the task's label_tokens)")
            return out.gather(1, label_ids.to(out.device))  # (B, n_labels)
        return out

    def training_step(self, batch, _):
        tokens, query, labels = batch
        loss = lm_loss(self.model(tokens), tokens) if self.lm else F.cross_entropy(self(tokens, query), labels)
        if self.global_step % 10 == 0:
            self.log("train/loss", loss.detach(), on_step=True, on_epoch=False, prog_bar=True)
        return loss

    def on_validation_epoch_start(self):
        self._correct = self._seen = 0
        self._val_start = time.perf_counter()

    def validation_step(self, batch, _):
        tokens, query, labels, *label_ids = batch
        self._correct += (self(tokens, query, *label_ids).argmax(-1) == labels).sum().item()
        self._seen += len(labels)

    def on_validation_epoch_end(self):
        self.val_time += time.perf_counter() - getattr(self, "_val_start", time.perf_counter())
        if self.trainer.sanity_checking:
            return
        # Sum over processes under DDP (a no-op on one device), so every rank sees the same accuracy.
        counts = torch.tensor([self._correct, self._seen], dtype=torch.float64, device=self.device)
        correct, seen = self.trainer.strategy.reduce(counts, reduce_op="sum").tolist()
        if not seen:
            return
        acc = correct / seen
        step = self.global_step
        self.log("val/acc", acc, prog_bar=True, logger=False)
        for logger in self.loggers:  # at the step the run record gives (Lightning's own logging is one behind)
            logger.log_metrics({"val/acc": acc}, step=step)
        is_best, end = self.record_validation(step, acc)
        if is_best:
            self.keep_best()
        if end:
            self.trainer.should_stop = True

    def record_validation(self, step: int, acc: float) -> tuple[bool, str | None]:
        """Add a validation to the history and the steps-to-criterion; return whether it is the best so far
        and the end reason (``target``, ``plateau``) when the run ends here."""
        for c in CRITERIA:
            if self.steps_to[c] is None and acc >= c:
                self.steps_to[c] = step
        return self.convergence.update(step, acc)

    @property
    def end_reason(self) -> str:
        """How the run ended: ``target`` or ``plateau`` (the convergence protocol), else ``cap``."""
        return self.convergence.end_reason or "cap"

    def configure_optimizers(self):
        t = self.cfg.train
        opt = torch.optim.AdamW(self.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        return {"optimizer": opt, "lr_scheduler": scheduler(opt, t)}
