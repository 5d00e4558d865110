"""What every task provides (:class:`TaskSpec`) and the seed ranges of the data splits."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

OBJECTIVES = ("classify", "lm")
SPLITS = {"train": 0, "val": 10**8, "test": 2 * 10**8, "start": 3 * 10**8}  # start: the starting-small stage


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
        the model sees tokens[:query_index + 1]) and the slice columns of the test sets.
    vocab, labels: token strings (id 0 is padding) and label names.
    validate: ``cfg -> cfg``, a one-line UsageError for settings no example can meet.
    check_eval: ``(cfg, eval_cfg) -> None``, a UsageError for test sets that cannot be made.
    test_sets: ``(cfg, eval_cfg) -> [(name, slices, tokens, labels, meta), ...]``, the fixed test
        sets and the meta columns each one's accuracy is grouped by.
    baselines: ``(cfg, eval_cfg) -> DataFrame`` of heuristic accuracy on the test sets (columns
        test_set, heuristic, the slices, n, accuracy).
    counterfactuals: ``(tokens, meta, cfg) -> {probe: (rows, edited tokens)}``, minimal edits of
        test sentences whose effect on the prediction shows what the model used.
    max_length: ``(cfg, eval_cfg) -> int``, the longest sequence a run can see.
    run_columns: ``cfg -> dict`` of columns naming the training setting in accuracy.csv.
    run_tag: ``cfg -> str``, the short setting in run ids and run names (e.g. ``d1-16``).
    to_records, format_record: examples as JSON-ready dicts, and one dict as readable text
        (``longdep data export|show``).
    benchmark: ``(n, distance) -> dict`` with ``examples_per_s`` (``longdep bench data``).
    start_small: ``cfg -> cfg | None``, the easier task the first ``train.start_steps`` steps train
        on ("starting small", Elman 1993), or None when ``cfg`` asks for none.
    label_tokens: ``(tokens, meta) -> (n, n_labels) int64``, the token that would express each label
        right after the query (agreement: the queried verb's singular and plural forms), so a
        language model is scored on minimal pairs; None: the task has no ``lm`` objective.
    to_pairs: ``(tokens, labels, meta) -> [dict]``, the examples as minimal pairs in BLiMP's field
        layout (``longdep data pairs``; scored by ``longdep eval-pairs``).
    targets: ``(tokens, meta, cfg) -> {"source": (n,) positions, name: (n, L) bool masks}``, the
        positions the mechanism analyses read (agreement: subject, attractors, the noun at the
        training offset; source = the subject); None: no analyses.
    """

    name: str
    config: type
    generate: Callable[..., tuple]
    vocab: Sequence[str]
    labels: Sequence[str]
    validate: Callable[[Any], Any]
    check_eval: Callable[..., None]
    test_sets: Callable[..., list]
    baselines: Callable[..., Any]
    counterfactuals: Callable[..., dict]
    max_length: Callable[..., int]
    run_columns: Callable[[Any], dict]
    run_tag: Callable[[Any], str]
    to_records: Callable[..., list]
    format_record: Callable[[dict], str]
    benchmark: Callable[..., dict]
    start_small: Callable[[Any], Any] = lambda cfg: None
    label_tokens: Optional[Callable[..., Any]] = None
    to_pairs: Optional[Callable[..., list]] = None
    targets: Optional[Callable[..., dict]] = None
