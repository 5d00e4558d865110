"""Scoring a trained run on minimal pairs in BLiMP's JSONL layout (``longdep eval-pairs FILE --run RECORD``).

Each line needs ``one_prefix_prefix`` (the words before the verb), ``one_prefix_word_good`` and
``one_prefix_word_bad`` (BLiMP's one-prefix method; ``longdep data pairs`` writes them). A pair is
correct when the run prefers the good word after the prefix: a language model (``task.objective=lm``)
gives it the higher probability; a classifier predicts its number. Words must be in the task's
vocabulary, and good/bad must be the two forms the task's labels stand for (e.g. "was"/"were").
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from longdep.config import UsageError

REQUIRED = ("one_prefix_prefix", "one_prefix_word_good", "one_prefix_word_bad")
EXTRA = ("distance", "attractors", "construction", "frame", "depth")


def read_pairs(path: Path, vocab) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict]]:
    """Token ids (n, L) of prefix + good word (right-padded with 0), the prefix lengths, the bad words'
    ids and the rows."""
    ids = {w: i for i, w in enumerate(vocab)}
    rows, seqs, lengths, bad = [], [], [], []
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read pairs file {path}: {exc}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise TypeError
            missing = [k for k in REQUIRED if k not in row]
        except (ValueError, TypeError):
            raise UsageError(f"{path} line {n} is not a JSON object") from None
        if missing:
            raise UsageError(f"{path} line {n} lacks {', '.join(missing)} (BLiMP's one-prefix fields)")
        wrong = [k for k in REQUIRED if not isinstance(row[k], str)]
        if wrong:
            raise UsageError(f"{path} line {n}: {wrong[0]} is {type(row[wrong[0]]).__name__} {row[wrong[0]]!r}; "
                             "expected text (BLiMP's one-prefix fields are strings)")
        words = row["one_prefix_prefix"].split() + [row["one_prefix_word_good"], row["one_prefix_word_bad"]]
        unknown = [w for w in words if w not in ids or ids[w] == 0]
        if unknown:
            raise UsageError(f"{path} line {n}: {unknown[0]!r} is not in the task's vocabulary of {len(vocab) - 1} words")
        seqs.append([ids[w] for w in words[:-1]])
        lengths.append(len(words) - 2)
        bad.append(ids[words[-1]])
        rows.append(row)
    if not rows:
        raise UsageError(f"{path} holds no pairs")
    tokens = np.zeros((len(seqs), max(map(len, seqs))), np.int64)
    for i, s in enumerate(seqs):
        tokens[i, :len(s)] = s
    return tokens, np.asarray(lengths), np.asarray(bad), rows


def score_pairs(path: Path, record: Path, batch_size: int = 256) -> pd.DataFrame:
    """One row per pair: pairID, correct (0/1), and the pair's distance/attractors/... where given."""
    from longdep.tasks import get_task
    from longdep.training.evaluate import predict
    from longdep.training.weights import load_trained

    cfg, module = load_trained(record)
    spec = get_task(cfg.task.name)
    if spec.label_tokens is None:
        raise UsageError(f"task {cfg.task.name!r} has no minimal-pair form (no label_tokens)")
    tokens, prefix_len, bad, rows = read_pairs(path, spec.vocab)
    if (prefix_len < 1).any():
        raise UsageError(f"{path}: pair {int(np.argmax(prefix_len < 1))} has an empty prefix")
    n = len(rows)
    forms = spec.label_tokens(tokens, {"verb_index": prefix_len})  # (n, n_labels): the good word's label forms
    good = tokens[np.arange(n), prefix_len]
    labels = np.argmax(forms == good[:, None], axis=1)
    ok = (forms == good[:, None]).any(1) & (forms == bad[:, None]).any(1) & (good != bad)
    if not ok.all():
        i = int(np.argmin(ok))
        raise UsageError(f"{path}: pair {rows[i].get('pairID', i)} ({rows[i]['one_prefix_word_good']!r} / "
                         f"{rows[i]['one_prefix_word_bad']!r}) is not a pair of the forms this task's labels stand for")
    lm = cfg.task.objective == "lm"
    pred = predict(module, tokens, labels, prefix_len - 1, batch_size, forms if lm else None)
    out = pd.DataFrame({"pairID": [str(r.get("pairID", i)) for i, r in enumerate(rows)],
                        "correct": (pred == labels).astype(int)})
    for k in EXTRA:
        if all(k in r for r in rows):
            out[k] = [r[k] for r in rows]
    return out
