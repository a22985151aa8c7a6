"""What a storage URL points at, checked before anything is opened, so that a wrong target
(a folder, a foreign database, a file that is not SQLite's) is refused, never modified."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy
from sqlalchemy.engine import URL

from hpsearch.errors import StorageError, StorageMissingError
from hpsearch.store.retries import patiently, storage_failure
from hpsearch.store.tables import OPTUNA_OWN

OPTUNA_TABLES = {"studies", "trials", "version_info"}
# A database with only some of OPTUNA_OWN (every table Optuna creates) is Optuna's, its tables
# still being created by a process that started at the same moment.


def check_tables(tables: set[str], shown: str, *, write: bool) -> bool:
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


def check_sqlite_file(parsed: URL, *, write: bool) -> None:
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


def table_names(parsed: URL, shown: str, patient: bool, engine_kwargs: dict[str, Any]) -> set[str]:
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
    engine = sqlalchemy.create_engine(parsed, **engine_kwargs)
    try:
        return patiently(lambda: _names(engine), patient)
    except sqlalchemy.exc.SQLAlchemyError as error:
        raise cannot_open(shown, error) from None
    finally:
        engine.dispose()


def _names(engine: sqlalchemy.Engine) -> set[str]:
    with engine.connect() as connection:
        return set(sqlalchemy.inspect(connection).get_table_names())


def cannot_open(shown: str, error: Exception) -> StorageError:
    """One line: the driver's reason under the wrappers (never SQL or parameters, which may
    hold secrets), and advice where there is some."""
    return StorageError(f"{shown}: {storage_failure(error, 'open the database')}")
