"""Synthetic tasks: :mod:`longdep.tasks.agreement` (the generator) and
:mod:`longdep.tasks.baselines` (heuristics scored on the same slices as the models)."""
