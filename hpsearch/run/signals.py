"""SIGINT and SIGTERM turned into calls from a thread, where taking a lock is safe."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from hpsearch.run.background import every
from hpsearch.timing import SIGNAL_POLL_S


@contextmanager
def on_signals(callback: Callable[[int], None]) -> Iterator[None]:
    """Within the block, each SIGINT or SIGTERM calls `callback(signum)` from a thread.

    A Python signal handler runs in the main thread between two bytecodes, possibly inside
    `threading.Event.set` of an earlier signal's handler: a handler that sets an Event itself
    deadlocks on that Event's lock (a SIGINT followed by a SIGTERM did, in a worker). So the
    handler only appends to a list, and a thread makes the calls, within SIGNAL_POLL_S.
    """
    received: list[int] = []

    def handler(signum: int, _: Any) -> None:
        received.append(signum)  # atomic, takes no lock

    def deliver() -> None:
        while received:
            callback(received.pop(0))

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with every(SIGNAL_POLL_S, deliver, name="signals"):
            yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        deliver()
