"""One place for how figures look: model order and display names come from the model registry
(:data:`longdep.models.MODELS`); colours and markers are given to its models in ladder order from
one colour-blind-safe palette; baselines' names, and the tick labels of log axes (plain numbers,
bytes in MB/GB, seconds in ms/s), are set here."""
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


# Paul Tol's "bright" scheme (personal.sron.nl/~pault, "qualitative"): six hues that stay apart for
# colour-blind readers (and on paper in grey by their markers). Given in ladder order, which makes
# rnn blue, lstm ochre, single_head green, multi_head purple, transformer red, minGRU cyan; a model
# registered after these six keeps the colour its registry entry names.
def model_color(model: str) -> str:
    """The model's colour, from its registry entry."""
    model_name(model)  # a UsageError for a model the registry does not know
    return MODELS[model].color


def model_marker(model: str) -> str:
    """The model's marker, from its registry entry."""
    model_name(model)
    return MODELS[model].marker


def model_colors() -> dict:
    """Display name -> colour, for seaborn's ``palette``."""
    return {spec.display: model_color(name) for name, spec in MODELS.items()}


def model_markers() -> dict:
    """Display name -> marker, for seaborn's ``markers`` (with ``style="model"``)."""
    return {spec.display: model_marker(name) for name, spec in MODELS.items()}


def lines(**kwargs) -> dict:
    """seaborn ``lineplot`` arguments for one line per model: its colour and its marker, solid lines."""
    return {"hue": "model", "palette": model_colors(), "style": "model", "markers": model_markers(),
            "dashes": False, **kwargs}

BASELINE_NAMES = {"majority": "majority label", "first_noun": "first noun", "after_comma": "first noun after a comma",
                  "after_that": "first noun after the last 'that'", "nearest_noun": "nearest noun",
                  "noun_majority": "noun-number majority", "bag_of_words": "bag-of-words (logistic regression)"}


def baseline_name(heuristic: str) -> str:
    """A baseline's display name (``offset_16`` -> "noun at verb - 16")."""
    if heuristic.startswith("offset_"):
        return f"noun at verb - {heuristic.split('_', 1)[1]}"
    return BASELINE_NAMES.get(heuristic, heuristic)


def _plain(value: float) -> str:
    return f"{value:,.0f}" if value >= 1000 else f"{value:g}"


def plain_ticks(ax, axis: str = "y") -> None:
    """Plain numbers on a log axis (0.5, 1, 2, 64), never 2^k or 6x10^-1."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(lambda v, _: _plain(v)))
    target.set_minor_formatter(NullFormatter())


def bytes_text(value: float) -> str:
    """Decimal units, as the sweep's budgets are given: 250 MB, 2.5 GB."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= size:
            return f"{value / size:g} {unit}"
    return f"{value:g} B"


def seconds_text(value: float) -> str:
    for unit, size in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= size:
            return f"{value / size:g} {unit}"
    return f"{value * 1e9:g} ns"


def unit_ticks(ax, text, axis: str = "y", below: float = float("inf")) -> None:
    """Major ticks of a log axis labelled by ``text`` (:func:`bytes_text`, :func:`seconds_text`): at
    each power of ten, and at 2x and 5x too where the axis spans under three decades (call it once
    the axis holds its data); none above ``below``."""
    import math

    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    subs = (1.0, 2.0, 5.0) if math.log10(hi / lo) < 3 else (1.0,)
    target.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    target.set_major_formatter(FuncFormatter(lambda v, _: text(v) if v <= below * 1.0001 else ""))
    target.set_minor_formatter(NullFormatter())


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
    import os
    from pathlib import Path

    from longdep.records import naming, temp_beside

    folder = Path(folder)
    paths = []
    for ext in ("png", "pdf"):
        path = folder / f"{stem}.{ext}"
        fd, tmp = temp_beside(path)  # unique: two writers never meet
        try:
            with os.fdopen(fd, "wb") as fh:
                # no creation date: the same CSVs give byte-identical files, so a rebuild shows no diff
                fig.savefig(fh, format=ext, metadata={"CreationDate": None} if ext == "pdf" else None)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise naming(exc, path) from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        paths.append(path)
    plt.close(fig)
    return paths
