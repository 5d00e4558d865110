"""The ``longdep`` argument parser and how a command runs: each command group (a module of
:mod:`longdep.cli`) adds its subcommand with ``add_parser``; :func:`main` parses, runs it, turns
Ctrl-C into one line and exit code 130, and bad input into one line and exit code 2."""
from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
import threading

import psutil

from longdep.cli.analyze import add_parser as add_analyze_parser
from longdep.cli.bench import add_parser as add_bench_parser
from longdep.cli.configs import add_parser as add_config_parser
from longdep.cli.data import add_parser as add_data_parser
from longdep.cli.figures import add_parser as add_figures_parser
from longdep.cli.grid import add_parser as add_grid_parser
from longdep.cli.report import add_parser as add_report_parser
from longdep.cli.scale import add_parser as add_scale_parser
from longdep.cli.train import add_parser as add_train_parser
from longdep.config import UsageError
from longdep.records import run_interrupt_hooks  # imported here: a Ctrl-C handler must not import

DESCRIPTION = "The longdep command line."
EPILOG = """\
Bad input (unknown names, malformed values, impossible settings) prints one line naming the bad
value and the valid choices and exits with code 2 before anything is written. Ctrl-C stops every
process the command started and exits with code 130; rerun the same command to resume.
Each command's options and examples: longdep COMMAND --help

Examples:
  longdep data show --n 2
  longdep train model.name=lstm train.max_steps=2000
  longdep grid quick --workers 2"""

# the command groups, in the order --help lists their commands
GROUPS = (add_data_parser, add_analyze_parser, add_train_parser, add_grid_parser, add_scale_parser,
          add_figures_parser, add_report_parser, add_bench_parser, add_config_parser)


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown beside every option that has one; descriptions and examples kept as written."""

    def _get_help_string(self, action):
        if action.default in (None, False, argparse.SUPPRESS) or action.nargs == "*":
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message):  # one line, exit 2 (argparse's own convention too)
        self.exit(2, f"longdep: error: {message}\n")


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("longdep")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="longdep", description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("--version", action="version", version=f"longdep {_version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in GROUPS:
        add(sub)
    return p


def _interrupted(signum, frame) -> None:
    """Ctrl-C: one line, stop every process this command started, exit 130. Everything written so far
    is whole (atomic writes); temp files and half W&B runs are cleaned when the command is rerun."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print("\nlongdep: interrupted; rerun the same command to resume", file=sys.stderr, flush=True)
    for child in psutil.Process().children(recursive=True):  # the workers first: they stop writing
        with contextlib.suppress(psutil.Error):
            child.kill()
    run_interrupt_hooks()  # then what the command asked to record (a grid: how long it ran)
    os._exit(130)


def main(argv=None) -> int:
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, _interrupted) if on_main else None
    try:
        return _main(argv)
    finally:
        if on_main and previous is not None:  # a caller in the same process (a test, a notebook) gets its own Ctrl-C back
            signal.signal(signal.SIGINT, previous)


def _main(argv) -> int:
    from longdep.records import BrokenResults, FolderBusy

    os.environ.setdefault("WANDB_MODE", "offline")  # no network unless the user chose a mode
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)  # key=value may come before or after options
    bad = [e for e in extra if e.startswith("-") or "=" not in e or not hasattr(args, "overrides")]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    try:
        args.func(args)
    except (UsageError, BrokenResults, FolderBusy) as exc:
        print(f"longdep: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = exc.filename or "a result file"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            print(f"longdep: error: no space left on the device writing {where}; "
                  "free some and rerun the same command (finished results are intact)", file=sys.stderr)
            return 1
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            print(f"longdep: error: cannot write {where} ({os.strerror(exc.errno).lower()}); valid: a folder this "
                  "user can write (--out, results_dir=, or a copy of the folder)", file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
