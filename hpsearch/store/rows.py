"""A study's trials as their stored rows, a batch at a time, for `hpsearch export`.

`read_trials` parses every user attribute into Python values for `FrozenTrial`. A writer of
text (CSV) would then format each number again: at 100,000 trials of 10 epochs that is three
million floats parsed and three million formatted, the better part of the export's time. Here
the user attributes stay the JSON text Optuna stored (`json.dumps`, whose numbers are Python's
`repr`, the text `str` gives), and only the rows the export needs are read: the trials with
their objective value, their parameters, one row of attributes per trial (pivoted in SQL) and
the intermediate values.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from optuna.distributions import BaseDistribution, json_to_distribution
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from hpsearch.store.tables import (
    INTERMEDIATE,
    MODELS,
    PARAMS,
    TRIALS,
    USER_ATTRS,
    VALUES,
    plain_rows,
    snapshot,
)


@dataclass(slots=True)
class TrialRows:
    """One trial as stored: `attrs` maps each user attribute asked for that the trial has to
    its JSON text; `intermediate` holds the intermediate values in step order."""

    trial_id: int
    number: int
    state: TrialState
    value: float | None
    datetime_start: datetime | None
    datetime_complete: datetime | None
    params: dict[str, Any] = field(default_factory=dict)
    attrs: dict[str, str] = field(default_factory=dict)
    intermediate: list[float] = field(default_factory=list)


def iter_trial_rows(
    storage: RDBStorage, study_id: int, keys: Collection[str], *, batch: int = 2000
) -> Iterator[TrialRows]:
    """Every trial of the study in number order with the user attributes `keys`, `batch` at
    a time (memory flat in the size of the study). Each batch is read in one transaction: a
    trial is never seen half written, but a study being written may change between two
    batches."""
    keys = list(keys)
    after = -1
    while True:
        with snapshot(storage) as connection:
            next_ids = (
                sa.select(TRIALS.c.trial_id)
                .where(TRIALS.c.study_id == study_id, TRIALS.c.trial_id > after)
                .order_by(TRIALS.c.trial_id)
                .limit(batch)
            )
            ids = list(connection.execute(next_ids).scalars())
            if not ids:
                return
            trials = _read_batch(connection, study_id, (after, ids[-1]), keys)
        yield from trials  # out of the transaction: the reader may take its time
        after = ids[-1]


Span = tuple[int, int]  # trial ids: after the first, up to the second


def _within(column: sa.ColumnElement[int], span: Span) -> tuple[Any, Any]:
    """`column` (a trial id) in `span`: one index range, whatever the table."""
    return column > span[0], column <= span[1]


def _read_batch(
    connection: sa.Connection, study_id: int, span: Span, keys: list[str]
) -> list[TrialRows]:
    """The trials of the study with ids in `span`, in number order. The other tables are
    read by the same range of ids, which may hold trials of other studies: left out."""
    columns = [TRIALS.c.trial_id, TRIALS.c.number, TRIALS.c.state]
    columns += [VALUES.c.value, VALUES.c.value_type]
    columns += [TRIALS.c.datetime_start, TRIALS.c.datetime_complete]
    query = (
        sa.select(*columns)
        .select_from(TRIALS)
        .outerjoin(VALUES, (VALUES.c.trial_id == TRIALS.c.trial_id) & (VALUES.c.objective == 0))
        .where(TRIALS.c.study_id == study_id, *_within(TRIALS.c.trial_id, span))
        .order_by(TRIALS.c.number)
    )
    convert = MODELS.TrialValueModel.stored_repr_to_value
    finite = MODELS.TrialValueModel.TrialValueType.FINITE
    trials = [
        TrialRows(trial_id, number, state,
                  value if kind is finite or kind is None else convert(value, kind), start, end)
        for trial_id, number, state, value, kind, start, end in connection.execute(query)
    ]  # fmt: skip
    by_id = {trial.trial_id: trial for trial in trials}
    _add_params(connection, span, by_id)
    if keys:
        _add_attrs(connection, span, keys, by_id)
    _add_intermediate(connection, span, by_id)
    return trials


def _add_params(connection: sa.Connection, span: Span, by_id: dict[int, TrialRows]) -> None:
    columns = (PARAMS.c.trial_id, PARAMS.c.param_name, PARAMS.c.param_value)
    query = sa.select(*columns, PARAMS.c.distribution_json)
    query = query.where(*_within(PARAMS.c.trial_id, span)).order_by(PARAMS.c.param_id)
    known: dict[str, BaseDistribution] = {}  # a study's trials share a few distributions
    for trial_id, name, value, text in plain_rows(connection, query):
        dist = known.get(text) or known.setdefault(text, json_to_distribution(text))
        if trial_id in by_id:
            by_id[trial_id].params[name] = dist.to_external_repr(value)


def _add_attrs(
    connection: sa.Connection, span: Span, keys: list[str], by_id: dict[int, TrialRows]
) -> None:
    query = sa.select(USER_ATTRS.c.trial_id, USER_ATTRS.c.key, USER_ATTRS.c.value_json)
    query = query.where(*_within(USER_ATTRS.c.trial_id, span), USER_ATTRS.c.key.in_(keys))
    # Rows come grouped by trial in any database's plan but are not ordered (a sort would
    # cost): a trial's attributes split over two groups still all land in its dict.
    for trial_id, group in groupby(plain_rows(connection, query), itemgetter(0)):
        if trial_id in by_id:
            by_id[trial_id].attrs.update((key, text) for _, key, text in group)


def _add_intermediate(connection: sa.Connection, span: Span, by_id: dict[int, TrialRows]) -> None:
    query = sa.select(
        INTERMEDIATE.c.trial_id,
        INTERMEDIATE.c.intermediate_value,
        INTERMEDIATE.c.intermediate_value_type,
    ).where(*_within(INTERMEDIATE.c.trial_id, span))
    query = query.order_by(INTERMEDIATE.c.trial_id, INTERMEDIATE.c.step)
    convert = MODELS.TrialIntermediateValueModel.stored_repr_to_intermediate_value
    kinds = MODELS.TrialIntermediateValueModel.TrialIntermediateValueType
    for trial_id, group in groupby(plain_rows(connection, query), itemgetter(0)):
        if trial_id in by_id:  # `kind`: its name
            by_id[trial_id].intermediate = [
                value if kind == "FINITE" else convert(value, kinds[kind])
                for _, value, kind in group
            ]
