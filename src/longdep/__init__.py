"""longdep: measure how sequence models handle long-range dependencies.

config/records/environment (ground) -> tasks, models (registries) -> training (Lightning), measure (cost
sweeps) -> grid (experiment grids) -> analysis (tables, figures) -> cli (the command line, one module
per command group).
"""
__version__ = "0.1.0"
