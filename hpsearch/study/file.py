"""Study files (TOML) -> a validated, frozen `StudySpec`.

Every error names the file, the field and the fix, in one line (`StudyFileError`, exit 2).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any

from hpsearch.errors import StudyFileError
from hpsearch.study.choices import check_choices
from hpsearch.study.efficiency import EFFICIENCY_FIELDS, parse_efficiency
from hpsearch.study.final import parse_final
from hpsearch.study.grid import GRID_FIELDS, parse_grid
from hpsearch.study.settings import check_types, dataset_field
from hpsearch.study.spec import Narrowing, ParamSpec, StudySpec
from trainer import ConfigError, TrainConfig

MAX_TRIALS = 100_000
TOP_LEVEL = {"name", "seed", "data", "train", "search"}
DATA_FIELDS = {"dataset", "n_samples", "val_fraction", "test_fraction", "data_dir"}
SEARCH_NARROWING = {"rounds", "trials_per_round", "top_fraction", "min_top", "margin"}
SEARCH_FIELDS = SEARCH_NARROWING | {"retries", "params", "final", *GRID_FIELDS} | EFFICIENCY_FIELDS
PARAM_FIELDS = {"type", "low", "high", "log", "choices", "limits"}
TRAIN_FIELDS = set(TrainConfig.field_names()) - {"seed"}


def load_study_file(path: str | Path) -> StudySpec:
    """Read and validate a study file; raises `StudyFileError` naming file, field and fix."""
    path = Path(path)
    where = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise StudyFileError(where, None, "no such file; give a .toml study file") from None
    except IsADirectoryError:
        raise StudyFileError(where, None, "is a folder; give a .toml study file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise StudyFileError(where, None, f"cannot be read as UTF-8 text ({error})") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise StudyFileError(where, None, f"is not valid TOML: {error}") from None
    return parse_study(document, where)


def parse_study(document: dict[str, Any], where: str) -> StudySpec:
    """Validate a parsed study document (see `load_study_file`)."""
    if not document:
        raise StudyFileError(where, None, "is empty; see studies/quick.toml for an example")
    _unknown(document, TOP_LEVEL, where, "")
    data = _table(document, "data", where)
    train = _table(document, "train", where)
    search = _table(document, "search", where)
    _unknown(data, DATA_FIELDS, where, "data.")
    _unknown(search, SEARCH_FIELDS, where, "search.")
    for key in train:
        if key == "seed":
            raise StudyFileError(
                where,
                "train.seed",
                "trial seeds derive from the study's top-level `seed`; move it there",
            )
        if key not in TRAIN_FIELDS:
            raise StudyFileError(
                where, f"train.{key}", f"unknown field; known: {', '.join(sorted(TRAIN_FIELDS))}"
            )
    name = _get(document, "name", str, where, "")
    if not name.strip():
        raise StudyFileError(where, "name", "must not be empty")
    grid = parse_grid(search, train, where)  # {} or a grid study's params, trials, repeats
    table = _table(search, "params", where, "search.params")
    params = grid["params"] if grid else _params(table, train, where)
    efficiency = parse_efficiency(search, train, {p.name for p in params}, where)
    scheduled = efficiency["round_trials"]
    spec = StudySpec(
        name=name,
        seed=_int(document, "seed", where, "", low=0, default=0),
        dataset=dataset_field(
            _get(data, "dataset", str, where, "data.", default="mnist-5k"), where
        ),
        n_samples=_int(data, "n_samples", where, "data.", low=2, default=None),
        val_fraction=_fraction(data, "val_fraction", where, "data.", 0.2),
        test_fraction=_fraction(data, "test_fraction", where, "data.", 0.2),
        data_dir=_get(data, "data_dir", str, where, "data.", default=None),
        train={key: list(v) if isinstance(v, list) else v for key, v in train.items()},
        rounds=_int(search, "rounds", where, "search.", low=1, default=1),
        trials_per_round=grid.get("trials_per_round")
        or (
            scheduled[0]
            if scheduled
            else _int(search, "trials_per_round", where, "search.", low=1)
        ),
        narrowing=Narrowing(
            top_fraction=_fraction(search, "top_fraction", where, "search.", 0.2),
            min_top=_int(search, "min_top", where, "search.", low=1, default=3),
            margin=_number(search, "margin", where, "search.", low=0.0, default=0.1),
            growth=efficiency.pop("growth"),
        ),
        retries=_int(search, "retries", where, "search.", low=0, default=2),
        params=params,
        **efficiency,
        grid=bool(grid),
        repeats=grid.get("repeats", 1),
        points=grid.get("points", ()),
    )
    if spec.total_trials > MAX_TRIALS:
        raise StudyFileError(
            where,
            "search.trials_per_round",
            f"rounds × trials_per_round is {spec.total_trials}; keep it at most {MAX_TRIALS}",
        )
    final = parse_final(search, where, grid=spec.grid, trials=spec.total_trials)
    spec = dataclasses.replace(spec, final=final) if final else spec
    check_types(train, params, where)
    _check_train_config(spec, where)
    return spec


def _check_train_config(spec: StudySpec, where: str) -> None:
    """Build a TrainConfig from the fixed settings and each range's low end: type errors early."""
    sample = {p.name: p.choices[0] if p.kind == "categorical" else p.low for p in spec.params}
    try:
        spec.train_config(sample, seed=0)
    except ConfigError as error:
        section = "search.params" if error.field_name in sample else "train"
        raise StudyFileError(
            where, f"{section}.{error.field_name}", str(error).split(": ", 1)[1]
        ) from None
    except TypeError as error:
        raise StudyFileError(where, "train", str(error)) from None


def _params(table: dict[str, Any], train: dict[str, Any], where: str) -> tuple[ParamSpec, ...]:
    if not table:
        raise StudyFileError(
            where,
            "search.params",
            "no parameters to search; add e.g. [search.params.lr] with low, high and log = true",
        )
    params = []
    for name, body in table.items():
        field = f"search.params.{name}"
        if name not in TRAIN_FIELDS:
            raise StudyFileError(
                where,
                field,
                f"not a trainer setting; choose from {', '.join(sorted(TRAIN_FIELDS))}",
            )
        if name in train:
            raise StudyFileError(where, field, "is also fixed in [train]; remove one of them")
        if not isinstance(body, dict):
            raise StudyFileError(where, field, "must be a table with low/high or choices")
        _unknown(body, PARAM_FIELDS, where, field + ".")
        params.append(_param(name, body, where, field))
    return tuple(params)


def _param(name: str, body: dict[str, Any], where: str, field: str) -> ParamSpec:
    kind = body.get("type", "categorical" if "choices" in body else "float")
    if kind not in ("float", "int", "categorical"):
        raise StudyFileError(
            where, field + ".type", f"unknown type {kind!r}; use float, int or categorical"
        )
    if kind == "categorical":
        choices = check_choices(body.get("choices"), where, field + ".choices")
        return ParamSpec(name, kind, choices=choices)
    number = int if kind == "int" else float
    low = _number(body, "low", where, field + ".", integer=kind == "int")
    high = _number(body, "high", where, field + ".", integer=kind == "int")
    log = _get(body, "log", bool, where, field + ".", default=False)
    if low >= high:
        raise StudyFileError(
            where,
            field,
            f"low ({low}) must be below high ({high}); "
            "for a fixed value, put it in [train] instead",
        )
    if log and low <= 0:
        raise StudyFileError(
            where,
            field + ".low",
            f"is {low}, but a log scale needs a bound > 0; raise low or set log = false",
        )
    limits = body.get("limits")
    if limits is not None:
        if (
            not isinstance(limits, list)
            or len(limits) != 2
            or not all(_is_number(v) and math.isfinite(v) for v in limits)
        ):
            raise StudyFileError(where, field + ".limits", "give two finite numbers [min, max]")
        if not limits[0] <= low < high <= limits[1] or (log and limits[0] <= 0):
            raise StudyFileError(
                where,
                field + ".limits",
                f"{limits} must contain [low, high] (and be > 0 on a log scale)",
            )
        limits = (number(limits[0]), number(limits[1]))
    return ParamSpec(name, kind, low=number(low), high=number(high), log=log, limits=limits)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _unknown(table: dict[str, Any], known: set[str], where: str, prefix: str) -> None:
    for key in table:
        if key not in known:
            raise StudyFileError(
                where, prefix + key, f"unknown field; known: {', '.join(sorted(known))}"
            )


def _table(table: dict[str, Any], key: str, where: str, field: str | None = None) -> dict:
    value = table.get(key, {})
    if not isinstance(value, dict):
        raise StudyFileError(where, field or key, f"must be a table ([{field or key}])")
    return value


_MISSING = object()


def _get(
    table: dict, key: str, kind: type, where: str, prefix: str, default: Any = _MISSING
) -> Any:
    if key not in table:
        if default is _MISSING:
            raise StudyFileError(where, prefix + key, "is required")
        return default
    value = table[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise StudyFileError(
            where, prefix + key, f"must be a {kind.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def _number(
    table: dict,
    key: str,
    where: str,
    prefix: str,
    *,
    low: float | None = None,
    integer: bool = False,
    default: Any = _MISSING,
) -> Any:
    if key not in table and default is not _MISSING:
        return default
    value = _get(table, key, object, where, prefix)
    if integer and not (isinstance(value, int) and not isinstance(value, bool)):
        raise StudyFileError(where, prefix + key, f"must be an integer, got {value!r}")
    if not _is_number(value):
        raise StudyFileError(where, prefix + key, f"must be a number, got {value!r}")
    if not math.isfinite(value):
        raise StudyFileError(where, prefix + key, f"must be a finite number, got {value}")
    if low is not None and value < low:
        raise StudyFileError(where, prefix + key, f"must be >= {low}, got {value}")
    return value


def _int(
    table: dict, key: str, where: str, prefix: str, *, low: int, default: Any = _MISSING
) -> Any:
    if key not in table and default is not _MISSING:
        return default
    value = _number(table, key, where, prefix, integer=True)
    if value < low:
        raise StudyFileError(where, prefix + key, f"must be at least {low}, got {value}")
    if value > MAX_TRIALS * 1000:
        raise StudyFileError(where, prefix + key, f"{value} is unreasonably large")
    return value


def _fraction(table: dict, key: str, where: str, prefix: str, default: float) -> float:
    value = _number(table, key, where, prefix, default=default)
    if not 0 < value < 1:
        raise StudyFileError(
            where, prefix + key, f"must be between 0 and 1 (exclusive), got {value}"
        )
    return float(value)
