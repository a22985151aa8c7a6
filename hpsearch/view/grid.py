"""A grid study as a table: one row per grid point, mean and spread over its repeats.

Final values are the last epoch's: validation accuracy (the trial's value), training
accuracy and the train-validation gap (training minus validation accuracy, the book's
measure of overfitting). A diverged repeat counts with validation accuracy 0 and no gap.
"""

from __future__ import annotations

import statistics
from typing import Any

from optuna.trial import FrozenTrial

from hpsearch.store.records import FINISHED, is_diverged, score, val_accuracy
from hpsearch.study.grid import distinct_points, point_key
from hpsearch.view import queries
from hpsearch.view.listings import Column, maybe
from hpsearch.view.text import acc, fmt_value

MEASURES = ("val_accuracy", "train_accuracy", "gap")


def is_grid(data: queries.StudyData) -> bool:
    return data.spec is not None and data.spec.grid


def by_point(data: queries.StudyData) -> dict[tuple[Any, ...], list[FrozenTrial]]:
    """The finished trials of every grid point (in the grid's order), by point."""
    names = data.param_names
    groups: dict[tuple[Any, ...], list[FrozenTrial]] = {}
    if data.spec is not None and data.spec.grid:
        for point in distinct_points(data.spec):
            groups[point_key(point, names)] = []
    for trial in sorted(data.trials, key=lambda t: t.number):
        if trial.state in FINISHED:
            groups.setdefault(point_key(trial.params, names), []).append(trial)
    return groups


def finals(trial: FrozenTrial) -> dict[str, float | None]:
    """The final validation and training accuracy of a trial, and their gap."""
    train = trial.user_attrs.get("train_accuracy") or []
    val = None if score(trial) is None else val_accuracy(trial)
    if is_diverged(trial) or not train or val is None:
        return {"val_accuracy": 0.0 if is_diverged(trial) else val, "train_accuracy": None,
                "gap": None}  # fmt: skip
    return {"val_accuracy": val, "train_accuracy": train[-1], "gap": train[-1] - val}


def _stats(values: list[float | None]) -> tuple[float | None, float | None]:
    present = [v for v in values if v is not None]
    if not present:
        return None, None
    return statistics.fmean(present), statistics.pstdev(present)


def point_rows(data: queries.StudyData) -> list[dict[str, Any]]:
    """One row per grid point: its parameters, repeats finished, mean and standard deviation
    over the repeats of each final measure."""
    rows = []
    for point, trials in by_point(data).items():
        row: dict[str, Any] = dict(zip(data.param_names, point, strict=True))
        row["repeats"] = len(trials)
        values = [finals(t) for t in trials]
        for measure in MEASURES:
            mean, spread = _stats([v[measure] for v in values])
            row[measure], row[f"{measure}_std"] = mean, spread
        rows.append(row)
    return rows


def _mean_std(row: dict[str, Any], measure: str) -> str:
    mean, spread = row[measure], row[f"{measure}_std"]
    return "-" if mean is None else f"{acc(mean)} ± {acc(spread)}"


def point_columns(param_names: list[str]) -> list[Column]:
    """Table columns of `point_rows` (each measure as 'mean ± std')."""
    columns = [Column(name, name, maybe(fmt_value), left=True) for name in param_names]
    columns.append(Column("repeats", "repeats"))
    headers = {"val_accuracy": "val acc", "train_accuracy": "train acc", "gap": "train - val"}
    for measure in MEASURES:
        columns.append(Column(measure, headers[measure]))
    return columns


def table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`point_rows` with each measure's cell as 'mean ± std' text (tables and Markdown)."""
    return [{**row, **{m: _mean_std(row, m) for m in MEASURES}} for row in rows]
