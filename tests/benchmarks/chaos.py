"""`make chaos`: kill `hpsearch run` at random moments, resume, and check nothing was lost.

Each iteration starts a run of a small study (SQLite, every third one PostgreSQL when a server
answers), waits a random time, then SIGKILLs the whole run, SIGKILLs one worker, or sends
SIGINT/SIGTERM (expecting exit 130/143). It snapshots the finished trials, runs the same
command to completion, and checks: exit 0; every trial finished before the kill still there
with identical values; each place of each round finished exactly once; the totals planned;
the values equal to a clean reference run. Prints `chaos: N runs, K losses`; exits 1 if K > 0.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy

from tests.hpsearch_tests.conftest import fingerprint as study_fingerprint
from tests.hpsearch_tests.conftest import write_tiny_study

HPSEARCH = [sys.executable, "-m", "hpsearch"]
POSTGRES = os.environ.get(
    "HPSEARCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PLANNED = 12  # the study: 2 rounds of 6 trials of a 20-unit network, 60 epochs each


def fingerprint(url: str) -> dict[tuple[int, int], tuple]:
    """(round, index) -> (params, value, curve), {} before the study exists."""
    try:
        return study_fingerprint(url, "chaos")
    except KeyError:
        return {}


def run(study: Path, url: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*HPSEARCH, "run", str(study), "--storage", url, "--jobs", "2", "--quiet"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # a chaos run started in the background (`make chaos &`) ignores SIGINT, and so would
        # its children until hpsearch installs its handlers: give them the default back
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def workers(pid: int) -> list[int]:
    """The worker processes of the run `pid` (its spawned children, not the resource tracker)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    found = []
    for child in text.split():
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command:
            found.append(int(child))
    return found


def kill(process: subprocess.Popen, mode: str) -> tuple[int, bool]:
    """Apply the fault: the exit code the run should end with, and whether the fault hit
    anything (a worker to kill was found)."""
    if mode == "kill-run":
        os.killpg(process.pid, signal.SIGKILL)
        return 128 + signal.SIGKILL, True
    if mode == "kill-worker":
        alive = workers(process.pid)
        if alive:
            os.kill(random.choice(alive), signal.SIGKILL)
        return 0, bool(alive)
    if mode == "sigint":
        os.killpg(process.pid, signal.SIGINT)
        return 130, True
    process.send_signal(signal.SIGTERM)
    return 143, True


def scratch_postgres() -> tuple[str, sqlalchemy.Engine] | None:
    admin = sqlalchemy.create_engine(
        POSTGRES, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = f"hpsearch_chaos_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sqlalchemy.exc.OperationalError:
        return None
    url = sqlalchemy.engine.make_url(POSTGRES).set(database=name)
    return url.render_as_string(hide_password=False), admin


def drop_postgres(url: str, admin: sqlalchemy.Engine) -> None:
    name = sqlalchemy.engine.make_url(url).database
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def iteration(
    number: int, study: Path, folder: Path, reference: dict, duration: float
) -> tuple[str, str, bool, bool]:
    postgres = scratch_postgres() if number % 3 == 2 else None
    url = postgres[0] if postgres else f"sqlite:///{folder / f'chaos-{number}.db'}"
    mode = random.choice(["kill-run", "kill-run", "kill-worker", "sigint", "sigterm"])
    delay = random.uniform(0.2, duration)
    process = run(study, url)
    if mode == "kill-worker":  # a moment while its workers run (they start after a second)
        started = time.monotonic()
        while not workers(process.pid) and process.poll() is None:
            time.sleep(0.02)
        delay = time.monotonic() - started + random.uniform(0.0, duration / 2)
        time.sleep(max(0.0, delay - (time.monotonic() - started)))
    else:
        time.sleep(delay)
    expected, hit = (0, False) if process.poll() is not None else kill(process, mode)
    code = process.wait(timeout=300)
    code = code if code >= 0 else 128 - code  # as a shell reports a death by signal
    # (a signal that lands during start-up, before the handlers exist, kills the process)
    if mode == "kill-run":  # its orphaned workers, if any are left
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    problems = []
    if code not in (expected, 0):  # 0: the run finished before the fault took effect
        problems.append(f"exit {code}, expected {expected}")
    before: dict = {}
    try:
        before = fingerprint(url)
        resumed = subprocess.run(
            [*HPSEARCH, "run", str(study), "--storage", url, "--quiet"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        after = fingerprint(url)
        if resumed.returncode != 0:
            problems.append(f"resume exit {resumed.returncode}: {resumed.stderr.strip()}")
        if {k: after.get(k) for k in before} != before:
            problems.append("a trial finished before the kill changed or vanished")
        if len(after) != PLANNED:
            problems.append(f"{len(after)} finished trials, planned {PLANNED}")
        if after != reference:
            problems.append("values differ from the clean reference run")
        # the fault landed mid-run: a worker killed, or the run ended by the signal
        hit = hit and (mode == "kill-worker" or code == expected)
    except AssertionError as error:
        hit = False
        problems.append(str(error))
    finally:
        if postgres:
            drop_postgres(*postgres)
    where = "postgresql" if postgres else "sqlite"
    line = (
        f"{number:3d} {where:10s} {mode:11s} after {delay:5.2f}s: exit {code}, "
        f"{len(before)} finished before -> {'; '.join(problems) or 'ok'}"
    )
    return f"{where} {mode}", line + ("" if hit else " (fault after the end)"), not problems, hit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-minutes", type=float, default=30.0)
    args = parser.parse_args(argv)
    random.seed(args.seed)
    with tempfile.TemporaryDirectory(prefix="hpsearch-chaos-") as name:
        folder = Path(name)
        study = write_tiny_study(folder, epochs=60, trials=PLANNED // 2, name="chaos")
        started = time.monotonic()
        clean = subprocess.run(
            [
                *HPSEARCH,
                "run",
                str(study),
                "--storage",
                f"sqlite:///{folder / 'reference.db'}",
                "--jobs",
                "2",
                "--quiet",
            ],
            check=True,
            timeout=600,
        )
        duration = time.monotonic() - started
        reference = fingerprint(f"sqlite:///{folder / 'reference.db'}")
        print(f"reference run: {clean.returncode}, {len(reference)} trials, {duration:.1f} s")
        runs = losses = 0
        kinds: collections.Counter[str] = collections.Counter()
        lost: collections.Counter[str] = collections.Counter()
        landed: collections.Counter[str] = collections.Counter()
        deadline = time.monotonic() + args.max_minutes * 60
        for number in range(args.iterations):
            if time.monotonic() > deadline:
                print("stopping: --max-minutes reached")
                break
            kind, line, ok, hit = iteration(number, study, folder, reference, duration)
            landed[kind] += hit
            runs, losses = runs + 1, losses + (not ok)
            kinds[kind] += 1
            lost[kind] += not ok
            print(line, flush=True)
    for kind in sorted(kinds):
        print(
            f"  {kind:22s} {kinds[kind]:3d} runs ({landed[kind]} hit the run before it ended), "
            f"{lost[kind]} losses"
        )
    print(f"chaos: {runs} runs ({sum(landed.values())} faults mid-run), {losses} losses")
    return 1 if losses else 0


if __name__ == "__main__":
    sys.exit(main())
