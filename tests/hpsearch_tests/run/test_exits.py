"""Exit codes that tell the truth: a lost lock, failing workers, a round of failed trials;
and liveness judged in the database server's clock."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa
from conftest import hpsearch, write_tiny_study
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.errors import StudyHeldError
from hpsearch.run import lock as lock_module
from hpsearch.run.lock import coordinator_lock
from hpsearch.run.worker import open_worker_storage
from hpsearch.store.liveness import owner_identity, server_time
from hpsearch.store.records import LOCK_KEY
from hpsearch.store.studies import create_or_check_study
from hpsearch.study.file import load_study_file


def lock_holder(url: str, name: str = "tiny") -> dict | None:
    try:
        storage = optuna.storages.RDBStorage(url)
        attrs = storage.get_study_system_attrs(storage.get_study_id_from_name(name))
    except Exception:  # not created yet
        return None
    return attrs.get(LOCK_KEY)


def take_over(url: str, holder: dict) -> None:
    """What a second coordinator does once it judges the first gone: overwrite the lock."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE study_system_attributes SET value_json = :v WHERE key = :k"),
            {"v": json.dumps(holder), "k": LOCK_KEY},
        )
    engine.dispose()


def test_a_coordinator_whose_lock_was_taken_over_stops_with_exit_75(tmp_path: Path) -> None:
    path = write_tiny_study(tmp_path, epochs=3000, trials=6)  # minutes of work
    url = f"sqlite:///{tmp_path / 'taken.db'}"
    run = subprocess.Popen(
        [sys.executable, "-m", "hpsearch", "run", str(path), "--storage", url, "--jobs", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while lock_holder(url) is None:
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.1)
        other = {"host": "elsewhere", "pid": 7, "since": time.time(), "token": "other"}
        take_over(url, {**other, "beat": time.time()})
        _, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 75, err
    lines = [line for line in err.splitlines() if line.startswith("hpsearch:")]
    assert len(lines) == 1 and "lost its lock" in lines[0] and "elsewhere" in lines[0], err
    assert (lock_holder(url) or {}).get("token") == "other", "the new holder's lock is left alone"


def test_a_lock_is_judged_by_the_database_clock_not_the_holders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A coordinator on another host whose clock is an hour behind still holds its lock."""
    spec = load_study_file(write_tiny_study(tmp_path))
    storage = open_worker_storage(f"sqlite:///{tmp_path / 'clock.db'}")
    create_or_check_study(storage, spec)
    study_id = storage.get_study_id_from_name(spec.name)
    real_time = time.time
    elsewhere = {**owner_identity(), "host": "elsewhere"}
    with monkeypatch.context() as patch:
        patch.setattr(lock_module.time, "time", lambda: real_time() - 3600)
        patch.setattr(lock_module, "owner_identity", lambda: elsewhere, raising=False)
        patch.setattr(lock_module, "identity", lambda: elsewhere, raising=False)
        held = coordinator_lock(storage, study_id, spec.name)
        held.__enter__()
    try:
        beat = (lock_holder(storage.url, spec.name) or {})["beat"]
        assert abs(beat - server_time(storage)) < 5
        with (
            pytest.raises(StudyHeldError, match="being run by another coordinator"),
            coordinator_lock(storage, study_id, spec.name),
        ):
            pass
    finally:
        held.__exit__(None, None, None)


def test_a_lost_lock_halts_the_block_and_raises(tmp_path: Path) -> None:
    spec = load_study_file(write_tiny_study(tmp_path))
    url = f"sqlite:///{tmp_path / 'lost.db'}"
    storage = open_worker_storage(url)
    create_or_check_study(storage, spec)
    study_id = storage.get_study_id_from_name(spec.name)
    stop = threading.Event()
    with (
        pytest.raises(StudyHeldError, match="lost its lock") as caught,
        coordinator_lock(storage, study_id, spec.name, stop=stop) as halt,
    ):
        take_over(url, {"host": "h2", "pid": 9, "since": 0.0, "token": "t2", "beat": 0.0})
        assert halt.wait(30), "the next beat notices"
    assert caught.value.exit_code == 75
    assert not stop.is_set(), "the caller's stop is not touched"


def test_the_lock_stop_follows_the_callers_stop(tmp_path: Path) -> None:
    spec = load_study_file(write_tiny_study(tmp_path))
    storage = open_worker_storage(f"sqlite:///{tmp_path / 'stop.db'}")
    create_or_check_study(storage, spec)
    stop = threading.Event()
    with coordinator_lock(storage, storage.get_study_id_from_name(spec.name), "t", stop=stop) as h:
        stop.set()
        assert h.wait(5)
    assert lock_holder(storage.url, spec.name) is None, "released"


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_worker_jobs_exits_non_zero_when_its_workers_fail(tmp_path: Path, jobs: str) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'folder' / 'x.db'}"
    result = hpsearch("worker", "--study", "tiny", "--storage", url, "--jobs", jobs, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "x.db" in result.stderr


FAILING = """
name = "oom"
[data]
dataset = "digits"
n_samples = 200
[train]
hidden_sizes = [10000000000000]
epochs = 1
[search]
rounds = 2
trials_per_round = 3
retries = 0
[search.params.lr]
low = 1e-3
high = 1e-1
log = true
"""


def test_a_round_in_which_every_trial_fails_stops_the_run_with_exit_1(tmp_path: Path) -> None:
    """A network too big for any memory: each trial fails (MemoryError), none diverges."""
    path = tmp_path / "oom.toml"
    path.write_text(FAILING)
    url = f"sqlite:///{tmp_path / 'oom.db'}"
    result = hpsearch("run", str(path), "--storage", url, "--jobs", "2")
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("hpsearch:")]
    assert len(lines) == 1, result.stderr
    assert "every trial of round 0 failed" in lines[0] and "MemoryError" in lines[0], lines
    assert "hpsearch trials oom --round 0 --state failed" in lines[0]
    study = optuna.load_study(study_name="oom", storage=url)
    assert not study.user_attrs.get("hpsearch:complete")
    assert {t.user_attrs["round"] for t in study.trials} == {0}, "round 1 never started"


def open_files(path: Path) -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}").startswith(str(path))
    return count


def test_run_report_closes_the_storage_it_opens_for_each_study(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_tiny_study(tmp_path, epochs=1, trials=2, name=name)
    db = tmp_path / "r.db"
    args = ["run", str(tmp_path / "a.toml"), str(tmp_path / "b.toml"), "--storage", str(db)]
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [*args, "--jobs", "1", "--quiet", "--report", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "a" / "summary.md").exists() and (out / "b" / "summary.md").exists()
    assert open_files(db) == 0, "no connection left open on the database"
