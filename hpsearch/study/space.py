"""Search ranges: the current interval (or choices) of every searched parameter.

A round's ranges are sampled with the round's own Generator and turned into Optuna
distributions so that the stored trials carry them (Optuna's tools then show them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from hpsearch.study.spec import ParamSpec, StudySpec


@dataclass(frozen=True)
class Range:
    """[low, high] of a float or int parameter, or the choices of a categorical one."""

    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        if self.choices:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Range:
        if "choices" in data:
            return cls(choices=tuple(data["choices"]))
        return cls(low=data["low"], high=data["high"])


Ranges = dict[str, Range]


def initial_ranges(spec: StudySpec) -> Ranges:
    """Round 0: the ranges written in the study file."""
    return {
        p.name: Range(choices=p.choices) if p.kind == "categorical" else Range(p.low, p.high)
        for p in spec.params
    }


def ranges_to_dict(ranges: Ranges) -> dict[str, dict[str, Any]]:
    return {name: r.to_dict() for name, r in ranges.items()}


def ranges_from_dict(data: dict[str, dict[str, Any]]) -> Ranges:
    return {name: Range.from_dict(r) for name, r in data.items()}


def distribution(param: ParamSpec, current: Range) -> BaseDistribution:
    """The Optuna distribution of `param` within its current range.

    A categorical parameter keeps the file's choices in every round: Optuna refuses a
    categorical distribution that changes within a study ("does not support dynamic value
    space"). Its narrowing lives in the round's `Range`, which is what `sample` draws from.
    """
    if param.kind == "categorical":
        return CategoricalDistribution(list(param.choices))
    if param.kind == "int":
        return IntDistribution(int(current.low), int(current.high), log=param.log)  # type: ignore[arg-type]
    return FloatDistribution(float(current.low), float(current.high), log=param.log)  # type: ignore[arg-type]


def distributions(params: tuple[ParamSpec, ...], ranges: Ranges) -> dict[str, BaseDistribution]:
    """The Optuna distribution of every parameter within the round's `ranges`."""
    return {p.name: distribution(p, ranges[p.name]) for p in params}


def round_generator(seed: int, round_number: int) -> np.random.Generator:
    """The Generator that samples round `round_number`: fixed by the study seed and the round."""
    return np.random.default_rng([seed, round_number, 0x5EA5C4])


def trial_seed(seed: int, round_number: int, index: int) -> int:
    """The training seed of the trial at `index` in its round, independent of who runs it."""
    return int(np.random.SeedSequence([seed, round_number, index]).generate_state(1)[0])


def sample(
    params: tuple[ParamSpec, ...], ranges: Ranges, rng: np.random.Generator, count: int
) -> list[dict[str, Any]]:
    """`count` parameter sets: log-uniform on log ranges, uniform otherwise (the book's 6.5)."""
    sets: list[dict[str, Any]] = [{} for _ in range(count)]
    for param in params:
        current = ranges[param.name]
        for values in sets:
            values[param.name] = _draw(param, current, rng)
    return sets


def _draw(param: ParamSpec, current: Range, rng: np.random.Generator) -> Any:
    if param.kind == "categorical":
        return current.choices[int(rng.integers(len(current.choices)))]
    low, high = float(current.low), float(current.high)  # type: ignore[arg-type]
    if param.kind == "int":
        if param.log:
            value = math.exp(
                rng.uniform(math.log(low - 0.5 if low > 0.5 else low), math.log(high + 0.5))
            )
            return int(min(max(round(value), low), high))
        return int(rng.integers(int(low), int(high) + 1))
    if param.log:
        return float(min(max(10 ** rng.uniform(math.log10(low), math.log10(high)), low), high))
    return float(rng.uniform(low, high))
