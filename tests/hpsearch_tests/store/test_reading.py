"""A read command's storage: Optuna's, opened without alembic (a tenth of a second of every
read), and as able to read as Optuna's own, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

import optuna
from optuna.storages import RDBStorage

from hpsearch.run.worker import open_worker_storage
from hpsearch.store.engines import open_storage
from hpsearch.store.tables import ReadingStorage, head_revision


def test_a_read_only_storage_is_optunas_without_alembic(url: str) -> None:
    study = optuna.create_study(study_name="read", storage=open_worker_storage(url))
    study.enqueue_trial({"x": 1.0})
    study.set_user_attr("note", "kept")
    opened = f"""
import sys
from hpsearch.store.engines import open_storage
storage = open_storage({url!r}, write=False)
studies = storage.get_all_studies()
assert [s.study_name for s in studies] == ["read"], studies
assert studies[0].user_attrs == {{"note": "kept"}}
assert len(storage.get_all_trials(studies[0]._study_id)) == 1
print(type(storage).__name__, sorted(m for m in sys.modules if m.startswith("alembic")))
"""
    result = subprocess.run(
        [sys.executable, "-c", opened], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ReadingStorage", "[]"]


def test_a_reading_storage_has_what_optunas_has(url: str) -> None:
    """RDBStorage's own __init__ minus its version manager's start: the same attributes, so
    that a newer Optuna (the pin allows 5.0.x) adding one fails here, not in a user's read."""
    open_worker_storage(url).engine.dispose()  # the tables
    reading = open_storage(url, write=False)
    optunas = RDBStorage(url)
    assert isinstance(reading, ReadingStorage)
    assert set(vars(reading)) == set(vars(optunas))
    assert reading.get_current_version() == optunas.get_current_version()
    assert head_revision() == optunas.get_head_version()  # read off the scripts, no alembic
    reading.engine.dispose()
    optunas.engine.dispose()
