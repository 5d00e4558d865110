"""The controls beside a grid's main results (issue 28), each read against the main folder's own cells:

- ``positions/``: attention models with other position encodings (the main cells are sinusoidal);
- ``pretrained/``: classifiers that started from their own language model (``pretrain/`` holds those);
  the main cells trained from scratch;
- ``recipe/``: one part of each model's tuned recipe changed (the main cells hold the recipe).

    from longdep.analysis import controls_report as cr
    print("\\n\\n".join(cr.sections(Path("results/paper"))))

Every row is a model and variant: its seeds, test accuracy on the trained, unseen and far distances
(seed-level 95% t-intervals), how its runs ended, and for the recipe and pretraining parts the training
examples to 95% validation accuracy (median over the runs that got there; a pretrained run counts its
pretraining's examples too) and the best validation accuracy.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from longdep.analysis import style
from longdep.analysis.data import (CONTROL_PARTS, ENCODINGS, STARTS, has_controls, load_controls, positions_runs,
                                   pretrained_runs)
from longdep.analysis.panels import ci_text, t_interval, whole
from longdep.analysis.tables import markdown
from longdep.records import run_records


def _row(label: list, sub: pd.DataFrame, speed: bool) -> list:
    ended = ", ".join(f"{int(n)} {r}" for r, n in sub["end"].value_counts().items())
    f = fact(sub, "trained")
    cells = [*label, f["n"], ci_text(sub["trained"].dropna()), ci_text(sub["unseen"].dropna()), ci_text(sub["far"].dropna())]
    if speed:
        cells += [f"{_examples(f['to95'])} ({f['reached']}/{f['n']})", ci_text(sub["best_val"])]
    return cells + [ended + (f"; {f['rising']} still improving at the cap" if f["rising"] else "")]


def fact(sub: pd.DataFrame, column: str) -> dict:
    """What a finding reads from one variant's runs: the mean of ``column`` and its seed-level 95%
    t-interval (``lo``, ``hi``), the median examples to 95% over the ``reached`` runs that got there
    (inf: none), the runs ``n`` and ``rising`` (those that ended at the step cap still improving)."""
    lo, hi = t_interval(sub[column].dropna())
    got = sub["to95"].dropna()
    return {"mean": float(sub[column].mean()), "lo": lo, "hi": hi, "to95": float(np.median(got)) if len(got) else np.inf,
            "reached": len(got), "n": len(sub), "rising": int((sub["rising"] & (sub["end"] == "cap")).sum())}


def _said(f: dict, speed: bool = False) -> str:
    """``0.84`` (``, 73,600`` examples with ``speed``), and how many runs were still improving at the cap."""
    rising = f" ({f['rising']}/{f['n']} runs still improving at the step cap)" if f.get("rising") else ""
    return f"{f['mean']:.2f}" + (f", {_examples(f['to95'])}" if speed else "") + rising


def _against(f: dict, ref: dict) -> str:
    """``f`` against ``ref`` by their 95% intervals: 'lower', 'higher', or '' where they overlap."""
    return "lower" if f["hi"] < ref["lo"] else "higher" if f["lo"] > ref["hi"] else ""


HEAD = ["seeds", "trained distances", "unseen (D+1 .. 4D)", "far (2D+1 .. 4D)"]
SPEED = ["examples to 95% (median, reached)", "best val. acc."]


def positions_table(runs: pd.DataFrame) -> tuple[str, dict]:
    """Per objective and attention model: every encoding (sinusoidal: the main cells) at the range the
    positions part trained on; facts ``{(objective, model, positions): fact(far accuracy)}``."""
    keep = positions_runs(runs)
    if not len(keep):
        return "", {}
    rows, facts = [], {}
    for (objective, model), sub in _ordered(keep, ["objective", "model"]):
        for enc in ENCODINGS:
            s = sub[sub["variant"] == enc]
            if len(s):
                rows.append(_row([objective, style.model_name(model), enc], s, False))
                facts[(objective, model, enc)] = fact(s, "far")
    return markdown(["objective", "model", "positions", *HEAD, "ended"], rows), facts | {"D": int(keep["D"].iloc[0])}


def pretrained_table(runs: pd.DataFrame) -> tuple[str, dict]:
    """Per model: the classifier from scratch (main) and from its own language model, at the pretrained
    part's range; facts ``{(model, start): fact(trained accuracy)}``."""
    keep = pretrained_runs(runs)
    if not len(keep):
        return "", {}
    rows, facts = [], {}
    for (model,), sub in _ordered(keep, ["model"]):
        for start in STARTS:
            s = sub[sub["variant"] == start]
            if len(s):
                rows.append(_row([style.model_name(model), start], s, True))
                facts[(model, start)] = fact(s, "trained")
    return markdown(["model", "start", *HEAD, *SPEED, "ended"], rows), facts | {"D": int(keep["D"].iloc[0])}


def recipe_label(run: pd.Series, base: pd.Series) -> str:
    """What a recipe run changed against its model's tuned recipe (``base``, a main run of the same model)."""
    parts = []
    if run["warmup"] != base["warmup"]:
        parts.append(f"warmup {int(run['warmup'])}")
    if run["schedule"] != base["schedule"]:
        parts.append(f"{run['schedule']} lr")
    if not np.isclose(run["lr"], base["lr"]):
        parts.append(f"lr {run['lr']:.2g} (tuned {base['lr']:.2g})")
    if run["norm"] != base["norm"]:
        parts.append(f"{run['norm']}-norm")
    if run["positions"] != base["positions"]:
        parts.append(f"{run['positions']} positions")
    return ", ".join(parts) or "the tuned recipe"


def recipe_table(runs: pd.DataFrame) -> tuple[str, dict]:
    """Per model: the tuned recipe (main cells, the seeds the recipe part ran) and each change of one part
    of it; facts ``{(model, label): fact(trained accuracy)}``."""
    rec = runs[runs["part"] == "recipe"]
    if not len(rec):
        return "", {}
    D, seeds = int(rec["D"].iloc[0]), set(rec["seed"])
    main = runs[(runs["part"] == "main") & (runs["D"] == D) & (runs["objective"] == "classify") & runs["seed"].isin(seeds)
                & (runs["positions"] == "sinusoidal") & ~runs["pretrained"]]
    rows, facts = [], {}
    for (model,), sub in _ordered(rec, ["model"]):
        base = main[main["model"] == model]
        if not len(base):
            continue
        labelled = [("the tuned recipe", base)] + list(sub.assign(label=[recipe_label(r, base.iloc[0]) for _, r in sub.iterrows()])
                                                     .groupby("label", sort=True))
        for label, s in labelled:
            rows.append(_row([style.model_name(model), label], s, True))
            facts[(model, label)] = fact(s, "trained")
    return markdown(["model", "recipe", *HEAD, *SPEED, "ended"], rows), facts | {"D": D}


def _ordered(df: pd.DataFrame, keys: list):
    """``(key tuple, rows)`` per group of ``keys``, models in the ladder's order."""
    order = {m: i for i, m in enumerate(style.model_order())}
    rank = lambda k: tuple(order.get(x, 99) if key == "model" else str(x) for key, x in zip(keys, k))  # noqa: E731
    yield from sorted(df.groupby(keys), key=lambda kg: rank(kg[0]))


def findings(pos: dict, pre: dict, recipe: dict) -> str:
    """Bullets stated from the three tables' facts (empty parts say nothing). A difference is called one
    only where the seed-level 95% intervals are apart; runs still improving at the cap are counted."""
    out, name = [], style.model_name
    if pos:
        D = pos["D"]
        for objective in ("classify", "lm"):
            for model in style.model_order():
                got = {k[2]: v for k, v in pos.items() if isinstance(k, tuple) and k[:2] == (objective, model)}
                if len(got) > 1:
                    text = ", ".join(f"{enc} {_said(v)}" for enc, v in got.items())
                    best = max(got, key=lambda enc: got[enc]["mean"])
                    clear = all(got[best]["lo"] > v["hi"] for enc, v in got.items() if enc != best)
                    verdict = (f"best: {best}, its seed-level 95% interval clear of the others'" if clear else
                               f"highest mean: {best}, but its 95% interval overlaps another's")
                    out.append(f"- Positions, {name(model)} {'classifier' if objective == 'classify' else 'language model'} "
                               f"trained on 1-{whole(D)}, accuracy far beyond it ({2 * D + 1}-{4 * D}): {text}; {verdict}.")
    if pre:
        for model in style.model_order():
            if (model, "scratch") in pre and (model, "own LM") in pre:
                a, b = pre[(model, "scratch")], pre[(model, "own LM")]
                side = _against(b, a)
                verdict = f"{side} than from scratch, the 95% intervals apart" if side else "the 95% intervals overlap"
                out.append(f"- Self-pretraining, {name(model)} classifier on 1-{whole(pre['D'])}: trained-distance accuracy "
                           f"{_said(a)} from scratch, {_said(b)} from its own language model ({verdict}); examples to 95% "
                           f"{_examples(a['to95'])} vs {_examples(b['to95'])} (pretraining included).")
    if recipe:
        for model in style.model_order():
            mine = {k[1]: v for k, v in recipe.items() if isinstance(k, tuple) and k[0] == model}
            if "the tuned recipe" in mine and len(mine) > 1:
                tuned = mine.pop("the tuned recipe")
                text = "; ".join(f"{label}: {_said(f, True)}" for label, f in mine.items())
                worse = [label for label, f in mine.items() if _against(f, tuned) == "lower"]
                better = [label for label, f in mine.items() if _against(f, tuned) == "higher"]
                verdict = (f"clearly worse (95% intervals of {tuned['n']} seeds apart), so the tuned recipe needs what "
                           f"it changes: {', '.join(worse)}" if worse else
                           f"no change is clearly worse than the tuned recipe (95% intervals of {tuned['n']} seeds)") + (
                           f"; clearly better: {', '.join(better)}" if better else "")
                out.append(f"- Recipe, {name(model)} on 1-{whole(recipe['D'])} (trained-distance accuracy, examples to 95%): "
                           f"tuned {_said(tuned, True)}; {text}; {verdict}.")
    return "\n".join(out)


def _examples(x: float) -> str:
    return "never" if not np.isfinite(x) else f"{x:,.0f}"


def cost(folder: Path) -> str:
    """What the controls cost: the training time of their runs and of the pretraining runs, summed from
    the run records (each run trains on one thread), per part; '' without control folders."""
    from longdep.grid import PRETRAIN

    hours = {part: sum(float(r.get("wall_time_s") or 0) for r in run_records(Path(folder) / part)) / 3600
             for part in (PRETRAIN, *CONTROL_PARTS) if (Path(folder) / part / "runs").is_dir()}
    if not hours:
        return ""
    parts = ", ".join(f"{part} {h:.1f}" for part, h in hours.items())
    return (f"The controls took {sum(hours.values()):.1f} core-hours of training ({parts}; the sum of their runs' "
            f"wall times, one thread each), {sum(hours.values()) / 2:.1f} h on 2 workers.")


def sections(folder: Path) -> list[str]:
    """The report's control sections for ``folder`` ([] without control folders)."""
    if not has_controls(folder):
        return []
    runs = load_controls(folder)
    (pt, pf), (st, sf), (rt, rf) = positions_table(runs), pretrained_table(runs), recipe_table(runs)
    out = []
    if pt:
        out.append("**Control: position encodings** (attention models trained on 1-%s; sinusoidal is the headline's "
                   "cell, the others `positions/`; test accuracy, seed-level 95%% t-intervals):\n\n%s" % (whole(pf["D"]), pt))
    if st:
        out.append("**Control: self-pretraining** (the classifier from scratch, the headline's cell, against the same "
                   "recipe started from its own language model on the same training distribution, `pretrain/` then "
                   "`pretrained/`; examples to 95%% count the pretraining's):\n\n%s" % st)
    if rt:
        out.append("**Control: what each part of the recipe is worth** (one part of the tuned recipe changed at a time, "
                   "`recipe/`; positions were not tuned, every model uses sinusoidal, and the positions control is above; "
                   "single-head attention, the minimal block, has no norm to change):"
                   "\n\n%s" % rt)
    text = findings(pf, sf, rf)
    if text:
        out.append("**What the controls changed** (stated from the tables above):\n\n" + text)
    spent = cost(folder)
    if spent:
        out.append(spent)
    return out


def summary(folder: Path) -> list[str]:
    """The README's lines on the controls: the findings alone ([] without control folders)."""
    if not has_controls(folder):
        return []
    runs = load_controls(folder)
    text = findings(positions_table(runs)[1], pretrained_table(runs)[1], recipe_table(runs)[1])
    spent = cost(folder)
    return ["**What the controls changed** (positions, self-pretraining, the recipe; the report's control tables):\n\n"
            + text + (f"\n\n{spent}" if spent else "")] if text else []
