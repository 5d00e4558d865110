"""One place for how figures look: model order, display names and colours come from the model
registry (:data:`longdep.models.MODELS`); baselines' names and line styles are set here."""
from __future__ import annotations

import sys

import matplotlib

if "ipykernel" not in sys.modules:  # headless and file-only everywhere but in a notebook, which draws inline
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from longdep.config import UsageError  # noqa: E402
from longdep.models import MODELS  # noqa: E402


def model_order() -> list[str]:
    """Registered models, in ladder order."""
    return list(MODELS)


def model_name(model: str) -> str:
    """A model's display name; a UsageError for a model the registry does not know."""
    if model not in MODELS:
        raise UsageError(f"results hold model {model!r}, which is not registered (valid: {', '.join(MODELS)}); "
                         "name the module that registers it in LONGDEP_PLUGINS")
    return MODELS[model].display


def model_colors() -> dict:
    """Display name -> colour, for seaborn's ``palette``."""
    return {spec.display: spec.color for spec in MODELS.values()}


def model_color(model: str) -> str:
    return MODELS[model].color if model in MODELS else model_name(model)

BASELINE_NAMES = {"majority": "majority label", "first_noun": "first noun", "after_comma": "first noun after a comma",
                  "after_that": "first noun after the last 'that'", "nearest_noun": "nearest noun",
                  "noun_majority": "noun-number majority", "bag_of_words": "bag-of-words (logistic regression)"}


def baseline_name(heuristic: str) -> str:
    """A baseline's display name (``offset_16`` -> "noun at verb - 16")."""
    if heuristic.startswith("offset_"):
        return f"noun at verb - {heuristic.split('_', 1)[1]}"
    return BASELINE_NAMES.get(heuristic, heuristic)


def apply() -> None:
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.1)
    plt.rcParams.update({"figure.dpi": 110, "savefig.bbox": "tight"})


def display(df, column: str = "model"):
    """Copy of ``df`` with model names for display, ordered like the ladder (an unregistered model
    in the data is an error, never a silently missing line)."""
    df = df.copy()
    seen = set(df[column])
    for model in seen:
        model_name(model)
    present = [m for m in model_order() if m in seen]
    names = {m: model_name(m) for m in present}
    df[column] = df[column].map(names).astype("category").cat.set_categories([names[m] for m in present])
    return df


def save(fig, folder, stem: str) -> list:
    """Write ``fig`` as PNG and PDF under ``folder`` (atomically, reproducibly); return the paths."""
    import errno
    import os
    import tempfile
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        path = folder / f"{stem}.{ext}"
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")  # unique: two writers never meet
        try:
            with os.fdopen(fd, "wb") as fh:
                # no creation date: the same CSVs give byte-identical files, so a rebuild shows no diff
                fig.savefig(fh, format=ext, metadata={"CreationDate": None} if ext == "pdf" else None)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            if exc.errno == errno.ENOSPC:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
            raise
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        paths.append(path)
    plt.close(fig)
    return paths
