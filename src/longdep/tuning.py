"""A grid's tuning stage: one Optuna study per subject (by default each model and objective), the same
number of trials and the same step budget for every subject, before the grid's cells.

    tune:
      by: [model.name, task.objective]
      base: {task.max_distance: 64, train.max_steps: 4000, train.decay_steps: 20000}
      trials: 12
      space:
        train.lr: {low: 0.0001, high: 0.01, log: true}
        model.d_model: {choices: [64, 128]}
        model.norm: {choices: [pre, post], families: [attention]}

A trial is an ordinary training run (``<out>/tune/runs/<run_id>.json``) under the convergence protocol,
cut at the trial budget (``train.max_steps`` of ``tune.base``; with ``train.decay_steps`` set to the
cells' cap a cosine schedule decays as in the full run, so a trial is the full run's first steps). Its
score is the best moving mean of ``train.smooth`` validation accuracies, reported at every validation
to a successive-halving pruner (``min_steps``, ``reduction``), which stops trials that fall behind the
study's earlier trials at the same step. The chosen recipe is the best score (ties: fewer steps to 95%).

Studies live in ``<out>/tune/optuna.journal`` (Optuna's journal storage: safe for several processes or
SLURM jobs at once). Each study is one job, its trials in order, so its result does not depend on how
many workers run the studies: the sampler is TPE seeded by ``tune.seed`` and the trial's number, and a
study killed mid-trial reruns that trial with its stored parameters (from its checkpoint), so a resumed
stage chooses what an uninterrupted one would. ``tuning.csv`` lists every trial, pruned ones marked.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from longdep.config import UsageError


@dataclass
class Param:
    """One dimension of a search space: a float range (``low``, ``high``, ``log``) or ``choices``;
    ``families``: the model families it applies to (empty: every model)."""

    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    choices: Optional[List[Any]] = None
    families: List[str] = field(default_factory=list)


@dataclass
class Tune:
    """A tuning stage (see the module docstring)."""

    by: List[str] = field(default_factory=lambda: ["model.name", "task.objective"])
    base: Dict[str, Any] = field(default_factory=dict)
    space: Dict[str, Param] = field(default_factory=dict)
    trials: int = 12
    seed: int = 0
    startup: int = 5  # trials drawn at random (seeded) before TPE models the others
    min_steps: int = 1000  # the pruner's first rung; later rungs at min_steps x reduction^k
    reduction: int = 3


def check_tune(tune: Tune, where: str) -> None:
    """UsageError for a malformed stage (named ``where``)."""
    if tune.trials < 1 or tune.startup < 0 or tune.min_steps < 1 or tune.reduction < 2:
        raise UsageError(f"{where}: tune needs trials >= 1, startup >= 0, min_steps >= 1, reduction >= 2")
    if not tune.by:
        raise UsageError(f"{where}: tune.by must name at least one key (e.g. model.name)")
    for key, p in tune.space.items():
        if p.choices is None and (p.low is None or p.high is None or not 0 < p.low < p.high or not
                                  all(map(math.isfinite, (p.low, p.high)))):
            raise UsageError(f"{where}: tune.space.{key} needs choices, or finite 0 < low < high")
        if p.choices is not None and not p.choices:
            raise UsageError(f"{where}: tune.space.{key}.choices is empty")


def subject_key(values: dict) -> str:
    """A study's name: the subject's values joined (``transformer/lm``)."""
    return "/".join(str(v) for v in values.values())


@dataclass
class Study:
    """One subject's study, as a job a worker runs: ``trial_values(params)`` are a trial's cell values."""

    grid: Any  # the Grid (a plain dataclass: picklable for worker processes and SLURM jobs)
    subject: Dict[str, Any]
    out: str
    overrides: List[str]
    family: str

    @property
    def name(self) -> str:
        return subject_key(self.subject)

    def space(self) -> dict:
        return {k: p for k, p in self.grid.tune.space.items() if not p.families or self.family in p.families}

    def trial_config(self, params: dict):
        from longdep.training.config import load_grid_cell

        t = self.grid.tune
        values = {**self.grid.base, **t.base, **self.subject, **params, "name": "tune", "results_dir": self.out}
        return load_grid_cell(self.grid.name, self.grid.config, self.overrides, values)


def storage(out: Path):
    """The Optuna storage of a results folder's tuning stage."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    path = Path(out) / "tune" / "optuna.journal"
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def _open(study: Study):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t = study.grid.tune
    store = storage(study.out)
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=t.min_steps, reduction_factor=t.reduction)
    # An existing study is loaded, not created again: create_study(load_if_exists=True) appends a
    # create record to the journal every time, so merely reading a folder would change it.
    if study.name in {s.study_name for s in store.get_all_studies()}:
        return optuna.load_study(study_name=study.name, storage=store, pruner=pruner)
    return optuna.create_study(study_name=study.name, storage=store, direction="maximize", pruner=pruner)


def settings_hash(study: Study) -> str:
    """What decides a study's trials: its subject, the stage's settings and the grid's base (a resumed study
    made under other settings would mix two searches)."""
    from dataclasses import asdict

    from longdep.config import config_hash

    return config_hash({"subject": study.subject, "tune": asdict(study.grid.tune), "base": study.grid.base,
                        "overrides": study.overrides})


def check_settings(study: Study) -> None:
    """UsageError when the results folder holds this study from other tuning settings; else record them."""
    opt, want = _open(study), settings_hash(study)
    have = opt.user_attrs.get("settings")
    if have is None:
        opt.set_user_attr("settings", want)
    elif have != want:
        raise UsageError(f"{Path(study.out) / 'tune' / 'optuna.journal'} holds study {study.name!r} from other tuning "
                         "settings (tune, base or overrides changed); use another --out, or remove its tune/ folder")


def finished(trials) -> list:
    from optuna.trial import TrialState

    return [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


def is_done(study: Study) -> bool:
    """Whether the study holds its trials (complete or pruned) and none is left half-run."""
    from optuna.trial import TrialState

    if not (Path(study.out) / "tune" / "optuna.journal").exists():
        return False
    trials = _open(study).get_trials(deepcopy=False)
    return len(finished(trials)) >= study.grid.tune.trials and not any(t.state == TrialState.RUNNING for t in trials)


def _suggest(trial, space: dict) -> dict:
    params = {}
    for key, p in space.items():
        if p.choices is not None:
            params[key] = trial.suggest_categorical(key, list(p.choices))
        else:
            params[key] = trial.suggest_float(key, p.low, p.high, log=p.log)
    return params


def score(curve, smooth: int) -> float:
    """A trial's score: the best moving mean of ``smooth`` validation accuracies (what the pruner saw)."""
    accs = [a for _, a in curve]
    if not accs:
        return 0.0
    return max(sum(accs[max(0, i - smooth + 1):i + 1]) / len(accs[max(0, i - smooth + 1):i + 1]) for i in range(len(accs)))


def _pruning(trial):
    """A callback that reports the smoothed validation accuracy to the study and stops a trial it prunes."""
    import lightning as L
    import optuna

    class Pruning(L.Callback):
        def on_validation_end(self, trainer, module):
            if trainer.sanity_checking or not module.val_history:
                return
            with warnings.catch_warnings():  # a rerun trial reports its steps before the kill again: ignored
                warnings.filterwarnings("ignore", message=".*is already reported")
                trial.report(module.convergence.smoothed(), trainer.global_step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at step {trainer.global_step}")

    return Pruning()


def run_study(study: Study) -> dict:
    """Run the study's missing trials in order (a killed trial first, with its own parameters); return a
    progress line's fields."""
    import optuna
    from optuna.trial import TrialState

    from longdep.records import read_json
    from longdep.training.run import checkpoint_path, is_done as run_done, results_dir, run_id, train_one

    t, space = study.grid.tune, study.space()
    opt = _open(study)
    while True:
        trials = opt.get_trials(deepcopy=False)
        stale = [x for x in trials if x.state == TrialState.RUNNING]  # its job was killed: run it again
        if stale:
            trial = optuna.trial.Trial(opt, stale[0]._trial_id)
        elif len(finished(trials)) >= t.trials:
            break
        else:
            opt.sampler = optuna.samplers.TPESampler(seed=t.seed * 100_003 + len(trials), n_startup_trials=t.startup,
                                                     multivariate=True)
            trial = opt.ask()
        cfg = study.trial_config(_suggest(trial, space))
        rid = run_id(cfg)
        trial.set_user_attr("run_id", rid)
        start = time.perf_counter()
        try:
            rec = read_json(results_dir(cfg) / "runs" / f"{rid}.json") if run_done(cfg) else \
                train_one(cfg, callbacks=[_pruning(trial)])
        except optuna.TrialPruned:
            checkpoint_path(results_dir(cfg), rid).unlink(missing_ok=True)
            trial.set_user_attr("wall_s", round(time.perf_counter() - start, 3))  # a pruned trial leaves no record
            opt.tell(trial, state=TrialState.PRUNED)
            continue
        trial.set_user_attr("wall_s", rec["wall_time_s"])
        trial.set_user_attr("steps_to_95", rec["steps_to_95"])
        trial.set_user_attr("steps", rec["steps"])
        opt.tell(trial, score(rec["val_curve"], cfg.train.smooth))
    best = choose_trial(opt.get_trials(deepcopy=False))
    return {"run_id": f"tuning {study.name}", "ok": True,
            "summary": f"best {best.value:.3f} with {best.params}" if best else "no complete trial"}


def choose_trial(trials):
    """The best complete trial: the highest score, ties broken by fewer steps to 95% (None: never), then
    the earlier trial."""
    from optuna.trial import TrialState

    done = [x for x in trials if x.state == TrialState.COMPLETE]
    if not done:
        return None
    s95 = lambda x: x.user_attrs.get("steps_to_95") if x.user_attrs.get("steps_to_95") is not None else math.inf  # noqa: E731
    return min(done, key=lambda x: (-x.value, s95(x), x.number))


def results(studies: list) -> tuple[dict, list]:
    """``({subject key: chosen params}, tuning.csv rows)`` of finished studies."""
    chosen, rows = {}, []
    for study in studies:
        trials = _open(study).get_trials(deepcopy=False)
        best = choose_trial(trials)
        if best is not None:
            chosen[study.name] = dict(best.params)
        for x in finished(trials):
            rows.append({**study.subject, "trial": x.number, "state": x.state.name.lower(),
                         "score": x.value if x.state.name == "COMPLETE" else None,
                         "last_value": x.intermediate_values.get(x.last_step) if x.last_step is not None else None,
                         "last_step": x.last_step if x.last_step is not None else x.user_attrs.get("steps"),
                         "steps_to_95": x.user_attrs.get("steps_to_95"), "wall_s": x.user_attrs.get("wall_s"), **x.params,
                         "chosen": best is not None and x.number == best.number, "run_id": x.user_attrs.get("run_id")})
    return chosen, rows


def run_studies(studies: list, threads: int = 0) -> list[dict]:
    """A worker's (or a SLURM job's) share of the studies, one after another."""
    from longdep.launch import init_worker

    if threads:
        init_worker(threads)
    out = []
    for study in studies:
        try:
            out.append(run_study(study))
        except Exception as exc:  # a failed study is reported; rerunning the grid resumes it
            out.append({"run_id": f"tuning {study.name}", "ok": False, "error": f"{type(exc).__name__}: {exc}"})
    return out
