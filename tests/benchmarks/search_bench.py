"""Search throughput: trials per minute and storage overhead per trial, for book.toml's trials.

One round of 24 trials with book.toml's data and network (784-100×6-10, SGD, 50 epochs), run
by `hpsearch run` with 1, 2 and 4 local workers on SQLite and with 2 on PostgreSQL. From the
stored trials: trials per minute over the span from the first trial's start to the last one's
end (process start-up and the final test scoring excluded), and the time per trial spent
outside training (claiming, storing, heartbeats, Python glue) as a fraction of training time.
This machine has 2 cores: 4 workers oversubscribe it.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from pathlib import Path

import optuna
import sqlalchemy
from optuna.trial import TrialState

from hpsearch.run.worker import open_worker_storage
from hpsearch.store.writes import claim_waiting_trial, finish_trial

ROOT = Path(__file__).resolve().parents[2]
TRIALS = 24
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def study_file(folder: Path) -> Path:
    """book.toml's data and training, one round of TRIALS trials."""
    book = (ROOT / "studies" / "book.toml").read_text()
    search = book.index("[search]")
    rounds = tomllib.loads(book)["search"]["rounds"]
    text = book[:search] + book[search:].replace(f"rounds = {rounds}", "rounds = 1", 1)
    text = text.replace("trials_per_round = 25", f"trials_per_round = {TRIALS}")
    path = folder / "bench.toml"
    path.write_text(text.replace('name = "book"', 'name = "bench"'))
    return path


def measure(path: Path, url: str, workers: int) -> dict[str, float]:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "hpsearch",
            "run",
            str(path),
            "--storage",
            url,
            "--jobs",
            str(workers),
            "--quiet",
        ],
        check=True,
        timeout=1800,
    )
    trials = optuna.load_study(study_name="bench", storage=url).get_trials(
        states=(TrialState.COMPLETE,)
    )
    start = min(t.datetime_start for t in trials if t.datetime_start)
    end = max(t.datetime_complete for t in trials if t.datetime_complete)
    span = (end - start).total_seconds()
    training = statistics.median(t.user_attrs["seconds"] for t in trials)
    per_trial = span * workers / len(trials)  # worker-seconds each trial cost
    overhead = max(per_trial - training, 0.0)
    storage = storage_ms(url)
    return {
        "trials_per_minute": len(trials) / span * 60,
        "train_s": training,
        "storage_ms": storage,
        "storage_fraction": storage / 1000 / training,
        "overhead_ms": overhead * 1000,
        "overhead_fraction": overhead / training,
    }


def storage_ms(url: str, repeats: int = 20) -> float:
    """Median milliseconds of one trial's storage calls, as a worker makes them, on `url`.

    Claim a waiting trial queued as the coordinator queues them (one transaction: WAITING ->
    RUNNING, worker, first heartbeat), store its result (50 epochs of curves, one
    transaction). Run on the finished benchmark study, whose trials give the parameters and
    curves to store.
    """
    storage = open_worker_storage(url)
    study_id = storage.get_study_id_from_name("bench")
    model = storage.get_all_trials(study_id, states=(TrialState.COMPLETE,))[0]
    attrs = {k: v for k, v in model.user_attrs.items() if k not in ("round", "index", "seed")}
    curve = [model.intermediate_values[step] for step in sorted(model.intermediate_values)]
    times = []
    for _ in range(repeats):
        queued = optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=model.params,
            distributions=model.distributions,
            system_attrs={"fixed_params": model.params},
            user_attrs={"round": 0, "seed": 0},
        )
        storage.create_new_trial(study_id, queued)
        started = time.perf_counter()
        trial = claim_waiting_trial(storage, study_id, {"hpsearch:worker": {"pid": 0}})
        assert trial is not None
        finish_trial(
            storage,
            trial.trial_id,
            state=TrialState.COMPLETE,
            value=model.value,
            intermediate_values=curve,
            user_attrs=attrs,
        )
        times.append(time.perf_counter() - started)
    storage.engine.dispose()
    return statistics.median(times) * 1000


def postgres_database() -> tuple[str, sqlalchemy.Engine] | None:
    admin = sqlalchemy.create_engine(
        POSTGRES, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = f"hpsearch_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sqlalchemy.exc.OperationalError:
        return None
    return sqlalchemy.engine.make_url(POSTGRES).set(database=name).render_as_string(
        hide_password=False
    ), admin


def main() -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="hpsearch-bench-") as name:
        folder = Path(name)
        path = study_file(folder)
        for workers in (1, 2, 4):
            url = f"sqlite:///{folder / f'sqlite-{workers}.db'}"
            results[f"sqlite, {workers} worker(s)"] = measure(path, url, workers)
        postgres = postgres_database()
        if postgres:
            url, admin = postgres
            results["postgresql, 2 workers"] = measure(path, url, 2)
            with admin.connect() as connection:
                database = sqlalchemy.engine.make_url(url).database
                connection.exec_driver_sql(f'DROP DATABASE "{database}" WITH (FORCE)')
            admin.dispose()
    print(f"\nsearch: book.toml trials, 1 round of {TRIALS} (target: storage < 5% of a trial)")
    print("  storage: a trial's storage calls (claim with first heartbeat, result) timed alone;")
    print("  all other: every worker-second outside training (storage, Python, waiting, sharing")
    print("  2 cores with the coordinator), from the stored trials' start and end times")
    print(
        f"{'storage':24s} {'trials/min':>10s} {'train s':>8s} {'storage ms':>11s} "
        f"{'all other ms':>13s}"
    )
    for label, row in results.items():
        verdict = "PASS" if row["storage_fraction"] < 0.05 else "MISS"
        print(
            f"{label:24s} {row['trials_per_minute']:10.1f} {row['train_s']:8.3f} "
            f"{row['storage_ms']:5.1f} {row['storage_fraction']:4.1%} "
            f"{row['overhead_ms']:6.1f} {row['overhead_fraction']:5.1%}  {verdict}"
        )
    return results


if __name__ == "__main__":
    main()
