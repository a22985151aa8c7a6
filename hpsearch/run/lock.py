"""One coordinator per study: a lock kept in the study itself, with a heartbeat.

The lock is a study system attribute holding the coordinator's host, pid, start time and last
beat. A holder is alive while its process exists (same host) or its beat is fresh (other
hosts); a dead holder never blocks the next run.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator

from optuna.storages import RDBStorage

from hpsearch.errors import StudyHeldError
from hpsearch.run.background import every
from hpsearch.store.liveness import describe, holder_alive, identity
from hpsearch.store.records import LOCK_KEY
from hpsearch.store.writes import claim_study, release_study
from hpsearch.timing import LOCK_BEAT_S


@contextlib.contextmanager
def coordinator_lock(
    storage: RDBStorage,
    study_id: int,
    study_name: str,
    *,
    wait: bool = False,
    stop: threading.Event | None = None,
) -> Iterator[None]:
    """Hold the study's coordinator lock for the block, beating every LOCK_BEAT_S seconds.

    Raises StudyHeldError (exit 75) if a live coordinator holds it, unless `wait`, which
    polls until it is free (or `stop` is set).
    """
    stop = stop or threading.Event()
    token = uuid.uuid4().hex
    owner = {**identity(), "since": time.time(), "token": token}

    def claim() -> dict | None:
        return claim_study(
            storage, study_id, LOCK_KEY, {**owner, "beat": time.time()}, holder_alive
        )

    while (holder := claim()) is not None:
        if not wait or stop.is_set():
            raise StudyHeldError(
                f"study {study_name!r} is being run by another coordinator "
                f"({describe(holder)}); try again later, or use --wait"
            )
        stop.wait(LOCK_BEAT_S)

    def beat() -> None:
        with contextlib.suppress(Exception):  # a missed beat is retried next time
            claim()

    try:
        with every(LOCK_BEAT_S, beat, name="coordinator-beat"):
            yield
    finally:
        with contextlib.suppress(Exception):
            release_study(storage, study_id, LOCK_KEY, token)
