"""Grid studies: every combination of listed values, each run `repeats` times.

A study file's `[search.grid]` table lists trainer fields with the values to try
(`optimizer = ["sgd", "adam"]`); `search.repeats` says how many training seeds each point gets.
`search.repeats` alone, with no grid and no `[search.params]`, is a grid of one point: the
`[train]` settings re-evaluated with `repeats` training seeds.
A grid study is one round of `points × repeats` places, enqueued like any round (so any
number of workers gives the same trials), and it never narrows. The place at index `i` is
point `i // repeats`, repeat `i % repeats`; its training seed is `trial_seed(seed, 0, i)`.
Grid parameters are categorical `ParamSpec`s: the trials carry them as Optuna parameters.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from hpsearch.errors import StudyFileError, did_you_mean
from hpsearch.study.spec import ParamSpec, StudySpec
from trainer import ConfigError, TrainConfig

MAX_POINTS = 10_000
GRID_FIELDS = ("grid", "points", "repeats")


def parse_grid(search: dict[str, Any], train: dict[str, Any], where: str) -> dict[str, Any]:
    """The `StudySpec` fields of `[search.grid]` (params, trials_per_round, repeats), or {}
    when the study is no grid."""
    if "grid" not in search and "points" not in search:
        if "repeats" not in search:
            return {}
        if "params" in search:
            raise StudyFileError(
                where, "search.repeats", "repeats a grid; add [search.grid] or remove it"
            )
        # No searched parameter: one grid point (the [train] settings), `repeats` times
    grid = search.get("grid", {})
    points = _points(search.get("points", []), grid, train, where)
    if not isinstance(grid, dict) or ("grid" in search and not (grid or points)):
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
    params = [_grid_param(name, values, train, where) for name, values in grid.items()]
    for name in points[0] if points else {}:
        choices = tuple({repr(p[name]): p[name] for p in points}.values())
        params.append(ParamSpec(name, "categorical", choices=choices))
    count = math.prod(len(grid[name]) for name in grid) * max(len(points), 1)
    if count > MAX_POINTS:
        raise StudyFileError(
            where, "search.grid", f"{count} combinations; keep it at most {MAX_POINTS}"
        )
    return {
        "params": tuple(params),
        "trials_per_round": count * repeats,
        "repeats": repeats,
        "points": tuple(points),
    }


def _points(points: Any, grid: Any, train: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """`[[search.points]]`: settings that go together (an optimizer and its lr), one axis of
    the grid; each table sets the same trainer fields."""
    field = "search.points"
    if not isinstance(points, list) or not all(isinstance(p, dict) and p for p in points):
        raise StudyFileError(where, field, "give [[search.points]] tables of trainer fields")
    for number, point in enumerate(points, start=1):
        if set(point) != set(points[0]):
            raise StudyFileError(
                where, f"{field}[{number}]", f"sets {sorted(point)}, the first {sorted(points[0])}"
            )
        for name, value in point.items():
            if isinstance(grid, dict) and name in grid:
                raise StudyFileError(where, f"{field}.{name}", "is also in [search.grid]")
            _grid_param(name, [value], train, where, field=f"{field}[{number}].{name}")
    if len({repr(sorted(p.items())) for p in points}) != len(points):
        raise StudyFileError(where, field, "lists a point twice")
    return [dict(p) for p in points]


def _grid_param(
    name: str, values: Any, train: dict[str, Any], where: str, field: str = ""
) -> ParamSpec:
    field = field or f"search.grid.{name}"
    if name not in TrainConfig.field_names() or name == "seed":
        known = set(TrainConfig.field_names()) - {"seed"}
        hint = did_you_mean(name, known) or "; see [train] fields"
        raise StudyFileError(where, field, f"not a trainer setting{hint}")
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
    return [dict(point) for point in distinct_points(spec) for _ in range(spec.repeats)]


def distinct_points(spec: StudySpec) -> list[dict[str, Any]]:
    """Every grid point once, in order: the product of the grid's lists, each with every
    `[[search.points]]` table in turn."""
    zipped = set(spec.points[0]) if spec.points else set()
    axes = [p for p in spec.params if p.name not in zipped]
    result = []
    for values in itertools.product(*(p.choices for p in axes)):
        for extra in spec.points or ({},):
            point = {**dict(zip((p.name for p in axes), values, strict=True)), **extra}
            result.append({p.name: point[p.name] for p in spec.params})
    return result


def point_key(params: dict[str, Any], names: list[str]) -> tuple[Any, ...]:
    """The grid point of a trial's parameters, as a hashable tuple in the grid's order."""
    return tuple(params.get(name) for name in names)
