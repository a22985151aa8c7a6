"""Retries while a database is away, and one clear line when it is broken for good.

Each retried action is a whole transaction (rolled back on failure), so a retry never leaves
a half-written trial.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import optuna
import sqlalchemy

from hpsearch.errors import StorageError

T = TypeVar("T")

TRANSIENT = (
    "locked",
    "busy",
    "connect",
    "server closed",
    "terminating",
    "timeout",
    "timed out",
    "reset by peer",
    "broken pipe",
    "starting up",
    "shutting down",
    "no route",
    "ssl syscall",
)
RETRY_FOR_S = 120.0


def _root(error: BaseException) -> BaseException:
    """The driver error under SQLAlchemy's and Optuna's wrappers."""
    while error.__cause__ is not None:
        error = error.__cause__
    return getattr(error, "orig", None) or error


def is_transient(error: BaseException) -> bool:
    """A database that is away for a while (restarting, busy, network), not a broken one."""
    root = _root(error)
    if getattr(error, "connection_invalidated", False):
        return True
    text = str(root).lower()
    return any(word in text for word in TRANSIENT)


def _reason(error: BaseException) -> str:
    root = _root(error)
    return str(root).strip().splitlines()[0] if str(root).strip() else type(root).__name__


def storage_failure(error: BaseException, what: str) -> StorageError:
    """One clear line for a database error that retrying will not fix."""
    reason = _reason(error)
    return StorageError(f"cannot {what}: {reason}{_advice(reason)}")


def with_retries(action: Callable[[], T], what: str, *, give_up_after: float = RETRY_FOR_S) -> T:
    """Run `action`, retrying with exponential backoff while the database is unreachable.

    Each attempt is a whole transaction (rolled back on failure), so a retry never leaves a
    half-written trial. A permanent failure (a full disk, a read-only or damaged file) is one
    clear StorageError at once; a transient one becomes that after `give_up_after` seconds.
    """
    deadline = None  # counted from the first failure: a long action may fail late
    delay = 0.25
    while True:
        try:
            return action()
        except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as error:
            if not is_transient(error):
                raise storage_failure(error, what) from None
            deadline = deadline or time.monotonic() + give_up_after
            if time.monotonic() + delay > deadline:
                raise StorageError(
                    f"the database stayed unreachable for {give_up_after:.0f} s "
                    f"while trying to {what}: {_reason(error)}"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 8.0)


def _advice(reason: str) -> str:
    text = reason.lower()
    if "full" in text:
        return "; free disk space and run the same command again (nothing stored was lost)"
    if "readonly" in text or "read-only" in text:
        return "; the database file or its folder is read-only: fix the permissions"
    if any(
        words in text for words in ("too many clients", "too many connections", "connection slots")
    ):
        return (
            "; the server takes no more connections: stop idle clients, raise its "
            "max_connections, or put pgbouncer in front (README: Many workers on PostgreSQL)"
        )
    if "malformed" in text or "not a database" in text:
        return "; the database file is damaged: restore it from a backup"
    return ""


RESTARTING = ("terminating", "starting up", "shutting down", "server closed")


def patiently(action: Callable[[], T], patient: bool) -> T:
    """`action()`, retried while the server restarts (and, if `patient`, while it is away in
    any transient way: a URL already known good); other errors at once, so that a wrong
    host or password is one line now, not in two minutes."""
    deadline, delay = time.monotonic() + RETRY_FOR_S, 0.25
    while True:
        try:
            return action()
        except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as error:
            restarting = any(word in str(_root(error)).lower() for word in RESTARTING)
            if not (is_transient(error) if patient else restarting):
                raise
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 8.0)
