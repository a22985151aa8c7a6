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


def aggregates(storage: RDBStorage) -> Aggregates:
    with snapshot(storage) as connection:
        return Aggregates(
            _state_counts(connection),
            _best_values(connection),
            _times(connection),
            _heartbeat_ages(connection),
            _retried_counts(connection),
        )


def _diverged_ids() -> sa.Select:
    return sa.select(USER_ATTRS.c.trial_id).where(
        USER_ATTRS.c.key == "diverged", USER_ATTRS.c.value_json == "true"
    )


def _state_counts(connection: sa.Connection) -> defaultdict[int, dict[str, int]]:
    """Trials by state name per study, a finished trial that diverged as `diverged` only:
    the counts by state, less the diverged ones counted apart (two scans of the trials, not
    one lookup of an attribute per trial)."""
    result: defaultdict[int, dict[str, int]] = defaultdict(dict)
    by_state = sa.select(TRIALS.c.study_id, TRIALS.c.state, sa.func.count()).group_by(
        TRIALS.c.study_id, TRIALS.c.state
    )
    for study_id, state, count in connection.execute(by_state):
        result[study_id][STATE_NAMES[state]] = count
    diverged = (
        sa.select(TRIALS.c.study_id, TRIALS.c.state, sa.func.count())
        .join(USER_ATTRS, USER_ATTRS.c.trial_id == TRIALS.c.trial_id)
        .where(USER_ATTRS.c.key == "diverged", USER_ATTRS.c.value_json == "true")
        .where(TRIALS.c.state.in_(FINISHED))
        .group_by(TRIALS.c.study_id, TRIALS.c.state)
    )
    for study_id, state, count in connection.execute(diverged):
        counts = result[study_id]
        counts[STATE_NAMES[state]] -= count
        counts["diverged"] = counts.get("diverged", 0) + count
    return result


def _best_values(connection: sa.Connection) -> dict[int, tuple[float, float]]:
    """Per study id: the highest and the lowest finite value of a trial that did not diverge
    (the best of a maximised and of a minimised objective)."""
    rows = connection.execute(
        sa.select(TRIALS.c.study_id, sa.func.max(VALUES.c.value), sa.func.min(VALUES.c.value))
        .join(VALUES, VALUES.c.trial_id == TRIALS.c.trial_id)
        .where(
            TRIALS.c.state.in_(FINISHED),
            VALUES.c.objective == 0,
            VALUES.c.value_type == MODELS.TrialValueModel.TrialValueType.FINITE,
            TRIALS.c.trial_id.not_in(_diverged_ids()),
        )
        .group_by(TRIALS.c.study_id)
    )
    return {sid: (high, low) for sid, high, low in rows if high is not None}


def _times(connection: sa.Connection) -> dict[int, tuple[datetime | None, datetime | None]]:
    rows = connection.execute(
        sa.select(
            TRIALS.c.study_id,
            sa.func.min(TRIALS.c.datetime_start),
            sa.func.max(TRIALS.c.datetime_start),
            sa.func.max(TRIALS.c.datetime_complete),
        ).group_by(TRIALS.c.study_id)
    )
    return {
        sid: (first, max((t for t in (last_start, last_end) if t), default=None))
        for sid, first, last_start, last_end in rows
    }


def _heartbeat_ages(connection: sa.Connection) -> dict[int, float]:
    """Seconds since the freshest heartbeat of a RUNNING trial, by the database's own clock
    (Optuna writes heartbeats with the database's `now()`, as its stale-trial check reads)."""
    now = connection.execute(sa.select(sa.func.now())).scalar()
    rows = connection.execute(
        sa.select(TRIALS.c.study_id, sa.func.max(HEARTBEATS.c.heartbeat))
        .join(HEARTBEATS, HEARTBEATS.c.trial_id == TRIALS.c.trial_id)
        .where(TRIALS.c.state == TrialState.RUNNING)
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


def _retried_counts(connection: sa.Connection) -> dict[int, int]:
    """Per study: FAIL trials interrupted or abandoned whose place (round, index) has a later
    attempt. They are not failures of the search: the place was run again.

    Two reads that do not grow with a healthy study: the interrupted or abandoned trials
    (usually none: then nothing else is read), then the re-runs (trials of attempt 1 or more,
    a re-queued place's only trials) after the first of them.
    """
    reason = USER_ATTRS.alias("reason")
    failed = _places(
        connection,
        sa.select(TRIALS.c.trial_id)
        .join(reason, (reason.c.trial_id == TRIALS.c.trial_id) & (reason.c.key == "fail_reason"))
        .where(
            TRIALS.c.state == TrialState.FAIL,
            reason.c.value_json.in_([json.dumps(r) for r in RETRIED_REASONS]),
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
