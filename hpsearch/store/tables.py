"""Optuna's own tables and sessions, for the SQL that goes past Optuna's API.

The one module that imports Optuna's private storage package (`optuna.storages._rdb`): the
pinned Optuna version's schema is the contract (see the README on widening the pin).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy as sa
from optuna.storages import RDBStorage
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session, _VersionManager
from sqlalchemy.orm import Session, scoped_session, sessionmaker

MODELS = models
OPTUNA_OWN = {*models.BaseModel.metadata.tables, "alembic_version"}
STUDIES = models.StudyModel.__table__
TRIALS = models.TrialModel.__table__
VALUES = models.TrialValueModel.__table__
PARAMS = models.TrialParamModel.__table__
USER_ATTRS = models.TrialUserAttributeModel.__table__
SYSTEM_ATTRS = models.TrialSystemAttributeModel.__table__
INTERMEDIATE = models.TrialIntermediateValueModel.__table__
HEARTBEATS = models.TrialHeartbeatModel.__table__


@contextmanager
def transaction(storage: RDBStorage) -> Iterator[Session]:
    """A session committed at the end of the block, rolled back if it raises (Optuna's own)."""
    with _create_scoped_session(storage.scoped_session) as session:
        yield session


@contextmanager
def snapshot(storage: RDBStorage) -> Iterator[sa.Connection]:
    """A connection whose queries all see one state of the database, rolled back after.

    SQLite: the storage's engine opens a (deferred, read) transaction. PostgreSQL: REPEATABLE
    READ, so that a trial finishing between two SELECTs is seen by both or by neither.
    """
    with storage.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        yield connection


def plain_rows(connection: sa.Connection, query: sa.Select) -> list[tuple[Any, ...]]:
    """The rows of `query` as the driver returns them (an Enum column as its name), in the
    connection's transaction: for many rows, without SQLAlchemy's per-row objects, which
    cost more than the database's reading of them."""
    compiled = query.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    params = compiled.construct_params()
    if compiled.positiontup is not None:  # SQLite's qmark style
        params = [params[name] for name in compiled.positiontup]  # type: ignore[assignment]
    cursor = connection.connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def attr_rows(trial_id: int, attrs: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of a trial attribute table (user or system) for `attrs`, JSON as Optuna stores it."""
    return [
        {"trial_id": trial_id, "key": k, "value_json": json.dumps(v)} for k, v in attrs.items()
    ]


class ReadingStorage(RDBStorage):
    """An RDBStorage on a database that holds Optuna's tables, opened without writing and
    without Optuna's version manager: that one stamps a new database through alembic, whose
    import alone is 0.1 s of every read command's start. Its methods (the schema versions)
    stay usable: they import alembic when called."""

    def __init__(self, url: str, engine_kwargs: dict[str, Any]) -> None:
        # RDBStorage.__init__ for a storage without heartbeats, minus table creation and the
        # version manager's start; a test compares the attributes with RDBStorage's own.
        self.engine_kwargs = engine_kwargs
        self.url = self._fill_storage_url_template(url)
        self.skip_compatibility_check = True
        self.heartbeat_interval = self.grace_period = None
        self.heartbeat_stale_trial_callback = self.failed_trial_callback = None
        self.engine = sa.create_engine(self.url, **engine_kwargs)
        self.scoped_session = scoped_session(sessionmaker(bind=self.engine))
        manager = _VersionManager.__new__(_VersionManager)
        manager.url, manager.engine, manager.scoped_session = (
            self.url, self.engine, self.scoped_session
        )  # fmt: skip
        self._version_manager = manager


@functools.cache
def head_revision() -> str | None:
    """The newest schema revision of the installed Optuna, read off its alembic scripts
    (`revision = "..."`, `down_revision = "..."`) without importing alembic; None unless
    exactly one revision is no other's parent (alembic's own answer is then asked)."""
    folder = Path(models.__file__).with_name("alembic") / "versions"
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in folder.glob("*.py"):
        text = script.read_text(encoding="utf-8")
        revisions.update(re.findall(r'^revision = "([^"]+)"', text, re.MULTILINE))
        parents.update(re.findall(r'^down_revision = "([^"]+)"', text, re.MULTILINE))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def check_schema(storage: RDBStorage) -> None:
    """Optuna's schema-version check (RuntimeError with its advice), holding one connection
    at a time: Optuna's own reads the version inside a session, two connections per process
    while opening, which is what fills a server when many workers start together.

    A database at `head_revision` passes on one SELECT; anything else is alembic's to judge.
    """
    try:
        with storage.engine.connect() as connection:
            stamp = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            revisions = [row[0] for row in stamp]
    except (sa.exc.OperationalError, sa.exc.ProgrammingError):  # no such table: alembic's
        revisions = []
    if head_revision() is not None and revisions == [head_revision()]:
        return
    manager = storage._version_manager
    current, head = manager.get_current_version(), manager.get_head_version()
    if current == head:
        return
    message = f"Optuna {optuna.__version__} cannot use this database's schema ({current}). "
    if current in manager.get_all_versions():
        message += "Run `optuna storage upgrade --storage URL` to upgrade it."
    else:
        message += "It was written by a newer Optuna: `pip install -U optuna`."
    raise RuntimeError(message)
