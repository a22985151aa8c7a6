"""SIGINT and SIGTERM turned into calls from a thread, where taking a lock is safe."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

POLL_S = 0.05


@contextmanager
def on_signals(callback: Callable[[int], None]) -> Iterator[None]:
    """Within the block, each SIGINT or SIGTERM calls `callback(signum)` from a thread.

    A Python signal handler runs in the main thread between two bytecodes, possibly inside
    `threading.Event.set` of an earlier signal's handler: a handler that sets an Event itself
    deadlocks on that Event's lock (a SIGINT followed by a SIGTERM did, in a worker). So the
    handler only appends to a list, and a thread makes the calls, within POLL_S.
    """
    received: list[int] = []

    def handler(signum: int, _: Any) -> None:
        received.append(signum)  # atomic, takes no lock

    done = threading.Event()

    def deliver() -> None:
        while not done.wait(POLL_S):
            while received:
                callback(received.pop(0))

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(target=deliver, name="signals", daemon=True)
    thread.start()
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        done.set()
        thread.join()
        while received:
            callback(received.pop(0))
