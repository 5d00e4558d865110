"""longdep: measure how sequence models handle long-range dependencies.

tasks (agreement generator) -> models (the five-rung ladder) -> training (Lightning) ->
measurements (accuracy by distance; cost vs length) -> analysis (tables, figures).
"""
__version__ = "0.1.0"
