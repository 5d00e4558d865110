"""Why does the Elman RNN stay at chance on mixed distances 1-64? A diagnosis, one variant at a time.

    python experiments/diagnose_rnn.py                 # every variant, ~5 min on 2 cores
    python experiments/diagnose_rnn.py orthogonal stage

Trains the paper's Elman RNN (2 layers, d=128, AdamW lr 1e-3, clip 1.0, batch 32) on distances
1-64 with a plain PyTorch loop and prints, every 250 steps, the training loss, the median gradient
norm before clipping, and validation accuracy at distances 1-4, 5-16 and 17-64. Variants:

- ``base``: as in the paper grid;
- ``one_layer``: one recurrent layer;
- ``orthogonal``: orthogonal recurrent weights at initialisation;
- ``identity``: recurrent weights 0.95 x identity, input weights halved (IRNN-like, with tanh);
- ``no_clip``: no gradient clipping;
- ``stage``: starting small, the first 600 steps on distances 1-16 (what ``train.start_steps``
  does in the grids).
"""
from __future__ import annotations

import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from longdep.models.recurrent import RecurrentModel
from longdep.tasks import get_task, split_seed
from longdep.training.config import load_config
from longdep.training.lit import prefix_batch

VARIANTS = ("base", "one_layer", "orthogonal", "identity", "no_clip", "stage")
STEPS, BATCH, WIDTH, STAGE_STEPS = 1500, 32, 128, 600
BUCKETS = ((1, 4), (5, 16), (17, 64))


def run(variant: str) -> list:
    torch.manual_seed(0)
    spec = get_task("agreement")
    task = load_config("train", ["model.name=rnn", "task.distance=1", "task.max_distance=64"]).task
    tok, lab, meta = spec.generate(split_seed("train", 0), STEPS * BATCH, task)
    qi = meta["query_index"]
    if variant == "stage":
        short = load_config("train", ["task.distance=1", "task.max_distance=16"]).task
        t16, l16, m16 = spec.generate(split_seed("start", 0), STAGE_STEPS * BATCH, short)
        width = max(tok.shape[1], t16.shape[1])
        pad = lambda t: np.pad(t, ((0, 0), (0, width - t.shape[1])))  # noqa: E731
        tok, lab = np.concatenate([pad(t16), pad(tok)]), np.concatenate([l16, lab])
        qi = np.concatenate([m16["query_index"], qi])
    vt, vl, vm = spec.generate(split_seed("val", 0), 2048, task)
    model = RecurrentModel(len(spec.vocab), 2, WIDTH, 1 if variant == "one_layer" else 2, "rnn")
    for name, p in model.rnn.named_parameters():
        if "weight_hh" in name and variant == "orthogonal":
            torch.nn.init.orthogonal_(p)
        if variant == "identity":
            with torch.no_grad():
                if "weight_hh" in name:
                    p.copy_(torch.eye(WIDTH) * 0.95)
                if "weight_ih" in name:
                    p.mul_(0.5)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    clip = float("inf") if variant == "no_clip" else 1.0

    def accuracy() -> list:
        with torch.no_grad():
            right = []
            for i in range(0, len(vl), 256):
                x, q, y = prefix_batch(vt[i:i + 256], vl[i:i + 256], vm["query_index"][i:i + 256])
                right.append((model(x)[torch.arange(len(q)), q].argmax(-1) == y).float())
            right = torch.cat(right).numpy()
        return [float(right[(vm["distance"] >= lo) & (vm["distance"] <= hi)].mean()) for lo, hi in BUCKETS]

    rows, norms, start = [], [], time.time()
    steps = len(lab) // BATCH
    for step in range(steps):
        idx = np.arange(step * BATCH, (step + 1) * BATCH)
        x, q, y = prefix_batch(tok[idx], lab[idx], qi[idx])
        loss = F.cross_entropy(model(x)[torch.arange(len(q)), q], y)
        opt.zero_grad()
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), clip)))
        opt.step()
        if (step + 1) % 250 == 0 or step + 1 == steps:
            acc = accuracy()
            rows.append((variant, step + 1, loss.item(), float(np.median(norms[-250:])), *acc))
            print(f"{variant:>10} step {step + 1:5d}  loss {loss.item():.3f}  grad norm {np.median(norms[-250:]):.2f}"
                  f"  acc 1-4 {acc[0]:.2f}  5-16 {acc[1]:.2f}  17-64 {acc[2]:.2f}  ({time.time() - start:.0f}s)",
                  flush=True)
    return rows


if __name__ == "__main__":
    torch.set_num_threads(1)
    chosen = sys.argv[1:] or list(VARIANTS)
    bad = [v for v in chosen if v not in VARIANTS]
    if bad:
        sys.exit(f"unknown variant {bad[0]!r}; valid: {', '.join(VARIANTS)}")
    final = [run(v)[-1] for v in chosen]
    print("\nat the end:  variant, steps, loss, grad norm, accuracy at 1-4 / 5-16 / 17-64")
    for v, s, loss, g, a, b, c in final:
        print(f"{v:>10} {s:5d}  {loss:.3f}  {g:.2f}  {a:.2f} / {b:.2f} / {c:.2f}")
