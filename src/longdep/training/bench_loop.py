"""``longdep bench loop``: what the Lightning loop costs; ``longdep bench seeds``: what training the seeds
of a cell together saves (:mod:`longdep.training.seeds`).

``bench loop``: The suite's training (its LightningModule and
Trainer, as a grid cell runs them, validation off) against a plain PyTorch loop over the same model,
the same batches, AdamW with the same settings and the same gradient clipping, for the same number
of steps; the two alternate, repeat after repeat, and the medians are compared. A guard (the issue
asks for <= 1.15x), not a target: the loop is not where a cell's time goes (``longdep bench cell``).
"""
from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

GUARD = 1.15  # suite / plain above this is flagged


def _plain(cfg, data, steps: int) -> float:
    """Seconds for ``steps`` plain PyTorch steps of the suite's model on the suite's batches."""
    import lightning as L

    from longdep.training.lit import ClassifierModule, lm_loss

    L.seed_everything(cfg.train.seed, verbose=False)
    device = _device(cfg)
    module = ClassifierModule(cfg).to(device)  # the same model and read-out; only the loop differs
    model, t = module.model, cfg.train
    opt = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=t.precision == "bf16-mixed")
    start = time.perf_counter()
    model.train()
    for step, batch in zip(range(steps), data.train_batches()):
        tokens, query, labels = (b.to(device, non_blocking=True) for b in batch)
        with autocast:
            loss = lm_loss(model(tokens), tokens) if module.lm else F.cross_entropy(module(tokens, query), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _device(cfg) -> torch.device:
    """Where Lightning would train this config (one device): the GPU when asked for or found, else the CPU."""
    cuda = cfg.train.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return torch.device("cuda" if cuda else "cpu")


def _suite(cfg, data, steps: int) -> float:
    """Seconds for ``trainer.fit`` of the suite's module over ``steps`` steps (no validation, no logger)."""
    import lightning as L

    from longdep.training.lit import ClassifierModule
    from longdep.training.run import make_trainer

    L.seed_everything(cfg.train.seed, verbose=False)
    module = ClassifierModule(cfg)
    trainer = make_trainer(cfg, logger=False)
    start = time.perf_counter()
    trainer.fit(module, datamodule=data)
    if _device(cfg).type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench_loop(cfg, steps: int, repeats: int) -> dict:
    """``{"suite_s": [...], "plain_s": [...]}`` for one run config, alternating which goes first."""
    from longdep.training.lit import TaskData
    from longdep.training.run import quiet_lightning

    quiet_lightning()
    torch.set_flush_denormal(True)  # as train_one: Adam's tiny second moments otherwise hit slow denormals
    data = TaskData(cfg.task, cfg.train.seed, cfg.train.batch_size, steps, cfg.train.val_size)
    data.setup()
    out = {"suite_s": [], "plain_s": []}
    for r in range(repeats):
        order = (("suite_s", _suite), ("plain_s", _plain)) if r % 2 == 0 else (("plain_s", _plain), ("suite_s", _suite))
        for key, fn in order:
            out[key].append(fn(cfg, data, steps))
    return out


def _group(cfgs, datas, steps: int) -> float:
    """Seconds for ``trainer.fit`` of the seeds of ``cfgs`` trained together over ``steps`` steps."""
    import lightning as L

    from longdep.training.lit import ClassifierModule
    from longdep.training.run import make_trainer
    from longdep.training.seeds import SeedsData, SeedsModule

    solos = []
    for cfg in cfgs:
        L.seed_everything(cfg.train.seed, verbose=False)
        solos.append(ClassifierModule(cfg))
    group = SeedsModule(solos)
    trainer = make_trainer(cfgs[0], logger=False)
    start = time.perf_counter()
    trainer.fit(group, datamodule=SeedsData(datas, group.active))
    if _device(cfgs[0]).type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench_seeds(cfgs, steps: int, repeats: int) -> dict:
    """``{"alone_s": [...], "together_s": [...]}``: the seeds of ``cfgs`` trained one after another, and
    together, alternating which goes first; data built once, outside the timings."""
    from longdep.training.lit import TaskData
    from longdep.training.run import quiet_lightning

    quiet_lightning()
    torch.set_flush_denormal(True)  # as train_one and train_seeds
    datas = []
    for cfg in cfgs:
        datas.append(TaskData(cfg.task, cfg.train.seed, cfg.train.batch_size, steps, cfg.train.val_size))
        datas[-1].setup()
    alone = lambda: sum(_suite(c, d, steps) for c, d in zip(cfgs, datas))  # noqa: E731
    together = lambda: _group(cfgs, datas, steps)  # noqa: E731
    out = {"alone_s": [], "together_s": []}
    for r in range(repeats):
        order = (("alone_s", alone), ("together_s", together)) if r % 2 == 0 else (("together_s", together), ("alone_s", alone))
        for key, fn in order:
            out[key].append(fn())
    return out


def _configs(overrides, model: str, steps: int, tmp: str, seeds=(None,)):
    from longdep.training.config import load_config

    return [load_config("train", [*overrides, f"model.name={model}", f"train.max_steps={steps}",
                                  f"train.val_every={steps + 1}", "train.checkpoint_every=0",
                                  "train.progress=false", "wandb.enabled=false", f"results_dir={tmp}",
                                  *([] if s is None else [f"train.seed={s}"])]) for s in seeds]


def _threads_text() -> str:
    n = torch.get_num_threads()
    return f"{n} thread{'s' if n > 1 else ''}"


def run_seeds(overrides, models, steps: int, repeats: int, seeds: int, stream=None) -> list[dict]:
    """Bench ``seeds`` seeds of every model of ``models`` alone and together; print a line each; return rows."""
    import sys
    import tempfile

    stream = stream or sys.stdout
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            cfgs = _configs(overrides, model, steps, tmp, seeds=range(seeds))
            if cfgs[0].train.threads:
                torch.set_num_threads(cfgs[0].train.threads)
            res = bench_seeds(cfgs, steps, repeats)
            alone, together = statistics.median(res["alone_s"]), statistics.median(res["together_s"])
            examples = seeds * steps * cfgs[0].train.batch_size
            row = {"model": model, "seeds": seeds, "steps": steps, "repeats": repeats,
                   "alone_examples_per_s": examples / alone, "together_examples_per_s": examples / together,
                   "speedup": alone / together}
            rows.append(row)
            print(f"{model:12s} {seeds} seeds alone {row['alone_examples_per_s']:8.0f} examples/s  together "
                  f"{row['together_examples_per_s']:8.0f} examples/s  speedup {row['speedup']:.2f}x (medians of "
                  f"{repeats}, {steps} steps, {_threads_text()})", file=stream, flush=True)
    return rows


def run(overrides, models, steps: int, repeats: int, stream=None) -> list[dict]:
    """Bench every model of ``models`` on the run config ``overrides``; print a line each; return rows."""
    import sys
    import tempfile

    stream = stream or sys.stdout
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            cfg, = _configs(overrides, model, steps, tmp)
            if cfg.train.threads:
                torch.set_num_threads(cfg.train.threads)
            res = bench_loop(cfg, steps, repeats)
            suite, plain = statistics.median(res["suite_s"]), statistics.median(res["plain_s"])
            row = {"model": model, "steps": steps, "repeats": repeats, "suite_ms_per_step": 1e3 * suite / steps,
                   "plain_ms_per_step": 1e3 * plain / steps, "ratio": suite / plain}
            rows.append(row)
            flag = "" if row["ratio"] <= GUARD else f"  (above the {GUARD}x guard)"
            print(f"{model:12s} suite {row['suite_ms_per_step']:7.2f} ms/step  plain {row['plain_ms_per_step']:7.2f} "
                  f"ms/step  ratio {row['ratio']:.2f}x (medians of {repeats}, {steps} steps, {_threads_text()}){flag}",
                  file=stream, flush=True)
    return rows
