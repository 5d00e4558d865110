"""Experiment grids shipped with longdep (YAML, one per figure; ``longdep grid NAME``)."""
