"""``longdep data``: show task examples, or export them (JSONL records, or minimal pairs in BLiMP's
fields)."""
from __future__ import annotations

import json
from pathlib import Path

from longdep.config import UsageError

DATA_SPLITS = ("train", "val", "test")
EPILOG = """\
Examples:
  longdep data show --n 2 distance=12 max_distance=null
  longdep data export --n 1000 --out examples.jsonl
  longdep data pairs --n 1000 --out pairs.jsonl distance=16 max_distance=null
  longdep data show name=nested"""


def add_parser(sub) -> None:
    d = sub.add_parser("data", help="show or export task examples, or export them as minimal pairs", epilog=EPILOG)
    d.add_argument("action", choices=("show", "export", "pairs"),
                   help="show: print; export: JSONL records; pairs: JSONL minimal pairs in BLiMP's fields")
    d.add_argument("--n", type=int, default=5, help="examples")
    d.add_argument("--seed", type=int, default=0, help="seed within the split's seed range")
    d.add_argument("--split", default="train", help=f"which seed range: {', '.join(DATA_SPLITS)}")
    d.add_argument("--out", help="output .jsonl (export, pairs)")
    d.add_argument("overrides", nargs="*", metavar="key=value", help="task fields, e.g. distance=16 (name=nested: the nested task)")
    d.set_defaults(func=cmd_data)


def _task(overrides):
    """The task spec and its validated config from ``key=value`` task fields (``task.`` prefix optional)."""
    from longdep.config import TaskConfig, merge
    from longdep.tasks import get_task

    items = [o[len("task."):] if o.startswith("task.") else o for o in overrides]
    names = [i.split("=", 1)[1] for i in items if i.startswith("name=")]
    spec = get_task(names[-1] if names else TaskConfig().name)
    return spec, spec.validate(merge(spec.config, [], items))


def _generate(args):
    from longdep.tasks import split_seed

    from longdep.config import EvalConfig, check_output_file
    from longdep.training.resources import available_bytes, example_bytes

    spec, cfg = _task(args.overrides)
    if args.n <= 0:
        raise UsageError(f"--n must be a positive integer, got {args.n}")
    need = 4 * example_bytes(args.n, spec.max_length(cfg, EvalConfig(span=1, attractor_distances=[])))
    if need > available_bytes():  # x4: the records and their JSON beside the arrays
        raise UsageError(f"--n {args.n} examples need ~{need / 1e9:.3g} GB but {available_bytes() / 1e9:.3g} GB "
                         "is available; ask for fewer")
    if getattr(args, "action", None) == "pairs" and spec.to_pairs is None:
        raise UsageError(f"task {spec.name!r} has no minimal-pair form; valid: data show, data export")
    if getattr(args, "action", None) in ("export", "pairs") and args.out:
        check_output_file(Path(args.out))
    try:
        seed = split_seed(args.split, args.seed)
        tok, lab, meta = spec.generate(seed, args.n, cfg)
    except ValueError as exc:
        raise UsageError(str(exc).splitlines()[0]) from None
    if getattr(args, "action", None) == "pairs":
        return spec, spec.to_pairs(tok, lab, meta)
    return spec, spec.to_records(tok, lab, meta)


def cmd_data(args) -> None:
    if args.action != "show" and not args.out:
        raise UsageError(f"data {args.action} needs --out FILE.jsonl")
    spec, records = _generate(args)
    if args.action == "show":
        for rec in records:
            print(spec.format_record(rec) + "\n")
        return
    from longdep.records import write_atomic

    what = "examples" if args.action == "export" else "minimal pairs (BLiMP fields)"
    write_atomic(Path(args.out), "".join(json.dumps(r) + "\n" for r in records))
    print(f"wrote {len(records)} {what} to {args.out}")
