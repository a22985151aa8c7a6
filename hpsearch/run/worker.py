"""Workers: pop a waiting trial, train it, store it; repeat until the study is complete.

Optuna's storage is the only thing workers share: a claim (WAITING -> RUNNING, see
`store.writes.claim_waiting_trial`) is one transaction, so any number of workers on any
number of machines split a round without duplicates. A running trial carries a heartbeat and
its worker's host and pid from the moment it is claimed, so a dead worker's trial is
recognised (see `fail_abandoned`) and queued again by the coordinator.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from multiprocessing.process import BaseProcess

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState
from threadpoolctl import threadpool_limits

from hpsearch.errors import HpsearchError, StudyNotFoundError
from hpsearch.run.background import every
from hpsearch.run.signals import on_signals
from hpsearch.run.trial import load_split, run_trial
from hpsearch.store.claims import Claimer
from hpsearch.store.engines import open_storage
from hpsearch.store.liveness import owner_identity, pid_alive, same_namespace
from hpsearch.store.reads import running_trials, stale_trial_ids
from hpsearch.store.records import COMPLETE_KEY, SPEC_KEY, WORKER_KEY, read_spec
from hpsearch.store.retries import with_retries
from hpsearch.store.slices import study_user_attr
from hpsearch.store.studies import load_study
from hpsearch.store.writes import mark_abandoned
from hpsearch.timing import (
    HEARTBEAT_S,
    PARENT_WATCH_S,
    POLL_S,
    STUDY_WAIT_S,
    WORKER_GRACE_S,
)


def open_worker_storage(url: str, *, patient: bool = False) -> RDBStorage:
    return open_storage(
        url,
        write=True,
        heartbeat_interval=HEARTBEAT_S,
        grace_period=WORKER_GRACE_S,
        patient=patient,
    )


@contextlib.contextmanager
def heartbeat(storage: RDBStorage, trial_id: int) -> Iterator[None]:
    """Record the trial's heartbeat every HEARTBEAT_S until the block ends.

    The claim (`store.writes.claim_waiting_trial`) recorded the first one.
    """

    def beat() -> None:
        with contextlib.suppress(Exception):  # a missed beat is retried next interval
            storage.record_heartbeat(trial_id)

    with every(HEARTBEAT_S, beat, name=f"heartbeat-{trial_id}"):
        yield


def wait_for_study(
    storage: RDBStorage, study_name: str, stop: threading.Event, wait: bool
) -> optuna.Study | None:
    """The study, once it exists (a worker may start before its coordinator)."""
    while True:
        try:
            study = load_study(storage, study_name)
            if SPEC_KEY in study.user_attrs:
                return study
        except StudyNotFoundError:
            if not wait:
                raise
        if stop.wait(STUDY_WAIT_S):
            return None


def run_worker(
    url: str,
    study_name: str,
    stop: threading.Event,
    max_trials: int | None = None,
    wait: bool = True,
    patient: bool = False,
) -> int:
    """Run trials of `study_name` until it is complete, `stop` is set or `max_trials` ran.

    Returns the number of trials this worker finished. One BLAS thread: parallelism comes
    from running several workers, which is several times faster at these matrix sizes.
    """
    storage = open_worker_storage(url, patient=patient)
    try:
        return _work(storage, study_name, stop, max_trials, wait)
    finally:
        storage.engine.dispose()


def _work(
    storage: RDBStorage, study_name: str, stop: threading.Event, max_trials: int | None, wait: bool
) -> int:
    study = with_retries(lambda: wait_for_study(storage, study_name, stop, wait), "open the study")
    if study is None:
        return 0
    study_id = with_retries(lambda: storage.get_study_id_from_name(study_name), "open the study")
    spec = with_retries(lambda: read_spec(study), "read the study file")
    finished, worker, claims = 0, owner_identity(), Claimer(storage, study_id)
    with threadpool_limits(limits=1):
        load_split(spec)  # once per process, before the first trial is claimed
        while not stop.is_set() and (max_trials is None or finished < max_trials):
            trial = with_retries(
                lambda: claims.claim({WORKER_KEY: {**worker, "since": time.time()}}),
                "claim a trial",
            )
            if trial is None:
                if with_retries(
                    lambda: study_user_attr(storage, study_id, COMPLETE_KEY), "read the study"
                ):
                    break
                stop.wait(POLL_S)
                continue
            with heartbeat(storage, trial.trial_id):
                state = run_trial(storage, trial, spec, stop)
            finished += state == TrialState.COMPLETE
    return finished


def fail_abandoned(storage: RDBStorage, study_id: int) -> list[int]:
    """Mark RUNNING trials whose worker is gone as failed ("abandoned"); returns their numbers.

    A worker in this process namespace (same host, boot and pid namespace: see
    `store.liveness`) is gone when its pid is; one anywhere else when its heartbeat (the
    database server's clock) is older than the grace period (Optuna's stale-trial check). A
    trial claimed but never started (its worker died in between) is gone after the grace
    period too. Each is marked only if still RUNNING under the owner read here.
    """
    running = running_trials(storage, study_id)
    if not running:
        return []
    stale_ids = stale_trial_ids(storage, study_id)
    now = datetime.now()
    numbers = []
    for trial in running:
        owner = trial.owner
        if owner and same_namespace(owner):
            gone = not pid_alive(int(owner["pid"]))
        elif owner is None and trial.trial_id not in stale_ids:
            started = trial.started or now
            gone = (now - started).total_seconds() > WORKER_GRACE_S
        else:
            gone = trial.trial_id in stale_ids
        if gone and mark_abandoned(storage, trial.trial_id, owner):
            numbers.append(trial.number)
    return numbers


def _worker_process(url: str, study_name: str) -> None:
    stop = threading.Event()
    parent = os.getppid()

    def orphaned() -> None:  # a coordinator killed with SIGKILL takes its workers along
        if os.getppid() != parent:
            stop.set()

    try:
        with (
            every(PARENT_WATCH_S, orphaned, name="parent-watch"),
            on_signals(lambda _: stop.set()),
        ):
            run_worker(url, study_name, stop, patient=True)  # the coordinator opened `url`
    except HpsearchError as error:
        print(f"hpsearch worker: {error}", file=sys.stderr, flush=True)
        sys.exit(error.exit_code)


def spawn_workers(url: str, study_name: str, count: int) -> list[BaseProcess]:
    """`count` worker processes (spawned: no inherited database connections)."""
    context = multiprocessing.get_context("spawn")
    workers: list[BaseProcess] = [
        context.Process(
            target=_worker_process,
            args=(url, study_name),
            daemon=True,
            name=f"hpsearch-worker-{i}",
        )
        for i in range(count)
    ]
    for worker in workers:
        worker.start()
    return workers


def stop_workers(workers: list[BaseProcess], timeout: float = 30.0) -> None:
    """SIGTERM each worker (it stops at its next epoch, its trial left to run again), then wait."""
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
    for worker in workers:
        worker.join(timeout=timeout)
        if worker.is_alive():
            worker.kill()


def worker_failures(workers: list[BaseProcess]) -> None:
    """Raise HpsearchError if any of the (ended) `workers` failed: `hpsearch worker --jobs N`
    exits as `--jobs 1` would, with the exit code of the first failure (1 if killed)."""
    codes = [w.exitcode for w in workers if w.exitcode]
    if codes:
        error = HpsearchError(
            f"{len(codes)} of {len(workers)} worker processes failed (exit codes "
            f"{sorted(set(codes))}); see their messages above"
        )
        error.exit_code = next((c for c in codes if c is not None and c > 0), 1)
        raise error
