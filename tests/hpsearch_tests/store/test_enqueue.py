"""A round's queue written in one transaction reads back exactly as Optuna's own
`study.add_trial` writes it, on SQLite and PostgreSQL."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from hpsearch.run.worker import open_worker_storage
from hpsearch.store.enqueue import Waiting, add_waiting_trials

DISTS = {
    "lr": FloatDistribution(1e-6, 1e-2, log=True),
    "units": IntDistribution(10, 200, step=10),
    "optimizer": CategoricalDistribution(["sgd", "momentum", "adam"]),
}


def waiting(index: int) -> Waiting:
    params = {"lr": 10 ** (-3 - index / 7), "units": 10 * (index + 1), "optimizer": "adam"}
    return Waiting(
        params=params,
        distributions=DISTS,
        system_attrs={"fixed_params": params},
        user_attrs={"round": 1, "index": index, "attempt": 0, "seed": 1000 + index},
    )


def comparable(trial: FrozenTrial) -> tuple:
    return (
        trial.number,
        trial.state,
        trial.value,
        trial.datetime_start,
        trial.params,
        trial.distributions,
        trial.user_attrs,
        trial.system_attrs,
        trial.intermediate_values,
    )


def test_the_bulk_queue_is_what_optunas_add_trial_writes(url: str) -> None:
    storage = open_worker_storage(url)
    ours = optuna.create_study(study_name="ours", storage=storage)
    theirs = optuna.create_study(study_name="theirs", storage=storage)
    for study in (ours, theirs):  # a finished trial first: numbers continue after it
        study.add_trial(
            optuna.trial.create_trial(
                params={"lr": 1e-3}, distributions={"lr": DISTS["lr"]}, value=0.5
            )
        )
    queue = [waiting(i) for i in range(5)]
    numbers = add_waiting_trials(storage, ours._study_id, queue)
    for item in queue:
        theirs.add_trial(
            optuna.trial.create_trial(
                state=TrialState.WAITING,
                params=item.params,
                distributions=item.distributions,
                system_attrs=item.system_attrs,
                user_attrs=item.user_attrs,
            )
        )
    assert numbers == [1, 2, 3, 4, 5]
    assert [comparable(t) for t in ours.get_trials()[1:]] == [
        comparable(t) for t in theirs.get_trials()[1:]
    ]


def test_an_incompatible_distribution_writes_nothing(url: str) -> None:
    storage = open_worker_storage(url)
    study = optuna.create_study(study_name="s", storage=storage)
    add_waiting_trials(storage, study._study_id, [waiting(0)])
    changed = Waiting(
        params={"optimizer": "sgd"},
        distributions={"optimizer": CategoricalDistribution(["sgd", "adam"])},
        system_attrs={},
        user_attrs={},
    )
    with pytest.raises(ValueError, match="dynamic value space"):
        add_waiting_trials(storage, study._study_id, [waiting(1), changed])
    assert len(study.get_trials()) == 1


def test_an_empty_queue_writes_nothing(url: str) -> None:
    storage = open_worker_storage(url)
    study = optuna.create_study(study_name="s", storage=storage)
    assert add_waiting_trials(storage, study._study_id, []) == []
    assert study.get_trials() == []
