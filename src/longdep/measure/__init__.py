"""Measurements of cost (not of accuracy): benchmarks run as a harness, never as timed tests.

    scaling   time, peak memory, parallel speed-up and analytic predictions of every model
              against sequence length (``longdep scale``; :func:`longdep.measure.scaling.run_scale`)

Figures from these records live in :mod:`longdep.analysis.scaling_figures`.
"""
