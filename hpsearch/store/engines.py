"""Storage URLs, engines and SQLite pragmas: opening a database safely.

SQLite runs in WAL mode with `synchronous=NORMAL` and a busy timeout, and every write
transaction starts with BEGIN IMMEDIATE, so several local processes queue for the write lock
instead of failing with "database is locked" when a reader upgrades to a writer.
PostgreSQL connections are pinged before use, so a restarted server costs a reconnect,
not a crash.
"""

from __future__ import annotations

import os
import sqlite3
import time
import warnings
from typing import Any

import optuna
import sqlalchemy
from optuna.storages import RDBStorage
from sqlalchemy.engine import URL, make_url

from hpsearch.errors import StorageError
from hpsearch.store.retries import patiently
from hpsearch.store.tables import ReadingStorage, check_schema
from hpsearch.store.targets import cannot_open, check_sqlite_file, check_tables, table_names

DEFAULT_STORAGE = "sqlite:///hpsearch.db"
ENV_STORAGE = "HPSEARCH_STORAGE"
SQLITE_BUSY_TIMEOUT_S = 60.0

optuna.logging.set_verbosity(optuna.logging.WARNING)


def resolve_url(url: str | None) -> str:
    """The storage URL to use: the argument, else $HPSEARCH_STORAGE, else ./hpsearch.db.

    A bare file path (no `://`) means a SQLite file.
    """
    url = url or os.environ.get(ENV_STORAGE) or DEFAULT_STORAGE
    if "://" not in url:
        url = f"sqlite:///{url}"
    return url


def redact(url: str) -> str:
    """The URL with any password replaced by ***, safe for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable storage URL>"


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except Exception:
        raise StorageError(
            f"cannot parse storage URL {redact(url)!r}; use sqlite:///path.db "
            "or postgresql://user@host/database"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is what we install
    if backend not in ("sqlite", "postgresql"):
        raise StorageError(
            f"unknown storage kind {parsed.drivername!r} in {redact(url)!r}; "
            "use sqlite:///path.db or postgresql://user@host/database"
        )
    return parsed


def open_storage(
    url: str,
    *,
    write: bool,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    patient: bool = False,
) -> RDBStorage:
    """An RDBStorage on `url`, checked first so that a wrong target is refused, not modified.

    A server restarting is waited for (up to RETRY_FOR_S); with `patient` (a URL another
    process of the same run has opened), any transient failure is.

    Args:
        write: create the Optuna tables if the database is new. Without it, a database that
            holds no Optuna tables is an error and nothing is written.
        heartbeat_interval, grace_period: seconds; see Optuna's heartbeat (used by workers).
    """
    parsed = _parse(url)
    shown = redact(url)
    if parsed.get_backend_name() == "sqlite":
        check_sqlite_file(parsed, write=write)
    tables = table_names(parsed, shown, patient, _engine_kwargs(parsed, write=False))
    complete = check_tables(tables, shown, write=write)
    times = {"heartbeat_interval": heartbeat_interval, "grace_period": grace_period}
    if parsed.get_backend_name() == "postgresql" and "alembic_version" not in tables:
        # A new database (`write`): Optuna's first stamp holds two connections at once, so
        # a storage of its own does it, and the one kept holds a single connection.
        _create(parsed, shown, patient, write=write, skip_table_creation=complete, **times,
                connections=2).engine.dispose()  # fmt: skip
        complete = True
    storage = _create(
        parsed, shown, patient, write=write, skip_table_creation=complete, **times,
        stamped="alembic_version" in tables,
    )  # fmt: skip
    if parsed.get_backend_name() == "sqlite":
        sqlalchemy.event.listen(
            storage.engine, "begin", _begin_immediate if write else _begin_deferred
        )
    return storage


def _create(parsed: URL, shown: str, patient: bool, **kwargs: Any) -> RDBStorage:
    """`_rdb_storage`, waited for while a server restarts (see `patiently`), and tried again
    while processes starting together race to create the tables."""
    for attempt in range(5):
        try:
            return patiently(lambda: _rdb_storage(parsed, **kwargs), patient)
        except RuntimeError as error:  # Optuna's schema-version check
            raise StorageError(f"{shown}: {error}") from None
        except optuna.exceptions.StorageInternalError as error:
            raise cannot_open(shown, error) from None
        except sqlalchemy.exc.SQLAlchemyError as error:
            # The loser's CREATE fails ("already exists", a duplicate key), and the tables
            # exist on the next attempt.
            racing = isinstance(
                error, sqlalchemy.exc.IntegrityError | sqlalchemy.exc.ProgrammingError
            ) or "already exists" in str(error)
            if not racing or attempt == 4:
                raise cannot_open(shown, error) from None
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _rdb_storage(
    parsed: URL,
    *,
    write: bool,
    skip_table_creation: bool,
    heartbeat_interval: int | None,
    grace_period: int | None,
    connections: int = 1,
    stamped: bool = False,
) -> RDBStorage:
    kwargs = _engine_kwargs(parsed, write=write, connections=connections)
    url = parsed.render_as_string(hide_password=False)
    if stamped and not write and heartbeat_interval is None:
        storage: RDBStorage = ReadingStorage(url, kwargs)  # no alembic import: see there
    else:
        with warnings.catch_warnings():
            # Heartbeats are "experimental" in Optuna since 2.x: noise for our users.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = RDBStorage(
                url,
                engine_kwargs=kwargs,
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period,
                skip_table_creation=skip_table_creation,
                skip_compatibility_check=True,
            )
    try:
        check_schema(storage)
    except Exception:
        storage.engine.dispose()
        raise
    return storage


def _engine_kwargs(parsed: URL, *, write: bool, connections: int = 1) -> dict[str, Any]:
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database

        def connect() -> sqlite3.Connection:
            # isolation_level=None: no implicit BEGIN; `_begin_immediate` issues the real one.
            connection = sqlite3.connect(
                database or "",
                timeout=SQLITE_BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
            )
            if write:  # WAL is a property of the file: only writers set it
                connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            return connection

        return {"creator": connect}
    # One connection per writing process (a worker's heartbeat thread waits for its trial's
    # transactions); `serve`'s threads may open a few more. README: many workers.
    return {
        "pool_pre_ping": True,
        "pool_recycle": 300,
        "pool_size": connections,
        "max_overflow": 0 if write else 4,
        # The pid in pg_stat_activity.application_name: which process holds a connection.
        "connect_args": {"connect_timeout": 10, "application_name": f"hpsearch {os.getpid()}"},
    }


def _begin_immediate(connection: sqlalchemy.Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _begin_deferred(connection: sqlalchemy.Connection) -> None:
    connection.exec_driver_sql("BEGIN")
