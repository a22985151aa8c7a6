"""Grid studies: every combination of listed values, each run `repeats` times.

A study file's `[search.grid]` table lists trainer fields with the values to try
(`optimizer = ["sgd", "adam"]`); `search.repeats` says how many training seeds each point gets.
A grid study is one round of `points × repeats` places, enqueued like any round (so any
number of workers gives the same trials), and it never narrows. The place at index `i` is
point `i // repeats`, repeat `i % repeats`; its training seed is `trial_seed(seed, 0, i)`.
Grid parameters are categorical `ParamSpec`s: the trials carry them as Optuna parameters.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from hpsearch.errors import StudyFileError
from hpsearch.study.spec import ParamSpec, StudySpec
from trainer import ConfigError, TrainConfig

MAX_POINTS = 10_000
GRID_FIELDS = ("grid", "repeats")


def parse_grid(search: dict[str, Any], train: dict[str, Any], where: str) -> dict[str, Any]:
    """The `StudySpec` fields of `[search.grid]` (params, trials_per_round, repeats), or {}
    when the study is no grid."""
    if "grid" not in search:
        if "repeats" in search:
            raise StudyFileError(
                where, "search.repeats", "repeats a grid; add [search.grid] or remove it"
            )
        return {}
    grid = search["grid"]
    if not isinstance(grid, dict) or not grid:
        raise StudyFileError(
            where, "search.grid", 'list trainer fields and their values, e.g. optimizer = ["sgd"]'
        )
    for other in ("params", "trials_per_round"):
        if other in search:
            raise StudyFileError(
                where,
                f"search.{other}",
                "a grid study sets its trials by [search.grid]; remove it",
            )
    if search.get("rounds", 1) != 1:
        raise StudyFileError(where, "search.rounds", "a grid study has one round; remove it")
    repeats = search.get("repeats", 1)
    if not isinstance(repeats, int) or isinstance(repeats, bool) or not 1 <= repeats <= 1000:
        raise StudyFileError(where, "search.repeats", f"give an integer 1..1000, got {repeats!r}")
    params = tuple(_grid_param(name, values, train, where) for name, values in grid.items())
    points = math.prod(len(p.choices) for p in params)
    if points > MAX_POINTS:
        raise StudyFileError(
            where, "search.grid", f"{points} combinations; keep it at most {MAX_POINTS}"
        )
    return {"params": params, "trials_per_round": points * repeats, "repeats": repeats}


def _grid_param(name: str, values: Any, train: dict[str, Any], where: str) -> ParamSpec:
    field = f"search.grid.{name}"
    if name not in TrainConfig.field_names() or name == "seed":
        raise StudyFileError(where, field, "not a trainer setting; see [train] fields")
    if name in train:
        raise StudyFileError(where, field, "is also fixed in [train]; remove one of them")
    if not isinstance(values, list) or not values:
        raise StudyFileError(where, field, "give a non-empty list of values")
    if len({repr(v) for v in values}) != len(values):
        raise StudyFileError(where, field, "lists a value twice")
    for value in values:
        try:
            TrainConfig(**{**train, name: value})
        except ConfigError as error:
            if error.field_name == name:
                raise StudyFileError(where, field, f"{value!r}: {error}") from None
        except TypeError:
            pass  # the fixed settings' own errors are reported for [train]
    return ParamSpec(name, "categorical", choices=tuple(values))


def grid_points(spec: StudySpec) -> list[dict[str, Any]]:
    """The parameters of every place of a grid study, in index order (each point × repeats)."""
    names = [p.name for p in spec.params]
    combinations = itertools.product(*(p.choices for p in spec.params))
    points = [dict(zip(names, values, strict=True)) for values in combinations]
    return [dict(point) for point in points for _ in range(spec.repeats)]


def point_key(params: dict[str, Any], names: list[str]) -> tuple[Any, ...]:
    """The grid point of a trial's parameters, as a hashable tuple in the grid's order."""
    return tuple(params.get(name) for name in names)
