"""Aggregates over every study of a storage, for `hpsearch studies`: no trial is loaded."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from optuna.storages import RDBStorage
from optuna.study._frozen import FrozenStudy
from optuna.trial import TrialState

from hpsearch.store.reads import STATE_NAMES
from hpsearch.store.records import FINISHED
from hpsearch.store.tables import HEARTBEATS, MODELS, TRIALS, USER_ATTRS, VALUES, snapshot


def studies_by_id(storage: RDBStorage) -> dict[int, FrozenStudy]:
    """Every study in the storage, by its id."""
    return {study._study_id: study for study in storage.get_all_studies()}


@dataclass
class Aggregates:
    """Per study id: trials by state name (diverged apart), best score, first and last times,
    the age in seconds of the freshest heartbeat of a RUNNING trial, and the retried
    attempts (see `_retried_counts`)."""

    counts: defaultdict[int, dict[str, int]]
    best: dict[int, tuple[float, float]]  # (highest, lowest)
    times: dict[int, tuple[datetime | None, datetime | None]]
    heartbeat_age: dict[int, float]
    retried: dict[int, int]


def aggregates(storage: RDBStorage, study_id: int | None = None) -> Aggregates:
    """Over every study, or the one `study_id` only."""
    only = sa.true() if study_id is None else TRIALS.c.study_id == study_id
    with snapshot(storage) as connection:
        counts, best = _counts_and_best(connection, only)
        return Aggregates(
            counts,
            best,
            _times(connection, only),
            _heartbeat_ages(connection, only),
            _retried_counts(connection, only),
        )


def _counts_and_best(
    connection: sa.Connection, only: sa.ColumnElement[bool]
) -> tuple[defaultdict[int, dict[str, int]], dict[int, tuple[float, float]]]:
    """Per study id: trials by state name, a finished trial that diverged as `diverged` only;
    and the highest and the lowest finite value of a finished trial that did not diverge
    (the best of a maximised and of a minimised objective). One scan of the trials, each
    one's value and `diverged` looked up by the (trial_id, key) index: not a scan of every
    attribute row (a dozen per trial)."""
    diverged = USER_ATTRS.alias("diverged")
    kept = (
        TRIALS.c.state.in_(FINISHED)
        & (VALUES.c.value_type == MODELS.TrialValueModel.TrialValueType.FINITE)
        & diverged.c.trial_id.is_(None)
    )
    value = sa.case((kept, VALUES.c.value))
    query = (
        sa.select(
            TRIALS.c.study_id,
            TRIALS.c.state,
            sa.func.count(),
            sa.func.count(diverged.c.trial_id),
            sa.func.max(value),
            sa.func.min(value),
        )
        .select_from(TRIALS)
        .outerjoin(VALUES, (VALUES.c.trial_id == TRIALS.c.trial_id) & (VALUES.c.objective == 0))
        .outerjoin(
            diverged,
            (diverged.c.trial_id == TRIALS.c.trial_id)
            & (diverged.c.key == "diverged")
            & (diverged.c.value_json == "true"),
        )
        .where(only)
        .group_by(TRIALS.c.study_id, TRIALS.c.state)
    )
    counts: defaultdict[int, dict[str, int]] = defaultdict(dict)
    extremes: defaultdict[int, list[float]] = defaultdict(list)
    for study_id, state, count, diverged_count, high, low in connection.execute(query):
        if state not in FINISHED:
            diverged_count = 0  # only a finished trial diverges
        counts[study_id][STATE_NAMES[state]] = count - diverged_count
        if diverged_count:
            counts[study_id]["diverged"] = counts[study_id].get("diverged", 0) + diverged_count
        extremes[study_id] += [v for v in (high, low) if v is not None]
    best = {sid: (max(values), min(values)) for sid, values in extremes.items() if values}
    return counts, best


def _times(
    connection: sa.Connection, only: sa.ColumnElement[bool]
) -> dict[int, tuple[datetime | None, datetime | None]]:
    rows = connection.execute(
        sa.select(
            TRIALS.c.study_id,
            sa.func.min(TRIALS.c.datetime_start),
            sa.func.max(TRIALS.c.datetime_start),
            sa.func.max(TRIALS.c.datetime_complete),
        )
        .where(only)
        .group_by(TRIALS.c.study_id)
    )
    return {
        sid: (first, max((t for t in (last_start, last_end) if t), default=None))
        for sid, first, last_start, last_end in rows
    }


def _heartbeat_ages(connection: sa.Connection, only: sa.ColumnElement[bool]) -> dict[int, float]:
    """Seconds since the freshest heartbeat of a RUNNING trial, by the database's own clock
    (Optuna writes heartbeats with the database's `now()`, as its stale-trial check reads)."""
    now = connection.execute(sa.select(sa.func.now())).scalar()
    rows = connection.execute(
        sa.select(TRIALS.c.study_id, sa.func.max(HEARTBEATS.c.heartbeat))
        .join(HEARTBEATS, HEARTBEATS.c.trial_id == TRIALS.c.trial_id)
        .where(TRIALS.c.state == TrialState.RUNNING, only)
        .group_by(TRIALS.c.study_id)
    )
    if now is None:
        return {}
    now = now.replace(tzinfo=None)
    return {
        sid: (now - beat.replace(tzinfo=None)).total_seconds()
        for sid, beat in rows
        if beat is not None
    }


RETRIED_REASONS = ("interrupted", "abandoned")  # not the trial's fault: its place runs again


def _retried_counts(connection: sa.Connection, only: sa.ColumnElement[bool]) -> dict[int, int]:
    """Per study: FAIL trials interrupted or abandoned whose place (round, index) has a later
    attempt. They are not failures of the search: the place was run again.

    Two reads that do not grow with a healthy study: the interrupted or abandoned trials
    (usually none: then nothing else is read), then the re-runs (trials of attempt 1 or more,
    a re-queued place's only trials) after the first of them.
    """
    reason = (  # a lookup per FAIL trial: a join would scan every attribute row for the key
        sa.select(USER_ATTRS.c.value_json)
        .where(USER_ATTRS.c.trial_id == TRIALS.c.trial_id, USER_ATTRS.c.key == "fail_reason")
        .scalar_subquery()
    )
    failed = _places(
        connection,
        sa.select(TRIALS.c.trial_id).where(
            TRIALS.c.state == TrialState.FAIL,
            only,
            reason.in_([json.dumps(r) for r in RETRIED_REASONS]),
        ),
    )
    if not failed:
        return {}
    attempt = USER_ATTRS.alias("attempt")
    reruns = (
        sa.select(TRIALS.c.trial_id)
        .join(attempt, (attempt.c.trial_id == TRIALS.c.trial_id) & (attempt.c.key == "attempt"))
        .where(
            TRIALS.c.study_id.in_({study for study, *_ in failed}),
            TRIALS.c.trial_id > min(trial_id for _, trial_id, *_ in failed),
            attempt.c.value_json != "0",
        )
    )
    last: dict[tuple[int, str, str], int] = {}
    for study, trial_id, round_, index in _places(connection, reruns):
        key = (study, round_, index)
        last[key] = max(last.get(key, trial_id), trial_id)
    counts: dict[int, int] = defaultdict(int)
    for study, trial_id, round_, index in failed:
        if last.get((study, round_, index), -1) > trial_id:
            counts[study] += 1
    return dict(counts)


def _places(connection: sa.Connection, ids: sa.Select) -> list[tuple[int, int, str, str]]:
    """(study id, trial id, round, index as stored JSON) of the trials `ids` selects."""
    round_, index = USER_ATTRS.alias("round_"), USER_ATTRS.alias("index_")
    query = (
        sa.select(TRIALS.c.study_id, TRIALS.c.trial_id, round_.c.value_json, index.c.value_json)
        .join(round_, (round_.c.trial_id == TRIALS.c.trial_id) & (round_.c.key == "round"))
        .join(index, (index.c.trial_id == TRIALS.c.trial_id) & (index.c.key == "index"))
        .where(TRIALS.c.trial_id.in_(ids.scalar_subquery()))
    )
    return [(int(s), int(t), str(r), str(i)) for s, t, r, i in connection.execute(query)]
