"""What every task provides (:class:`TaskSpec`) and the seed ranges of the data splits."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

SPLITS = {"train": 0, "val": 10**8, "test": 2 * 10**8}


def split_seed(split: str, seed: int) -> int:
    """Seed for ``split`` ("train", "val", "test"); user seeds in [0, 10**8) never collide."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if not 0 <= seed < 10**8:
        raise ValueError(f"seed must be in [0, {10**8}), got {seed}")
    return SPLITS[split] + int(seed)


@dataclass(frozen=True)
class TaskSpec:
    """What the rest of longdep needs to know about a task.

    config: its config dataclass (subclass of :class:`longdep.config.TaskConfig`).
    generate: ``(seed, n, cfg) -> (tokens (n, L) int64, labels (n,) int64, meta)``; ``meta`` holds
        numpy arrays of length n, at least ``query_index`` (the position whose output is classified;
        the model sees tokens[:query_index + 1]) and every column in ``slices``.
    vocab, labels: token strings (id 0 is padding) and label names.
    slices: the meta columns evaluation groups accuracy by (e.g. distance, attractors).
    validate: ``cfg -> cfg``, a one-line UsageError for settings no example can meet.
    test_sets: ``(cfg, eval_cfg) -> [(tokens, labels, meta), ...]``, the fixed test set.
    baselines: ``(tokens, labels, meta) -> DataFrame`` of heuristic accuracy per slice
        (columns heuristic, *slices, n, accuracy).
    max_length: ``(cfg, eval_cfg) -> int``, the longest sequence a run can see.
    run_columns: ``cfg -> dict`` of columns naming the training setting in accuracy.csv.
    run_tag: ``cfg -> str``, the short setting in run ids and run names (e.g. ``d32``).
    to_records, format_record: examples as JSON-ready dicts, and one dict as readable text
        (``longdep data export|show``).
    benchmark: ``(n, distance) -> dict`` with ``examples_per_s`` (``longdep bench data``).
    """

    name: str
    config: type
    generate: Callable[..., tuple]
    vocab: Sequence[str]
    labels: Sequence[str]
    slices: tuple
    validate: Callable[[Any], Any]
    test_sets: Callable[..., list]
    baselines: Callable[..., Any]
    max_length: Callable[..., int]
    run_columns: Callable[[Any], dict]
    run_tag: Callable[[Any], str]
    to_records: Callable[..., list]
    format_record: Callable[[dict], str]
    benchmark: Callable[..., dict]
