"""Where a result came from: the project's commit, the hardware and the library versions a run
record keeps (never environment variables: no secrets).

    from longdep.environment import environment
    environment()["cpu"], environment()["commit"]
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

LIBRARIES = ("torch", "lightning", "numpy", "pandas", "seaborn", "matplotlib", "omegaconf", "wandb", "submitit")
PROJECT_ROOT = Path(__file__).resolve().parents[2]  # src/longdep/environment.py -> the checkout
MARKER = "src/longdep/__init__.py"  # tracked in this project's repository


def git_commit(root: Path | None = None) -> str:
    """The project's commit (with ``-dirty`` if tracked files changed), or ``unknown``.

    ``unknown`` unless ``root`` (default: where this package's source lies) is the top of a git
    checkout that tracks this package: an installed copy, an sdist or a copied tree inside some other
    repository never reports that repository's commit.
    """
    root = Path(root or PROJECT_ROOT).resolve()

    def git(*args):
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)

    try:
        top = git("rev-parse", "--show-toplevel")
        if top.returncode or Path(top.stdout.strip()).resolve() != root:
            return "unknown"
        if git("ls-files", "--error-unmatch", MARKER).returncode:
            return "unknown"
        commit = git("rev-parse", "HEAD")
        if commit.returncode:
            return "unknown"
        dirty = git("--no-optional-locks", "status", "--porcelain", "--untracked-files=no").stdout.strip()
        return commit.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device) -> str:
    """The hardware behind a torch device: the GPU's name for CUDA, the CPU model otherwise."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()


def environment() -> dict:
    """Hardware, library versions and commit. Never includes environment variables (no secrets)."""
    import torch

    versions = {}
    for lib in LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = None
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "commit": git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "versions": versions,
    }
