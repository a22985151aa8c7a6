"""`hpsearch worker`: join a study that exists, with one worker process or several.

A worker never creates storage or a study (its coordinator does): it checks first, reading
only, and fails at once when either is missing, unless told to wait for them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from hpsearch.errors import StorageMissingError, StudyNotFoundError
from hpsearch.run.worker import run_worker, spawn_workers, stop_workers, worker_failures
from hpsearch.store.engines import open_storage
from hpsearch.store.records import SPEC_KEY
from hpsearch.store.studies import load_study
from hpsearch.timing import STOP_GRACE_S, STUDY_WAIT_S, WORKER_POLL_S


def work(
    url: str,
    study_name: str,
    jobs: int,
    stop: threading.Event,
    *,
    wait: bool = False,
    on_wait: Callable[[str], None] = lambda message: None,
) -> None:
    """Run `jobs` workers on the study until it is complete or `stop` is set; with several,
    raise HpsearchError with the first failing process's exit code when any fails."""
    if not await_study(url, study_name, stop, wait=wait, on_wait=on_wait):
        return
    if jobs == 1:
        run_worker(url, study_name, stop)
        return
    processes = spawn_workers(url, study_name, jobs)
    while any(p.is_alive() for p in processes) and not stop.wait(WORKER_POLL_S):
        pass
    stop_workers(processes)
    if not stop.wait(STOP_GRACE_S):  # not the Ctrl-C to the process group that ended them
        worker_failures(processes)


def await_study(
    url: str,
    study_name: str,
    stop: threading.Event,
    *,
    wait: bool,
    on_wait: Callable[[str], None] = lambda message: None,
) -> bool:
    """Check, without writing, that `url` holds the study `study_name`: a worker never creates
    storage (its coordinator does). Without `wait`, a missing storage or study is an error
    at once (naming the studies there are); with it, waits (telling `on_wait` once) until the
    study exists (True) or `stop` is set (False)."""
    told = False
    while True:
        try:
            with contextlib.closing(_Reader(url)) as reader:
                if SPEC_KEY in load_study(reader.storage, study_name).user_attrs:
                    return True
                raise StudyNotFoundError(f"study {study_name!r} is being created")
        except (StorageMissingError, StudyNotFoundError) as error:
            if not wait:
                raise StudyNotFoundError(
                    f"{error} (a worker never creates storage or studies; with --wait it waits "
                    "for its coordinator to create them)"
                ) from None
            if not told:
                told = True
                on_wait(
                    f"waiting for study {study_name!r} to be created by its coordinator "
                    f"(`hpsearch run STUDY_FILE`); now: {error}"
                )
        if stop.wait(STUDY_WAIT_S):
            return False


class _Reader:
    """A read-only storage, disposed of on close."""

    def __init__(self, url: str) -> None:
        self.storage = open_storage(url, write=False)

    def close(self) -> None:
        self.storage.engine.dispose()
