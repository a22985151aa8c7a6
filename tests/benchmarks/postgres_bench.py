"""64 worker processes on one PostgreSQL study: trials/s, statements, transactions, connections.

A coordinator (`hpsearch run --jobs 0`) and WORKERS worker processes (`run_worker`, as
`hpsearch worker` runs it, here with a SQLAlchemy event counting each process's statements
and commits) run 2 rounds of tiny trials (a 20-unit network, 1 epoch: milliseconds) on a
fresh database of the local server. Measured: trials per second, statements and
transactions per trial (the workers' own count, and the server's `xact_commit`), the most
connections held at once, and the CPU seconds the server's backends spent per trial (from
/proc: the server is on this machine), from which `workers_served` says how many workers
one server core keeps busy for trials of 0.1 s, 1 s and 1 min.

Run: `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python -m
tests.benchmarks.postgres_bench`
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy as sa
from optuna.trial import TrialState

from tests.benchmarks.search_bench import postgres_database
from tests.hpsearch_tests.conftest import write_tiny_study

WORKERS = 64
TRIALS_PER_ROUND = 640
HPSEARCH = Path(sys.executable).with_name("hpsearch")
TICKS = os.sysconf("SC_CLK_TCK")


def _counted_worker(url: str, name: str, out: str) -> None:
    """One `hpsearch worker --wait`: waits (reading only) for the coordinator's study."""
    from hpsearch.run.joining import await_study
    from hpsearch.run.worker import run_worker

    counts = {"statements": 0, "commits": 0}

    def statement(*_: Any) -> None:
        counts["statements"] += 1

    def commit(*_: Any) -> None:
        counts["commits"] += 1

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", statement)
    sa.event.listen(sa.engine.Engine, "commit", commit)
    stop = threading.Event()
    finished = run_worker(url, name, stop) if await_study(url, name, stop, wait=True) else 0
    Path(out).write_text(json.dumps({**counts, "trials": finished}))


def _backend_cpu(admin: sa.Engine, database: str, seen: dict[int, float]) -> tuple[int, int]:
    """Record each backend's CPU seconds of `database` in `seen`; returns the connections
    open and the most that one process holds (by the pid in their application_name)."""
    with admin.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT pid, application_name FROM pg_stat_activity WHERE datname = :d"),
            {"d": database},
        ).all()
    pids = [pid for pid, _ in rows]
    per_process = Counter(name for _, name in rows)
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seen[pid] = (int(fields[11]) + int(fields[12])) / TICKS
    return len(pids), max(per_process.values(), default=0)


def _commits(admin: sa.Engine, database: str) -> int:
    with admin.connect() as connection:
        query = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = :d"
        return int(connection.execute(sa.text(query), {"d": database}).scalar() or 0)


def _headroom(admin: sa.Engine) -> int:
    """Connections the server can still open (it is shared with other work)."""
    with admin.connect() as connection:
        limit = int(connection.execute(sa.text("SHOW max_connections")).scalar() or 0)
        used = int(connection.execute(sa.text("SELECT count(*) FROM pg_stat_activity")).scalar())
    return limit - used


def measure(url: str, admin: sa.Engine, folder: Path, workers: int) -> dict[str, Any]:
    database = str(sa.engine.make_url(url).database)
    path = write_tiny_study(folder, epochs=1, trials=TRIALS_PER_ROUND)
    before = _commits(admin, database)
    coordinator = subprocess.Popen(
        [str(HPSEARCH), "run", str(path), "--storage", url, "--jobs", "0", "--quiet"]
    )
    context = multiprocessing.get_context("spawn")
    outs = [str(folder / f"worker-{i}.json") for i in range(workers)]
    processes = [context.Process(target=_counted_worker, args=(url, "tiny", o)) for o in outs]
    for process in processes:
        process.start()
    seen: dict[int, float] = {}
    connections, per_process = 0, 0
    while coordinator.poll() is None or any(p.is_alive() for p in processes):
        now, most = _backend_cpu(admin, database, seen)
        connections, per_process = max(connections, now), max(per_process, most)
        if coordinator.poll():  # failed: its workers would wait for the study for ever
            for process in processes:
                process.terminate()
            raise RuntimeError(f"the coordinator failed (exit {coordinator.returncode})")
        time.sleep(0.5)
    for process in processes:
        process.join()
    server_transactions = _commits(admin, database) - before
    counts = [json.loads(Path(o).read_text()) for o in outs if Path(o).exists()]
    trials = optuna.load_study(study_name="tiny", storage=url).get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    span = (
        max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)
    ).total_seconds()
    by_workers = sum(c["trials"] for c in counts)
    cpu = sum(seen.values()) / len(done)
    return {
        "workers": workers,
        "coordinator_exit": coordinator.returncode,
        "trials": len(done),
        "trials_per_s": round(len(done) / span, 1),
        "statements_per_trial": round(sum(c["statements"] for c in counts) / by_workers, 2),
        "worker_transactions_per_trial": round(sum(c["commits"] for c in counts) / by_workers, 2),
        "server_transactions_per_trial": round(server_transactions / len(done), 2),
        "connections_held_max": connections,
        "connections_of_one_process_max": per_process,
        "server_cpu_ms_per_trial": round(cpu * 1000, 2),
        "workers_served_per_core": {
            f"{seconds} s trials": round(seconds / cpu) for seconds in (0.1, 1, 60)
        },
        "load_average": os.getloadavg()[0],
    }


def main(workers: int = WORKERS) -> dict[str, Any]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    postgres = postgres_database()
    if postgres is None:
        print("postgres: no server answers; skipped")
        return {}
    url, admin = postgres
    print(f"\npostgres: {workers} workers, 2 rounds of {TRIALS_PER_ROUND} tiny trials")
    try:
        free = _headroom(admin)
        if free < workers + 10:  # each process holds one connection; leave some to others
            print(f"postgres: the server has {free} free connections; skipped")
            return {"skipped": f"{free} free connections for {workers} workers"}
        with tempfile.TemporaryDirectory(prefix="hpsearch-pg-") as name:
            result = measure(url, admin, Path(name), workers)
    finally:
        with admin.connect() as connection:
            database = sa.engine.make_url(url).database
            connection.exec_driver_sql(f'DROP DATABASE "{database}" WITH (FORCE)')
        admin.dispose()
    for key, value in result.items():
        print(f"postgres: {key}: {value}")
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else WORKERS)
