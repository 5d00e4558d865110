"""Will a run fit, and can its results be written? Checked before anything is generated or trained.

    check_resources(cfg)    # UsageError naming the estimate and what is available

The memory estimate is deliberately rough (within ~2x) and errs high: the generated examples
(train, validation, test; int64 tokens at the longest sentence the run can see, plus the
generator's working copies), the parameters with their gradients and AdamW moments (counted on
PyTorch's meta device, so a model of any size costs nothing to count), and one training step's
activations from the model's analytic cost (:class:`longdep.models.base.LayerCost`). It refuses
only what cannot fit in the machine's available memory, which is what a 10^9-token preamble or a
width of 10^6 would try to allocate.
"""
from __future__ import annotations

import os
from pathlib import Path

from longdep.config import RunConfig, UsageError, check_writable
from longdep.models import build_model, get_model
from longdep.tasks import get_task

MAX_TRAIN_EXAMPLES = 200_000  # a run generates at most this many training examples (cycled beyond)
GENERATOR_COPIES = 4  # the generator's working arrays per example, relative to the int64 tokens
OPTIMIZER_COPIES = 4  # weights, gradients, AdamW's two moments


def available_bytes() -> int:
    """The memory a new allocation can get now: ``MemAvailable`` on Linux, else free pages."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def example_bytes(n: int, length: int) -> int:
    """Memory ``n`` generated examples of up to ``length`` tokens take: int64 tokens plus the
    generator's working copies."""
    return int(n) * int(length) * 8 * GENERATOR_COPIES


def count_parameters_meta(cfg: RunConfig) -> int:
    """Parameters of the run's model, built on the meta device (no memory used)."""
    import torch

    spec = get_task(cfg.task.name)
    with torch.device("meta"):
        model = build_model(cfg.model, vocab_size=len(spec.vocab), n_out=len(spec.labels))
    return sum(p.numel() for p in model.parameters())


def estimate_bytes(cfg: RunConfig) -> dict:
    """``{"data": ..., "model": ..., "step": ..., "total": ...}`` bytes for one run of ``cfg``."""
    spec = get_task(cfg.task.name)
    tr, ev = cfg.train, cfg.eval
    length = spec.max_length(cfg.task, ev)
    n_train = min(MAX_TRAIN_EXAMPLES, max(tr.max_steps * tr.batch_size, 4 * tr.batch_size))
    # test distances are at most the longest sentence: at most ``length`` of them beside eval.distances
    n_test = ev.n_per_distance * (length + len(ev.distances)) \
        + ev.n_per_attractor * len(ev.attractor_distances) * len(ev.attractor_counts)
    data = example_bytes(n_train + tr.val_size + n_test, length)
    model = count_parameters_meta(cfg) * 4 * OPTIMIZER_COPIES
    batch = max(tr.batch_size, ev.batch_size)
    cost = get_model(cfg.model.name).cost(cfg.model, batch, length)
    step = 4 * (cost.activation_floats * batch * length + cost.score_elems * (1 if cost.scores_held else 0)) \
        * cfg.model.layers + 4 * batch * length * cfg.model.d_model * 4  # embeddings, logits, their grads
    return {"data": int(data), "model": int(model), "step": int(step), "total": int(data + model + step)}


def check_memory(cfg: RunConfig) -> None:
    est = estimate_bytes(cfg)
    have = available_bytes()
    if est["total"] > have:
        gb = {k: v / 1e9 for k, v in est.items()}
        raise UsageError(
            f"this run needs ~{gb['total']:.3g} GB (data {gb['data']:.3g}, model {gb['model']:.3g}, one step "
            f"{gb['step']:.3g}) but {have / 1e9:.3g} GB is available; lower the sizes (task distances, "
            "max_preamble, eval.n_per_*, train.val_size, model.d_model, batch sizes)")


def check_resources(cfg: RunConfig) -> None:
    """Memory and output folder of a run, before anything is written."""
    from longdep.config import results_folder

    check_writable(results_folder(cfg.results_dir, cfg.name))
    check_memory(cfg)
