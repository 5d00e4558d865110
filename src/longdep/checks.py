"""Checks of user input shared by every layer, the ground floor beside :mod:`longdep.config`: the one
error type (:class:`UsageError`, printed by the CLI as one line, exit code 2), paths (length,
encoding, symbolic links, writable), numbers (finite, positive) and choices. Imports nothing of
longdep, so anything may use it; :mod:`longdep.config` re-exports every name.
"""
from __future__ import annotations

import math
import os
import tempfile
from dataclasses import fields, is_dataclass
from pathlib import Path


class UsageError(ValueError):
    """Bad user input: printed as one line by the CLI, exit code 2."""


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (or its type name)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ---------------------------------------------------------------- paths

TEMP_SUFFIX = len(".") + len(".12345678.tmp")  # what an atomic write adds around a file's name


def check_output_file(path: Path, what: str = "--out") -> None:
    """UsageError unless ``path`` can be written atomically as a file: not a folder, a name short enough
    for its temporary sibling (``.<name>.<8 chars>.tmp``), in a folder that is or can be made writable."""
    path = Path(path)
    check_path(path, what)
    size = len(path.name.encode("utf-8"))
    if size + TEMP_SUFFIX > NAME_MAX:
        raise UsageError(f"{what}: the file name {path.name[:24]!r}... is {size} bytes; valid: at most "
                         f"{NAME_MAX - TEMP_SUFFIX} bytes (its temporary copy needs the rest)")
    if path.is_dir():
        raise UsageError(f"{what} {str(path)!r} is a directory; give a file, e.g. {str(path / 'out.csv')!r}")
    check_writable(path.parent if str(path.parent) else Path("."), "output folder")


def results_folder(results_dir: str | Path, name: str) -> Path:
    """``<results_dir>/<name>``; ``name`` must be a plain folder name (no separators, not hidden)."""
    if not name or "/" in name or "\\" in name or name.startswith(".") or Path(name).name != name:
        raise UsageError(f"name must be a plain folder name, got {name!r}")
    check_path(Path(results_dir) / name, "results folder")
    return Path(results_dir) / name


NAME_MAX = 255  # bytes in one path component (ext4, XFS, APFS)


def check_path(path: Path, what: str) -> None:
    """UsageError unless every component of ``path`` is UTF-8 text of at most 255 bytes and no component
    that exists is a dangling or looping symbolic link (each named, with what is allowed)."""
    for part in Path(path).parts:
        try:
            size = len(part.encode("utf-8"))
        except UnicodeEncodeError:
            raise UsageError(f"{what} {str(path)!r} is not UTF-8 text; valid: names of UTF-8 characters") from None
        if size > NAME_MAX:
            raise UsageError(f"{what}: the name {part[:24]!r}... is {size} bytes; valid: at most {NAME_MAX} bytes "
                             "per folder or file name")
    probe = Path(path)
    for parent in (probe, *probe.parents):
        if parent.is_symlink():
            try:
                parent.resolve(strict=True)
            except (FileNotFoundError, RuntimeError, OSError) as exc:
                kind = "a symbolic link loop" if isinstance(exc, RuntimeError) or getattr(exc, "errno", 0) == 40 \
                    else "a symbolic link to nothing"
                raise UsageError(f"{what} {str(path)!r}: {str(parent)!r} is {kind}; valid: an existing folder "
                                 "or a new path") from None


def check_writable(folder: Path, what: str = "results folder") -> None:
    """UsageError unless ``folder`` is, or can be made as, a writable directory (probed without leaving
    anything behind: a temporary directory in its nearest existing ancestor, removed at once)."""
    folder = Path(folder)
    check_path(folder, what)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{what} {str(folder)!r} exists and is not a directory")
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"{what} {str(folder)!r} is under {str(probe)!r}, which is not a directory")
    try:
        os.rmdir(tempfile.mkdtemp(dir=probe, prefix=".longdep-probe-"))
    except OSError as exc:
        raise UsageError(f"{what} {str(folder)!r} cannot be written ({exc.strerror or exc}); "
                         "choose another results_dir / --out") from None


# ---------------------------------------------------------------- value checks

def check_choice(what: str, value, valid) -> None:
    """UsageError naming ``value`` and the valid choices unless ``value`` is one of them."""
    if value not in valid:
        raise UsageError(f"unknown {what} {value!r}; valid: {', '.join(map(str, valid))}")


def check_choices(what: str, values, valid) -> None:
    """Every entry of the list ``values`` (named ``what``, plural) must be valid; the list not empty."""
    if not values:
        raise UsageError(f"{what} is empty; valid: {', '.join(map(str, valid))}")
    for v in values:
        check_choice(what[:-1] if what.endswith("s") else what, v, valid)


def check_positive(what: str, value) -> None:
    """UsageError unless ``value`` is a positive number."""
    if value is None or value <= 0:
        raise UsageError(f"{what} must be positive, got {value!r}")


def check_heads(d_model: int, heads: int, prefix: str = "") -> None:
    """UsageError listing the valid head counts unless ``heads`` divides ``d_model``."""
    if d_model % heads:
        valid = [h for h in range(1, d_model + 1) if d_model % h == 0]
        raise UsageError(f"{prefix}heads={heads} does not divide {prefix}d_model={d_model}; valid heads: {valid}")


def check_finite(value, key: str = "") -> None:
    """UsageError naming the first number in ``value`` (a config: dataclasses, mappings and lists of
    them) that is NaN or infinite; every config goes through it, whatever command merged it."""
    if is_dataclass(value) and not isinstance(value, type):
        items = ((f.name, getattr(value, f.name)) for f in fields(value))
    elif isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = ((f"[{i}]", v) for i, v in enumerate(value))
    else:
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"{key} must be a finite number, got {value!r}")
        return
    for name, v in items:
        check_finite(v, f"{key}{name}" if str(name).startswith("[") or not key else f"{key}.{name}")
