"""The PostgreSQL server restarted twice under a running study: nothing lost, nothing doubled.

The test makes its own throwaway cluster on a free port (never the shared server other tests
use), restarts it twice while a coordinator and an extra worker run, and compares the study
with an undisturbed run's trials and values. It needs root and Debian's postgresql-common
(pg_createcluster); elsewhere it skips with the reason, except under CI=true.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from conftest import fingerprint, write_tiny_study
from optuna.trial import TrialState

from hpsearch.run.coordinator import run_study
from hpsearch.study.file import load_study_file


def _cannot_make_a_cluster() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create a throwaway PostgreSQL cluster"
    if not shutil.which("pg_createcluster") or not Path("/etc/postgresql").is_dir():
        return "needs Debian's postgresql-common (pg_createcluster) and a PostgreSQL server"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def own_cluster() -> Iterator[tuple[str, list[str]]]:
    """(url of a database on a new cluster, the command that restarts that cluster)."""
    reason = _cannot_make_a_cluster()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"required under CI: {reason}")
        pytest.skip(reason)
    version = max(os.listdir("/etc/postgresql"), key=lambda v: float(v))
    name, port = f"hps_{uuid.uuid4().hex[:8]}", free_port()
    run = lambda *args: subprocess.run(args, check=True, capture_output=True, timeout=120)  # noqa: E731
    run("pg_createcluster", version, name, "-p", str(port), "--", "--auth=trust")
    try:
        run("pg_ctlcluster", version, name, "start")
        admin = sqlalchemy.create_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as connection:
            connection.exec_driver_sql('CREATE DATABASE "restart"')
        admin.dispose()
        yield (
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/restart",
            ["pg_ctlcluster", version, name, "restart"],
        )
    finally:
        subprocess.run(
            ["pg_dropcluster", "--stop", version, name], capture_output=True, timeout=120
        )


def finished(url: str) -> int:
    try:
        study = optuna.load_study(study_name="tiny", storage=url)
        return len(study.get_trials(states=(TrialState.COMPLETE,)))
    except Exception:  # not created yet, or the server is restarting
        return -1


def test_two_server_restarts_under_a_coordinator_and_a_worker_lose_nothing(
    tmp_path: Path, own_cluster: tuple[str, list[str]]
) -> None:
    url, restart = own_cluster
    path = write_tiny_study(tmp_path, epochs=60, trials=6)
    reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
    run_study(load_study_file(path), reference_url, jobs=1)
    commands = {
        "run": ["run", str(path), "--jobs", "1", "--quiet"],
        "worker": ["worker", "--study", "tiny", "--wait"],
    }
    logs = {name: tmp_path / f"{name}.err" for name in commands}
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "hpsearch", *args, "--storage", url],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=logs[name].open("w"),  # a file: a pipe nobody reads could fill and block
        )
        for name, args in commands.items()
    ]
    try:
        for after in (1, 5):  # mid round 0, then (most likely) in round 1
            deadline = time.monotonic() + 300
            while finished(url) < after:
                assert time.monotonic() < deadline, "no progress"
                assert all(p.poll() is None for p in started), logs["run"].read_text()
                time.sleep(0.2)
            subprocess.run(restart, check=True, capture_output=True, timeout=120)
        codes = [p.wait(timeout=600) for p in started]
        errors = [log.read_text() for log in logs.values()]
    finally:
        for process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    assert codes == [0, 0], errors
    assert fingerprint(url) == fingerprint(reference_url)
