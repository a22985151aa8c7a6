"""Study files (TOML) -> a validated, frozen `StudySpec`.

Every error names the file, the field and the fix, in one line (`StudyFileError`, exit 2).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any

from hpsearch.errors import StudyFileError, did_you_mean, unknown_choice
from hpsearch.study import fields
from hpsearch.study.across import check_min_top, lowered_params
from hpsearch.study.choices import check_choices
from hpsearch.study.efficiency import EFFICIENCY_FIELDS, parse_efficiency
from hpsearch.study.fields import MAX_TRIALS
from hpsearch.study.final import parse_final
from hpsearch.study.grid import GRID_FIELDS, parse_grid
from hpsearch.study.portable import check_name, check_strings
from hpsearch.study.settings import check_types, dataset_field
from hpsearch.study.spec import OBJECTIVES, Narrowing, ParamSpec, StudySpec
from trainer import ConfigError, TrainConfig

TOP_LEVEL = {"name", "seed", "data", "train", "search"}
DATA_FIELDS = {"dataset", "n_samples", "val_fraction", "test_fraction", "data_dir"}
SEARCH_NARROWING = {"rounds", "trials_per_round", "top_fraction", "min_top", "margin"}
SEARCH_NARROWING |= {"lower_when_diverged", "objective"}
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
    check_strings(document, where)
    fields.unknown(document, TOP_LEVEL, where, "")
    data = fields.table(document, "data", where)
    train = fields.table(document, "train", where)
    search = fields.table(document, "search", where)
    fields.unknown(data, DATA_FIELDS, where, "data.")
    fields.unknown(search, SEARCH_FIELDS, where, "search.")
    for key in train:
        if key == "seed":
            raise StudyFileError(
                where,
                "train.seed",
                "trial seeds derive from the study's top-level `seed`; move it there",
            )
        if key not in TRAIN_FIELDS:
            raise StudyFileError(where, f"train.{key}", fields.unknown_field(key, TRAIN_FIELDS))
    name = fields.get(document, "name", str, where, "")
    if not name.strip():
        raise StudyFileError(where, "name", "must not be empty")
    check_name(name, where)
    grid = parse_grid(search, train, where)  # {} or a grid study's params, trials, repeats
    table = fields.table(search, "params", where, "search.params")
    params = grid["params"] if grid else _params(table, train, where)
    efficiency = parse_efficiency(search, train, {p.name for p in params}, where)
    scheduled = efficiency["round_trials"]
    spec = StudySpec(
        name=name,
        seed=fields.integer(document, "seed", where, "", low=0, default=0),
        dataset=dataset_field(
            fields.get(data, "dataset", str, where, "data.", default="mnist-5k"), where
        ),
        n_samples=fields.integer(data, "n_samples", where, "data.", low=2, default=None),
        val_fraction=fields.fraction(data, "val_fraction", where, "data.", 0.2),
        test_fraction=fields.fraction(data, "test_fraction", where, "data.", 0.2),
        data_dir=fields.get(data, "data_dir", str, where, "data.", default=None),
        train={key: list(v) if isinstance(v, list) else v for key, v in train.items()},
        rounds=fields.integer(search, "rounds", where, "search.", low=1, default=1),
        trials_per_round=grid.get("trials_per_round")
        or (
            scheduled[0]
            if scheduled
            else fields.integer(search, "trials_per_round", where, "search.", low=1)
        ),
        narrowing=Narrowing(
            top_fraction=fields.fraction(search, "top_fraction", where, "search.", 0.2),
            min_top=fields.integer(search, "min_top", where, "search.", low=1, default=3),
            margin=fields.number(search, "margin", where, "search.", low=0.0, default=0.1),
            growth=efficiency.pop("growth"),
        ),
        retries=fields.integer(search, "retries", where, "search.", low=0, default=2),
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
    check_min_top(spec, search, where)
    lowered = lowered_params(search, spec, where)
    objective = fields.get(search, "objective", str, where, "search.", default="val_accuracy")
    if objective not in OBJECTIVES:
        raise StudyFileError(
            where, "search.objective", unknown_choice("objective", objective, OBJECTIVES)
        )
    spec = dataclasses.replace(spec, lower_when_diverged=lowered, objective=objective)
    final = parse_final(search, where, grid=spec.grid, trials=spec.total_trials)
    if spec.pruning and spec.pruning.rule == "threshold" and objective != "val_accuracy":
        raise StudyFileError(
            where,
            "search.pruning.threshold",
            f'is an accuracy; with objective {objective!r} use rule = "percentile" '
            "(judged against earlier rounds' losses)",
        )
    if final and objective != "val_accuracy":
        raise StudyFileError(
            where,
            "search.final",
            "chooses by the mean validation accuracy over seeds; with objective "
            f'{objective!r} remove [search.final], or set objective = "val_accuracy"',
        )
    spec = dataclasses.replace(spec, final=final) if final else spec
    check_types(train, params, where)
    _check_train_config(spec, where)
    return spec


def _check_train_config(spec: StudySpec, where: str) -> None:
    """Build a TrainConfig from the fixed settings and each range's low end, then with each
    categorical choice in turn: value errors early, naming the field (a choice's included)."""
    sample = {p.name: p.choices[0] if p.kind == "categorical" else p.low for p in spec.params}
    variants = [sample] + [
        {**sample, p.name: choice}
        for p in spec.params
        if p.kind == "categorical"
        for choice in p.choices[1:]
    ]
    categorical = {p.name for p in spec.params if p.kind == "categorical"}
    for params in variants:
        try:
            spec.train_config(params, seed=0)
        except ConfigError as error:
            section = "search.params" if error.field_name in sample else "train"
            suffix = ".choices" if error.field_name in categorical else ""
            raise StudyFileError(
                where, f"{section}.{error.field_name}{suffix}", str(error).split(": ", 1)[1]
            ) from None
        except TypeError as error:
            raise StudyFileError(where, "train", str(error)) from None


def _params(table: dict[str, Any], train: dict[str, Any], where: str) -> tuple[ParamSpec, ...]:
    if not table:
        raise StudyFileError(
            where,
            "search.params",
            "no parameters to search; add e.g. [search.params.lr] with low, high and log = "
            "true, or to re-evaluate the [train] settings alone, give search.repeats = N",
        )
    params = []
    for name, body in table.items():
        field = f"search.params.{name}"
        if name not in TRAIN_FIELDS:
            raise StudyFileError(
                where,
                field,
                "not a trainer setting"
                + (
                    did_you_mean(name, TRAIN_FIELDS)
                    or f"; choose from {', '.join(sorted(TRAIN_FIELDS))}"
                ),
            )
        if name in train:
            raise StudyFileError(where, field, "is also fixed in [train]; remove one of them")
        if not isinstance(body, dict):
            raise StudyFileError(where, field, "must be a table with low/high or choices")
        fields.unknown(body, PARAM_FIELDS, where, field + ".")
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
    low = fields.number(body, "low", where, field + ".", integer=kind == "int")
    high = fields.number(body, "high", where, field + ".", integer=kind == "int")
    log = fields.get(body, "log", bool, where, field + ".", default=False)
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
            or not all(fields.is_number(v) and math.isfinite(v) for v in limits)
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
