"""The best trials, ordered and cut in the database in the order of `records.ranked`, so
that `show`, `best`, `trials --top` and the test step load only the rows they show."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from hpsearch.store.records import FINISHED
from hpsearch.store.slices import _attr_is, _value, _with_value
from hpsearch.store.tables import TRIALS, USER_ATTRS, snapshot

WORST = -1.7976931348623157e308  # below every negated loss, -1e308 (a stored +inf) included


def top_trial_ids(
    storage: RDBStorage, study_id: int, limit: int, maximize: bool = True
) -> list[int]:
    """The ids of the `limit` best finished trials, in the order of `records.ranked`: pruned
    last, then more epochs first, then by score (a diverged trial or one without a value
    below every accuracy, or every loss), then place. `maximize`: the objective's direction
    (a loss is ranked by its negation, so that higher is better in both)."""
    value = _value() if maximize else -_value()
    worst = sa.literal(-1.0 if maximize else WORST)
    bound = sa.case((_value().is_(None), worst), else_=value)  # the score unless it diverged
    rank = sa.case((_attr_is("diverged", True), worst), else_=bound)
    kept = sa.case((TRIALS.c.state == TrialState.PRUNED, 0), else_=1)
    epochs = sa.func.coalesce(_int_attr("epochs"), 0)
    where = (TRIALS.c.study_id == study_id, TRIALS.c.state.in_(FINISHED))
    return _best_by_place(storage, [kept, epochs, rank], [kept, epochs, bound], where, limit)


def _int_attr(key: str) -> sa.ScalarSelect[Any]:
    """The trial's (of the outer query) integer user attribute `key`; NULL where unset."""
    return (
        sa.select(sa.cast(USER_ATTRS.c.value_json, sa.Integer))
        .where(USER_ATTRS.c.trial_id == TRIALS.c.trial_id, USER_ATTRS.c.key == key)
        .scalar_subquery()
    )


def _best_by_place(
    storage: RDBStorage,
    keys: list[sa.ColumnElement[Any]],
    bounds: list[sa.ColumnElement[Any]],
    where: tuple[Any, ...],
    limit: int,
) -> list[int]:
    """The ids of the `limit` trials highest in `keys` (compared in turn), ties broken by
    place (round, index) as `records.place` breaks them.

    The database orders by `bounds` first: never below `keys`, equal to them for a trial
    that did not diverge, and cheaper (no lookup of `diverged` for every trial). When none of
    the `limit` + 1 it puts first diverged, they are the first in `keys` too (every other
    trial is at most the last of them in `bounds`, so in `keys`); otherwise the database
    orders by `keys`. When the one past the cut ties with the last one kept, every trial
    tied with it is read too (a second scan), and the ties are ordered here by their places.
    """
    if limit <= 0:
        return []
    with snapshot(storage) as connection:
        found = _ordered(connection, bounds, where, limit + 1)
        if _diverged(connection, [row.trial_id for row in found]):
            found = _ordered(connection, keys, where, limit + 1)
        rows = {row.trial_id: row for row in found[:limit]}
        if len(found) > limit and found[limit][2:] == found[limit - 1][2:]:
            last = found[limit - 1][2:]
            tied = _query(keys).where(
                *where, *(key == value for key, value in zip(keys, last, strict=True))
            )
            rows |= {row.trial_id: row for row in connection.execute(tied)}
        places = _places(connection, list(rows))
    unplaced = (float("inf"), float("inf"))

    def order(row: Any) -> tuple[Any, ...]:
        return (*(-value for value in row[2:]), places.get(row.trial_id, unplaced), row.number)

    return [int(row.trial_id) for row in sorted(rows.values(), key=order)[:limit]]


def _query(keys: list[sa.ColumnElement[Any]]) -> sa.Select:
    labelled = [key.label(f"key{i}") for i, key in enumerate(keys)]
    return _with_value(sa.select(TRIALS.c.trial_id, TRIALS.c.number, *labelled))


def _ordered(
    connection: sa.Connection, keys: list[sa.ColumnElement[Any]], where: tuple[Any, ...], n: int
) -> list[Any]:
    """The first `n` trials by `keys`, then number."""
    query = _query(keys).where(*where).order_by(*(key.desc() for key in keys), TRIALS.c.number)
    return list(connection.execute(query.limit(n)))


def _diverged(connection: sa.Connection, ids: list[int]) -> bool:
    """Whether any of the trials `ids` diverged."""
    query = sa.select(sa.func.count()).where(
        USER_ATTRS.c.trial_id.in_(ids),
        USER_ATTRS.c.key == "diverged",
        USER_ATTRS.c.value_json == "true",
    )
    return bool(ids) and bool(connection.execute(query).scalar())


def _places(connection: sa.Connection, ids: list[int]) -> dict[int, tuple[float, float]]:
    """(round, index) of each trial in `ids` that has both."""
    found: dict[int, dict[str, int]] = {}
    query = sa.select(USER_ATTRS.c.trial_id, USER_ATTRS.c.key, USER_ATTRS.c.value_json).where(
        USER_ATTRS.c.trial_id.in_(ids), USER_ATTRS.c.key.in_(("round", "index"))
    )
    for trial_id, key, text in connection.execute(query):
        found.setdefault(trial_id, {})[key] = json.loads(text)
    return {t: (p["round"], p["index"]) for t, p in found.items() if len(p) == 2}
