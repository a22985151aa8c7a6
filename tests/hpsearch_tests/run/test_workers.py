"""Many workers on one study (PostgreSQL and SQLite), and the faults they must survive.

These tests run real processes and really kill them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from conftest import fingerprint, write_tiny_study
from optuna.trial import TrialState

from hpsearch.run.coordinator import run_study
from hpsearch.run.rounds import FAULT_ENV
from hpsearch.store.liveness import pid_alive
from hpsearch.store.records import LOCK_KEY
from hpsearch.study.file import load_study_file


def hpsearch(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "hpsearch", *args],
        env={**os.environ, **(env or {})},
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The fingerprint of a clean 1-worker run of the 30-epoch tiny study."""
    folder = tmp_path_factory.mktemp("reference")
    url = f"sqlite:///{folder / 'ref.db'}"
    run_study(load_study_file(write_tiny_study(folder, epochs=30, trials=6)), url, jobs=1)
    return fingerprint(url)


def coordinator_and_workers(path: Path, url: str, workers: int, jobs: int) -> None:
    extra = [
        hpsearch("worker", "--storage", url, "--study", "tiny", "--wait") for _ in range(workers)
    ]
    run = hpsearch("run", str(path), "--storage", url, "--jobs", str(jobs), "--quiet")
    _, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    for process in extra:
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err


def test_coordinator_and_three_workers_on_postgres(
    tmp_path: Path, postgres_url: str, reference: dict
) -> None:
    path = write_tiny_study(tmp_path, epochs=30, trials=6)
    coordinator_and_workers(path, postgres_url, workers=3, jobs=0)
    assert fingerprint(postgres_url) == reference


def test_local_jobs_and_extra_workers_share_one_sqlite_file(
    tmp_path: Path, reference: dict
) -> None:
    path = write_tiny_study(tmp_path, epochs=30, trials=6)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    coordinator_and_workers(path, url, workers=2, jobs=4)
    assert fingerprint(url) == reference


def test_a_second_coordinator_is_refused_while_the_first_lives(tmp_path: Path) -> None:
    path = write_tiny_study(tmp_path, epochs=3000, trials=6)  # a first run of minutes
    url = f"sqlite:///{tmp_path / 'held.db'}"
    first = hpsearch("run", str(path), "--storage", url, "--jobs", "1")
    try:
        wait_for(lambda: coordinator_pid(url) == first.pid)  # the first holds the lock
        second = subprocess.run(
            [sys.executable, "-m", "hpsearch", "run", str(path), "--storage", url, "--jobs", "1"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 75, second
        assert f"pid {first.pid}" in second.stderr and "try again later" in second.stderr
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    # A dead coordinator does not block the next one: it runs until its own deadline.
    third = subprocess.run(
        [
            sys.executable,
            "-m",
            "hpsearch",
            "run",
            str(path),
            "--storage",
            url,
            "--jobs",
            "1",
            "--timeout",
            "2s",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert third.returncode == 124, third.stderr


def coordinator_pid(url: str) -> int | None:
    try:
        study = optuna.load_study(study_name="tiny", storage=url)
    except KeyError:
        return None
    attrs = study._storage.get_study_system_attrs(study._study_id)
    return attrs.get(LOCK_KEY, {}).get("pid")


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def running_trials(url: str) -> list[optuna.trial.FrozenTrial]:
    try:
        study = optuna.load_study(study_name="tiny", storage=url)
    except KeyError:
        return []
    return [
        t
        for t in study.get_trials(states=(TrialState.RUNNING,))
        if "hpsearch:worker" in t.system_attrs
    ]


def test_a_worker_killed_mid_trial_is_detected_and_its_trial_rerun(tmp_path: Path) -> None:
    path = write_tiny_study(tmp_path, epochs=300, trials=3)  # trials long enough to hit
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    run = hpsearch("run", str(path), "--storage", url, "--jobs", "0", "--quiet")
    victim = hpsearch("worker", "--storage", url, "--study", "tiny", "--wait")
    wait_for(
        lambda: any(
            t.system_attrs["hpsearch:worker"]["pid"] == victim.pid for t in running_trials(url)
        )
    )
    killed_at = time.monotonic()
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    survivor = hpsearch("worker", "--storage", url, "--study", "tiny")
    wait_for(
        lambda: any(
            t.user_attrs.get("fail_reason") == "abandoned"
            for t in optuna.load_study(study_name="tiny", storage=url).trials
        )
    )
    assert time.monotonic() - killed_at < 5, "a dead local worker is detected by its pid"
    assert run.wait(timeout=300) == 0
    assert survivor.wait(timeout=60) == 0
    study = optuna.load_study(study_name="tiny", storage=url)
    abandoned = [t for t in study.trials if t.user_attrs.get("fail_reason") == "abandoned"]
    assert len(abandoned) == 1 and abandoned[0].state == TrialState.FAIL
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    run_study(load_study_file(path), clean, jobs=2)
    assert fingerprint(url) == fingerprint(clean)  # its place ran again, to the same numbers


@pytest.mark.parametrize("phase", ["enqueue", "wait", "narrow", "test"])
def test_the_coordinator_killed_at_each_phase_resumes_losing_nothing(
    tmp_path: Path, reference: dict, phase: str
) -> None:
    path = write_tiny_study(tmp_path, epochs=30, trials=6)
    url = f"sqlite:///{tmp_path / f'{phase}.db'}"
    run = hpsearch("run", str(path), "--storage", url, "--jobs", "2", env={FAULT_ENV: phase})
    assert run.wait(timeout=300) == -signal.SIGKILL, f"the fault point {phase} was not reached"
    os.killpg(run.pid, signal.SIGKILL)  # its workers, orphaned by the kill
    run.communicate()
    before = fingerprint(url)
    summary = run_study(load_study_file(path), url, jobs=2)
    assert summary.complete
    after = fingerprint(url)
    assert {k: after[k] for k in before} == before
    assert after == reference
    rounds = [
        k
        for k in optuna.load_study(study_name="tiny", storage=url).user_attrs
        if k.startswith("hpsearch:round:")
    ]
    assert sorted(rounds) == ["hpsearch:round:0", "hpsearch:round:1"]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupting_a_run_exits_130_or_143_and_resumes(
    tmp_path: Path, signum: int, code: int
) -> None:
    # trials of a few tenths of a second: a poll sees one running (30 epochs could all be
    # over between two polls on a quiet machine, and the test waited for nothing)
    path = write_tiny_study(tmp_path, epochs=400, trials=6)
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    run_study(load_study_file(path), clean, jobs=2)
    url = f"sqlite:///{tmp_path / 'int.db'}"
    run = hpsearch("run", str(path), "--storage", url, "--jobs", "2")
    wait_for(lambda: len(running_trials(url)) > 0)
    os.killpg(run.pid, signum) if signum == signal.SIGINT else run.send_signal(signum)
    _, err = run.communicate(timeout=60)
    assert run.returncode == code, err
    assert "Resume with: hpsearch run" in err
    study = optuna.load_study(study_name="tiny", storage=url)
    running = [t.number for t in study.get_trials(states=(TrialState.RUNNING,))]
    assert not running, f"trials {running} were left running"
    summary = run_study(load_study_file(path), url, jobs=2)
    assert summary.complete and fingerprint(url) == fingerprint(clean)


def test_a_killed_worker_not_yet_reaped_counts_as_gone() -> None:
    # A worker SIGKILLed under a coordinator is a zombie until the coordinator joins it;
    # counting it alive kept its trial RUNNING forever (found by `make chaos`).
    child = subprocess.Popen(["sleep", "60"])
    assert pid_alive(child.pid)
    child.kill()
    wait_for(lambda: Path(f"/proc/{child.pid}/stat").read_text().split(")")[-1].split()[0] == "Z")
    assert not pid_alive(child.pid), "a zombie is not a live worker"
    child.wait()
    assert not pid_alive(child.pid)


def test_ctrl_c_at_any_moment_of_the_start_exits_130_never_1(tmp_path: Path) -> None:
    # Ctrl-C reaches the whole process group: workers still starting died of it, and the
    # coordinator reported "all 2 local workers died", exit 1 (found by `make chaos`)
    path = write_tiny_study(tmp_path, epochs=60, trials=6)
    codes = {}
    for delay in [0.2 + 0.1 * step for step in range(20)]:  # the workers start in there
        url = f"sqlite:///{tmp_path / f'start-{delay}.db'}"
        run = subprocess.Popen(
            [sys.executable, "-m", "hpsearch", "run", str(path), "-s", url, "-j", "2", "-q"],
            start_new_session=True,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        time.sleep(delay)
        os.killpg(run.pid, signal.SIGINT)
        _, err = run.communicate(timeout=120)
        codes[delay] = (run.returncode, err.strip().splitlines()[-1:] if err.strip() else [])
    # 130: stopped; -SIGINT: interrupted while Python was still importing; 0: it had finished
    assert all(code in (130, -signal.SIGINT, 0) for code, _ in codes.values()), codes
