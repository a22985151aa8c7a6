"""The writes that go past Optuna's API: each is ONE transaction on Optuna's own tables.

Optuna commits every parameter, attribute and reported value on its own, and claims a trial
in three round trips. A worker here touches the database twice per trial: one transaction
claims a trial (its state, start time, worker and first heartbeat), one stores its result,
both as SQLAlchemy Core statements (the ORM's unit of work costs as much again). The schema
stays Optuna's, so Optuna's tools read everything written here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from hpsearch.store.liveness import server_clock
from hpsearch.store.records import FIXED_PARAMS_KEY, WORKER_KEY
from hpsearch.store.tables import (
    HEARTBEATS,
    INTERMEDIATE,
    MODELS,
    SYSTEM_ATTRS,
    TRIALS,
    USER_ATTRS,
    VALUES,
    attr_rows,
    transaction,
)

UNFINISHED = (TrialState.WAITING, TrialState.RUNNING)


@dataclass(frozen=True)
class ClaimedTrial:
    """A trial a worker has just claimed (now RUNNING).

    `params` are the parameters it was enqueued with (Optuna's `fixed_params`), stored as
    Optuna params too when it was queued, so its worker writes nothing before training.
    """

    trial_id: int
    number: int
    params: dict[str, Any]
    user_attrs: dict[str, Any]


def claim_waiting_trial(
    storage: RDBStorage,
    study_id: int,
    system_attrs: dict[str, Any],
    *,
    after_id: int = 0,
    skip_locked: bool = True,
) -> ClaimedTrial | None:
    """Claim the study's oldest waiting trial of id `after_id` or more, or return None.

    One transaction: WAITING -> RUNNING with its start time, `system_attrs` (the worker's
    identity) and a first heartbeat, so a claimed trial always carries its owner. On
    PostgreSQL `FOR UPDATE SKIP LOCKED` lets concurrent workers claim different trials at
    once (without `skip_locked`, a claim waits for the claims under way, and so sees every
    waiting trial); SQLite's BEGIN IMMEDIATE (see `storage`) makes claims take turns.
    Oldest is smallest id (Optuna numbers a study's trials in id order): the id range is
    indexed (see `store.claims` for the `after_id` that keeps finished trials unread).
    """
    with transaction(storage) as session:
        claimed = session.execute(
            sa.select(TRIALS.c.trial_id, TRIALS.c.number)
            .where(
                TRIALS.c.study_id == study_id,
                TRIALS.c.trial_id >= after_id,
                TRIALS.c.state == TrialState.WAITING,
            )
            .order_by(TRIALS.c.trial_id)
            .limit(1)
            .with_for_update(skip_locked=skip_locked)
        ).first()
        if claimed is None:
            return None
        trial_id, number = int(claimed.trial_id), int(claimed.number)
        session.execute(
            sa.update(TRIALS)
            .where(TRIALS.c.trial_id == trial_id)
            .values(state=TrialState.RUNNING, datetime_start=datetime.now())
        )
        if system_attrs:
            session.execute(sa.insert(SYSTEM_ATTRS), attr_rows(trial_id, system_attrs))
        session.execute(sa.insert(HEARTBEATS).values(trial_id=trial_id))
        rows = session.execute(
            sa.union_all(
                sa.select(
                    sa.literal("system"), SYSTEM_ATTRS.c.key, SYSTEM_ATTRS.c.value_json
                ).where(
                    SYSTEM_ATTRS.c.trial_id == trial_id, SYSTEM_ATTRS.c.key == FIXED_PARAMS_KEY
                ),
                sa.select(sa.literal("user"), USER_ATTRS.c.key, USER_ATTRS.c.value_json).where(
                    USER_ATTRS.c.trial_id == trial_id
                ),
            )
        ).all()
    fixed = [json.loads(value) for kind, _, value in rows if kind == "system"]
    return ClaimedTrial(
        trial_id=trial_id,
        number=number,
        params=fixed[0] if fixed else {},
        user_attrs={key: json.loads(value) for kind, key, value in rows if kind == "user"},
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
    Here it is all or nothing, into Optuna's own tables (its schema stays the contract).
    Raises Optuna's UpdateFinishedTrialError, writing nothing, if the trial is finished.
    """
    with transaction(storage) as session:
        updated = session.connection().execute(
            sa.update(TRIALS)
            .where(TRIALS.c.trial_id == trial_id, TRIALS.c.state.in_(UNFINISHED))
            .values(state=state, datetime_complete=datetime.now())
        )
        if updated.rowcount == 0:  # finished already (or no such trial): say which, as Optuna does
            trial = MODELS.TrialModel.find_or_raise_by_id(trial_id, session)
            storage.check_trial_is_updatable(trial_id, trial.state)  # type: ignore[arg-type]
        curve = []
        for step, intermediate in enumerate(intermediate_values, start=1):
            stored, kind = MODELS.TrialIntermediateValueModel.intermediate_value_to_stored_repr(
                intermediate
            )
            curve.append(
                {
                    "trial_id": trial_id,
                    "step": step,
                    "intermediate_value": stored,
                    "intermediate_value_type": kind,
                }
            )
        if curve:
            session.execute(sa.insert(INTERMEDIATE), curve)
        if user_attrs:
            session.execute(sa.insert(USER_ATTRS), attr_rows(trial_id, user_attrs))
        if value is not None:
            stored_value, value_type = MODELS.TrialValueModel.value_to_stored_repr(value)
            session.execute(
                sa.insert(VALUES).values(
                    trial_id=trial_id, objective=0, value=stored_value, value_type=value_type
                )
            )


def claim_study(
    storage: RDBStorage,
    study_id: int,
    key: str,
    owner: dict[str, Any],
    is_live: Callable[[dict[str, Any], float], bool],
    *,
    renew: bool = False,
) -> dict[str, Any] | None:
    """Atomically take the study attribute `key` as a lock for `owner`, its "beat" set to the
    database server's clock.

    Returns None when taken, or the current holder when `is_live(holder, server_now)` says it
    is still alive; with `renew` (a beat of the holder), the holder whenever it is not
    `owner` (same token): a lock taken over is never silently taken back. The study row is
    locked for the transaction (FOR UPDATE on PostgreSQL; BEGIN IMMEDIATE serialises
    SQLite), so two claimants never both win.
    """
    with transaction(storage) as session:
        study = MODELS.StudyModel.find_or_raise_by_id(study_id, session, for_update=True)
        now = float(session.execute(server_clock(session.get_bind().dialect.name)).scalar_one())
        attribute = MODELS.StudySystemAttributeModel.find_by_study_and_key(study, key, session)
        holder = json.loads(str(attribute.value_json)) if attribute is not None else None
        if renew and (holder or {}).get("token") != owner["token"]:
            return holder or {}
        if holder and holder.get("token") != owner["token"] and is_live(holder, now):
            return holder
        value = json.dumps({**owner, "beat": now})
        if attribute is None:
            session.add(
                MODELS.StudySystemAttributeModel(study_id=study_id, key=key, value_json=value)
            )
        else:
            attribute.value_json = value
    return None


def release_study(storage: RDBStorage, study_id: int, key: str, token: str) -> None:
    """Drop the lock `key` if `token` still holds it."""
    with transaction(storage) as session:
        study = MODELS.StudyModel.find_or_raise_by_id(study_id, session, for_update=True)
        attribute = MODELS.StudySystemAttributeModel.find_by_study_and_key(study, key, session)
        if attribute is not None and json.loads(str(attribute.value_json)).get("token") == token:
            session.delete(attribute)


def mark_abandoned(storage: RDBStorage, trial_id: int, owner: dict[str, Any] | None) -> bool:
    """Mark a trial failed with `fail_reason = "abandoned"` in ONE transaction, only if it is
    still RUNNING under `owner` (its WORKER_KEY attribute as read; None: it has none).

    Returns False, writing nothing, if its worker finished it (or it changed hands) first: a
    trial is never both finished by its worker and abandoned.
    """
    stored = SYSTEM_ATTRS.c.value_json
    owned = sa.select(stored).where(
        SYSTEM_ATTRS.c.trial_id == trial_id, SYSTEM_ATTRS.c.key == WORKER_KEY
    )
    with transaction(storage) as session:
        condition = (
            ~owned.exists() if owner is None else owned.where(stored == json.dumps(owner)).exists()
        )
        updated = session.connection().execute(
            sa.update(TRIALS)
            .where(TRIALS.c.trial_id == trial_id, TRIALS.c.state == TrialState.RUNNING, condition)
            .values(state=TrialState.FAIL, datetime_complete=datetime.now())
        )
        if updated.rowcount != 1:
            return False
        session.execute(sa.insert(USER_ATTRS), attr_rows(trial_id, {"fail_reason": "abandoned"}))
    return True
