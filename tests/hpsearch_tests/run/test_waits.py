"""No silent waits: a run with no worker says whom it waits for, `run --wait` names the other
coordinator, and a worker fails at once on a study or storage that does not exist (it never
creates one) unless told to wait for it. Real SQLite files, the CLI in process and as a
subprocess."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import optuna
from conftest import hpsearch, write_tiny_study
from optuna.trial import FrozenTrial, TrialState
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.run.coordinator import run_study
from hpsearch.run.idle import IdleWatch
from hpsearch.store.records import LOCK_KEY
from hpsearch.study.file import load_study_file


def popen(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "hpsearch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def test_run_without_workers_says_it_waits_for_hpsearch_worker(tmp_path: Path) -> None:
    path = write_tiny_study(tmp_path)
    url = f"sqlite:///{tmp_path / 'alone.db'}"
    result = hpsearch("run", str(path), "--storage", url, "--jobs", "0", "--timeout", "7s")
    assert result.returncode == 124, result.stderr
    waits = [line for line in result.stderr.splitlines() if "waiting for workers" in line]
    assert len(waits) == 1, result.stderr  # said once, not every poll
    assert f"hpsearch worker --study tiny --storage {url}" in waits[0]


def test_the_idle_notice_comes_once_per_spell_with_trials_waiting_and_none_running() -> None:
    now = [0.0]
    watch = IdleWatch(after=5.0, clock=lambda: now[0])

    def trials(*states: TrialState) -> list[FrozenTrial]:
        return [optuna.trial.create_trial(state=s) for s in states]

    waiting = trials(TrialState.WAITING, TrialState.WAITING)
    assert not watch.notice(waiting)
    now[0] = 4.9
    assert not watch.notice(waiting)
    now[0] = 5.0
    assert watch.notice(waiting) and not watch.notice(waiting), "once"
    assert not watch.notice(trials(TrialState.RUNNING, TrialState.WAITING)), "claimed"
    now[0] = 11.0
    assert watch.notice(waiting), "a new spell after the workers left"


def test_run_wait_names_the_coordinator_it_waits_for(tmp_path: Path) -> None:
    path = write_tiny_study(tmp_path, epochs=3000)  # a first run of minutes
    url = f"sqlite:///{tmp_path / 'held.db'}"
    first = popen("run", str(path), "--storage", url, "--jobs", "1")
    try:
        deadline = time.monotonic() + 60
        while _holder_pid(url) != first.pid:
            assert time.monotonic() < deadline and first.poll() is None, "the first holds it"
            time.sleep(0.1)
        second = hpsearch("run", str(path), "--storage", url, "--wait", "--timeout", "3s")
    finally:
        first.terminate()
        first.communicate(timeout=60)
    assert second.returncode == 75, second.stderr  # held still when the deadline came
    said = second.stderr.splitlines()
    assert f"pid {first.pid}" in said[0] and "waiting until it ends" in said[0]
    assert "stopped waiting" in said[1] and "use --wait" not in second.stderr


def _holder_pid(url: str) -> int | None:
    try:
        storage = optuna.storages.RDBStorage(url, skip_table_creation=True)
        attrs = storage.get_study_system_attrs(storage.get_study_id_from_name("tiny"))
    except Exception:  # not created yet
        return None
    return (attrs.get(LOCK_KEY) or {}).get("pid")


def test_a_worker_on_a_study_that_does_not_exist_fails_at_once_naming_the_studies(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    run_study(load_study_file(write_tiny_study(tmp_path)), url, jobs=1)
    started = time.monotonic()
    result = CliRunner().invoke(app, ["worker", "--study", "TYPO", "--storage", url])
    assert result.exit_code == 1
    assert "no study named 'TYPO'; the storage holds: tiny" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert time.monotonic() - started < 10
    jobs = hpsearch("worker", "--study", "TYPO", "--storage", url, "--jobs", "2", timeout=60)
    assert jobs.returncode == 1 and "the storage holds: tiny" in jobs.stderr


def test_a_worker_never_creates_storage(tmp_path: Path) -> None:
    database = tmp_path / "nowhere.db"
    result = CliRunner().invoke(app, ["worker", "--study", "tiny", "--storage", str(database)])
    assert result.exit_code == 1
    assert "nowhere.db: no such database file" in result.stderr and "--wait" in result.stderr
    assert not database.exists()
    process = hpsearch("worker", "--study", "tiny", "--storage", str(database), timeout=60)
    assert process.returncode == 1 and not database.exists()


def test_a_waiting_worker_joins_the_study_its_coordinator_creates_later(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'later.db'}"
    worker = popen("worker", "--study", "tiny", "--storage", url, "--wait")
    time.sleep(2)
    assert worker.poll() is None and not (tmp_path / "later.db").exists()
    run = hpsearch("run", str(write_tiny_study(tmp_path)), "--storage", url, "--jobs", "0")
    _, err = worker.communicate(timeout=120)
    assert run.returncode == 0, run.stderr
    assert worker.returncode == 0, err
    assert "waiting for study 'tiny' to be created" in err
    study = optuna.load_study(study_name="tiny", storage=url)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 12
