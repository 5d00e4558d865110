"""``longdep analyze`` (attention to the subject and state probes) and ``longdep eval-pairs``
(minimal-pair accuracy): what a trained run that kept its weights shows."""
from __future__ import annotations

from pathlib import Path

from longdep.config import UsageError

ANALYZE_EPILOG = """\
Example:
  longdep analyze results/paper"""
EVAL_PAIRS_EPILOG = """\
Examples:
  longdep data pairs --n 1000 --out pairs.jsonl distance=16 max_distance=null
  longdep eval-pairs pairs.jsonl --run results/quick/runs/RUN_ID.json --out scores.csv"""


def add_parser(sub) -> None:
    a = sub.add_parser("analyze", help="attention to the subject and state probes for runs that kept their weights",
                       epilog=ANALYZE_EPILOG)
    a.add_argument("results", help="a results folder, e.g. results/paper (runs trained with train.save_weights=true)")
    a.set_defaults(func=cmd_analyze)

    e = sub.add_parser("eval-pairs", help="score a trained run on minimal pairs (BLiMP JSONL)",
                       epilog=EVAL_PAIRS_EPILOG)
    e.add_argument("file", help="JSONL with one_prefix_prefix, one_prefix_word_good, one_prefix_word_bad per line")
    e.add_argument("--run", required=True, help="a run record, results/<name>/runs/<run_id>.json, trained with "
                                                "train.save_weights=true")
    e.add_argument("--out", help="write one row per pair (pairID, correct, distance, ...) to this CSV")
    e.set_defaults(func=cmd_eval_pairs)


def cmd_analyze(args) -> None:
    from longdep.analysis.study_figures import mechanism_figures
    from longdep.records import append_rows, exclusive
    from longdep.tasks import get_task
    from longdep.training.evaluate import run_columns, with_run_columns
    from longdep.training.mechanism import analyses
    from longdep.training.weights import load_trained, weights_path

    folder = Path(args.results)
    if not (folder / "runs").is_dir():
        raise UsageError(f"{folder} has no runs/ folder; give a results folder, e.g. results/paper")
    records = sorted((folder / "runs").glob("*.json"))
    kept = [r for r in records if weights_path(folder, r.stem).exists()]
    if not kept:
        raise UsageError(f"none of the {len(records)} runs in {folder} kept its weights; train with train.save_weights=true")
    trained = [(record, *load_trained(record)) for record in kept]  # a broken record stops here, nothing written
    with exclusive(folder):
        for record, cfg, module in trained:
            spec = get_task(cfg.task.name)
            _, _, tok, lab, meta = spec.test_sets(cfg.task, cfg.eval)[0]  # the test set by distance
            for name, df in analyses(module, cfg, spec, tok, lab, meta).items():
                if len(df):
                    append_rows(folder / name, with_run_columns(run_columns(cfg, record.stem), df))
            print(f"analysed {record.stem}")
        for path in mechanism_figures(folder):
            print(f"wrote {path}")
    if len(kept) < len(records):
        print(f"skipped {len(records) - len(kept)} runs without weights (their analyses, if any, came from training)")


def cmd_eval_pairs(args) -> None:
    from longdep.config import check_output_file
    from longdep.training.pairs import score_pairs

    if args.out:
        check_output_file(Path(args.out))  # before any scoring
    scores = score_pairs(Path(args.file), Path(args.run))
    print(f"{Path(args.run).stem}: {scores['correct'].mean():.3f} of {len(scores)} minimal pairs right")
    if "distance" in scores:
        print(scores.groupby("distance")["correct"].agg(["size", "mean"]).rename(
            columns={"size": "pairs", "mean": "accuracy"}).round(3).to_string())
    if args.out:
        from longdep.records import write_atomic

        write_atomic(Path(args.out), scores.to_csv(index=False))
        print(f"wrote {args.out}")
