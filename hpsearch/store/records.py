"""What hpsearch keeps in an Optuna study beyond Optuna's own columns, and how it reads it back.

Study user attributes: the study file (`hpsearch:spec`), one record per round
(`hpsearch:round:<r>`), the split's sizes (`hpsearch:split`), with `[search.final]` each top
trial's re-evaluations (`hpsearch:reeval:<round>:<index>`) and the choice among them
(`hpsearch:final`), the final test-set score (`hpsearch:test`) and a completion mark; the
coordinator's lock is a study system attribute (`hpsearch:coordinator`).
Trial user attributes: `round`, `index` (place in the round), `attempt` and `seed` from
enqueueing; the curves and flags of the trainer's History from finishing. Trial system
attributes: the parameters it was enqueued with (Optuna's `fixed_params`) and its worker
(`hpsearch:worker`).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpsearch.study.space import Ranges, ranges_from_dict, ranges_to_dict
from hpsearch.study.spec import StudySpec

SPEC_KEY = "hpsearch:spec"
ROUND_PREFIX = "hpsearch:round:"
TEST_KEY = "hpsearch:test"
FINAL_KEY = "hpsearch:final"  # the noise-aware choice: per-configuration means, the chosen one
REEVAL_PREFIX = "hpsearch:reeval:"  # + "<round>:<index>": one top trial's re-evaluations
SPLIT_KEY = "hpsearch:split"  # {"train": n, "val": n, "test": n}: what intervals are out of
DATA_KEY = "hpsearch:dataset_sha256"  # a path dataset's content: recognised when it moves
COMPLETE_KEY = "hpsearch:complete"
LOCK_KEY = "hpsearch:coordinator"
WORKER_KEY = "hpsearch:worker"
FIXED_PARAMS_KEY = "fixed_params"  # Optuna's: a queued trial's parameters
CURVE_KEYS = ("train_accuracy", "train_loss", "val_loss")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass
class RoundRecord:
    """One round: its ranges and how they were chosen; its results once it is done."""

    number: int
    ranges: Ranges
    rule: str
    settings: dict[str, Any]
    reason: str
    crowded: dict[str, str] = field(default_factory=dict)
    source_trials: list[int] = field(default_factory=list)
    trial_numbers: list[int] = field(default_factory=list)
    best: float | None = None
    median: float | None = None
    done: bool = False
    epochs: int | None = None  # what each trial of the round trains (few epochs first)
    sampler: str = "random"  # who proposed the round's parameter sets
    pruning: dict[str, float] = field(default_factory=dict)  # {epoch: threshold}, when planned
    epochs_spent: int | None = None  # epochs its finished trials trained, pruned ones included
    pruned: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ranges": ranges_to_dict(self.ranges)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoundRecord:
        return cls(**{**data, "ranges": ranges_from_dict(data["ranges"])})


def read_spec(study: optuna.Study) -> StudySpec:
    return StudySpec.from_dict(study.user_attrs[SPEC_KEY])


def read_rounds(user_attrs: dict[str, Any]) -> list[RoundRecord]:
    """Round records in order, from a study's user attributes."""
    records = [
        RoundRecord.from_dict(v) for k, v in user_attrs.items() if k.startswith(ROUND_PREFIX)
    ]
    return sorted(records, key=lambda r: r.number)


def write_round(study: optuna.Study, record: RoundRecord) -> None:
    study.set_user_attr(f"{ROUND_PREFIX}{record.number}", record.to_dict())


def is_diverged(trial: FrozenTrial) -> bool:
    return bool(trial.user_attrs.get("diverged", False))


def score(trial: FrozenTrial) -> float | None:
    """The objective's value that ranks a trial (the validation accuracy, or loss, as the
    study file says); None for diverged or unfinished ones."""
    if trial.state not in FINISHED or is_diverged(trial) or trial.value is None:
        return None
    return float(trial.value)


def goodness(trial: FrozenTrial, maximize: bool = True) -> float | None:
    """`score`, signed so that higher is better whatever the objective's direction."""
    value = score(trial)
    return value if value is None or maximize else -value


def val_accuracy(trial: FrozenTrial) -> float | None:
    """The trial's final validation accuracy, whatever its objective: a study that minimises
    the validation loss keeps the accuracy curve as the user attribute `val_accuracy`."""
    curve = trial.user_attrs.get("val_accuracy")
    if curve is not None:
        return float(curve[-1]) if curve else None
    return None if trial.value is None else float(trial.value)


def val_accuracy_curve(trial: FrozenTrial) -> list[float]:
    """The per-epoch validation accuracy (Optuna's intermediate values, unless the objective
    is another curve)."""
    curve = trial.user_attrs.get("val_accuracy")
    if curve is not None:
        return [float(v) for v in curve]
    return [trial.intermediate_values[s] for s in sorted(trial.intermediate_values)]


def round_trials(trials: list[FrozenTrial], round_number: int) -> list[FrozenTrial]:
    return [t for t in trials if t.user_attrs.get("round") == round_number]


def finished_by_index(trials: list[FrozenTrial]) -> dict[int, FrozenTrial]:
    """The finished trial of each index of a round (the first, should a retry also finish)."""
    result: dict[int, FrozenTrial] = {}
    for trial in sorted(trials, key=lambda t: t.number):
        if trial.state in FINISHED:
            result.setdefault(int(trial.user_attrs["index"]), trial)
    return result


def summarize(
    record: RoundRecord, trials: list[FrozenTrial], maximize: bool = True
) -> RoundRecord:
    """The record with the round's finished trial numbers, best and median score filled in
    (for a loss: the lowest and the median of the trials that did not diverge)."""
    finished = sorted(finished_by_index(trials).values(), key=lambda t: t.number)
    if maximize:
        scores = [score(t) or 0.0 for t in finished]
    else:
        scores = [v for v in (score(t) for t in finished) if v is not None]
    record.trial_numbers = [t.number for t in finished]
    record.best = (max(scores) if maximize else min(scores)) if scores else None
    record.median = statistics.median(scores) if scores else None
    record.epochs_spent = sum(int(t.user_attrs.get("epochs_run", 0)) for t in finished)
    record.pruned = sum(t.state == TrialState.PRUNED for t in finished)
    return record


def place(trial: FrozenTrial) -> tuple[float, float, int]:
    """Where a trial stands in the study: (round, index in the round), then its number.

    Ties are broken by place, never by Optuna's trial number alone: a trial run again after a
    crash gets a new number but keeps its place, so the same study gives the same best.
    Trials of no round (not enqueued by hpsearch) come after every placed one.
    """
    attrs = trial.user_attrs
    if "round" not in attrs or "index" not in attrs:
        return (math.inf, math.inf, trial.number)
    return (int(attrs["round"]), int(attrs["index"]), trial.number)


def ranked(trials: list[FrozenTrial], maximize: bool = True) -> list[FrozenTrial]:
    """Finished trials, best first: pruned and diverged last, ties by place (round, index).

    With a schedule (few epochs first), trials that trained more epochs rank first: a score
    after 5 epochs is not a score after 50. `maximize`: the objective's direction.
    """
    finished = [t for t in trials if t.state in FINISHED]
    return sorted(
        finished,
        key=lambda t: (
            t.state == TrialState.PRUNED,
            -int(t.user_attrs.get("epochs", 0)),
            -_rank_score(t, maximize),
            place(t),
        ),
    )


def _rank_score(trial: FrozenTrial, maximize: bool = True) -> float:
    value = goodness(trial, maximize)
    if value is None:  # below every accuracy, 0.0 included; below every (negated) loss
        return -1.0 if maximize else -math.inf
    return value
