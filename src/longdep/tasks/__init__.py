"""The task registry: every task is one :class:`TaskSpec`, the only list of tasks.

A task is a pure function of a seed that makes labelled sentences, plus what evaluation needs to
know about them. Training (:mod:`longdep.training`) and the CLI ask the registry and never import a
task module directly::

    from longdep.tasks import get_task
    spec = get_task("agreement")
    tokens, labels, meta = spec.generate(seed, n, spec.config(distance=16))

Adding a task: one module under ``longdep/tasks/`` defining its config dataclass (a subclass of
:class:`longdep.config.TaskConfig` with a ``name`` default), its generator and a ``SPEC``, and
one line in :data:`_BUILTIN` below.
"""
from __future__ import annotations

from importlib import import_module

from longdep.config import Registry
from longdep.tasks.base import SPLITS, TaskSpec, split_seed

__all__ = ["SPLITS", "TASKS", "TaskSpec", "get_task", "register_task", "split_seed"]

_BUILTIN = ("longdep.tasks.agreement", "longdep.tasks.nested")  # modules that define a SPEC
TASKS: Registry = Registry("task")  # name -> TaskSpec
register_task = TASKS.register
get_task = TASKS.lookup  # a UsageError listing the valid names for an unknown one


for _module in _BUILTIN:
    register_task(import_module(_module).SPEC)
