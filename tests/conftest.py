"""Shared test setup: quiet, offline, small thread count."""
import os

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_CONSOLE", "off")
os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
# Small models gain nothing from a second thread, and two busy OpenMP thread pools on two
# cores slow each other down badly: keep the suite (and its subprocesses) on one thread.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
