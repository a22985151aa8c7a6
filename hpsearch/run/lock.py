"""One coordinator per study: a lock kept in the study itself, with a heartbeat.

The lock is a study system attribute holding the coordinator's identity, start time and last
beat (the database server's clock). A holder is alive while its process exists (same host,
boot and pid namespace) or its beat is fresh (anywhere else); a dead holder never blocks the
next run, and a holder whose lock was taken over stops (see `coordinator_lock`).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator

from optuna.storages import RDBStorage

from hpsearch.errors import StudyHeldError
from hpsearch.run.background import every
from hpsearch.store.liveness import describe, holder_alive, owner_identity
from hpsearch.store.records import LOCK_KEY
from hpsearch.store.writes import claim_study, release_study
from hpsearch.timing import LOCK_BEAT_S, LOCK_GRACE_S, POLL_S


@contextlib.contextmanager
def coordinator_lock(
    storage: RDBStorage,
    study_id: int,
    study_name: str,
    *,
    wait: bool = False,
    stop: threading.Event | None = None,
    on_wait: Callable[[str], None] = lambda message: None,
) -> Iterator[threading.Event]:
    """Hold the study's coordinator lock for the block, beating every LOCK_BEAT_S seconds.

    Raises StudyHeldError (exit 75) if a live coordinator holds it, unless `wait`, which
    polls until it is free (or `stop` is set), telling `on_wait` once whom it waits for.
    Yields the event the block must stop on: set when `stop` is, or when a beat finds the
    lock taken over (the database was away, or this process paused, for longer than
    LOCK_GRACE_S and another coordinator claimed it); the block then ends as soon as it can
    and StudyHeldError says so.
    """
    stop = stop or threading.Event()
    halt, lost = threading.Event(), threading.Event()
    token = uuid.uuid4().hex
    owner = {**owner_identity(), "since": time.time(), "token": token}
    taker: dict = {}

    def claim(renew: bool = False) -> dict | None:
        return claim_study(storage, study_id, LOCK_KEY, owner, holder_alive, renew=renew)

    waiting = False
    while (holder := claim()) is not None:
        if not wait or stop.is_set():
            advice = "stopped waiting" if wait else "try again later, or use --wait"
            raise StudyHeldError(
                f"study {study_name!r} is being run by another coordinator "
                f"({describe(holder)}); {advice}"
            )
        if not waiting:
            waiting = True
            on_wait(
                f"study {study_name!r} is being run by another coordinator "
                f"({describe(holder)}); waiting until it ends (Ctrl-C to stop waiting)"
            )
        stop.wait(LOCK_BEAT_S)

    def beat() -> None:
        holder = None
        with contextlib.suppress(Exception):  # a missed beat is retried next time
            holder = claim(renew=True)
        if holder is not None and not lost.is_set():
            taker.update(holder)
            lost.set()
            halt.set()

    def forward_stop() -> None:
        if stop.is_set():
            halt.set()

    try:
        with (
            every(LOCK_BEAT_S, beat, name="coordinator-beat"),
            every(POLL_S, forward_stop, name="coordinator-stop"),
        ):
            yield halt
    finally:  # the beats have stopped: none can find the lock released and call it lost
        if not lost.is_set():
            with contextlib.suppress(Exception):
                release_study(storage, study_id, LOCK_KEY, token)
    if lost.is_set():
        by = f"by another coordinator ({describe(taker)})" if "since" in taker else "(released)"
        raise StudyHeldError(
            f"study {study_name!r}: this coordinator lost its lock {by}, after the database "
            f"or this process was away for more than {LOCK_GRACE_S:g}s; it stopped, the study "
            "is consistent: let the other run finish it, or run it again later"
        )
