"""The study file's search-efficiency fields: `sampler`, `[search.schedule]`, `[search.pruning]`.

Validated here, each error one line naming the file, the field and the fix (`StudyFileError`,
exit 2); `hpsearch.study.file` calls `parse_efficiency` with the `[search]` table.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any

from hpsearch.errors import StudyFileError, unknown_choice
from hpsearch.study.fields import unknown_field
from hpsearch.study.spec import Pruning
from trainer import TrainConfig

EFFICIENCY_FIELDS = {"sampler", "schedule", "pruning", "growth"}
SAMPLERS = ("random", "tpe", "gp", "cmaes", "qmc")
PRUNING_RULES = ("percentile", "threshold")
SCHEDULE_FIELDS = {"epochs", "trials"}
PRUNING_FIELDS = {"rule", "epochs", "percentile", "threshold", "min_reference"}
MAX_COUNT = 100_000


def parse_efficiency(
    search: dict[str, Any], train: dict[str, Any], searched: set[str], where: str
) -> dict[str, Any]:
    """StudySpec keyword arguments: round_epochs, round_trials, sampler, pruning; and the
    narrowing's `growth`."""
    rounds = search.get("rounds", 1)
    rounds = rounds if isinstance(rounds, int) and not isinstance(rounds, bool) else 1
    schedule = _table(search, "schedule", where)
    _unknown(schedule, SCHEDULE_FIELDS, where, "search.schedule.")
    fixed = train.get("epochs")
    epochs: int = fixed if isinstance(fixed, int) and fixed > 0 else TrainConfig.epochs
    if "epochs" in schedule and "epochs" in searched:
        raise StudyFileError(
            where,
            "search.schedule.epochs",
            "epochs is also searched (search.params.epochs); remove one of them",
        )
    round_epochs = _per_round(schedule, "epochs", rounds, where, high=epochs)
    round_trials = _per_round(schedule, "trials", rounds, where, high=MAX_COUNT)
    if round_trials and "trials_per_round" in search:
        raise StudyFileError(
            where,
            "search.schedule.trials",
            "search.trials_per_round is given too; keep one of them",
        )
    sampler = search.get("sampler", "random")
    if sampler not in SAMPLERS:
        raise StudyFileError(
            where,
            "search.sampler",
            unknown_choice("sampler", sampler, SAMPLERS),
        )
    needs = {"gp": "torch", "cmaes": "cmaes"}.get(sampler)
    if needs and importlib.util.find_spec(needs) is None:
        raise StudyFileError(
            where,
            "search.sampler",
            f"{sampler!r} needs the {needs} package, which is not installed; "
            f"pip install {needs}, or use tpe",
        )
    most = max(round_epochs) if round_epochs else epochs
    pruning = _pruning(search, rounds, most, where) if "pruning" in search else None
    growth = _number(search, "growth", where, "search.", 1.0)
    if not 1 <= growth <= 10:
        raise StudyFileError(
            where, "search.growth", f"must be from 1 (a step of one width) to 10, got {growth}"
        )
    return {
        "growth": float(growth),
        "round_epochs": round_epochs,
        "round_trials": round_trials,
        "sampler": sampler,
        "pruning": pruning,
    }


def _pruning(search: dict[str, Any], rounds: int, most: int, where: str) -> Pruning:
    table = _table(search, "pruning", where)
    prefix = "search.pruning."
    _unknown(table, PRUNING_FIELDS, where, prefix)
    rule = table.get("rule")
    if rule not in PRUNING_RULES:
        raise StudyFileError(
            where,
            prefix + "rule",
            f"is required; use one of {', '.join(PRUNING_RULES)}"
            if rule is None
            else unknown_choice("rule", rule, PRUNING_RULES),
        )
    epochs = table.get("epochs")
    if (
        not isinstance(epochs, list)
        or not epochs
        or not all(_is_int(e) and 1 <= e < most for e in epochs)
        or sorted(set(epochs)) != epochs
    ):
        raise StudyFileError(
            where,
            prefix + "epochs",
            f"give the epochs to judge at, increasing, each from 1 to {most - 1} "
            f"(below the most epochs a round trains, {most})",
        )
    percentile = _number(table, "percentile", where, prefix, 50.0)
    if not 0 < percentile < 100:
        raise StudyFileError(
            where, prefix + "percentile", f"must be in (0, 100), got {percentile}"
        )
    threshold = _number(table, "threshold", where, prefix, None)
    if threshold is not None and not 0 <= threshold <= 1:
        raise StudyFileError(
            where, prefix + "threshold", f"is an accuracy in [0, 1], got {threshold}"
        )
    if rule == "threshold" and threshold is None:
        raise StudyFileError(
            where, prefix + "threshold", "rule 'threshold' needs a threshold, e.g. 0.2"
        )
    if rule == "percentile" and rounds < 2:
        raise StudyFileError(
            where,
            prefix + "rule",
            "'percentile' judges against earlier rounds, but the study has one round; "
            "use rule = 'threshold' or more rounds",
        )
    min_reference = table.get("min_reference", 5)
    if not _is_int(min_reference) or not 1 <= min_reference <= MAX_COUNT:
        raise StudyFileError(
            where,
            prefix + "min_reference",
            f"must be an integer of at least 1, got {min_reference!r}",
        )
    return Pruning(
        rule=rule,
        epochs=tuple(epochs),
        percentile=float(percentile),
        threshold=None if threshold is None else float(threshold),
        min_reference=min_reference,
    )


def _per_round(
    table: dict[str, Any], key: str, rounds: int, where: str, *, high: int
) -> tuple[int, ...]:
    if key not in table:
        return ()
    values = table[key]
    field = f"search.schedule.{key}"
    if not isinstance(values, list) or len(values) != rounds:
        raise StudyFileError(
            where, field, f"give a list of {rounds} integers, one per round (search.rounds)"
        )
    if not all(_is_int(v) and 1 <= v <= high for v in values):
        what = f"train.epochs ({high})" if key == "epochs" else str(high)
        raise StudyFileError(
            where, field, f"{values}: each must be an integer from 1 to {what}; fit it to that"
        )
    return tuple(values)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(table: dict[str, Any], key: str, where: str, prefix: str, default: Any) -> Any:
    if key not in table:
        return default
    value = table[key]
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise StudyFileError(where, prefix + key, f"must be a finite number, got {value!r}")
    return value


def _table(table: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = table.get(key, {})
    if not isinstance(value, dict):
        raise StudyFileError(where, f"search.{key}", f"must be a table ([search.{key}])")
    return value


def _unknown(table: dict[str, Any], known: set[str], where: str, prefix: str) -> None:
    for key in table:
        if key not in known:
            raise StudyFileError(where, prefix + key, unknown_field(key, known))
