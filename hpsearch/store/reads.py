"""Bulk, read-only SQL over Optuna's own tables (through its SQLAlchemy models).

`Study.get_trials` builds an ORM object per row: ~8 s for 10,000 trials of 10 epochs. Here a
study's trials come back from six SELECTs in one transaction in ~1 s, still as `FrozenTrial`s
(so `records` and the views work on them unchanged), and the overview of every study in a
storage from a few aggregate queries that load no trial at all. Nothing here writes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from optuna.distributions import BaseDistribution, json_to_distribution
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from hpsearch.store.records import CURVE_KEYS, FIXED_PARAMS_KEY, WORKER_KEY
from hpsearch.store.tables import (
    INTERMEDIATE,
    MODELS,
    PARAMS,
    SYSTEM_ATTRS,
    TRIALS,
    USER_ATTRS,
    VALUES,
    plain_rows,
    snapshot,
)

STATE_NAMES = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
    TrialState.WAITING: "waiting",
}


def read_trials(
    storage: RDBStorage,
    study_id: int,
    *,
    curves: bool = False,
    attrs: Collection[str] | None = None,
    states: Iterable[TrialState] | None = None,
    where: Iterable[sa.ColumnElement[bool]] = (),
) -> list[FrozenTrial]:
    """The study's trials in number order, read in six queries in one transaction.

    `where` narrows the trials read (conditions on the trials table, e.g. one round's, see
    `store.slices`), so that the cost is that of the rows read, not of the study.

    Without `curves`, the per-epoch lists are left out (`intermediate_values` is empty and
    `train_accuracy` holds only its last element), which halves the rows read. `attrs` names
    the user attributes to read (default: all). Of the system attributes only a waiting
    trial's `fixed_params` (its enqueued parameters; `params` is empty until a worker starts
    it) is read.
    """
    where = [TRIALS.c.study_id == study_id, *where]
    if states is not None:
        where.append(TRIALS.c.state.in_(list(states)))
    ids = sa.select(TRIALS.c.trial_id).where(*where).scalar_subquery()
    columns = [TRIALS.c.trial_id, TRIALS.c.number, TRIALS.c.state]
    columns += [TRIALS.c.datetime_start, TRIALS.c.datetime_complete]
    with snapshot(storage) as connection:
        query = sa.select(*columns).where(*where).order_by(TRIALS.c.number)
        rows = connection.execute(query).all()
        values = _read_values(connection, ids)
        params = _read_params(connection, ids)
        user_attrs = _read_user_attrs(connection, ids, curves, attrs)
        curves_by_id = _read_intermediate(connection, ids) if curves else {}
        waiting = sa.select(TRIALS.c.trial_id).where(*where, TRIALS.c.state == TrialState.WAITING)
        enqueued = _read_enqueued(connection, waiting.scalar_subquery())
    trials = []
    for trial_id, number, state, start, end in rows:
        trial = FrozenTrial(number, state, values.get(trial_id), start, end, *params[trial_id],
                            user_attrs=user_attrs[trial_id],
                            system_attrs=enqueued.get(trial_id, {}),
                            intermediate_values=curves_by_id.get(trial_id, {}),
                            trial_id=trial_id)  # fmt: skip
        trials.append(trial)
    return trials


def _read_values(connection: sa.Connection, ids: Any) -> dict[int, float]:
    rows = connection.execute(
        sa.select(VALUES.c.trial_id, VALUES.c.value, VALUES.c.value_type).where(
            VALUES.c.trial_id.in_(ids), VALUES.c.objective == 0
        )
    )
    convert = MODELS.TrialValueModel.stored_repr_to_value
    return {trial_id: convert(value, kind) for trial_id, value, kind in rows}


def _read_params(
    connection: sa.Connection,
    ids: Any,
) -> defaultdict[int, tuple[dict[str, Any], dict[str, BaseDistribution]]]:
    rows = connection.execute(
        sa.select(
            PARAMS.c.trial_id,
            PARAMS.c.param_name,
            PARAMS.c.param_value,
            PARAMS.c.distribution_json,
        )
        .where(PARAMS.c.trial_id.in_(ids))
        .order_by(PARAMS.c.param_id)
    )
    result: defaultdict[int, tuple[dict[str, Any], dict[str, BaseDistribution]]] = defaultdict(
        lambda: ({}, {})
    )
    known: dict[str, BaseDistribution] = {}  # a round's trials share a few distributions
    for trial_id, name, value, text in rows:
        dist = known.get(text) or known.setdefault(text, json_to_distribution(text))
        result[trial_id][0][name] = dist.to_external_repr(value)
        result[trial_id][1][name] = dist
    return result


def _read_enqueued(connection: sa.Connection, ids: Any) -> dict[int, dict[str, Any]]:
    """{trial_id: {"fixed_params": {...}}} for the trials `ids` that have them."""
    rows = connection.execute(
        sa.select(SYSTEM_ATTRS.c.trial_id, SYSTEM_ATTRS.c.value_json).where(
            SYSTEM_ATTRS.c.trial_id.in_(ids), SYSTEM_ATTRS.c.key == FIXED_PARAMS_KEY
        )
    )
    return {trial_id: {FIXED_PARAMS_KEY: json.loads(text)} for trial_id, text in rows}


def _read_user_attrs(
    connection: sa.Connection, ids: Any, curves: bool, keys: Collection[str] | None
) -> defaultdict[int, dict[str, Any]]:
    columns = (USER_ATTRS.c.trial_id, USER_ATTRS.c.key, USER_ATTRS.c.value_json)
    query = sa.select(*columns).where(USER_ATTRS.c.trial_id.in_(ids))
    if keys is not None:
        query = query.where(USER_ATTRS.c.key.in_(list(keys)))
    elif not curves:
        query = query.where(USER_ATTRS.c.key.not_in(CURVE_KEYS[1:]))
    result: defaultdict[int, dict[str, Any]] = defaultdict(dict)
    rows = plain_rows(connection, query)
    values = json.loads("[" + ",".join(text for *_, text in rows) + "]")  # one call: faster
    for (trial_id, key, _), value in zip(rows, values, strict=True):
        if key == "train_accuracy" and not curves and isinstance(value, list):
            value = value[-1:]
        result[trial_id][key] = value
    return result


def _read_intermediate(connection: sa.Connection, ids: Any) -> dict[int, dict[int, float]]:
    query = (
        sa.select(
            INTERMEDIATE.c.trial_id,
            INTERMEDIATE.c.step,
            INTERMEDIATE.c.intermediate_value,
            INTERMEDIATE.c.intermediate_value_type,
        )
        .where(INTERMEDIATE.c.trial_id.in_(ids))
        .order_by(INTERMEDIATE.c.step)
    )
    convert = MODELS.TrialIntermediateValueModel.stored_repr_to_intermediate_value
    kinds = MODELS.TrialIntermediateValueModel.TrialIntermediateValueType
    result: defaultdict[int, dict[int, float]] = defaultdict(dict)
    for trial_id, step, value, kind in plain_rows(connection, query):  # `kind`: its name
        result[trial_id][step] = value if kind == "FINITE" else convert(value, kinds[kind])
    return result


# --- the RUNNING trials, for the coordinator's check on workers -----------------------------


@dataclass(frozen=True)
class RunningTrial:
    """A RUNNING trial and who runs it (None: claimed by no hpsearch worker)."""

    trial_id: int
    number: int
    started: datetime | None
    owner: dict[str, Any] | None


def running_trials(storage: RDBStorage, study_id: int) -> list[RunningTrial]:
    """The study's RUNNING trials with their workers, in two indexed queries."""
    with snapshot(storage) as connection:
        rows = connection.execute(
            sa.select(TRIALS.c.trial_id, TRIALS.c.number, TRIALS.c.datetime_start).where(
                TRIALS.c.study_id == study_id, TRIALS.c.state == TrialState.RUNNING
            )
        ).all()
        if not rows:
            return []
        owners = connection.execute(
            sa.select(SYSTEM_ATTRS.c.trial_id, SYSTEM_ATTRS.c.value_json).where(
                SYSTEM_ATTRS.c.trial_id.in_([row.trial_id for row in rows]),
                SYSTEM_ATTRS.c.key == WORKER_KEY,
            )
        )
        owner_of = {trial_id: json.loads(text) for trial_id, text in owners}
    return [RunningTrial(t, n, start, owner_of.get(t)) for t, n, start in rows]


def stale_trial_ids(storage: RDBStorage, study_id: int) -> set[int]:
    """RUNNING trials whose Optuna heartbeat is older than the storage's grace period."""
    return set(storage._get_stale_trial_ids(study_id))
