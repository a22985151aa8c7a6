"""The writes that go past Optuna's API: each is ONE transaction through Optuna's own models.

Optuna commits every parameter, attribute and reported value on its own, and claims a trial
in three round trips. A worker here touches the database twice per trial: one transaction
claims a trial (its state, start time, worker and first heartbeat), one stores its result.
The schema stays Optuna's, so Optuna's tools read everything written here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from optuna.distributions import BaseDistribution
from optuna.storages import RDBStorage
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import TrialState


@dataclass(frozen=True)
class ClaimedTrial:
    """A trial a worker has just claimed (now RUNNING).

    `params` are the parameters it was enqueued with (Optuna's `fixed_params`);
    `params_stored` is False for a trial enqueued without them as Optuna params (by an older
    hpsearch), whose worker records them before training.
    """

    trial_id: int
    number: int
    params: dict[str, Any]
    user_attrs: dict[str, Any]
    params_stored: bool


def claim_waiting_trial(
    storage: RDBStorage, study_id: int, system_attrs: dict[str, Any]
) -> ClaimedTrial | None:
    """Claim the study's oldest waiting trial, or return None when none waits.

    One transaction: WAITING -> RUNNING with its start time, `system_attrs` (the worker's
    identity) and a first heartbeat, so a claimed trial always carries its owner. On
    PostgreSQL `FOR UPDATE SKIP LOCKED` lets concurrent workers claim different trials at
    once; SQLite's BEGIN IMMEDIATE (see `storage`) makes claims take turns.
    """
    trial_model = models.TrialModel
    with _create_scoped_session(storage.scoped_session) as session:
        trial = session.scalars(
            sa.select(trial_model)
            .where(trial_model.study_id == study_id, trial_model.state == TrialState.WAITING)
            .order_by(trial_model.number)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if trial is None:
            return None
        trial_id = int(trial.trial_id)  # type: ignore[arg-type]
        trial.state = TrialState.RUNNING
        trial.datetime_start = datetime.now()
        session.add_all(
            models.TrialSystemAttributeModel(trial_id=trial_id, key=key, value_json=json.dumps(v))
            for key, v in system_attrs.items()
        )
        session.add(models.TrialHeartbeatModel(trial_id=trial_id))
        fixed = session.scalar(
            sa.select(models.TrialSystemAttributeModel.value_json).where(
                models.TrialSystemAttributeModel.trial_id == trial_id,
                models.TrialSystemAttributeModel.key == "fixed_params",
            )
        )
        user_model = models.TrialUserAttributeModel
        user_attrs = session.execute(
            sa.select(user_model.key, user_model.value_json).where(user_model.trial_id == trial_id)
        ).all()
        params_stored = session.scalar(
            sa.select(sa.exists().where(models.TrialParamModel.trial_id == trial_id))
        )
        return ClaimedTrial(
            trial_id=trial_id,
            number=int(trial.number),  # type: ignore[arg-type]
            params=json.loads(str(fixed)) if fixed is not None else {},
            user_attrs={str(key): json.loads(str(value)) for key, value in user_attrs},
            params_stored=bool(params_stored),
        )


def record_params(
    storage: RDBStorage,
    trial_id: int,
    params: dict[str, Any],
    distributions: dict[str, BaseDistribution],
) -> None:
    """Record a trial's parameters with their distributions in one transaction."""
    with _create_scoped_session(storage.scoped_session) as session:
        for name, value in params.items():
            dist = distributions[name]
            storage._set_trial_param_without_commit(
                session, trial_id, name, dist.to_internal_repr(value), dist
            )


def finish_trial(
    storage: RDBStorage,
    trial_id: int,
    *,
    state: TrialState,
    value: float | None,
    intermediate_values: list[float],
    user_attrs: dict[str, Any],
) -> None:
    """Store a trial's curves, attributes, value and final state in ONE transaction.

    Optuna writes each reported value and attribute in its own transaction; a trial of 50
    epochs would cost 50 commits, and a crash between them would leave a half-written trial.
    Here it is all or nothing, through Optuna's own models (its schema stays the contract).
    """
    with _create_scoped_session(storage.scoped_session) as session:
        trial = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
        # Optuna's models are untyped SQLAlchemy columns.
        storage.check_trial_is_updatable(trial_id, trial.state)  # type: ignore[arg-type]
        for step, intermediate in enumerate(intermediate_values, start=1):
            stored, kind = models.TrialIntermediateValueModel.intermediate_value_to_stored_repr(
                intermediate
            )
            session.add(
                models.TrialIntermediateValueModel(
                    trial_id=trial_id,
                    step=step,
                    intermediate_value=stored,
                    intermediate_value_type=kind,
                )
            )
        for key, attr in user_attrs.items():
            session.add(
                models.TrialUserAttributeModel(
                    trial_id=trial_id, key=key, value_json=json.dumps(attr)
                )
            )
        if value is not None:
            stored_value, value_type = models.TrialValueModel.value_to_stored_repr(value)
            session.add(
                models.TrialValueModel(
                    trial_id=trial_id, objective=0, value=stored_value, value_type=value_type
                )
            )
        trial.state = state
        trial.datetime_complete = datetime.now()


def claim_study(
    storage: RDBStorage,
    study_id: int,
    key: str,
    owner: dict[str, Any],
    is_live: Callable[[dict[str, Any]], bool],
) -> dict[str, Any] | None:
    """Atomically take the study attribute `key` as a lock for `owner`.

    Returns None when taken, or the current holder when `is_live(holder)` says it is still
    alive. The study row is locked for the transaction (FOR UPDATE on PostgreSQL; BEGIN
    IMMEDIATE serialises SQLite), so two claimants never both win.
    """
    with _create_scoped_session(storage.scoped_session) as session:
        study = models.StudyModel.find_or_raise_by_id(study_id, session, for_update=True)
        attribute = models.StudySystemAttributeModel.find_by_study_and_key(study, key, session)
        holder = json.loads(str(attribute.value_json)) if attribute is not None else None
        if holder and holder.get("token") != owner["token"] and is_live(holder):
            return holder
        if attribute is None:
            session.add(
                models.StudySystemAttributeModel(
                    study_id=study_id, key=key, value_json=json.dumps(owner)
                )
            )
        else:
            attribute.value_json = json.dumps(owner)
    return None


def release_study(storage: RDBStorage, study_id: int, key: str, token: str) -> None:
    """Drop the lock `key` if `token` still holds it."""
    with _create_scoped_session(storage.scoped_session) as session:
        study = models.StudyModel.find_or_raise_by_id(study_id, session, for_update=True)
        attribute = models.StudySystemAttributeModel.find_by_study_and_key(study, key, session)
        if attribute is not None and json.loads(str(attribute.value_json)).get("token") == token:
            session.delete(attribute)
