"""One PostgreSQL connection per hpsearch process, so that connections held = processes
(the README's arithmetic for many workers and pgbouncer rests on it)."""

from __future__ import annotations

import os
import threading

import sqlalchemy as sa
from test_writes import queue

from hpsearch.run.worker import open_worker_storage
from hpsearch.store.claims import Claimer


def held(admin: sa.Engine) -> int:
    """Connections this process holds (its pid is in their application_name)."""
    with admin.connect() as connection:
        query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"
        return int(
            connection.execute(sa.text(query), {"name": f"hpsearch {os.getpid()}"}).scalar()
        )


def test_a_worker_holds_one_connection_with_its_heartbeat_and_claims_at_once(
    postgres_url: str,
) -> None:
    admin = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    storage = open_worker_storage(postgres_url)  # a new database: Optuna's tables made here
    assert held(admin) <= 1
    study = queue(postgres_url, 40, storage)
    claims = Claimer(storage, study._study_id)
    trial = claims.claim({})
    assert trial is not None
    done, most = threading.Event(), 0

    def beat() -> None:  # the worker's heartbeat thread, at 200 times its pace
        while not done.wait(0.01):
            storage.record_heartbeat(trial.trial_id)

    beats = threading.Thread(target=beat)
    beats.start()
    try:
        while claims.claim({}) is not None:  # the trial thread's transactions, meanwhile
            most = max(most, held(admin))
    finally:
        done.set()
        beats.join()
    assert most == 1
    storage.engine.dispose()
    admin.dispose()
