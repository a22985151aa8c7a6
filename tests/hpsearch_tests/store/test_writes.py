"""The one-transaction claim of a waiting trial, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing

import optuna
import pytest
import sqlalchemy as sa
from optuna.distributions import FloatDistribution
from optuna.storages import RDBStorage
from optuna.storages._rdb import models
from optuna.trial import TrialState

from hpsearch.run.worker import open_worker_storage
from hpsearch.store.writes import claim_waiting_trial, finish_trial

LR = FloatDistribution(1e-4, 1e-1, log=True)


def queue(url: str, count: int, storage: RDBStorage | None = None) -> optuna.Study:
    """A study with `count` waiting trials, queued as the coordinator queues them (through
    `storage` if given)."""
    study = optuna.create_study(study_name="claims", storage=storage or open_worker_storage(url))
    for index in range(count):
        lr = 10 ** -(1 + index % 3)
        study.add_trial(
            optuna.trial.create_trial(
                state=TrialState.WAITING,
                params={"lr": lr},
                distributions={"lr": LR},
                system_attrs={"fixed_params": {"lr": lr}},
                user_attrs={"round": 0, "index": index},
            )
        )
    return study


def test_a_claim_takes_the_oldest_waiting_trial_with_its_owner_and_first_heartbeat(
    url: str,
) -> None:
    study = queue(url, 2)
    storage = open_worker_storage(url)
    owner = {"hpsearch:worker": {"host": "here", "pid": 1}}
    claimed = [claim_waiting_trial(storage, study._study_id, owner) for _ in range(3)]
    assert claimed[2] is None
    assert [(c.number, c.params, c.user_attrs) for c in claimed if c] == [
        (0, {"lr": 0.1}, {"round": 0, "index": 0}),
        (1, {"lr": 0.01}, {"round": 0, "index": 1}),
    ]
    for trial in study.get_trials():
        assert trial.state == TrialState.RUNNING and trial.datetime_start is not None
        assert trial.system_attrs["hpsearch:worker"] == {"host": "here", "pid": 1}
        assert trial.params == trial.system_attrs["fixed_params"]
    heartbeats = sa.select(sa.func.count()).select_from(models.TrialHeartbeatModel)
    with storage.engine.connect() as connection:
        assert connection.scalar(heartbeats) == 2
    assert storage._get_stale_trial_ids(study._study_id) == []  # beating, not stale
    storage.engine.dispose()


def _claim_all(url: str, results: multiprocessing.Queue) -> None:
    storage = open_worker_storage(url)
    study_id = storage.get_study_id_from_name("claims")
    numbers = []
    while (trial := claim_waiting_trial(storage, study_id, {"hpsearch:worker": {}})) is not None:
        numbers.append(trial.number)
    storage.engine.dispose()
    results.put(numbers)


def test_workers_claiming_at_once_split_the_queue_without_duplicates(url: str) -> None:
    queue(url, 60)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_claim_all, args=(url, results)) for _ in range(4)]
    for worker in workers:
        worker.start()
    claimed = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    numbers = sorted(n for part in claimed for n in part)
    assert numbers == list(range(60))  # each trial claimed once, none left behind


def test_a_result_is_stored_whole_once_and_never_half(url: str) -> None:
    study = queue(url, 3)
    storage = open_worker_storage(url)
    first, second, third = (claim_waiting_trial(storage, study._study_id, {}) for _ in range(3))
    assert first and second and third
    result = {"value": 0.75, "intermediate_values": [0.5, 0.625, 0.75], "user_attrs": {"a": [1]}}
    finish_trial(storage, first.trial_id, state=TrialState.COMPLETE, **result)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        finish_trial(storage, first.trial_id, state=TrialState.FAIL, **result)
    with pytest.raises(TypeError):  # fails after the state was updated: all rolled back
        bad = {**result, "user_attrs": {"a": object()}}
        finish_trial(storage, second.trial_id, state=TrialState.COMPLETE, **bad)
    finish_trial(
        storage,
        third.trial_id,
        state=TrialState.FAIL,
        value=None,
        intermediate_values=[],
        user_attrs={"fail_reason": "error"},
    )
    done, running, failed = study.get_trials()
    assert done.state == TrialState.COMPLETE and done.value == 0.75
    assert done.intermediate_values == {1: 0.5, 2: 0.625, 3: 0.75}
    assert done.user_attrs == {"round": 0, "index": 0, "a": [1]}
    assert done.datetime_complete is not None
    assert running.state == TrialState.RUNNING and running.intermediate_values == {}
    assert running.user_attrs == {"round": 0, "index": 1}
    assert failed.state == TrialState.FAIL and failed.value is None
    assert failed.user_attrs["fail_reason"] == "error"
    storage.engine.dispose()


def test_the_study_files_name_bound_is_optunas_column_length() -> None:
    """study/portable.py cannot import Optuna's private schema; this checks its copy."""
    from hpsearch.store.tables import MODELS
    from hpsearch.study.portable import MAX_NAME_LENGTH

    assert MODELS.StudyModel.__table__.c.study_name.type.length == MAX_NAME_LENGTH
