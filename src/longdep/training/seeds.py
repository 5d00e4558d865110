"""Seeds trained together: the cells of a grid that differ only in ``train.seed``, trained as one job.

    longdep grid paper --workers 2 train.seeds_together=true

Each seed is built exactly as :func:`longdep.training.run.train_one` builds it (``seed_everything``,
its own data stream and validation set, its own initialisation), then the seeds' parameters are
stacked, one tensor per parameter with the seed first (``S x shape``), under one Lightning module,
one optimiser and one trainer. A training step sums the seeds' losses (the parameters are disjoint,
so each seed's gradient is its own loss's), clips each seed's gradient by its own norm, and takes one
AdamW step over the stacked tensors (elementwise: each seed's update is its solo update). A seed
that ends at a validation (its target or its plateau: the convergence protocol) stops: its weights are kept, its rows are dropped
from every stacked tensor and from the optimiser state, and the job ends when every seed has stopped
or ``train.max_steps`` is reached. Each seed is then evaluated and written as its own run (same run
id, same files as training it alone; the record's ``seeds_together`` names the group).

The forward pass (``train.seeds_forward``):

* ``loop`` (default): each seed's model in turn on its slice of the stacked parameters
  (``torch.func.functional_call``): the solo computation, so the results are the bits of training
  each seed alone (``tests/test_seeds.py``). What the group saves is the per-step work that does not
  grow with the model: one optimiser step, one clipping and one trainer step instead of one per seed.
  On the CPU, where the grid's steps are compute-bound, that is little (``longdep bench seeds``).
* ``vmap``: one ``torch.func.vmap`` over the seeds: each layer is one batched op for every seed,
  which is what a GPU needs (a loop launches every kernel once per seed). The seeds' batches are
  right-padded to one length (padding is masked, and the classifier reads at the query, so the
  numbers are the same up to float rounding: equal to alone to 1e-5, as another device is), and the
  attention models build their pad mask every step (:func:`~longdep.models.attention.always_masked`).
  vmap has no batching rule for ``nn.LSTM`` / ``nn.RNN``: the recurrent models keep the loop.
  Validation runs the loop either way.

Not grouped (trained alone instead): runs with dropout (the seeds would draw their dropout masks
from one generator), data-parallel runs (``train.devices`` other than 1). A group keeps one
checkpoint (``checkpoints/seeds-<hash of its run ids>.ckpt``, every ``train.checkpoint_every`` steps,
as a run alone does): the stacked parameters and optimiser state of the seeds still training, the
stopped seeds' weights and every seed's validation history, so a killed group resumes with the
result it would have had.
"""
from __future__ import annotations

import time
import warnings

import torch
import torch.nn.functional as F
import lightning as L
from torch import nn
from torch.func import functional_call
from torch.utils.data import DataLoader, IterableDataset

from longdep.config import RunConfig, to_dict
from longdep.training.convergence import scheduler
from longdep.training.lit import lm_loss


def uses_vmap(cfg: RunConfig) -> bool:
    """Whether a group of ``cfg``'s model can run ``train.seeds_forward=vmap`` (not the recurrent ones)."""
    from longdep.models import get_model

    return get_model(cfg.model.name).family != "recurrent"


def group_key(cfg: RunConfig) -> str | None:
    """Cells with the same key may train together (None: this one trains alone)."""
    import json

    t = cfg.train
    if not t.seeds_together or str(t.devices) != "1" or cfg.model.dropout > 0:
        return None
    d = to_dict(cfg)
    d["train"].pop("seed")
    return json.dumps(d, sort_keys=True, default=str)


def seed_groups(cfgs: list) -> list[list]:
    """``cfgs`` as jobs, in order: the cells that may train together (:func:`group_key`) as one list,
    every other cell alone."""
    groups, where = [], {}
    for cfg in cfgs:
        key = group_key(cfg)
        if key is None:
            groups.append([cfg])
        elif key in where:
            groups[where[key]].append(cfg)
        else:
            where[key] = len(groups)
            groups.append([cfg])
    return groups


class _SeedBatches(IterableDataset):
    """One training batch per seed still training, each from that seed's own stream: ``(seeds, batches)``."""

    def __init__(self, streams, active: list):
        self.streams, self.active = streams, active  # ``active``: the module's list, updated as seeds stop

    def __iter__(self):
        its = [iter(s) for s in self.streams]
        while self.active:
            seeds = tuple(self.active)
            yield seeds, [next(its[s]) for s in seeds]


class SeedsData(L.LightningDataModule):
    """The seeds' own data modules (:class:`~longdep.training.lit.TaskData`, set up), drawn together."""

    def __init__(self, datas: list, active: list):
        super().__init__()
        self.datas, self.active = datas, active

    def train_dataloader(self):
        done = self.trainer.global_step if self.trainer is not None else 0  # > 0: resumed from a checkpoint
        return DataLoader(_SeedBatches([d.train_batches(0, done) for d in self.datas], self.active), batch_size=None)

    def val_dataloader(self):
        per_seed = [list(d.val_dataloader()) for d in self.datas]  # the same number of batches for every seed
        return DataLoader(list(zip(*per_seed)), batch_size=None)


class SeedsModule(L.LightningModule):
    """Several :class:`~longdep.training.lit.ClassifierModule` of one config but their seeds, trained as
    one: ``stacked[j]`` holds parameter ``names[j]`` of every seed still training (row ``row[seed]``)."""

    def __init__(self, solos: list):
        super().__init__()
        self.cfg = solos[0].cfg
        self.solos = solos  # a plain list: their parameters are the stacked ones while training
        self.names = [n for n, _ in solos[0].model.named_parameters()]
        self.stacked = nn.ParameterList(
            nn.Parameter(torch.stack([dict(m.model.named_parameters())[n].detach() for m in solos])) for n in self.names)
        self.active = list(range(len(solos)))  # seeds (indices into solos) still training, in row order
        self.vmap = self.cfg.train.seeds_forward == "vmap" and uses_vmap(self.cfg)
        self.stopped: dict[int, int] = {}  # seed -> the step it stopped at
        self.val_time = 0.0

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["longdep_seeds"] = {
            "active": list(self.active), "stopped": [[s, step] for s, step in self.stopped.items()],
            "val_time": self.val_time,
            "solos": [m.progress_state() for m in self.solos],
            "kept": {str(s): {k: v.detach().cpu() for k, v in self.solos[s].model.state_dict().items()} for s in self.stopped},
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Back to the saved group: the seeds still training (the stacked tensors take their number of
        rows before Lightning loads them), the stopped seeds' weights, every seed's validation history."""
        state = checkpoint["longdep_seeds"]
        self.active[:] = state["active"]
        self.stopped = {int(s): int(step) for s, step in state["stopped"]}
        self.val_time = state["val_time"]
        for m, saved in zip(self.solos, state["solos"]):
            m.load_progress(saved, int(checkpoint["global_step"]))
        for s, weights in state["kept"].items():
            self.solos[int(s)].model.load_state_dict(weights)
        for p in self.stacked:
            p.data = p.data.new_empty((len(self.active), *p.shape[1:]))

    @property
    def row(self) -> dict:
        return {s: i for i, s in enumerate(self.active)}

    def train(self, mode: bool = True):
        for m in self.solos:
            m.train(mode)
        return super().train(mode)

    def _slices(self) -> list:
        """Every stacked parameter split into its rows, once per step (one backward op per parameter
        gathers the seeds' gradients, rather than one full-size scatter per seed)."""
        return [p.unbind(0) for p in self.stacked]

    def _call(self, s: int, row: int, slices: list, *args, lm_logits: bool = False):
        """Seed ``s``'s module on its rows of the stacked parameters: label scores, or (``lm_logits``)
        the language model's logits at every position."""
        m = self.solos[s]
        params = {n: p[row] for n, p in zip(self.names, slices)}
        if lm_logits:
            return functional_call(m.model, params, args)
        return functional_call(m, {f"model.{n}": p for n, p in params.items()}, args)

    def on_train_start(self):
        from longdep.environment import device_name

        for m in self.solos:
            m.train_device, m.train_device_name = str(self.device), device_name(self.device)

    def _vmap_loss(self, parts: list) -> torch.Tensor:
        """The seeds' summed loss from one ``vmap`` over the seeds (``parts``: the live seeds' batches,
        in row order), their batches right-padded to one length."""
        from longdep.models.attention import always_masked

        n = max(tokens.shape[1] for tokens, _, _ in parts)
        tokens = torch.stack([F.pad(t, (0, n - t.shape[1])) for t, _, _ in parts])  # (S, B, N)
        query, labels = torch.stack([q for _, q, _ in parts]), torch.stack([y for _, _, y in parts])  # (S, B)
        m = self.solos[0]  # every seed's module has the same structure: it runs each seed's parameters

        def one(params, tokens, query, labels):
            if m.lm:
                return lm_loss(functional_call(m.model, params, (tokens,)), tokens)
            return F.cross_entropy(functional_call(m, {f"model.{k}": v for k, v in params.items()}, (tokens, query)), labels)

        with always_masked(), warnings.catch_warnings():
            # on the CPU vmap runs F.scaled_dot_product_attention through its per-example fallback, and says so
            warnings.filterwarnings("ignore", message="There is a performance drop because we have not yet implemented")
            losses = torch.func.vmap(one)(dict(zip(self.names, self.stacked)), tokens, query, labels)  # (S,)
        return losses.sum()

    def training_step(self, batch, _):
        seeds, parts = batch
        row = self.row
        live = [(s, part) for s, part in zip(seeds, parts) if s in row]  # a seed may stop after its batch was drawn
        if self.vmap:
            loss = self._vmap_loss([part for _, part in live])
        else:
            losses, slices = [], self._slices()
            for s, (tokens, query, labels) in live:
                if self.solos[s].lm:
                    losses.append(lm_loss(self._call(s, row[s], slices, tokens, lm_logits=True), tokens))
                else:
                    losses.append(F.cross_entropy(self._call(s, row[s], slices, tokens, query), labels))
            loss = torch.stack(losses).sum()
        if self.global_step % 10 == 0:
            self.log("train/loss", loss.detach() / len(live), on_step=True, on_epoch=False, prog_bar=True)
        return loss

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        """Each seed's gradient clipped by its own norm, computed as ``clip_grad_norm_`` computes a run
        alone's (the same functions on the same values: the same bits)."""
        if not gradient_clip_val:
            return
        grads = [p.grad for p in self.stacked if p.grad is not None]
        for row in range(len(self.active)):
            views = [g[row] for g in grads]
            total = torch.nn.utils.get_total_norm(views, 2.0)
            coef = torch.clamp(gradient_clip_val / (total + 1e-6), max=1.0)
            for v in views:
                v.mul_(coef)

    def on_validation_epoch_start(self):
        self._counts = {s: [0, 0] for s in self.active}
        self._val_start = time.perf_counter()

    def validation_step(self, batch, _):
        row, slices = self.row, self._slices()
        for s, (tokens, query, labels, *label_ids) in enumerate(batch):
            if s in row:
                pred = self._call(s, row[s], slices, tokens, query, *label_ids).argmax(-1)
                self._counts[s][0] += (pred == labels).sum().item()
                self._counts[s][1] += len(labels)

    def on_validation_epoch_end(self):
        self.val_time += time.perf_counter() - self._val_start
        if self.trainer.sanity_checking:
            return
        step, done, row = self.global_step, [], self.row
        for s, (correct, seen) in self._counts.items():
            is_best, end = self.solos[s].record_validation(step, correct / max(seen, 1))
            if is_best:
                self.solos[s].keep_best({n: p[row[s]] for n, p in zip(self.names, self.stacked)})
            if end:  # target or plateau: this seed stops, the others go on
                done.append(s)
        if done:
            self.retire(done, step)

    def retire(self, seeds: list, step: int) -> None:
        """Stop ``seeds`` at ``step``: keep their weights, drop their rows from the stacked parameters
        and the optimiser state; stop the trainer once no seed is left."""
        row = self.row
        for s in seeds:
            self._keep_weights(s, row[s])
            self.stopped[s] = step
        left = [s for s in self.active if s not in seeds]
        self.active[:] = left  # in place: the data stream reads this list
        if not left:
            self.trainer.should_stop = True
            return
        idx = torch.tensor([row[s] for s in left], device=self.stacked[0].device)
        state = self.trainer.optimizers[0].state if self.trainer.optimizers else {}
        for p in self.stacked:
            for k, v in state.get(p, {}).items():
                if torch.is_tensor(v) and v.dim() and v.shape[0] == p.shape[0]:
                    state[p][k] = v.index_select(0, idx)
            p.data = p.data.index_select(0, idx)
            p.grad = None

    def finish(self, step: int) -> None:
        """After fit: the seeds still training stopped at ``step`` (the budget)."""
        for s, r in self.row.items():
            self._keep_weights(s, r)
            self.stopped[s] = step

    @torch.no_grad()
    def _keep_weights(self, s: int, row: int) -> None:
        own = dict(self.solos[s].model.named_parameters())
        for n, p in zip(self.names, self.stacked):
            own[n].copy_(p[row])

    def configure_optimizers(self):
        t = self.cfg.train
        opt = torch.optim.AdamW(self.stacked.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        return {"optimizer": opt, "lr_scheduler": scheduler(opt, t)}  # one schedule: the seeds share their config


def train_seeds(cfgs: list) -> list[dict]:
    """Train the cells ``cfgs`` (one config but ``train.seed``) together; evaluate and write each as its
    own run; return their records (in the order of ``cfgs``)."""
    from longdep import tracking
    from longdep.config import config_hash
    from longdep.training.run import (checkpoint_path, checkpointer, finish_run, make_trainer, prepare_run,
                                      remove_checkpoint, results_dir, resume_from, run_id)

    keys = {group_key(c) for c in cfgs}
    if len(keys) != 1 or None in keys:
        raise ValueError("train_seeds takes cells with train.seeds_together=true that differ only in train.seed")
    cfg0 = cfgs[0]
    start = time.perf_counter()
    datas, solos, clocks = zip(*(prepare_run(cfg) for cfg in cfgs))  # each seed built as train_one builds it
    group = SeedsModule(list(solos))
    every = cfg0.train.checkpoint_every
    ckpt = checkpoint_path(results_dir(cfg0), "seeds-" + config_hash({"runs": [run_id(c) for c in cfgs]}))
    trainer = make_trainer(cfg0, logger=False, extra_callbacks=[checkpointer(ckpt, every)] if every else [])
    resume = resume_from(ckpt) if every else None
    mark = time.perf_counter()
    trainer.fit(group, datamodule=SeedsData(list(datas), group.active), ckpt_path=resume, weights_only=True)
    group.finish(int(trainer.global_step))
    fit_s = time.perf_counter() - mark
    train_time = time.perf_counter() - start
    n = len(cfgs)
    together = {"seeds": [c.train.seed for c in cfgs], "fit_s": round(fit_s, 3),
                "forward": "vmap" if group.vmap else "loop"}
    records = []
    for k, (cfg, module) in enumerate(zip(cfgs, solos)):
        rid = run_id(cfg)
        clock = {**clocks[k], "wandb_start": 0.0, "validation": group.val_time / n,
                 "training_steps": (fit_s - group.val_time) / n}  # the group's time, shared evenly
        logger = tracking.make_logger(cfg, rid, results_dir(cfg))
        try:
            if logger is not None:
                for step, acc in module.val_history:
                    logger.log_metrics({"val/acc": acc}, step=step)
            records.append(finish_run(cfg, rid, module, group.stopped[k], start, train_time / n, clock, logger,
                                      extra={"seeds_together": together}))
        except BaseException:
            if logger is not None:
                tracking.finish(failed=True)
            raise
    remove_checkpoint(ckpt)
    return records
