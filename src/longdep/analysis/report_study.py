"""The README's results for issue 14's studies, generated like the rest of :mod:`longdep.analysis.report`:
the two training objectives side by side, the nested task per level, where attention looks and what
the recurrent state holds. Each section is '' when the folder has no data for it; every number is
read from ``accuracy.csv``, ``baselines.csv``, ``attention.csv`` or ``probe.csv`` (mean over seeds,
seed-level 95% t-intervals)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from longdep.analysis import style
from longdep.analysis.data import load_accuracy, load_baselines
from longdep.analysis.panels import RUN_KEYS, staged, ci_text, pooled
from longdep.analysis.tables import by_distance, far, figure, markdown, mixed, trained
from longdep.records import read_csv

RECURRENT = ("rnn", "lstm", "mingru")
PROBE_BINS = [(0, 0), (1, 3), (4, 15), (16, 63), (64, 255)]  # tokens since the subject


def objectives(folder: Path, link: str) -> str:
    """Classifier against language model per model and training setting: trained distances, far unseen
    ones, and the controlled set with the most attractors at the shortest attractor distance."""
    acc = load_accuracy(folder, objective=None)
    if acc is None or "lm" not in set(acc["objective"]):
        return ""
    acc = mixed(acc)
    d, a = by_distance(acc), acc[acc["test_set"] == "attractors"]
    keys = [*RUN_KEYS, "objective"]
    seen, beyond = pooled(trained(d), keys), pooled(far(d), keys)
    at = a[(a["distance"] == a["distance"].min()) & (a["attractors"] == a["attractors"].max())] if len(a) else a
    most = pooled(at, keys) if len(at) else None
    n_attr = f"{int(at['attractors'].max())} attractors at distance {int(at['distance'].min())}" if len(at) else ""
    head = ["model", "trained on", "seeds (classifier / LM)", "trained distances: classifier", "LM",
            "far (2D+1 .. 4D): classifier", "LM", *([f"{n_attr}: classifier", "LM"] if most is not None else [])]
    rows, lower, close = [], {}, {}
    for D in sorted(set(d["train_max_distance"])):
        for model in style.model_order():
            pick = [t[(t["model"] == model) & (t["train_max_distance"] == D)] for t in (seen, beyond, *([most] if most is not None else []))]
            if not len(pick[0]):
                continue
            by = [(p[p["objective"] == "classify"]["accuracy"], p[p["objective"] == "lm"]["accuracy"]) for p in pick]
            c, m = by[0]
            if not len(m):
                continue
            rows.append([style.model_name(model), f"1-{int(D)}", f"{len(c)} / {len(m)}",
                         *(ci_text(v) for x, y in by for v in (x, y))])
            (lower if m.mean() < c.mean() - 0.05 else close).setdefault(int(D), []).append(style.model_name(model))
    facts = [f"- Trained on 1-{D}: the language model is more than 0.05 below the classifier on the trained distances "
             f"for {', '.join(lower.get(D, [])) or 'no model'}; within 0.05 (or above) for {', '.join(close.get(D, [])) or 'none'}."
             for D in sorted(set(lower) | set(close))]
    return markdown(head, rows) + "\n\n" + "\n".join(facts) + figure(folder, link, "objectives", "classifier vs language model")


def nested(folder: Path, link: str) -> str:
    """Accuracy per depth and level (0 = the outermost verb) per model, beside the baselines; which
    level is hardest at the greatest depth."""
    acc = load_accuracy(folder)
    if acc is None or "nested" not in set(acc["test_set"]):
        return ""
    a = acc[acc["test_set"] == "nested"].astype({"depth": int, "level": int})
    per = pooled(a, ["run_id", "model", "depth", "level"])
    cols = sorted({(int(r.depth), int(r.level)) for r in per.itertuples()})
    deepest = max(dp for dp, _ in cols)

    def name(dp, lv):
        return f"d{dp}: " + ("outer" if lv == 0 else "inner" if lv == dp else f"level {lv}")

    rows, facts = [], []
    for model in [m for m in style.model_order() if m in set(per["model"])]:
        sub = per[per["model"] == model]
        means = {c: sub[(sub["depth"] == c[0]) & (sub["level"] == c[1])]["accuracy"] for c in cols}
        rows.append([style.model_name(model), sub["run_id"].nunique(), *(f"{means[c].mean():.2f}" for c in cols)])
        levels = {lv: means[(deepest, lv)] for dp, lv in cols if dp == deepest}
        worst = min(levels, key=lambda lv: levels[lv].mean())
        where = "the outermost" if worst == 0 else "the innermost" if worst == deepest else "a middle"
        facts.append(f"{style.model_name(model)}: level {worst} ({where}, {ci_text(levels[worst])})")
    base = load_baselines(folder)
    if base is not None and "nested" in set(base["test_set"]):
        b = base[base["test_set"] == "nested"].astype({"depth": int, "level": int})
        for h in ("bag_of_words", "first_noun", "nearest_noun"):
            g = pooled(b[b["heuristic"] == h], ["depth", "level"]).set_index(["depth", "level"])["accuracy"]
            if len(g):
                rows.append([f"*{style.baseline_name(h)}*", "-", *(f"{g.get(c, np.nan):.2f}" for c in cols)])
    table = markdown(["model", "seeds", *(name(*c) for c in cols)], rows)
    return (table + f"\n\nThe hardest level at depth {deepest}, per model (mean over seeds, 95% interval): "
            + "; ".join(facts) + "." + figure(folder, link, "nested", "nested dependencies per level"))


def attention(folder: Path, link: str) -> str:
    """Per attention model and layer: in each run the head that looks most at the subject on the trained
    distances; its weight on the subject (trained, unseen distances), on attractors, on the noun at the
    training offset, against uniform; mean over seeds with intervals, for the widest mixed setting."""
    att = staged(read_csv(Path(folder) / "attention.csv"), False, "classify")
    if att is None or not len(mixed(att)):
        return ""
    att = mixed(att)
    D = att["train_max_distance"].max()
    att = att[att["train_max_distance"] == D]
    w = att.assign(wn=att["weight"] * att["n"], seen=att["distance"] <= D)
    g = w.groupby(["run_id", "model", "layer", "head", "seen", "target"], as_index=False)[["wn", "n"]].sum()
    g["weight"] = g["wn"] / g["n"]
    table = g.pivot_table(index=["run_id", "model", "layer", "head"], columns=["seen", "target"], values="weight")
    best = table[(True, "subject")].groupby(level=["run_id", "model", "layer"]).idxmax()
    top = table.loc[best.values].reset_index()
    rows, strong = [], []
    for model in [m for m in style.model_order() if m in set(top["model"])]:
        for layer in sorted(set(top[top["model"] == model]["layer"])):
            s = top[(top["model"] == model) & (top["layer"] == layer)]

            def col(seen, target):
                return s[(seen, target)] if (seen, target) in s else pd.Series(dtype=float)

            subj, uni = col(True, "subject"), col(True, "uniform")
            rows.append([style.model_name(model), int(layer) + 1, len(s), ci_text(subj), ci_text(col(False, "subject")),
                         ci_text(col(True, "attractor")), ci_text(col(True, "offset_noun")), f"{uni.mean():.3f}"])
            if len(subj) and subj.mean() > 10 * uni.mean():
                strong.append(f"{style.model_name(model)} layer {int(layer) + 1} ({subj.mean() / uni.mean():.0f}x)")
    table = markdown(["model", "layer", "runs", "to the subject, trained distances", "unseen distances", "to attractors",
                      "to the noun at the training offset", "uniform"], rows)
    return (table + f"\n\nTrained on 1-{int(D)}; per run and layer the head with the most weight on the "
            "subject over the trained distances. Layers whose best head puts more than 10x the uniform weight on the "
            f"subject: {', '.join(strong) or 'none'}." + figure(folder, link, "attention", "attention from the query"))


def state(folder: Path, link: str) -> str:
    """Probe accuracy (subject number from the hidden state) by tokens since the subject, per recurrent
    model and mixed training setting, mean over seeds with intervals."""
    probe = staged(read_csv(Path(folder) / "probe.csv"), False, "classify")
    if probe is None or not len(mixed(probe)):
        return ""
    p = mixed(probe)
    def label(lo, hi):
        return str(lo) if lo == hi else f"{lo}-{hi}"

    rows, facts = [], []
    for D in sorted(set(p["train_max_distance"])):
        for model in [m for m in style.model_order() if m in set(p["model"])]:
            s = p[(p["model"] == model) & (p["train_max_distance"] == D)]
            if not len(s):
                continue
            cells = [pooled(s[s["offset"].between(lo, hi)], ["run_id"])["accuracy"] for lo, hi in PROBE_BINS]
            rows.append([style.model_name(model), f"1-{int(D)}", s["run_id"].nunique(), *(ci_text(c) for c in cells)])
            kept = [label(lo, hi) for (lo, hi), c in zip(PROBE_BINS, cells) if len(c) and c.mean() >= 0.9]
            facts.append(f"{style.model_name(model)} on 1-{int(D)}: {', '.join(kept) or 'nowhere'}")
    head = ["model", "trained on", "runs", *(("offset " if lo == hi else "") + label(lo, hi) for lo, hi in PROBE_BINS)]
    return (markdown(head, rows) + "\n\nOffsets at which the subject's number is linearly readable (probe >= 0.9): "
            + "; ".join(facts) + "." + figure(folder, link, "state_probe", "what the recurrent state holds"))


def sections(folder: Path, link: str) -> list[str]:
    """The study sections the folder has data for, titled."""
    parts = [
        ("**Two training objectives** (issue 14; Linzen et al. 2016): the same cells trained as a classifier of the "
         "verb's number and as a causal language model scored on the verb's minimal pair (was/were):\n\n", objectives),
        ("**Nested dependencies** (centre-embedded relatives, every verb a query; accuracy per depth and level, mean over "
         "seeds; Lakretz et al. 2021 found LSTMs worst at the middle levels):\n\n", nested),
        ("**Where attention looks** from the query position (classifier runs):\n\n", attention),
        ("**What the recurrent state holds**: a linear probe of the subject's number on the hidden state, by tokens "
         "since the subject (classifier runs; 0.5 is chance):\n\n", state),
    ]
    return [title + text for title, fn in parts if (text := fn(Path(folder), link))]
