"""A storage that the database itself keeps from writing: for servers that only read.

Every connection the storage's engine opens from now on is made read-only by the database
(SQLite's `query_only`, PostgreSQL's read-only session), so that a write slipping past the
caller's own checks fails there instead of changing a study.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy
from optuna.storages import RDBStorage


def forbid_writes(storage: RDBStorage) -> RDBStorage:
    """Make `storage` refuse every write in the database; returns it."""
    engine = storage.engine
    sqlite = engine.dialect.name == "sqlite"

    def read_only(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        if sqlite:
            cursor.execute("PRAGMA query_only = ON")
        else:
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        cursor.close()
        if not sqlite:
            connection.commit()  # psycopg opened a transaction for the SET: keep it

    sqlalchemy.event.listen(engine, "connect", read_only)
    engine.dispose()  # connections opened before now lack it: never hand them out again
    return storage
