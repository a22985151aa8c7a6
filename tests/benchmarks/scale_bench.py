"""Where one SQLite file stops scaling: trials of milliseconds, 1 to 32 local processes.

A study of 200 trials of a 20-unit network trained for 2 epochs, so that storing a trial, not
training it, is the work. `hpsearch run --jobs N` for each N on a fresh SQLite file, and for
a few N on a fresh PostgreSQL database of the local server. Prints trials per minute, finished
and failed trials, and how often "locked" appeared on stderr. Then the costs against the size
of the study (`size_bench`: 100,000 trials, 40 real rounds) and 64 workers on PostgreSQL
(`postgres_bench`).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.trial import TrialState

from tests.benchmarks import postgres_bench, size_bench
from tests.benchmarks.search_bench import postgres_database
from tests.hpsearch_tests.conftest import write_tiny_study

SQLITE_PROCESSES = (1, 2, 4, 8, 16, 32)
POSTGRES_PROCESSES = (2, 8, 32)


def measure(folder: Path, url: str, processes: int) -> dict[str, Any]:
    path = write_tiny_study(folder, epochs=2, trials=100)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hpsearch",
            "run",
            str(path),
            "--storage",
            url,
            "--jobs",
            str(processes),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    trials = optuna.load_study(study_name="tiny", storage=url).trials
    finished = [t for t in trials if t.state == TrialState.COMPLETE]
    span = (
        max(t.datetime_complete for t in finished) - min(t.datetime_start for t in finished)
    ).total_seconds()
    return {
        "exit_code": done.returncode,
        "finished": len(finished),
        "failed": sum(t.state == TrialState.FAIL for t in trials),
        "locked": done.stderr.count("locked"),
        "trials_per_minute": round(len(finished) / span * 60),
    }


def main() -> dict[str, Any]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results: dict[str, Any] = {}
    print("\nscale: 200 trials of milliseconds, hpsearch run --jobs N on one storage")
    for processes in SQLITE_PROCESSES:
        with tempfile.TemporaryDirectory(prefix="hpsearch-scale-") as name:
            row = measure(Path(name), f"sqlite:///{name}/scale.db", processes)
        results[f"sqlite, {processes}"] = row
        _print("sqlite", processes, row)
    for processes in POSTGRES_PROCESSES:
        postgres = postgres_database()
        if postgres is None:
            print("  postgresql: no server answers; skipped")
            break
        url, admin = postgres
        with tempfile.TemporaryDirectory(prefix="hpsearch-scale-") as name:
            row = measure(Path(name), url, processes)
        with admin.connect() as connection:
            database = sqlalchemy.engine.make_url(url).database
            connection.exec_driver_sql(f'DROP DATABASE "{database}" WITH (FORCE)')
        admin.dispose()
        results[f"postgresql, {processes}"] = row
        _print("postgresql", processes, row)
    results["study size"] = size_bench.main()
    results[f"postgresql, {postgres_bench.WORKERS} workers"] = postgres_bench.main()
    return results


def _print(kind: str, processes: int, row: dict[str, Any]) -> None:
    print(
        f"  {kind:10s} {processes:3d} processes: {row['trials_per_minute']:6d} trials/min, "
        f"{row['finished']} finished, {row['failed']} failed, 'locked' {row['locked']}x, "
        f"exit {row['exit_code']}"
    )


if __name__ == "__main__":
    main()
