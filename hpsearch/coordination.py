"""One coordinator per study: a lock kept in the study itself, with a heartbeat.

The lock is a study system attribute holding the coordinator's host, pid, start time and last
beat. A holder is alive while its process exists (same host) or its beat is fresh (other
hosts); a dead holder never blocks the next run.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from optuna.storages import RDBStorage

from hpsearch.errors import StudyHeldError
from hpsearch.writes import claim_study, release_study

LOCK_KEY = "hpsearch:coordinator"
BEAT_S = 2.0
GRACE_S = 15.0


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs on this host. A zombie (killed, not yet reaped by its
    parent) does not: a worker killed under a coordinator stays one until the next join."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no procfs (macOS), or it ended just now
        return True
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def holder_alive(holder: dict[str, Any]) -> bool:
    if holder.get("host") == socket.gethostname():
        return pid_alive(int(holder["pid"]))
    return time.time() - float(holder.get("beat", 0)) < GRACE_S


def describe(holder: dict[str, Any]) -> str:
    since = datetime.fromtimestamp(float(holder["since"])).isoformat(timespec="seconds")
    return f"host {holder['host']}, pid {holder['pid']}, since {since}"


@contextlib.contextmanager
def coordinator_lock(
    storage: RDBStorage,
    study_id: int,
    study_name: str,
    *,
    wait: bool = False,
    stop: threading.Event | None = None,
) -> Iterator[None]:
    """Hold the study's coordinator lock for the block, beating every BEAT_S seconds.

    Raises StudyHeldError (exit 75) if a live coordinator holds it, unless `wait`, which
    polls until it is free (or `stop` is set).
    """
    stop = stop or threading.Event()
    token = uuid.uuid4().hex
    owner = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "since": time.time(),
        "token": token,
    }
    while True:
        holder = claim_study(
            storage, study_id, LOCK_KEY, {**owner, "beat": time.time()}, holder_alive
        )
        if holder is None:
            break
        if not wait or stop.is_set():
            raise StudyHeldError(
                f"study {study_name!r} is being run by another coordinator "
                f"({describe(holder)}); try again later, or use --wait"
            )
        stop.wait(BEAT_S)
    done = threading.Event()

    def beat() -> None:
        while not done.wait(BEAT_S):
            with contextlib.suppress(Exception):  # a missed beat is retried next time
                claim_study(
                    storage, study_id, LOCK_KEY, {**owner, "beat": time.time()}, holder_alive
                )

    thread = threading.Thread(target=beat, name="coordinator-beat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        with contextlib.suppress(Exception):
            release_study(storage, study_id, LOCK_KEY, token)
