"""Default configs shipped with longdep (YAML, read by longdep.config.resource_dir): train.yaml,
scale/*.yaml (cost sweeps), launcher/*.yaml (grid launchers)."""
