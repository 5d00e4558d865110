"""The ``longdep`` command line, one module per command group.

    longdep data show [--n N] [key=value ...]          sample sentences with annotations
    longdep data export --out F.jsonl [--n N] [...]    one JSON object per example
    longdep train [--config NAME] [key=value ...]      one run -> results/<name>/
    longdep grid NAME [--out DIR] [key=value ...]      a grid from experiments/NAME.yaml, resumable
    longdep scale [--config NAME] [key=value ...]      cost vs sequence length -> results/<name>/scaling.csv
    longdep figures [RESULTS_DIR]                      rebuild figures from CSVs (offline)
    longdep report [DIR] [--write|--check [FILE]]      DIR/REPORT.md (every table), or FILE's short block
    longdep bench data                                 task generation speed
    longdep bench loop [--models ...] [key=value]      the suite's loop against plain PyTorch
    longdep bench seeds [--seeds 5] [key=value]        a cell's seeds alone against trained together

Layout: :mod:`~longdep.cli.parser` builds the parser from each group's ``add_parser`` and runs a
command (Ctrl-C, one-line errors, exit codes); :mod:`~longdep.cli.data` (``data``),
:mod:`~longdep.cli.train` (``train``), :mod:`~longdep.cli.grid` (``grid``),
:mod:`~longdep.cli.scale` (``scale``), :mod:`~longdep.cli.figures` (``figures`` and the summary a
grid prints), :mod:`~longdep.cli.report` (``report``), :mod:`~longdep.cli.analyze` (``analyze``,
``eval-pairs``), :mod:`~longdep.cli.bench` (every ``bench``) and :mod:`~longdep.cli.configs`
(``config show`` and the config names the help lists) each hold one group's arguments and code.

Bad input (unknown names, malformed values, impossible settings) prints one line naming the bad
value and the valid choices and exits with code 2 before anything is written.
"""
import os
import signal
import sys


def _early_interrupt(signum, frame) -> None:  # Ctrl-C while the command is still importing: nothing runs yet
    os.write(2, b"\nlongdep: interrupted; rerun the same command to resume\n")
    os._exit(130)


if os.path.basename(sys.argv[0] or "") in ("longdep", "__main__.py"):  # the console script or python -m longdep
    signal.signal(signal.SIGINT, _early_interrupt)  # main() installs the full handler once imports are done

from longdep.cli.parser import build_parser, main  # noqa: E402

__all__ = ["build_parser", "main"]
