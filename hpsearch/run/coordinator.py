"""The coordinator of `hpsearch run`: rounds, enqueueing, waiting, narrowing, the test score.

Every step is idempotent, so running the same study file again continues where a previous
run stopped: a round's ranges are stored before any of its trials exist, trials are
enqueued only for the places of the round that have none, and a round is closed only when
each of its places has a finished trial (or used up its retries).
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

import optuna
import sqlalchemy
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial

import trainer
from hpsearch.errors import HpsearchError, StudyFileError
from hpsearch.run.events import Observer, Progress, RunSummary
from hpsearch.run.final import score_test, store_split_sizes
from hpsearch.run.idle import IdleWatch, idle_message
from hpsearch.run.lock import coordinator_lock
from hpsearch.run.outcomes import check_round_outcome
from hpsearch.run.proposals import propose
from hpsearch.run.rounds import enqueue_missing, fault_point, plan_round
from hpsearch.run.trial import load_split
from hpsearch.run.worker import fail_abandoned, open_worker_storage, spawn_workers, stop_workers
from hpsearch.store.engines import redact
from hpsearch.store.records import (
    COMPLETE_KEY,
    FINAL_KEY,
    SPLIT_KEY,
    TEST_KEY,
    RoundRecord,
    finished_by_index,
    read_rounds,
    score,
    summarize,
    write_round,
)
from hpsearch.store.retries import storage_failure, with_retries
from hpsearch.store.slices import (
    RoundReader,
    finished_places,
    next_trial_id,
    read_round,
    read_trial_ids,
    round_floor,
)
from hpsearch.store.studies import create_or_check_study
from hpsearch.store.top import top_trial_ids
from hpsearch.study.grid import grid_points
from hpsearch.study.spec import StudySpec
from hpsearch.timing import POLL_S, STOP_GRACE_S


def check_data(spec: StudySpec, where: str | None = None) -> trainer.Split:
    """Load the study's split once here, so bad data is one error, not a crash per worker.

    The error names `where` (the study file; default the study) and the `[data]` field at
    fault. Data that cannot be downloaded now is exit 1 (the file is fine; the same command
    works with the network or the files in place), any other problem the file's (exit 2).
    """
    try:
        return load_split(spec)
    except trainer.DatasetError as error:
        place = where or f"study {spec.name!r}"
        if isinstance(error, trainer.DatasetUnavailable):
            raise HpsearchError(f"{place}: data.dataset: {error}") from None
        raise StudyFileError(place, f"data.{error.field_name}", str(error)) from None


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
        split = check_data(spec)
        study = create_or_check_study(storage, spec)
        store_split_sizes(study, split)
        study_id = storage.get_study_id_from_name(spec.name)
        done = sum(r.done for r in read_rounds(study.user_attrs))  # a top-up adds rounds
        already_complete = bool(study.user_attrs.get(COMPLETE_KEY)) and done >= spec.rounds
        if not already_complete:
            lock = coordinator_lock(
                storage, study_id, spec.name, wait=wait, stop=stop, on_wait=observer.waiting
            )
            with lock as halt:
                workers = spawn_workers(url, spec.name, jobs)
                try:
                    coordinator = _Coordinator(study, storage, study_id, spec, observer, halt)
                    coordinator.workers, coordinator.url = workers, redact(url)
                    coordinator.run()
                finally:
                    stop_workers(workers)
        seconds = time.perf_counter() - started
        return with_retries(  # the server may restart as the study completes
            lambda: _summary(study, storage, study_id, spec, url, already_complete, seconds),
            "read the run's summary",
        )
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
    workers: list[BaseProcess] = field(default_factory=list)
    url: str = ""  # the storage, as a worker would be told to open it (no password)
    floor: int = 0  # the smallest trial id of the round followed (see `store.slices`)
    last_round: list[FrozenTrial] = field(default_factory=list)  # its trials, last read
    last_number: int = -1  # the round `last_round` belongs to
    reader: RoundReader | None = None  # reads the round followed
    idle: IdleWatch = field(default_factory=IdleWatch)  # a round nobody works on

    def run(self) -> None:
        # Every step is idempotent: one cut short by the database going away is run again
        for round_number in range(self.spec.rounds):
            if self.stop.is_set():
                return
            with_retries(functools.partial(self.run_round, round_number), "run a round")
        if not self.stop.is_set():
            self.observer.reevaluating(self.spec) if self.spec.final else self.observer.testing()
            with_retries(self.finish, "choose and score the final configuration")

    def finish(self) -> None:
        if score_test(self.study, self.storage, self.study_id, self.spec, self.stop):
            self.study.set_user_attr(COMPLETE_KEY, True)

    def run_round(self, round_number: int) -> None:
        study, spec = self.study, self.spec
        records = {r.number: r for r in read_rounds(study.user_attrs)}
        record = records.get(round_number)
        if record is not None and record.done:
            return
        if record is None:
            previous = self.finished_round(round_number - 1) if round_number else []
            record = plan_round(study, spec, round_number, records, previous)
            self.floor = with_retries(
                lambda: next_trial_id(self.storage, self.study_id), "plan the round"
            )
            write_round(study, record)
        else:  # resumed: its floor is its first trial's id (read once)
            self.floor = round_floor(self.storage, self.study_id, round_number)
        self.observer.round_started(record, spec)
        params = grid_points(spec) if spec.grid else propose(study, spec, record, records)
        if not self.follow(record, params):  # stopped: keep what finished, for --json and show
            stop_workers(self.workers)  # first: a trial its worker finishes meanwhile counts
            reader = self.reader
            trials = with_retries(reader.read, "read the round") if reader else self.last_round
            finished = finished_by_index(trials).values()
            record.trial_numbers = sorted(t.number for t in finished)
            write_round(study, record)
            return
        trials = self.last_round  # the settled round, as `follow` last read it
        check_round_outcome(spec.name, round_number, trials)
        record.done = True
        write_round(study, summarize(record, trials, spec.maximize))
        self.observer.round_finished(record, spec)

    def finished_round(self, round_number: int) -> list[FrozenTrial]:
        """The trials of the done round `round_number`: as its follow last read them, else
        (a resumed run) read once."""
        if self.last_number == round_number:
            return self.last_round
        floor = round_floor(self.storage, self.study_id, round_number)
        return read_round(self.storage, self.study_id, round_number, floor)

    def follow(self, record: RoundRecord, params: list[dict[str, Any]]) -> bool:
        """Poll the round every POLL_S (re-queue abandoned places, report progress) until every
        place is settled (True) or `stop` is set (False)."""
        while not self.stop.is_set():
            trials, settled = with_retries(lambda: self.check(record, params), "follow the round")
            finished = finished_by_index(trials)
            scores = [s for s in (score(t) for t in finished.values()) if s is not None]
            best = (max(scores) if self.spec.maximize else min(scores)) if scores else None
            total, rounds = self.spec.trials_in(record.number), self.spec.rounds
            self.observer.progress(Progress(record.number, rounds, len(finished), total, best))
            if record.number == 1 and finished:
                fault_point("wait")  # before `settled`: a fast round may settle at once
            if settled:
                return True
            if not self.workers and self.idle.notice(trials):
                self.observer.waiting(idle_message(self.spec.name, self.url))
            self.check_workers()
            self.stop.wait(POLL_S)
        return False

    def check(
        self, record: RoundRecord, params: list[dict[str, Any]]
    ) -> tuple[list[FrozenTrial], bool]:
        fail_abandoned(self.storage, self.study_id)
        if self.reader is None or self.reader.round_number != record.number:
            self.reader = RoundReader(self.storage, self.study_id, record.number, self.floor)
        trials = self.reader.read()
        self.last_round, self.last_number = trials, record.number
        return trials, enqueue_missing(
            self.storage, self.study_id, self.spec, record, params, trials
        )

    def check_workers(self) -> None:
        alive = [w.is_alive() for w in self.workers]  # each call reaps a dead one: no zombies
        if self.workers and not any(alive):
            # Ctrl-C reaches the whole process group: starting workers die of it before
            # this process has turned it into a stop (exit 130, not a failure)
            if self.stop.wait(STOP_GRACE_S):
                return
            codes = sorted({w.exitcode for w in self.workers}, key=str)
            raise HpsearchError(
                f"all {len(self.workers)} local workers died (exit codes {codes}); "
                "see their messages above, or rerun with --debug"
            )


def _summary(
    study: optuna.Study,
    storage: RDBStorage,
    study_id: int,
    spec: StudySpec,
    url: str,
    already_complete: bool,
    seconds: float,
) -> RunSummary:
    return RunSummary(
        study_name=spec.name,
        storage=redact(url),
        already_complete=already_complete,
        complete=bool(study.user_attrs.get(COMPLETE_KEY)),
        finished=finished_places(storage, study_id),
        planned=spec.total_trials,
        rounds=read_rounds(study.user_attrs),
        top=read_trial_ids(storage, study_id, top_trial_ids(storage, study_id, 20, spec.maximize)),
        test=study.user_attrs.get(TEST_KEY, {}),
        seconds=seconds,
        spec=spec,
        param_names=[p.name for p in spec.params],
        sizes=study.user_attrs.get(SPLIT_KEY) or {},
        final=study.user_attrs.get(FINAL_KEY) if spec.final else None,
    )
