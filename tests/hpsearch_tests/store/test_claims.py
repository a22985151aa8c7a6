"""A worker's bounded claims: every waiting trial is claimed once, in order, even one whose
claim rolled back below the worker's last claim (PostgreSQL's SKIP LOCKED)."""

from __future__ import annotations

import sqlalchemy as sa
from optuna.trial import TrialState
from test_writes import queue

from hpsearch.run.worker import open_worker_storage
from hpsearch.store.claims import Claimer
from hpsearch.store.tables import TRIALS


def test_claims_take_every_trial_in_order_and_those_queued_later(url: str) -> None:
    study = queue(url, 4)
    storage = open_worker_storage(url)
    claims = Claimer(storage, study._study_id)
    assert [claims.claim({}).number for _ in range(4)] == [0, 1, 2, 3]  # type: ignore[union-attr]
    assert claims.claim({}) is None
    assert claims.safe == claims.hint > 0  # finished trials are below the bound now
    for _ in range(2):  # queued after the queue ran dry
        study.enqueue_trial({"lr": 0.01})
    assert [claims.claim({}).number for _ in range(2)] == [4, 5]  # type: ignore[union-attr]
    assert claims.claim({}) is None
    storage.engine.dispose()


def test_a_trial_whose_claim_rolled_back_is_claimed_after_all(postgres_url: str) -> None:
    study = queue(postgres_url, 3)
    storage = open_worker_storage(postgres_url)
    claims = Claimer(storage, study._study_id)
    first = min(t._trial_id for t in study.trials)
    other = sa.create_engine(postgres_url)
    with other.connect() as connection:  # another worker's claim of trial 0, under way
        connection.execute(
            sa.select(TRIALS.c.trial_id).where(TRIALS.c.trial_id == first).with_for_update()
        )
        assert claims.claim({}).number == 1  # type: ignore[union-attr]
        connection.rollback()  # ... and rolled back: trial 0 waits again, below the hint
    numbers = [claims.claim({}) for _ in range(3)]
    assert [t.number for t in numbers if t is not None] == [2, 0]
    assert {t.state for t in study.get_trials()} == {TrialState.RUNNING}
    other.dispose()
    storage.engine.dispose()
