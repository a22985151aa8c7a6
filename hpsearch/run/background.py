"""Do something every few seconds in a background thread while a block of code runs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def every(seconds: float, action: Callable[[], None], *, name: str) -> Iterator[None]:
    """Call `action()` every `seconds` from a daemon thread until the block ends.

    The first call comes `seconds` after entering. On leaving, the thread is stopped and
    joined: no call starts after the block, and the one under way finishes first. An
    exception in `action` ends the thread; actions that must keep going catch their own.
    """
    done = threading.Event()

    def loop() -> None:
        while not done.wait(seconds):
            action()

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
