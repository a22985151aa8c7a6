"""The coordinator of `hpsearch run`: rounds, enqueueing, waiting, narrowing, the test score.

Every step is idempotent, so running the same study file again continues where a previous
run stopped: a round's ranges are stored before any of its trials exist, trials are
enqueued only for the places of the round that have none, and a round is closed only when
each of its places has a finished trial (or used up its retries).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState
from threadpoolctl import threadpool_limits

import trainer
from hpsearch.coordination import coordinator_lock
from hpsearch.errors import HpsearchError, StudyMismatchError, UsageError
from hpsearch.narrowing import RULE, Outcome, narrow
from hpsearch.objective import Interrupted, load_split
from hpsearch.records import (
    COMPLETE_KEY,
    FINISHED,
    SPEC_KEY,
    TEST_KEY,
    RoundRecord,
    finished_by_index,
    ranked,
    read_rounds,
    round_trials,
    score,
    summarize,
    write_round,
)
from hpsearch.space import distributions, initial_ranges, round_generator, sample, trial_seed
from hpsearch.storage import open_storage, redact, storage_failure, with_retries
from hpsearch.study_file import StudySpec
from hpsearch.worker import fail_abandoned, open_worker_storage, spawn_workers, stop_workers

POLL_S = 0.1
# Fault injection for the crash tests: SIGKILL the coordinator at a named point of its work.
FAULT_ENV = "HPSEARCH_FAULT"


def _fault_point(name: str) -> None:
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Progress:
    """What the coordinator reports while a round runs (for a progress bar or a log line)."""

    round_number: int
    rounds: int
    done: int
    total: int
    best: float | None


@dataclass
class RunSummary:
    study_name: str
    storage: str
    already_complete: bool
    complete: bool
    finished: int
    planned: int
    rounds: list[RoundRecord]
    top: list[FrozenTrial]
    test: dict[str, Any]
    seconds: float
    spec: StudySpec
    param_names: list[str] = field(default_factory=list)


class Observer:
    """Callbacks of a run; the CLI renders them. The default does nothing."""

    def round_started(self, record: RoundRecord, spec: StudySpec) -> None: ...
    def progress(self, progress: Progress) -> None: ...
    def round_finished(self, record: RoundRecord, spec: StudySpec) -> None: ...
    def testing(self) -> None: ...


def create_or_check_study(storage: optuna.storages.RDBStorage, spec: StudySpec) -> optuna.Study:
    """The study of `spec.name`, created with the spec stored, or refused if it differs."""
    study = optuna.create_study(
        study_name=spec.name,
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(),
        load_if_exists=True,
    )
    stored = study.user_attrs.get(SPEC_KEY)
    if stored is None:
        study.set_user_attr(SPEC_KEY, spec.to_dict())
    elif stored != spec.to_dict():
        raise StudyMismatchError(
            f"study {spec.name!r} already exists with a different study file "
            f"({describe_difference(stored, spec.to_dict())}); restore the file, or give the "
            "study a new `name` to start another"
        )
    return study


def check_data(spec: StudySpec) -> None:
    """Load the study's split once here, so bad data is one error, not a crash per worker."""
    try:
        load_split(spec)
    except trainer.DatasetError as error:
        raise UsageError(f"study {spec.name!r}: data.dataset {spec.dataset!r}: {error}") from None


def describe_difference(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> str:
    """'train.lr: 0.1 -> 0.2; rounds: 3 -> 4', the first few differing fields."""
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            inner = describe_difference(a, b, f"{prefix}{key}.")
            changes += [inner] if inner else []
        elif a != b:
            changes.append(f"{prefix}{key}: stored {a!r}, file {b!r}")
    return "; ".join(changes[:4])


def run_study(
    spec: StudySpec,
    url: str,
    *,
    jobs: int,
    observer: Observer | None = None,
    stop: threading.Event | None = None,
    wait: bool = False,
) -> RunSummary:
    """Run (or continue) the study of `spec` on `url` with `jobs` local worker processes.

    Holds the study's coordinator lock throughout (StudyHeldError if another live run holds
    it, unless `wait`). Returns early, leaving a consistent and resumable study, when `stop`
    is set.
    """
    observer = observer or Observer()
    stop = stop or threading.Event()
    started = time.perf_counter()
    storage = open_worker_storage(url)
    try:
        check_data(spec)
        study = create_or_check_study(storage, spec)
        already_complete = bool(study.user_attrs.get(COMPLETE_KEY))
        if not already_complete:
            with coordinator_lock(storage, study._study_id, spec.name, wait=wait, stop=stop):
                _coordinate(study, storage, spec, jobs, url, observer, stop)
        return _summary(study, spec, url, already_complete, time.perf_counter() - started)
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as error:
        raise storage_failure(error, f"run study {spec.name!r}") from None
    finally:
        storage.engine.dispose()


def _coordinate(
    study: optuna.Study,
    storage: Any,
    spec: StudySpec,
    jobs: int,
    url: str,
    observer: Observer,
    stop: threading.Event,
) -> None:
    workers = spawn_workers(url, spec.name, jobs)
    try:
        for round_number in range(spec.rounds):
            if stop.is_set():
                return
            _run_round(
                study, storage, spec, round_number, observer, stop, lambda: _check_workers(workers)
            )
        if not stop.is_set():
            observer.testing()
            if _score_test(study, spec, stop):
                study.set_user_attr(COMPLETE_KEY, True)
    finally:
        stop_workers(workers)


def _check_workers(workers: list[BaseProcess]) -> None:
    alive = [w.is_alive() for w in workers]  # each call reaps a dead worker: no zombies
    if workers and not any(alive):
        codes = sorted({w.exitcode for w in workers}, key=str)
        raise HpsearchError(
            f"all {len(workers)} local workers died (exit codes {codes}); "
            "see their messages above, or rerun with --debug"
        )


def _run_round(
    study: optuna.Study,
    storage: Any,
    spec: StudySpec,
    round_number: int,
    observer: Observer,
    stop: threading.Event,
    check_workers: Callable[[], None],
) -> None:
    records = {r.number: r for r in read_rounds(study.user_attrs)}
    record = records.get(round_number)
    if record is not None and record.done:
        return
    if record is None:
        record = _plan_round(study, spec, round_number, records)
        write_round(study, record)
    observer.round_started(record, spec)
    params = sample(
        spec.params, record.ranges, round_generator(spec.seed, round_number), spec.trials_per_round
    )
    while not stop.is_set():
        trials, settled = with_retries(
            lambda: _check_round(study, storage, spec, record, params), "follow the round"
        )
        finished = finished_by_index(trials)
        scores = [s for s in (score(t) for t in finished.values()) if s is not None]
        observer.progress(
            Progress(
                round_number,
                spec.rounds,
                len(finished),
                spec.trials_per_round,
                max(scores) if scores else None,
            )
        )
        if round_number == 1 and finished:
            _fault_point("wait")  # before `settled`: a fast round may settle at its first poll
        if settled:
            break
        check_workers()
        stop.wait(POLL_S)
    else:
        return
    record.done = True
    write_round(study, summarize(record, round_trials(study.get_trials(), round_number)))
    observer.round_finished(record, spec)


def _check_round(
    study: optuna.Study,
    storage: Any,
    spec: StudySpec,
    record: RoundRecord,
    params: list[dict[str, Any]],
) -> tuple[list[FrozenTrial], bool]:
    fail_abandoned(study, storage)
    trials = round_trials(study.get_trials(deepcopy=False), record.number)
    return trials, _enqueue_missing(study, spec, record, params, trials)


def _plan_round(
    study: optuna.Study, spec: StudySpec, round_number: int, records: dict[int, RoundRecord]
) -> RoundRecord:
    settings = spec.narrowing.__dict__.copy()
    if round_number == 0:
        return RoundRecord(0, initial_ranges(spec), RULE, settings, "the file's ranges")
    previous = records[round_number - 1]
    trials = finished_by_index(round_trials(study.get_trials(), round_number - 1)).values()
    outcomes = [Outcome(t.number, t.params, score(t)) for t in trials]
    decision = narrow(spec.params, previous.ranges, outcomes, spec.narrowing)
    _fault_point("narrow")
    return RoundRecord(
        round_number,
        decision.ranges,
        RULE,
        settings,
        decision.reason,
        crowded=decision.crowded,
        source_trials=list(decision.top_trials),
    )


def _enqueue_missing(
    study: optuna.Study,
    spec: StudySpec,
    record: RoundRecord,
    params: list[dict[str, Any]],
    trials: list[FrozenTrial],
) -> bool:
    """Queue every place of the round with no live or finished trial; True if all settled.

    A queued trial carries its parameters with the round's distributions (Optuna's params,
    as Optuna's tools show them) as well as Optuna's `fixed_params`: its worker then has
    nothing to write before training.

    A place is settled when it has a finished trial, or when its trials failed with errors
    more than `retries` times. Trials abandoned by a dead worker or interrupted are retried
    without counting against `retries`.
    """
    by_index: dict[int, list[FrozenTrial]] = {}
    for trial in trials:
        by_index.setdefault(int(trial.user_attrs["index"]), []).append(trial)
    settled, dists = True, distributions(spec.params, record.ranges)
    for index, values in enumerate(params):
        attempts = by_index.get(index, [])
        if any(t.state in FINISHED for t in attempts):
            continue
        errors = sum(t.user_attrs.get("fail_reason") == "error" for t in attempts)
        if errors > spec.retries:
            continue
        settled = False
        if any(t.state in (TrialState.WAITING, TrialState.RUNNING) for t in attempts):
            continue
        study.add_trial(
            optuna.trial.create_trial(
                state=TrialState.WAITING,
                params=values,
                distributions=dists,
                system_attrs={"fixed_params": values},
                user_attrs={
                    "round": record.number,
                    "index": index,
                    "attempt": len(attempts),
                    "seed": trial_seed(spec.seed, record.number, index),
                },
            )
        )
        if record.number == 1 and index == len(params) // 2:
            _fault_point("enqueue")
    return settled


def _score_test(study: optuna.Study, spec: StudySpec, stop: threading.Event) -> bool:
    """Train the best configuration once more and score it on the held-out test split.

    Returns False if `stop` ended the training first (nothing is stored then).
    """
    if TEST_KEY in study.user_attrs:
        return True
    best = ranked(study.get_trials(deepcopy=False))
    if not best or score(best[0]) is None:
        study.set_user_attr(
            TEST_KEY, {"trial": None, "reason": "no trial finished without diverging"}
        )
        return True
    trial = best[0]
    config = spec.train_config(dict(trial.params), seed=int(trial.user_attrs["seed"]))

    def check_stop(_: trainer.EpochResult) -> None:
        if stop.is_set():
            raise Interrupted

    try:
        with threadpool_limits(limits=1):
            history = trainer.train(config, load_split(spec), check_stop, score_test=True)
    except Interrupted:
        return False
    _fault_point("test")
    study.set_user_attr(
        TEST_KEY,
        {
            "trial": trial.number,
            "params": dict(trial.params),
            "val_accuracy": history.val_accuracy,
            "test_accuracy": history.test_accuracy,
        },
    )
    return True


def _summary(
    study: optuna.Study, spec: StudySpec, url: str, already_complete: bool, seconds: float
) -> RunSummary:
    trials = study.get_trials(deepcopy=False)
    finished_places = {
        (t.user_attrs.get("round"), t.user_attrs.get("index"))
        for t in trials
        if t.state in FINISHED
    }
    return RunSummary(
        study_name=spec.name,
        storage=redact(url),
        already_complete=already_complete,
        complete=bool(study.user_attrs.get(COMPLETE_KEY)),
        finished=len(finished_places),
        planned=spec.total_trials,
        rounds=read_rounds(study.user_attrs),
        top=ranked(trials)[:20],
        test=study.user_attrs.get(TEST_KEY, {}),
        seconds=seconds,
        spec=spec,
        param_names=[p.name for p in spec.params],
    )


__all__ = ["Observer", "Progress", "RunSummary", "open_storage", "run_study"]
