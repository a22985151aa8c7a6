"""Slices of a study read by indexed keys, so that their cost does not grow with the study.

Optuna's schema indexes a trial by its id (the primary key), its study (`study_id`) and, for
each attribute or value, by `(trial_id, key)`; nothing indexes `number`, `state` or an
attribute's value. So a round is found by a range of trial ids: trial ids only grow (Optuna
numbers a study's trials in id order), and a round's trials are all created after its record
is written and before the next round's, so every trial of round r has an id at least the
round's *floor*, the study's next trial id when round r began. The round's trials are then
the study's trials from the floor on whose `round` attribute is r: an index range on the
trials and one `(trial_id, key)` probe per trial of the round, nothing of the earlier rounds.

The best trials are ordered and cut in the database (`store.top`), in the order of
`records.ranked` (or of the `trials` listing), so that only the rows shown are loaded.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from hpsearch.store.reads import read_trials
from hpsearch.store.records import FINISHED
from hpsearch.store.tables import MODELS, PARAMS, TRIALS, USER_ATTRS, VALUES, snapshot

# A round's follow needs these attributes (places, retries, scores, the first error of a
# round that failed whole); never the curves.
# With a schedule, also what ranks a trial and counts its epochs (`epochs`, `epochs_run`).
ROUND_ATTRS: tuple[str, ...] = (
    "round",
    "index",
    "attempt",
    "seed",
    "fail_reason",
    "error",
    "diverged",
)
ROUND_ATTRS += ("epochs", "epochs_run", "pruned_at")
_TYPES = MODELS.TrialValueModel.TrialValueType


def next_trial_id(storage: RDBStorage, study_id: int) -> int:
    """One more than the study's largest trial id (0 for a study without trials).

    Every trial the study gets from now on has an id at least this: ids grow, and a deleted
    study's trials (the only rows Optuna deletes) are not this study's. One index lookup.
    """
    with snapshot(storage) as connection:
        largest = connection.execute(
            sa.select(sa.func.max(TRIALS.c.trial_id)).where(TRIALS.c.study_id == study_id)
        ).scalar()
    return 0 if largest is None else int(largest) + 1


def study_user_attr(storage: RDBStorage, study_id: int, key: str) -> Any:
    """One user attribute of the study (None if unset), without reading the others: a
    study's round records grow with its rounds, and idle workers ask this every poll."""
    table = MODELS.StudyUserAttributeModel.__table__
    with snapshot(storage) as connection:
        text = connection.execute(
            sa.select(table.c.value_json).where(table.c.study_id == study_id, table.c.key == key)
        ).scalar()
    return None if text is None else json.loads(text)


def waiting_from(storage: RDBStorage, study_id: int, floor: int) -> bool:
    """Whether a trial of the study of id `floor` or more waits (a read, no lock)."""
    query = sa.select(TRIALS.c.trial_id).where(
        TRIALS.c.study_id == study_id,
        TRIALS.c.trial_id >= floor,
        TRIALS.c.state == TrialState.WAITING,
    )
    with snapshot(storage) as connection:
        return connection.execute(query.limit(1)).first() is not None


def _attr_is(key: str, value: object) -> sa.Exists:
    """The trial (of the outer query) has the user attribute `key` equal to `value`."""
    return (
        sa.select(USER_ATTRS.c.trial_id)
        .where(
            USER_ATTRS.c.trial_id == TRIALS.c.trial_id,
            USER_ATTRS.c.key == key,
            USER_ATTRS.c.value_json == json.dumps(value),
        )
        .exists()
    )


def round_floor(storage: RDBStorage, study_id: int, round_number: int) -> int:
    """The smallest trial id of round `round_number`, or `next_trial_id` if it has none yet.

    For a coordinator that resumes a round: this reads the `round` attribute of every trial
    of the study once (one probe per trial). A round started by this coordinator knows its
    floor (`next_trial_id` before its first trial is queued) and never calls this.
    """
    with snapshot(storage) as connection:
        smallest = connection.execute(
            sa.select(sa.func.min(TRIALS.c.trial_id)).where(
                TRIALS.c.study_id == study_id, _attr_is("round", round_number)
            )
        ).scalar()
    return next_trial_id(storage, study_id) if smallest is None else int(smallest)


def read_round(
    storage: RDBStorage, study_id: int, round_number: int, floor: int
) -> list[FrozenTrial]:
    """The trials of round `round_number` (all of them, every attempt), in number order.

    `floor` is the round's floor (see the module's docstring): no trial of the round has a
    smaller id. Trials of other rounds and of other studies are left out; curves are not read.
    """
    query = sa.select(TRIALS.c.trial_id).where(
        TRIALS.c.study_id == study_id, TRIALS.c.trial_id >= floor, _attr_is("round", round_number)
    )
    with snapshot(storage) as connection:  # once, not in each of read_trials' six queries
        ids = list(connection.execute(query).scalars())
    if not ids:
        return []
    return read_trials(storage, study_id, attrs=ROUND_ATTRS, where=[TRIALS.c.trial_id.in_(ids)])


_SETTLED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass
class RoundReader:
    """`read_round` for a coordinator that polls the round: a trial once seen finished or
    failed never changes again (Optuna refuses updates to it; hpsearch writes a failed
    trial's reason before its state), so each poll reads again only the round's trial ids
    (one index range) and the trials not yet seen settled."""

    storage: RDBStorage
    study_id: int
    round_number: int
    floor: int
    settled: dict[int, FrozenTrial] = field(default_factory=dict)

    def read(self) -> list[FrozenTrial]:
        """The trials of the round (every attempt), in number order."""
        query = sa.select(TRIALS.c.trial_id).where(
            TRIALS.c.study_id == self.study_id,
            TRIALS.c.trial_id >= self.floor,
            _attr_is("round", self.round_number),
        )
        with snapshot(self.storage) as connection:
            ids = list(connection.execute(query.order_by(TRIALS.c.trial_id)).scalars())
        unsettled = [i for i in ids if i not in self.settled]
        fresh = read_trial_ids(self.storage, self.study_id, unsettled, attrs=ROUND_ATTRS)
        by_id = {t._trial_id: t for t in fresh}
        self.settled.update({i: t for i, t in by_id.items() if t.state in _SETTLED_STATES})
        return [self.settled.get(i) or by_id[i] for i in ids if i in self.settled or i in by_id]


def read_trial_ids(
    storage: RDBStorage,
    study_id: int,
    trial_ids: list[int],
    *,
    curves: bool = False,
    attrs: Collection[str] | None = None,
) -> list[FrozenTrial]:
    """The trials `trial_ids` of the study, in the order given (`attrs`: see read_trials)."""
    if not trial_ids:
        return []
    where = [TRIALS.c.trial_id.in_(trial_ids)]
    read = read_trials(storage, study_id, curves=curves, attrs=attrs, where=where)
    by_id = {t._trial_id: t for t in read}
    return [by_id[i] for i in trial_ids if i in by_id]


def param_names(storage: RDBStorage, study_id: int) -> list[str]:
    """The names of the parameters of the study's trials, sorted: one aggregate query."""
    query = (
        sa.select(PARAMS.c.param_name)
        .join(TRIALS, TRIALS.c.trial_id == PARAMS.c.trial_id)
        .where(TRIALS.c.study_id == study_id)
        .distinct()
    )
    with snapshot(storage) as connection:
        return sorted(connection.execute(query).scalars())


def _value() -> sa.ColumnElement[float]:
    """The stored objective as a sortable number: infinities as +-1e308 (stored as NULL)."""
    return sa.case(
        (VALUES.c.value_type == _TYPES.INF_POS, sa.literal(1e308)),
        (VALUES.c.value_type == _TYPES.INF_NEG, sa.literal(-1e308)),
        else_=VALUES.c.value,
    )


def _with_value(query: sa.Select) -> sa.Select:
    return query.select_from(TRIALS).outerjoin(
        VALUES, (VALUES.c.trial_id == TRIALS.c.trial_id) & (VALUES.c.objective == 0)
    )


def trial_count(storage: RDBStorage, study_id: int) -> int:
    with snapshot(storage) as connection:
        query = sa.select(sa.func.count()).where(TRIALS.c.study_id == study_id)
        return int(connection.execute(query).scalar() or 0)


def finished_places(storage: RDBStorage, study_id: int) -> int:
    """How many (round, index) places have a finished trial: one aggregate, no trial loaded."""
    place = [USER_ATTRS.alias(key) for key in ("round_attr", "index_attr")]
    query = sa.select(place[0].c.value_json, place[1].c.value_json).select_from(TRIALS)
    for alias, key in zip(place, ("round", "index"), strict=True):
        query = query.join(alias, (alias.c.trial_id == TRIALS.c.trial_id) & (alias.c.key == key))
    query = query.where(TRIALS.c.study_id == study_id, TRIALS.c.state.in_(FINISHED)).distinct()
    with snapshot(storage) as connection:
        counted = sa.select(sa.func.count()).select_from(query.subquery())
        return int(connection.execute(counted).scalar() or 0)
