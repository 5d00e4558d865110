"""Training: Lightning modules and the one-run driver (`longdep train`)."""
