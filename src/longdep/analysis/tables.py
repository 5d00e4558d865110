"""What the reports share: one Markdown table writer, one figure link and the filters every section applies.

    from longdep.analysis.tables import figure, markdown, mixed, run_accuracy
    print(markdown(["model", "accuracy"], [["LSTM", "0.99 ± 0.01"]]))
    print(figure("results/paper", None, "accuracy_vs_distance", "accuracy against distance"))

The filters take a table of per-slice rows (``accuracy.csv``) and return the rows of one kind:
``mixed`` (runs trained on a range of distances, the headline) or ``fixed`` (at one distance), and the
test distances a run was ``trained`` on, ``unseen`` beyond them (D+1 .. 4D) and ``far`` beyond twice
them (2D+1 .. 4D).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from longdep.analysis.panels import pooled


def markdown(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """A Markdown table: the header, the rule, one line per row (cells as given, ``str`` of the rest); a
    row shorter than the header ends in empty cells (``| |``)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" + " |" * (len(header) - len(row)) for row in rows]
    return "\n".join(lines)


def image(link: str, stem: str, alt: str) -> str:
    """The Markdown image of ``figures/<stem>.png`` in the results folder a report links as ``link``."""
    return f"![{alt}]({link}/figures/{stem}.png)"


def figure(folder: Path, link: str | None, stem: str, alt: str) -> str:
    """A paragraph linking ``figures/<stem>.png`` of ``folder`` (under ``link``, default: the folder as
    given) when `longdep figures` drew it, else ''."""
    if not (Path(folder) / "figures" / f"{stem}.png").is_file():
        return ""
    return "\n\n" + image(link or Path(folder).as_posix(), stem, alt)


def by_distance(acc: pd.DataFrame) -> pd.DataFrame:
    """The rows of the test set by distance (not the attractor or nested sets)."""
    return acc[acc["test_set"] == "distance"]


def mixed(acc: pd.DataFrame) -> pd.DataFrame:
    """The rows of runs trained on a range of distances (``1-16``, ``1-64``), not at one distance."""
    return acc[acc["train_min_distance"] < acc["train_max_distance"]]


def fixed(acc: pd.DataFrame) -> pd.DataFrame:
    """The rows of runs trained at one distance (``train_min_distance == train_max_distance``)."""
    return acc[acc["train_min_distance"] == acc["train_max_distance"]]


def trained(acc: pd.DataFrame) -> pd.DataFrame:
    return acc[acc["distance"] <= acc["train_max_distance"]]


def unseen(acc: pd.DataFrame) -> pd.DataFrame:
    return acc[acc["distance"] > acc["train_max_distance"]]


def far(acc: pd.DataFrame) -> pd.DataFrame:
    return acc[acc["distance"] > 2 * acc["train_max_distance"]]


RANGES = {"trained": trained, "unseen": unseen, "far": far}


def run_accuracy(acc: pd.DataFrame) -> pd.DataFrame:
    """Per run of the distance test set: ``run_id`` and its accuracy on the trained, unseen and far
    distances (columns of those names; NaN where a run has no such distances)."""
    d = by_distance(acc)
    out = None
    for name, pick in RANGES.items():
        r = pooled(pick(d), ["run_id"]).rename(columns={"accuracy": name})[["run_id", name]]
        out = r if out is None else out.merge(r, on="run_id", how="outer")
    return out if out is not None else pd.DataFrame(columns=["run_id", *RANGES])
