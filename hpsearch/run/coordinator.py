"""The coordinator of `hpsearch run`: rounds, enqueueing, waiting, narrowing, the test score.

Every step is idempotent, so running the same study file again continues where a previous
run stopped: a round's ranges are stored before any of its trials exist, trials are
enqueued only for the places of the round that have none, and a round is closed only when
each of its places has a finished trial (or used up its retries).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

import optuna
import sqlalchemy
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial
from threadpoolctl import threadpool_limits

import trainer
from hpsearch.errors import HpsearchError, UsageError
from hpsearch.run.events import Observer, Progress, RunSummary
from hpsearch.run.lock import coordinator_lock
from hpsearch.run.rounds import enqueue_missing, fault_point, plan_round
from hpsearch.run.trial import Interrupted, load_split
from hpsearch.run.worker import fail_abandoned, open_worker_storage, spawn_workers, stop_workers
from hpsearch.store.engines import redact
from hpsearch.store.records import (
    COMPLETE_KEY,
    FINISHED,
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
from hpsearch.store.retries import storage_failure, with_retries
from hpsearch.store.studies import create_or_check_study
from hpsearch.study.grid import grid_points
from hpsearch.study.space import round_generator, sample
from hpsearch.study.spec import StudySpec
from hpsearch.timing import POLL_S


def check_data(spec: StudySpec) -> None:
    """Load the study's split once here, so bad data is one error, not a crash per worker."""
    try:
        load_split(spec)
    except trainer.DatasetError as error:
        raise UsageError(f"study {spec.name!r}: data.dataset {spec.dataset!r}: {error}") from None


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
        study_id = storage.get_study_id_from_name(spec.name)
        already_complete = bool(study.user_attrs.get(COMPLETE_KEY))
        if not already_complete:
            with coordinator_lock(storage, study_id, spec.name, wait=wait, stop=stop):
                workers = spawn_workers(url, spec.name, jobs)
                try:
                    _Coordinator(study, storage, study_id, spec, observer, stop, workers).run()
                finally:
                    stop_workers(workers)
        return _summary(study, spec, url, already_complete, time.perf_counter() - started)
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as error:
        raise storage_failure(error, f"run study {spec.name!r}") from None
    finally:
        storage.engine.dispose()


@dataclass
class _Coordinator:
    """One run of one study's rounds, with its local workers."""

    study: optuna.Study
    storage: RDBStorage
    study_id: int
    spec: StudySpec
    observer: Observer
    stop: threading.Event
    workers: list[BaseProcess]

    def run(self) -> None:
        for round_number in range(self.spec.rounds):
            if self.stop.is_set():
                return
            self.run_round(round_number)
        if not self.stop.is_set():
            self.observer.testing()
            if _score_test(self.study, self.spec, self.stop):
                self.study.set_user_attr(COMPLETE_KEY, True)

    def run_round(self, round_number: int) -> None:
        study, spec = self.study, self.spec
        records = {r.number: r for r in read_rounds(study.user_attrs)}
        record = records.get(round_number)
        if record is not None and record.done:
            return
        if record is None:
            record = plan_round(study, spec, round_number, records)
            write_round(study, record)
        self.observer.round_started(record, spec)
        rng = round_generator(spec.seed, round_number)
        params = (
            grid_points(spec)
            if spec.grid
            else sample(spec.params, record.ranges, rng, spec.trials_per_round)
        )
        if not self.follow(record, params):
            return
        record.done = True
        write_round(study, summarize(record, round_trials(study.get_trials(), round_number)))
        self.observer.round_finished(record, spec)

    def follow(self, record: RoundRecord, params: list[dict[str, Any]]) -> bool:
        """Poll the round every POLL_S (re-queue abandoned places, report progress) until every
        place is settled (True) or `stop` is set (False)."""
        while not self.stop.is_set():
            trials, settled = with_retries(lambda: self.check(record, params), "follow the round")
            finished = finished_by_index(trials)
            scores = [s for s in (score(t) for t in finished.values()) if s is not None]
            best = max(scores) if scores else None
            total, rounds = self.spec.trials_per_round, self.spec.rounds
            self.observer.progress(Progress(record.number, rounds, len(finished), total, best))
            if record.number == 1 and finished:
                fault_point("wait")  # before `settled`: a fast round may settle at once
            if settled:
                return True
            self.check_workers()
            self.stop.wait(POLL_S)
        return False

    def check(
        self, record: RoundRecord, params: list[dict[str, Any]]
    ) -> tuple[list[FrozenTrial], bool]:
        fail_abandoned(self.storage, self.study_id)
        trials = round_trials(self.study.get_trials(deepcopy=False), record.number)
        return trials, enqueue_missing(self.study, self.spec, record, params, trials)

    def check_workers(self) -> None:
        alive = [w.is_alive() for w in self.workers]  # each call reaps a dead one: no zombies
        if self.workers and not any(alive):
            codes = sorted({w.exitcode for w in self.workers}, key=str)
            raise HpsearchError(
                f"all {len(self.workers)} local workers died (exit codes {codes}); "
                "see their messages above, or rerun with --debug"
            )


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
    fault_point("test")
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
