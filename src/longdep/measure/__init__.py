"""Measurements of cost (not of accuracy): benchmarks run as a harness, never as timed tests.

``longdep scale`` times every model against sequence length: :mod:`~longdep.measure.plan` (the
sweep's config and points) -> :mod:`~longdep.measure.cost` (what theory predicts) ->
:mod:`~longdep.measure.harness` (timing and peak memory of one point) ->
:mod:`~longdep.measure.isolate` (a process per point, budgets) -> :mod:`~longdep.measure.sweep`
(rows to ``scaling.csv``) -> :mod:`~longdep.measure.summary` (slopes, speed-ups). Figures from
these rows live in :mod:`longdep.analysis.scaling_figures`.
"""
