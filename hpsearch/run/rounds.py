"""A round's plan and its queue: ranges from the finished round before, one waiting trial per
place that has none.

Both are idempotent: the plan is computed from the study seed, the round number and the
finished trials of earlier rounds only, and only places without a live or finished trial are
queued, so a coordinator killed at any point and started again does the same.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from hpsearch.store.enqueue import Waiting, add_waiting_trials
from hpsearch.store.records import (
    FINISHED,
    FIXED_PARAMS_KEY,
    RoundRecord,
    finished_by_index,
    goodness,
    round_trials,
    score,
)
from hpsearch.study.narrowing import RULE, Outcome, narrow
from hpsearch.study.schedule import round_epochs, thresholds
from hpsearch.study.space import distributions, initial_ranges, trial_seed
from hpsearch.study.spec import StudySpec

GIVE_UP_REASONS = ("error", "abandoned")  # failures that count against `retries`

# Fault injection for the crash tests: SIGKILL the coordinator at a named point of its work.
FAULT_ENV = "HPSEARCH_FAULT"


def fault_point(name: str) -> None:
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def plan_round(
    study: optuna.Study,
    spec: StudySpec,
    round_number: int,
    records: dict[int, RoundRecord],
    previous_trials: list[FrozenTrial],
) -> RoundRecord:
    """The record of round `round_number`, from the trials of the round before
    (`previous_trials`, every attempt; empty for round 0)."""
    settings = spec.narrowing.__dict__.copy()
    if round_number == 0:
        record = RoundRecord(0, initial_ranges(spec), RULE, settings, "the file's ranges")
    else:
        previous = records[round_number - 1]
        trials = finished_by_index(previous_trials).values()
        outcomes = [
            Outcome(
                t.number,
                t.params,
                goodness(t, spec.maximize),
                int(t.user_attrs["index"]),
                pruned(t),
            )
            for t in trials
        ]
        streaks = _streaks(records, round_number)
        decision = narrow(
            spec.params,
            previous.ranges,
            outcomes,
            spec.narrowing,
            streaks,
            lowered=spec.lower_when_diverged,
        )
        fault_point("narrow")
        record = RoundRecord(
            round_number,
            decision.ranges,
            RULE,
            settings,
            decision.reason,
            crowded=decision.crowded,
            source_trials=list(decision.top_trials),
        )
    record.epochs, record.sampler = round_epochs(spec, round_number), spec.sampler
    limits = thresholds(
        spec, round_number, _references(study, round_number) if spec.pruning else []
    )
    record.pruning = {str(epoch): limit for epoch, limit in limits.items()}
    return record


def pruned(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.PRUNED


def _references(study: optuna.Study, round_number: int) -> list[dict[int, float]]:
    """The validation curves of every completed trial of the earlier rounds: what a pruned
    study's thresholds are computed from (read once per round, and only when it prunes)."""
    every = study.get_trials(deepcopy=False)
    return [
        dict(t.intermediate_values)
        for r in range(round_number)
        for t in finished_by_index(round_trials(every, r)).values()
        if t.state == TrialState.COMPLETE and score(t) is not None
    ]


def enqueue_missing(
    storage: RDBStorage,
    study_id: int,
    spec: StudySpec,
    record: RoundRecord,
    params: list[dict[str, Any]],
    trials: list[FrozenTrial],
) -> bool:
    """Queue every place of the round with no live or finished trial; True if all settled.

    A queued trial carries its parameters with the round's distributions (Optuna's params,
    as Optuna's tools show them) as well as Optuna's `fixed_params`: its worker then has
    nothing to write before training. The round's missing places are queued in one
    transaction (`store.enqueue`).

    A place is settled when it has a finished trial, or when its trials failed more than
    `retries` times, with an error or abandoned by a worker that died (OOM-killed at the same
    epoch every time, say). Trials interrupted by SIGINT/SIGTERM are always run again.
    """
    by_index: dict[int, list[FrozenTrial]] = {}
    for trial in trials:
        by_index.setdefault(int(trial.user_attrs["index"]), []).append(trial)
    settled, dists = True, distributions(spec.params, record.ranges)
    queue: list[Waiting] = []
    for index, values in enumerate(params):
        attempts = by_index.get(index, [])
        if any(t.state in FINISHED for t in attempts):
            continue
        errors = sum(t.user_attrs.get("fail_reason") in GIVE_UP_REASONS for t in attempts)
        if errors > spec.retries:
            continue
        settled = False
        if any(t.state in (TrialState.WAITING, TrialState.RUNNING) for t in attempts):
            continue
        queue.append(
            Waiting(
                params=values,
                distributions=dists,
                system_attrs={FIXED_PARAMS_KEY: values},
                user_attrs={
                    "round": record.number,
                    "index": index,
                    "attempt": len(attempts),
                    "seed": trial_seed(spec.seed, record.number, index),
                    **_fidelity(spec, record),
                },
            )
        )
    add_waiting_trials(storage, study_id, queue)
    if record.number == 1 and queue:
        fault_point("enqueue")
    return settled


def _streaks(records: dict[int, RoundRecord], round_number: int) -> dict[str, tuple[str, int]]:
    """Per parameter, the edge crossed into round `round_number - 1` and in how many rounds in
    a row before it (narrowing's `growth`)."""
    result: dict[str, tuple[str, int]] = {}
    for name, edge in records[round_number - 1].crowded.items():
        count, number = 0, round_number - 1
        while number in records and records[number].crowded.get(name) == edge:
            count, number = count + 1, number - 1
        result[name] = (edge, count)
    return result


def _fidelity(spec: StudySpec, record: RoundRecord) -> dict[str, Any]:
    """What a queued trial carries of its round's plan: its epochs (with a schedule) and its
    pruning thresholds, so the worker that trains it needs nothing else."""
    extra: dict[str, Any] = {}
    if spec.round_epochs:
        extra["epochs"] = record.epochs
    if record.pruning:
        extra["prune_at"] = record.pruning
    return extra
