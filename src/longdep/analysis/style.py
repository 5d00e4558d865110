"""One place for how figures look: model order, display names, colours."""
from __future__ import annotations

import sys

import matplotlib

if "ipykernel" not in sys.modules:  # headless and file-only everywhere but in a notebook, which draws inline
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

MODEL_ORDER = ["rnn", "lstm", "single_head", "multi_head", "transformer"]
MODEL_NAMES = {
    "rnn": "Elman RNN",
    "lstm": "LSTM",
    "single_head": "single-head attn",
    "multi_head": "multi-head attn",
    "transformer": "transformer",
}
_palette = sns.color_palette("colorblind", len(MODEL_ORDER))
MODEL_COLORS = {MODEL_NAMES[m]: _palette[i] for i, m in enumerate(MODEL_ORDER)}
BASELINE_NAMES = {"majority": "majority label", "first_noun": "first noun", "nearest_noun": "nearest noun"}
BASELINE_STYLES = {"majority": ":", "first_noun": "-.", "nearest_noun": "--"}


def apply() -> None:
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.1)
    plt.rcParams.update({"figure.dpi": 110, "savefig.bbox": "tight"})


def display(df, column: str = "model"):
    """Copy of ``df`` with model names for display, ordered like the ladder."""
    df = df.copy()
    present = [m for m in MODEL_ORDER if m in set(df[column])]
    df[column] = df[column].map(MODEL_NAMES).astype("category").cat.set_categories([MODEL_NAMES[m] for m in present])
    return df


def save(fig, folder, stem: str) -> list:
    """Write ``fig`` as PNG and PDF under ``folder`` (atomically, reproducibly); return the paths."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        path = folder / f"{stem}.{ext}"
        tmp = folder / f".{stem}.tmp.{ext}"
        # no creation date: the same CSVs give byte-identical files, so a rebuild shows no diff
        fig.savefig(tmp, metadata={"CreationDate": None} if ext == "pdf" else None)
        tmp.replace(path)
        paths.append(path)
    plt.close(fig)
    return paths
