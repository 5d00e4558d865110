"""``longdep config show``: every key of a run config (or the scale config) with its default, type
and valid choices; and what the other commands' help and options take from the configs
(:func:`config_names`, :func:`add_config_arguments`)."""
from __future__ import annotations

EPILOG = """\
Examples:
  longdep config show train
  longdep config show nested
  longdep config show scale"""


def config_names(folder: str) -> list[str]:
    """The YAML names under a resource folder, e.g. ``configs/scale`` (for --help; none if unreadable)."""
    from longdep.config import resource_dir, yaml_names

    top, *rest = folder.split("/")
    try:
        return yaml_names(resource_dir(top).joinpath(*rest))
    except Exception:  # noqa: BLE001 -- help text only
        return []


def add_config_arguments(p, default: str, folder: str, fields: str, paths: bool = False) -> None:
    """``--config NAME`` (a YAML under ``folder``, or with ``paths`` any YAML file) and the ``key=value``
    overrides (``fields`` says which), as ``train`` and ``scale`` take them."""
    names = ", ".join(config_names(folder))
    p.add_argument("--config", default=default,
                   help=f"a YAML file under {folder}/ ({names})" + (" or a path" if paths else ""))
    p.add_argument("overrides", nargs="*", metavar="key=value", help=fields)


def add_parser(sub) -> None:
    c = sub.add_parser("config", help="every config key with its default, type and valid choices", epilog=EPILOG)
    c.add_argument("action", choices=("show",))
    c.add_argument("which", nargs="?", default="train",
                   help=f"train, scale, or a YAML under configs/ ({', '.join(config_names('configs'))})")
    c.set_defaults(func=cmd_config)


def cmd_config(args) -> None:
    """Print every key of a run config (or the scale config) as ``key = default  # type; choices``."""
    import dataclasses
    import typing

    if args.which == "scale":
        from longdep.measure.plan import load_scale_config

        cfg = load_scale_config([], "default")
    else:
        from longdep.training.config import load_config

        cfg = load_config(args.which)
    choices = _choices()

    def walk(obj, prefix=""):
        hints = typing.get_type_hints(type(obj))
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                yield from walk(value, f"{prefix}{f.name}.")
                continue
            hint = hints.get(f.name)
            kind = str(hint).replace("typing.", "") if getattr(hint, "__origin__", None) else getattr(hint, "__name__", str(hint))
            key = prefix + f.name
            note = f"; one of {', '.join(choices[key])}" if key in choices else ""
            yield f"{key} = {value!r}  # {kind}{note}"

    print("\n".join(walk(cfg)))


def _choices() -> dict:
    """Valid values of the keys that have a fixed set (from the registries)."""
    from longdep.models import BACKENDS, MODELS, NORMS, POSITIONS
    from longdep.tasks import TASKS
    from longdep.tasks.base import OBJECTIVES
    from longdep.training.config import ACCELERATORS, PRECISIONS, WANDB_MODES
    from longdep.training.convergence import SCHEDULES, WEIGHTS

    return {"model.name": list(MODELS), "models": list(MODELS), "task.name": list(TASKS), "task.objective": OBJECTIVES,
            "model.backend": BACKENDS, "backends": BACKENDS, "model.norm": NORMS, "model.positions": POSITIONS,
            "train.accelerator": ACCELERATORS, "train.precision": PRECISIONS, "wandb.mode": WANDB_MODES,
            "train.schedule": SCHEDULES, "train.weights": WEIGHTS}
