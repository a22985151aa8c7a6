"""Hostile and broken input: each case is one clear line, its exit code, and no data lost.

The table of cases and what each gives is in the README ("Bad input").
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import optuna
import pytest
import sqlalchemy
from conftest import fingerprint, hpsearch, write_tiny_study
from optuna.storages._rdb import models
from optuna.trial import TrialState

from hpsearch.errors import StorageError
from hpsearch.run.coordinator import run_study
from hpsearch.store.engines import open_storage
from hpsearch.study.file import load_study_file


def one_line_error(result: subprocess.CompletedProcess, code: int, *words: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("hpsearch")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture(scope="module")
def finished_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("finished")
    path = folder / "done.db"
    run_study(load_study_file(write_tiny_study(folder, trials=3)), f"sqlite:///{path}", jobs=1)
    return path


def copy_of(source: Path, target: Path) -> Path:
    target.write_bytes(source.read_bytes())
    return target


def tables(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return sorted(
            r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        )


def dump(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        return list(connection.iterdump())


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    notes = tmp_path / "notes.db"
    notes.write_text("my precious notes\n")
    result = hpsearch("run", str(write_tiny_study(tmp_path)), "--storage", str(notes))
    one_line_error(result, 1, "not a SQLite database")
    assert notes.read_text() == "my precious notes\n"


def test_a_truncated_database_is_refused(tmp_path: Path, finished_db: Path) -> None:
    broken = copy_of(finished_db, tmp_path / "truncated.db")
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    result = hpsearch("run", str(write_tiny_study(tmp_path, trials=3)), "--storage", str(broken))
    one_line_error(result, 1, "truncated.db")


def test_a_corrupted_database_gives_one_line(tmp_path: Path, finished_db: Path) -> None:
    broken = copy_of(finished_db, tmp_path / "corrupt.db")
    data = bytearray(broken.read_bytes())
    for offset in range(4096, len(data), 4096):  # scribble over every page but the first
        data[offset + 8 : offset + 64] = os.urandom(56)
    broken.write_bytes(bytes(data))
    result = hpsearch("run", str(write_tiny_study(tmp_path, trials=3)), "--storage", str(broken))
    one_line_error(result, 1)


def test_another_applications_database_gets_no_tables_added(tmp_path: Path) -> None:
    foreign = tmp_path / "shop.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    result = hpsearch("run", str(write_tiny_study(tmp_path)), "--storage", str(foreign))
    one_line_error(result, 1, "another application", "customers")
    assert tables(foreign) == ["customers"]


def test_optuna_tables_half_created_by_a_process_starting_alongside_are_completed(
    tmp_path: Path,
) -> None:
    """Processes starting together on a new file race: one may see the other's first tables."""
    path = tmp_path / "racing.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    metadata = models.BaseModel.metadata
    metadata.create_all(
        engine, tables=[metadata.tables["studies"], metadata.tables["version_info"]]
    )
    engine.dispose()
    with pytest.raises(StorageError, match="holds no studies"):
        open_storage(f"sqlite:///{path}", write=False)
    open_storage(f"sqlite:///{path}", write=True).engine.dispose()
    assert set(tables(path)) >= set(metadata.tables)


@pytest.mark.parametrize(
    ("version", "advice"),
    [("v3.0.0.a", "optuna storage upgrade"), ("v99.0.0", "pip install -U optuna")],
)
def test_optuna_databases_of_other_schema_versions(
    tmp_path: Path, finished_db: Path, version: str, advice: str
) -> None:
    other = copy_of(finished_db, tmp_path / "other.db")
    with sqlite3.connect(other) as connection:
        connection.execute("UPDATE alembic_version SET version_num = ?", (version,))
    before = dump(other)
    result = hpsearch("run", str(write_tiny_study(tmp_path, trials=3)), "--storage", str(other))
    one_line_error(result, 1, advice)
    for read in ("studies", "show"):  # a read's storage checks the version without alembic
        one_line_error(hpsearch(read, "--storage", str(other)), 1, advice)
    assert dump(other) == before


def test_a_full_disk_stops_with_one_line_and_loses_nothing(
    tmp_path: Path, finished_db: Path
) -> None:
    db = copy_of(finished_db, tmp_path / "full.db")
    kept = fingerprint(f"sqlite:///{db}")
    big = write_tiny_study(tmp_path, trials=40, name="big")
    limit = db.stat().st_size + 64_000

    def small_disk() -> None:  # writing past `limit` bytes fails with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = hpsearch("run", str(big), "--storage", str(db), "--jobs", "1", preexec_fn=small_disk)
    assert result.returncode == 1, result.stderr
    assert "full" in result.stderr or "disk" in result.stderr, result.stderr
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert fingerprint(f"sqlite:///{db}") == kept, "the other study changed"
    resumed = hpsearch("run", str(big), "--storage", str(db), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert len(fingerprint(f"sqlite:///{db}", name="big")) == 80


def test_wrong_password_or_host_never_shows_the_password(tmp_path: Path) -> None:
    url = "postgresql://postgres:Sup3rSecretPw@127.0.0.1:1/test"
    for args in (["run", str(write_tiny_study(tmp_path))], ["--debug", "studies"]):
        command = (
            [*args[:-1], args[-1], "--storage", url]
            if args[0] == "run"
            else [args[0], args[1], "--storage", url]
        )
        result = hpsearch(*command, timeout=120)
        assert result.returncode != 0
        assert "Sup3rSecretPw" not in result.stderr + result.stdout
    one_line_error(hpsearch("studies", "--storage", url), 1, "127.0.0.1")


def test_a_server_taking_no_more_connections_is_one_line_with_the_way_out(
    tmp_path: Path, postgres_url: str
) -> None:
    """Workers past the server's connections (here a database's CONNECTION LIMIT 0, which
    binds any role but a superuser, as max_connections binds every role): the server's reason
    and the ways out, not Optuna's "An exception is raised during the commit"."""
    url = sqlalchemy.engine.make_url(postgres_url)
    role = f"{url.database}_worker"
    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        connection.exec_driver_sql(f'ALTER DATABASE "{url.database}" CONNECTION LIMIT 0')
    try:
        limited = url.set(username=role).render_as_string(hide_password=False)
        study = str(write_tiny_study(tmp_path))
        for args in (["studies"], ["run", study], ["worker", "--study", "tiny"]):
            result = hpsearch(*args, "--storage", limited, timeout=120)
            one_line_error(result, 1, "too many connections", "max_connections", "pgbouncer")
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{url.database}" CONNECTION LIMIT -1')
            connection.exec_driver_sql(f'DROP ROLE "{role}"')
        admin.dispose()


@pytest.mark.parametrize(
    "name",
    ['it\'s "quoted"; DROP TABLE studies; --', "études ✓ 数字", "../../escape", "with spaces"],
)
def test_strange_study_names_are_stored_exactly(tmp_path: Path, name: str) -> None:
    path = write_tiny_study(tmp_path, trials=2, name="x")
    path.write_text(path.read_text().replace("name = 'x'", f"name = {toml_string(name)}"))
    db = tmp_path / "names.db"
    result = hpsearch("run", str(path), "--storage", str(db), "--jobs", "1")
    assert result.returncode == 0, result.stderr
    names = [s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{db}")]
    assert names == [name]
    assert tables(db).count("studies") == 1


def toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_dataset_paths_missing_or_of_the_wrong_shape(tmp_path: Path) -> None:
    path = write_tiny_study(tmp_path)
    missing = path.read_text().replace('dataset = "mnist-5k"', 'dataset = "nowhere.npz"')
    path.write_text(missing)
    one_line_error(
        hpsearch("run", str(path), "--storage", str(tmp_path / "a.db")),
        2,
        "data.dataset",
        "nowhere.npz",
    )
    np.savez(tmp_path / "bad.npz", images=np.zeros((10, 3)), labels=np.zeros(7))
    path.write_text(missing.replace("nowhere.npz", "bad.npz"))
    one_line_error(hpsearch("run", str(path), "--storage", str(tmp_path / "b.db")), 2, "bad.npz")


def test_every_trial_diverging_completes_without_a_warning_flood(tmp_path: Path) -> None:
    path = write_tiny_study(tmp_path, trials=4)
    path.write_text(
        path.read_text()
        .replace("low = 1e-3\nhigh = 0.3", "low = 1e3\nhigh = 1e5")
        .replace("hidden_sizes = [20]", "hidden_sizes = [100, 100]")
    )
    db = tmp_path / "diverge.db"
    result = hpsearch("run", str(path), "--storage", str(db), "--jobs", "1")
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and len(result.stderr.splitlines()) < 10
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}")
    first = [
        t for t in study.get_trials(states=(TrialState.COMPLETE,)) if t.user_attrs["round"] == 0
    ]
    assert len(first) == 4 and all(t.user_attrs["diverged"] for t in first)


@pytest.fixture
def read_only_copy(tmp_path: Path, finished_db: Path):
    """A copy of a finished study on a read-only bind mount (root ignores file modes)."""
    source, mount = tmp_path / "data", tmp_path / "readonly"
    source.mkdir()
    mount.mkdir()
    with contextlib.closing(sqlite3.connect(copy_of(finished_db, source / "done.db"))) as db:
        db.execute("PRAGMA journal_mode=DELETE")  # WAL needs a writable folder even to read
    steps = [
        ["mount", "--bind", str(source), str(mount)],
        ["mount", "-o", "remount,ro,bind", str(mount)],
    ]
    for step in steps:
        if subprocess.run(step, capture_output=True).returncode != 0:
            subprocess.run(["umount", str(mount)], capture_output=True)
            pytest.skip("a read-only bind mount needs root with CAP_SYS_ADMIN")
    yield mount / "done.db"
    subprocess.run(["umount", str(mount)], check=True)


def test_a_read_only_database_is_refused_for_runs_and_read_for_inspection(
    tmp_path: Path, read_only_copy: Path
) -> None:
    before = dump(read_only_copy)
    path = write_tiny_study(tmp_path, trials=4, name="other")
    one_line_error(hpsearch("run", str(path), "--storage", str(read_only_copy)), 1, "read-only")
    listing = hpsearch("studies", "--storage", str(read_only_copy), "--format", "json")
    assert listing.returncode == 0, listing.stderr
    assert "tiny" in listing.stdout
    assert dump(read_only_copy) == before
