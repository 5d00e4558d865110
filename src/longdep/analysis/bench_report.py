"""The README section of a folder of benchmark outputs (``results/bench/*.log``: what ``longdep bench loop``
or ``longdep bench seeds`` printed, after a first line saying when, at which commit and on what machine,
and a second with the command): one table per log, the numbers as printed."""
from __future__ import annotations

import re
from pathlib import Path

from longdep.analysis.tables import markdown
from longdep.config import UsageError

# ``bench loop``: "<model> suite <ms> ms/step  plain <ms> ms/step  ratio <r>x ..."
LOOP = re.compile(r"^(\S+)\s+suite\s+([\d.]+) ms/step\s+plain\s+([\d.]+) ms/step\s+ratio ([\d.]+)x")
# ``bench seeds``: "<model> <n> seeds alone <x> examples/s  together <y> examples/s  speedup <r>x ..."
SEEDS = re.compile(r"^(\S+)\s+(\d+) seeds alone\s+([\d.]+) examples/s\s+together\s+([\d.]+) examples/s\s+speedup ([\d.]+)x")


def logs(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).glob("*.log") if _command(p).startswith("longdep bench "))


def is_bench(folder: Path) -> bool:
    return bool(logs(folder))


def _command(path: Path) -> str:
    lines = path.read_text().splitlines()
    return lines[1][2:] if len(lines) > 1 and lines[1].startswith("$ ") else ""


def table(path: Path) -> str:
    """The markdown table of one log (UsageError naming the file when it holds no result line)."""
    rows = []
    for line in path.read_text().splitlines()[2:]:
        if m := LOOP.match(line):
            rows.append([m[1], m[2], m[3], f"{m[4]}x"])
        elif m := SEEDS.match(line):
            rows.append([m[1], m[2], m[3], m[4], f"{m[5]}x"])
    if not rows:
        raise UsageError(f"{path} holds no `longdep bench loop` or `bench seeds` result line")
    head = (["model", "suite (ms/step)", "plain loop (ms/step)", "suite / plain"] if len(rows[0]) == 4
            else ["model", "seeds", "alone (examples/s)", "together (examples/s)", "together / alone"])
    return markdown(head, rows)


def render_bench(folder: Path) -> str:
    parts = []
    for path in logs(folder):
        when = path.read_text().splitlines()[0].lstrip("# ")
        parts.append(f"`{path.name}`: `{_command(path)}` ({when}):\n\n{table(path)}")
    return "\n\n".join(parts)
