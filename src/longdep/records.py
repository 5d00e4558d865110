"""Results on disk: atomic, idempotent writes and the environment record of a run.

Every file under ``results/`` is written to a temporary file in the same folder and renamed
into place, so a killed process leaves either the old file or the new one, never half of one.
Rows are appended *per run*: :func:`append_rows` first drops any rows already carrying the same
``run_id``, so re-running a run after a crash never doubles its rows. A lock file serialises
writers (several grid workers may append to the same CSV).
"""
from __future__ import annotations

import errno
import fcntl
import gzip
import json
import os
import tempfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

_UMASK = os.umask(0)
os.umask(_UMASK)


def open_lock(path: Path):
    """Open (create) the lock file ``path`` for reading and writing without following a symbolic link
    (``O_NOFOLLOW``) and without truncating it; a link there raises :class:`BrokenResults` naming it
    (the link's target is never opened)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as err:
        if err.errno == errno.ELOOP or Path(path).is_symlink():
            raise BrokenResults(f"{path} is a symbolic link; a results folder's lock files must be plain files: "
                             "remove the link and rerun") from None
        raise
    return os.fdopen(fd, "r+")


@contextmanager
def locked(path: Path):
    """Hold an exclusive lock on ``<path>.lock`` (a sibling file) for the block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_lock(path.with_name(f".{path.name}.lock")) as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write ``text`` (or bytes) to ``path`` via a temp file + fsync + rename in the same folder."""
    path = Path(path)
    fd, tmp = temp_beside(path)
    try:
        with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are ordinary shared files
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise naming(exc, path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# The errors of writing a file that are the place's, not the program's: the command line reports them in
# one line naming the file (a full disk, a read-only mount, no permission).
UNWRITABLE = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def naming(exc: OSError, path: Path) -> OSError:
    """``exc`` naming ``path`` (the file the user will look for, not a temporary copy) where it is one of
    :data:`UNWRITABLE`; else ``exc`` itself."""
    if exc.errno in UNWRITABLE:
        return OSError(exc.errno, os.strerror(exc.errno), str(path))
    return exc


def temp_beside(path: Path) -> tuple[int, str]:
    """A new temporary file in ``path``'s folder (made if missing), for an atomic replace of ``path``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise naming(exc, path) from None


def write_json(path: Path, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


_ON_INTERRUPT: list = []


@contextmanager
def on_interrupt(record):
    """While inside, ``record()`` runs if Ctrl-C stops the command (the CLI's handler calls
    :func:`run_interrupt_hooks` before it exits), e.g. to log how long an interrupted grid ran."""
    _ON_INTERRUPT.append(record)
    try:
        yield
    finally:
        _ON_INTERRUPT.remove(record)


def run_interrupt_hooks() -> None:
    for record in reversed(list(_ON_INTERRUPT)):
        try:
            record()
        except Exception:  # noqa: BLE001 - the command is stopping; what was written stays whole
            pass


# The per-run tables, one row per (run, slice): stored gzip-compressed as ``<name>.gz`` (10-25x smaller;
# ``pd.read_csv`` reads them directly, inferring gzip from the name). Code names them by the plain
# name; :func:`stored` says where one lies. A folder written before keeps its plain CSV until the next
# append rewrites it compressed.
COMPRESSED = ("accuracy.csv", "baselines.csv", "counterfactual.csv", "attention.csv", "probe.csv")


def stored(path: Path) -> Path:
    """The file that holds the table ``path`` names: ``<name>.gz`` for :data:`COMPRESSED` tables (or the
    plain file where only an older plain copy exists), ``path`` itself for the others."""
    path = Path(path)
    if path.name in COMPRESSED:
        gz = path.with_name(path.name + ".gz")
        if gz.exists() or not path.exists():
            return gz
    return path


def has_table(path: Path) -> bool:
    """Whether the table ``path`` names exists (compressed or plain)."""
    return stored(path).exists()


def table_text(df: pd.DataFrame, path: Path) -> str | bytes:
    """What ``df`` is stored as at ``path``: CSV text, gzip-compressed for ``.gz`` names (mtime 0, so the
    same rows give the same bytes and git sees no change)."""
    text = df.to_csv(index=False)
    return gzip.compress(text.encode(), compresslevel=6, mtime=0) if Path(path).suffix == ".gz" else text


def append_rows(path: Path, rows: pd.DataFrame, key: str = "run_id") -> None:
    """Append ``rows`` to the table ``path`` names, replacing earlier rows with the same ``key`` values."""
    path = Path(path)
    with locked(path):
        old_file = stored(path)
        old = read_csv(path)
        if old is not None:
            if key in old.columns and key in rows.columns:
                old = old[~old[key].isin(rows[key].unique())]
            rows = pd.concat([old, rows], ignore_index=True)
        target = path.with_name(path.name + ".gz") if path.name in COMPRESSED else path
        write_atomic(target, table_text(rows, target))
        if old_file != target:  # an older plain copy, now held compressed
            old_file.unlink(missing_ok=True)


def read_json(path: Path):
    """The JSON value in ``path``; a :class:`BrokenResults` naming the file and the line for a file that is
    not JSON (truncated, not UTF-8)."""
    try:
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except json.JSONDecodeError as exc:
        raise BrokenResults(f"{path} line {exc.lineno} is not JSON ({exc.msg}); move it aside (or restore it "
                            "from git) and rerun") from None
    except UnicodeDecodeError as exc:
        raise BrokenResults(f"{path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                            "move it aside (or restore it from git) and rerun") from None


# Columns every row of a results file must fill; a file without them, or with a row missing one
# (a truncated line), is refused on read, so nothing is ever drawn from or appended to a broken row.
SCHEMAS = {
    "accuracy.csv": ("run_id", "model", "seed", "test_set", "n", "correct", "accuracy"),
    "baselines.csv": ("run_id", "test_set", "heuristic", "n", "accuracy"),
    "counterfactual.csv": ("run_id", "model", "seed", "probe", "n", "rate"),
    "attention.csv": ("run_id", "model", "seed", "layer", "head", "distance", "target", "n", "weight"),
    "probe.csv": ("run_id", "model", "seed", "offset", "n", "accuracy"),
    "grid_log.csv": ("grid", "finished", "cells", "cells_done_before", "total_s"),
    "scaling.csv": ("point_id", "model", "backend", "device", "threads", "batch", "seq_len", "status"),
}


# Columns of a results file that hold numbers: a text value in one (a second header row, a hand edit) is
# refused on read, never drawn from or silently left out.
NUMERIC = {
    "accuracy.csv": ("seed", "n", "correct", "accuracy"),
    "baselines.csv": ("n", "accuracy"),
    "counterfactual.csv": ("seed", "n", "rate"),
    "attention.csv": ("seed", "layer", "head", "distance", "n", "weight"),
    "probe.csv": ("seed", "offset", "n", "accuracy"),
    "grid_log.csv": ("cells", "cells_done_before", "total_s"),
    "scaling.csv": ("threads", "batch", "seq_len"),
}


class BrokenResults(ValueError):
    """A results file that cannot be read as what it should be (the CLI reports it in one line)."""


def read_csv(path: Path) -> pd.DataFrame | None:
    """The table ``path`` names (see :func:`stored`), or None when it is missing or empty; a file named in
    :data:`SCHEMAS` is checked against its columns, and a :class:`BrokenResults` names the file and the
    first bad line."""
    name = Path(path).name
    path = stored(path)
    if not path.exists() or path.stat().st_size == 0:
        return None
    hint = "move it aside (or restore it from git) and rerun"
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, EOFError,
            gzip.BadGzipFile, zlib.error) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BrokenResults(f"{path} is not a readable CSV ({first}); {hint}") from None
    required = SCHEMAS.get(name, ())
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise BrokenResults(f"{path} line 1: the header lacks {', '.join(missing)}; {hint}")
    if required and len(df):
        bad = df[list(required)].isna().any(axis=1)
        if bad.any():
            i = int(bad.to_numpy().argmax())
            empty = [c for c in required if pd.isna(df.iloc[i][c])]
            raise BrokenResults(f"{path} line {i + 2} is incomplete (no {', '.join(empty)}); {hint}")
    for col in NUMERIC.get(name, ()):
        if col in df.columns and not pd.api.types.is_numeric_dtype(df[col]):  # pandas read a text value in it
            text = pd.to_numeric(df[col], errors="coerce").isna() & df[col].notna()
            if text.any():
                i = int(text.to_numpy().argmax())
                second = " (a second header row?)" if df.iloc[i][col] == col else ""
                raise BrokenResults(f"{path} line {i + 2}: {col} is {df.iloc[i][col]!r}, not a number{second}; {hint}")
            df[col] = pd.to_numeric(df[col])
    return df


@contextmanager
def exclusive(folder: Path):
    """Hold ``<folder>/.longdep.lock`` for the block, or raise :class:`FolderBusy` at once when another
    process holds it (two grids on one folder would both train every cell)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".longdep.lock"
    fh = open_lock(path)
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            pid = fh.read().strip() or "?"
            raise FolderBusy(f"another longdep command (pid {pid}) is writing {folder}; wait for it to finish "
                             "or choose another folder") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        yield
    finally:
        fh.close()  # closing releases the lock


class FolderBusy(RuntimeError):
    """Another process holds the folder's lock."""


def read_record(path: Path) -> dict:
    """One run record, parsed; one that is not (a folder, unreadable, not JSON, not a mapping with
    ``run_id`` and ``config``) raises :class:`BrokenResults` naming the file (and the line)."""
    path = Path(path)
    hint = "move it aside (or restore it from git) and rerun"
    try:
        rec = json.loads(path.read_text())
    except IsADirectoryError:
        raise BrokenResults(f"{path} is a folder, not a run record; {hint}") from None
    except json.JSONDecodeError as exc:
        raise BrokenResults(f"{path} line {exc.lineno}: not valid JSON ({exc.msg}); {hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokenResults(f"{path} cannot be read as a run record ({exc}); {hint}") from None
    if not isinstance(rec, dict) or not {"run_id", "config"} <= rec.keys() or not isinstance(rec["config"], dict):
        raise BrokenResults(f"{path} is not a run record (a mapping with run_id and config); {hint}")
    return rec


def run_records(folder: Path) -> list[dict]:
    """Every run record under ``<folder>/runs/`` in file-name order (see :func:`read_record`): the one
    loader the reports, figures and analyses read records through."""
    return [read_record(p) for p in sorted((Path(folder) / "runs").glob("*.json"))]


DIGESTS = "tables.json"


def run_digests(df: pd.DataFrame, fill: dict | None = None, key: str = "run_id") -> dict[str, str]:
    """A checksum of each run's rows of a table (``{run_id: 16 hex digits}``), blind to row and column
    order: what a folder keeps in place of a table that another folder already holds (see
    :func:`write_digests`). ``fill`` gives values for empty cells of columns added since older tables."""
    import hashlib

    df = df.fillna({k: v for k, v in (fill or {}).items() if k in df})
    cols = sorted(df.columns)
    df = df[cols].sort_values(cols).reset_index(drop=True)
    return {str(run): hashlib.sha256(rows.to_csv(index=False).encode()).hexdigest()[:16]
            for run, rows in df.groupby(key, sort=True)}


def write_digests(folder: Path, names, fill: dict | None = None) -> dict:
    """Replace the tables ``names`` of ``folder`` by ``<folder>/tables.json``: per table its columns and
    the checksum of each run's rows (the digests are written before any table is removed)."""
    folder = Path(folder)
    digests = read_json(folder / DIGESTS) if (folder / DIGESTS).is_file() else {}
    found = [n for n in names if has_table(folder / n)]
    for name in found:
        df = read_csv(folder / name)
        digests[name] = {"columns": sorted(df.columns), "rows": len(df), "runs": run_digests(df, fill)}
    write_json(folder / DIGESTS, digests)
    for name in found:
        stored(folder / name).unlink()
    return digests
