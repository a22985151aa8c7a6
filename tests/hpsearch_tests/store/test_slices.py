"""Slices of a study by indexed keys: one round's trials, the best trials, on SQLite and
PostgreSQL, with other rounds and other studies in the same storage."""

from __future__ import annotations

import math
import random

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from hpsearch.run.worker import open_worker_storage
from hpsearch.store import slices, top
from hpsearch.store.reads import read_trials
from hpsearch.store.records import ranked
from hpsearch.view.queries import StudyData
from hpsearch.view.selection import list_trials, select_trials

LR = FloatDistribution(1e-4, 1e-1, log=True)


def add(
    study: optuna.Study, round_number: int, index: int, state: TrialState, **kw: object
) -> int:
    """A trial of `round_number` as hpsearch stores it; returns its number."""
    value = kw.pop("value", 0.5 if state in (TrialState.COMPLETE, TrialState.PRUNED) else None)
    if state == TrialState.PRUNED and value is not None:
        kw.setdefault("intermediate_values", {1: value})
    study.add_trial(
        optuna.trial.create_trial(
            state=state,
            value=value if state == TrialState.COMPLETE else None,
            params={"lr": 0.01},
            distributions={"lr": LR},
            user_attrs={"round": round_number, "index": index, "attempt": 0, **kw},  # type: ignore[dict-item]
        )
    )
    return study.trials[-1].number


def test_a_round_read_sees_exactly_its_rounds_trials(url: str) -> None:
    storage = open_worker_storage(url)
    mine = optuna.create_study(study_name="mine", storage=storage)
    other = optuna.create_study(study_name="other", storage=storage)
    mine_id, other_id = mine._study_id, other._study_id
    floors, expected = {}, {}
    for round_number in range(3):
        floors[round_number] = slices.next_trial_id(storage, mine_id)
        numbers = []
        for index in range(4):  # interleaved with the other study's trials of the same round
            numbers.append(add(mine, round_number, index, TrialState.COMPLETE))
            add(other, round_number, index, TrialState.COMPLETE)
        numbers.append(add(mine, round_number, 1, TrialState.FAIL, fail_reason="error"))
        numbers.append(add(mine, round_number, 1, TrialState.WAITING))
        expected[round_number] = numbers
    add(other, 1, 9, TrialState.WAITING)  # the other study, after every floor of mine
    for round_number, numbers in expected.items():
        trials = slices.read_round(storage, mine_id, round_number, floors[round_number])
        assert [t.number for t in trials] == numbers
        assert {t.user_attrs["round"] for t in trials} == {round_number}
        resumed = slices.round_floor(storage, mine_id, round_number)  # its first trial's id
        assert floors[round_number] <= resumed == trials[0]._trial_id
        # A floor of 0 (the whole study) gives the same trials: the floor only saves work.
        assert slices.read_round(storage, mine_id, round_number, 0) == trials
    reader = slices.RoundReader(storage, mine_id, 2, floors[2])
    assert reader.read() == slices.read_round(storage, mine_id, 2, floors[2])
    waiting = next(t for t in reader.read() if t.state == TrialState.WAITING)
    storage.set_trial_state_values(waiting._trial_id, TrialState.RUNNING)
    storage.set_trial_state_values(waiting._trial_id, TrialState.COMPLETE, [0.25])
    later = add(mine, 2, 4, TrialState.WAITING)  # queued after the reader's first reads
    polled = reader.read()  # re-reads only what was not settled
    assert polled == slices.read_round(storage, mine_id, 2, floors[2])
    assert [t.number for t in polled] == [*expected[2], later]
    assert next(t for t in polled if t.number == waiting.number).value == 0.25
    other_round = slices.read_round(storage, other_id, 1, 0)
    assert [t.user_attrs["index"] for t in other_round] == [0, 1, 2, 3, 9]
    assert slices.read_round(storage, mine_id, 3, slices.next_trial_id(storage, mine_id)) == []
    assert slices.round_floor(storage, mine_id, 3) == slices.next_trial_id(storage, mine_id)
    storage.engine.dispose()


def test_the_best_trials_come_in_the_order_of_ranked_and_of_the_listing(url: str) -> None:
    storage = open_worker_storage(url)
    study = optuna.create_study(study_name="ranks", storage=storage, direction="maximize")
    add(study, 0, 0, TrialState.COMPLETE, value=0.7)
    add(study, 0, 1, TrialState.COMPLETE, value=0.9)
    add(study, 0, 2, TrialState.COMPLETE, value=0.0, diverged=True)
    add(study, 0, 3, TrialState.FAIL, fail_reason="error")
    add(study, 0, 4, TrialState.COMPLETE, value=0.7)  # a tie with trial 0: trial order
    add(study, 0, 5, TrialState.PRUNED, value=0.8)
    add(study, 0, 6, TrialState.COMPLETE, value=0.0)  # 0.0 ranks above a diverged trial
    add(study, 0, 7, TrialState.RUNNING)
    add(study, 0, 8, TrialState.COMPLETE, value=0.9, diverged=True)
    add(study, 0, 9, TrialState.WAITING)
    add(study, 0, 10, TrialState.COMPLETE, value=0.9)
    study_id = study._study_id
    every = read_trials(storage, study_id)
    for limit in (1, 3, 20):
        ids = top.top_trial_ids(storage, study_id, limit)
        assert ids == [t._trial_id for t in ranked(every)][:limit]
        shown = slices.read_trial_ids(storage, study_id, ids)
        assert [t.number for t in shown] == [t.number for t in ranked(every)][:limit]
        listed = select_trials(StudyData("ranks", {}, every), top=limit)
        by_number = {t.number: t._trial_id for t in every}
        # the listing's top: the same, then unfinished trials (in trial order) to fill it
        assert [by_number[row["trial"]] for row in listed][: len(ids)] == ids
    assert slices.trial_count(storage, study_id) == 11
    assert slices.finished_places(storage, study_id) == 8  # indexes 0-2, 4-6, 8, 10
    storage.engine.dispose()


def test_ties_in_the_database_go_to_the_earlier_place_not_the_earlier_number(url: str) -> None:
    """A trial run again after a crash gets a new number but keeps its place (round, index):
    the best chosen in SQL must be the one `ranked` chooses, as after an undisturbed run."""
    storage = open_worker_storage(url)
    study = optuna.create_study(study_name="ties", storage=storage, direction="maximize")
    add(study, 1, 0, TrialState.COMPLETE, value=0.8)  # number 0, the latest place
    add(study, 0, 5, TrialState.COMPLETE, value=0.8)
    add(study, 0, 3, TrialState.COMPLETE, value=0.8)  # number 2, the earliest place
    add(study, 0, 4, TrialState.COMPLETE, value=0.5)
    study_id = study._study_id
    every = read_trials(storage, study_id)
    by_number = {t.number: t._trial_id for t in every}
    for limit in (1, 2, 3, 4):
        expected = [by_number[n] for n in (2, 1, 0, 3)[:limit]]
        assert top.top_trial_ids(storage, study_id, limit) == expected
        assert [t._trial_id for t in ranked(every)][:limit] == expected
        listed = select_trials(StudyData("ties", {}, every), top=limit)
        assert [by_number[row["trial"]] for row in listed] == expected
    storage.engine.dispose()


def test_every_best_of_a_schedule_ranks_more_epochs_first(url: str) -> None:
    # the listing's full read lacked the `epochs` attribute: with --state (or while trials
    # still run) a 5-epoch 0.91 was listed above the 50-epoch 0.89 that `best` reports
    storage = open_worker_storage(url)
    study = optuna.create_study(study_name="sched", storage=storage, direction="maximize")
    short = add(study, 0, 0, TrialState.COMPLETE, value=0.91, epochs=5)
    long = add(study, 1, 0, TrialState.COMPLETE, value=0.89, epochs=50)
    for state in (None, "complete"):
        _, rows, _ = list_trials(storage, "sched", top=2, state=state)
        assert [row["trial"] for row in rows] == [long, short]
    storage.engine.dispose()


def test_the_database_ranks_every_kind_of_study_as_ranked_does(url: str) -> None:
    """Random studies of both directions, with ties, pruned and failed trials, diverged ones
    (some with the best stored values: the database's first, cheaper order must not keep
    them) and, with a schedule, several epoch counts: every cut of `top_trial_ids` is
    `ranked`'s, the Python reference."""
    rng = random.Random(5)
    storage = open_worker_storage(url)
    states = [TrialState.COMPLETE] * 6 + [TrialState.PRUNED, TrialState.FAIL]
    for case in range(6):
        maximize, schedule = case % 2 == 0, case >= 4
        study = optuna.create_study(
            study_name=f"random{case}",
            storage=storage,
            direction="maximize" if maximize else "minimize",
        )
        for index in range(30):
            state = rng.choice(states)
            attrs: dict[str, object] = {}
            value: float | None = rng.choice([0.25, 0.5, 0.75, 1.0])  # ties in plenty
            if state == TrialState.FAIL:
                value = None
            elif rng.random() < 0.25:
                attrs["diverged"] = True
                if not maximize and rng.random() < 0.5:
                    value = math.inf  # how a diverged loss is stored
            if schedule:
                attrs["epochs"] = rng.choice([2, 4, 8])
            add(study, rng.randrange(3), index, state, value=value, **attrs)
        study_id = study._study_id
        expected = [t._trial_id for t in ranked(read_trials(storage, study_id), maximize)]
        for limit in (1, 2, 3, 5, 8, 13, 30):
            found = top.top_trial_ids(storage, study_id, limit, maximize)
            assert found == expected[:limit], (case, limit)
    storage.engine.dispose()
