"""Storage URLs, engines and SQLite pragmas: opening a database safely.

SQLite runs in WAL mode with `synchronous=NORMAL` and a busy timeout, and every write
transaction starts with BEGIN IMMEDIATE, so several local processes queue for the write lock
instead of failing with "database is locked" when a reader upgrades to a writer.
PostgreSQL connections are pinged before use, so a restarted server costs a reconnect,
not a crash.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

import optuna
import sqlalchemy
from optuna.storages import RDBStorage
from sqlalchemy.engine import URL, make_url

from hpsearch.errors import StorageError, StorageMissingError
from hpsearch.store.retries import patiently, storage_failure
from hpsearch.store.tables import OPTUNA_OWN, check_schema

DEFAULT_STORAGE = "sqlite:///hpsearch.db"
ENV_STORAGE = "HPSEARCH_STORAGE"
SQLITE_BUSY_TIMEOUT_S = 60.0
OPTUNA_TABLES = {"studies", "trials", "version_info"}
# A database with only some of OPTUNA_OWN (every table Optuna creates) is Optuna's, its tables
# still being created by a process that started at the same moment.

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
        _check_sqlite_file(parsed, write=write)
    tables = _tables(parsed, shown, patient)
    complete = _check_tables(tables, shown, write=write)
    times = {"heartbeat_interval": heartbeat_interval, "grace_period": grace_period}
    if parsed.get_backend_name() == "postgresql" and "alembic_version" not in tables:
        # A new database (`write`): Optuna's first stamp holds two connections at once, so
        # a storage of its own does it, and the one kept holds a single connection.
        _create(parsed, shown, patient, write=write, skip_table_creation=complete, **times,
                connections=2).engine.dispose()  # fmt: skip
        complete = True
    storage = _create(parsed, shown, patient, write=write, skip_table_creation=complete, **times)
    if parsed.get_backend_name() == "sqlite":
        sqlalchemy.event.listen(
            storage.engine, "begin", _begin_immediate if write else _begin_deferred
        )
    return storage


def _check_tables(tables: set[str], shown: str, *, write: bool) -> bool:
    """Whether the database holds all of Optuna's tables; refuses a foreign or empty one."""
    complete = tables >= OPTUNA_TABLES
    if tables and not complete and not tables <= OPTUNA_OWN:
        raise StorageError(
            f"{shown} holds tables of another application "
            f"({', '.join(sorted(tables)[:5])}); refusing to add Optuna's tables "
            "to it. Use a new database file"
        )
    if not complete and not write:
        raise StorageMissingError(
            f"{shown} holds no studies (no Optuna tables); run "
            "`hpsearch run STUDY_FILE` first or check the URL"
        )
    return complete


def _create(parsed: URL, shown: str, patient: bool, **kwargs: Any) -> RDBStorage:
    """`_rdb_storage`, waited for while a server restarts (see `patiently`), and tried again
    while processes starting together race to create the tables."""
    for attempt in range(5):
        try:
            return patiently(lambda: _rdb_storage(parsed, **kwargs), patient)
        except RuntimeError as error:  # Optuna's schema-version check
            raise StorageError(f"{shown}: {error}") from None
        except optuna.exceptions.StorageInternalError as error:
            raise _cannot_open(shown, error) from None
        except sqlalchemy.exc.SQLAlchemyError as error:
            # The loser's CREATE fails ("already exists", a duplicate key), and the tables
            # exist on the next attempt.
            racing = isinstance(
                error, sqlalchemy.exc.IntegrityError | sqlalchemy.exc.ProgrammingError
            ) or "already exists" in str(error)
            if not racing or attempt == 4:
                raise _cannot_open(shown, error) from None
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
) -> RDBStorage:
    with warnings.catch_warnings():
        # Heartbeats are "experimental" in Optuna since 2.x: noise for our users.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = RDBStorage(
            parsed.render_as_string(hide_password=False),
            engine_kwargs=_engine_kwargs(parsed, write=write, connections=connections),
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


def _check_sqlite_file(parsed: URL, *, write: bool) -> None:
    if not parsed.database or parsed.database == ":memory:":
        raise StorageError(
            "an in-memory SQLite database cannot be shared or resumed; "
            "give a file: sqlite:///hpsearch.db"
        )
    path = Path(parsed.database)
    if path.is_dir():
        raise StorageError(f"{path} is a folder; give a database file such as {path}/hpsearch.db")
    if not path.exists():
        if not write:
            raise StorageMissingError(
                f"{path}: no such database file; check --storage or run "
                "`hpsearch run STUDY_FILE` first"
            )
        if not path.parent.exists():
            raise StorageError(
                f"{path}: the folder {path.parent} does not exist; create it "
                "or choose another path"
            )
        return
    if write and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        raise StorageError(
            f"{path} or its folder is read-only; fix the permissions, or read it "
            "with `hpsearch studies` / `show`, which never write"
        )
    if path.stat().st_size == 0:
        if not write:
            raise StorageMissingError(
                f"{path} is an empty file, not a study database; run "
                "`hpsearch run STUDY_FILE` to create one"
            )
        return
    # The file's contents are checked through SQLite (`_tables`), never with open()/close()
    # here: closing any descriptor of a database file drops every POSIX lock this process
    # holds on it, and another process may then delete the WAL under live connections.


def _tables(parsed: URL, shown: str, patient: bool) -> set[str]:
    """The names of the tables in the database, read without writing anything."""
    if parsed.get_backend_name() == "sqlite":
        if not Path(parsed.database or "").exists():
            return set()
        try:
            uri = f"file:{quote(parsed.database or '')}?mode=ro"
            with contextlib.closing(sqlite3.connect(uri, uri=True)) as connection:
                rows = connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                ).fetchall()
            return {row[0] for row in rows}
        except sqlite3.DatabaseError as error:
            if "not a database" in str(error):
                raise StorageError(
                    f"{shown} is not a SQLite database; give a database file "
                    "written by hpsearch or a new path"
                ) from None
            raise StorageError(
                f"{shown}: cannot read the database ({error}); it may be "
                "damaged: restore it from a backup or use a new file"
            ) from None
    engine = sqlalchemy.create_engine(parsed, **_engine_kwargs(parsed, write=False))
    try:
        return patiently(lambda: _table_names(engine), patient)
    except sqlalchemy.exc.SQLAlchemyError as error:
        raise _cannot_open(shown, error) from None
    finally:
        engine.dispose()


def _table_names(engine: sqlalchemy.Engine) -> set[str]:
    with engine.connect() as connection:
        return set(sqlalchemy.inspect(connection).get_table_names())


def _cannot_open(shown: str, error: Exception) -> StorageError:
    """One line: the driver's reason under the wrappers (never SQL or parameters, which may
    hold secrets), and advice where there is some."""
    return StorageError(f"{shown}: {storage_failure(error, 'open the database')}")


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
