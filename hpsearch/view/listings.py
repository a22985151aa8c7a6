"""Listings as text: rich tables for people; CSV and JSON for machines; Markdown for reports.

A listing (studies, trials, rounds) is a list of flat rows plus the columns to show, so every
format prints the same rows.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO

from rich.console import Console

from hpsearch.errors import UsageError, unknown_choice
from hpsearch.store.records import RoundRecord
from hpsearch.view import queries
from hpsearch.view.overview import StudyOverview
from hpsearch.view.tables import Column, rich_table
from hpsearch.view.text import acc, acc_in, count, fmt_value, label, range_text, trial_counts

FORMATS = ("table", "json", "csv")
WIDE = 200  # columns for tables written to a pipe or file: never wrap a row


def check_format(output_format: str, allowed: tuple[str, ...] = FORMATS) -> str:
    if output_format not in allowed:
        raise UsageError(unknown_choice("format", output_format, allowed))
    return output_format


def maybe(text: Callable[[Any], str]) -> Callable[[Any], str]:
    return lambda value: "-" if value is None else text(value)


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def to_json(value: Any) -> str:
    """JSON with datetimes as ISO text and non-finite floats as null (strict JSON)."""
    return json.dumps(_clean(value), indent=2, default=_default, allow_nan=False)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_csv(stream: TextIO, columns: list[Column], rows: list[dict[str, Any]]) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([column.key for column in columns])
    for row in rows:
        writer.writerow(["" if row.get(c.key) is None else _cell(row.get(c.key)) for c in columns])


def _cell(value: Any) -> Any:
    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return value


def print_listing(
    console: Console,
    title: str,
    columns: list[Column],
    rows: list[dict[str, Any]],
    output_format: str,
    payload: Any = None,
    csv_columns: list[Column] | None = None,
) -> None:
    """`rows` as a rich table, CSV (`csv_columns` if given) or JSON (`payload` if given)."""
    if output_format == "json":
        sys.stdout.write(to_json(rows if payload is None else payload) + "\n")
    elif output_format == "csv":
        write_csv(sys.stdout, csv_columns or columns, rows)
    else:
        wide(console).print(rich_table(title, columns, rows))


def wide(console: Console) -> Console:
    """The console, or on a pipe or file one as wide as $COLUMNS says (else WIDE, so that
    long rows are not wrapped)."""
    if console.is_terminal:
        return console
    columns = os.environ.get("COLUMNS", "")
    width = int(columns) if columns.isdigit() and int(columns) > 0 else WIDE
    return type(console)(file=sys.stdout, width=width)  # keeps its class


# --- the listings -------------------------------------------------------------------------

STUDY_COLUMNS = [  # fits 80 columns; `show` has the rest, CSV and JSON every field
    Column("name", "study", left=True),
    Column("state", "state", left=True),
    Column("rounds", "rounds"),
    Column("trials", "trials", left=True),
    Column("best", "best value", acc),  # the objective's: val acc, or val loss if minimised
    Column("test_accuracy", "test acc", acc),
    Column("last_changed", "last changed", lambda moment: when(moment)[:16]),
]
STUDY_CSV_COLUMNS = [
    Column("name", ""),
    Column("state", ""),
    Column("rounds_done", ""),
    Column("rounds_planned", ""),
    *[Column(s, "") for s in queries.STATES],
    Column("retried", ""),
    Column("best", ""),
    Column("test_accuracy", ""),
    Column("started", ""),
    Column("last_changed", ""),
]


def study_rows(overviews: list[StudyOverview]) -> list[dict[str, Any]]:
    return [
        {
            "name": o.name,
            "state": o.state,
            "rounds": f"{o.rounds_done}/{o.rounds_planned or '?'}",
            "rounds_done": o.rounds_done,
            "rounds_planned": o.rounds_planned,
            **o.trials,
            "retried": o.retried,
            "best": o.best,
            "test_accuracy": o.test_accuracy,
            "started": o.started,
            "last_changed": o.last_changed,
        }
        for o in overviews
    ]


def print_studies(console: Console, overviews: list[StudyOverview], output_format: str) -> None:
    rows = study_rows(overviews)
    payload = [
        {
            **{k: v for k, v in row.items() if k not in queries.STATES and k != "rounds"},
            "trials": o.trials,
        }
        for row, o in zip(rows, overviews, strict=True)
    ]
    if output_format == "table":
        rows = [
            {**row, "trials": trial_counts(o.trials, o.retried)}
            for row, o in zip(rows, overviews, strict=True)
        ]
    print_listing(
        console, "Studies", STUDY_COLUMNS, rows, output_format, payload, STUDY_CSV_COLUMNS
    )


def trial_columns(param_names: list[str], reasons: bool = True) -> list[Column]:
    """The columns of `trials`: one per name (a searched `epochs` is not `epochs run`); the
    reason a trial failed only where `reasons` (some row has one)."""
    return [
        Column("trial", "trial"),
        Column("round", "round", maybe(str)),
        Column("state", "state", left=True),
        *[Column(name, label(name), maybe(fmt_value)) for name in param_names],
        Column("val_accuracy", "val acc", acc),
        Column("train_accuracy", "train acc", acc),
        Column("epochs_run", "epochs run", maybe(str)),
        Column("seconds", "seconds", maybe(lambda s: f"{s:.2f}")),
        *([Column("reason", "why", maybe(str), left=True)] if reasons else []),
    ]


def flat(row: dict[str, Any]) -> dict[str, Any]:
    """A trial row with its parameters as columns of their own."""
    return {**{k: v for k, v in row.items() if k != "params"}, **row["params"]}


def print_trials(
    console: Console, data: queries.StudyData, rows: list[dict[str, Any]], output_format: str
) -> None:
    reasons = any(r["reason"] for r in rows)
    print_listing(
        console,
        f"Trials of {data.name!r}",
        trial_columns(data.param_names, reasons),
        [flat(r) for r in rows],
        output_format,
        payload=rows,
        csv_columns=trial_columns(data.param_names),
    )


def round_columns(param_names: list[str], n_val: int | None = None) -> list[Column]:
    """The rounds table; with `n_val`, each best and median with its interval on the
    validation images."""
    scored = (lambda value: acc_in(value, n_val)) if n_val else acc
    return [
        Column("round", "round"),
        *[Column(name, label(name), left=True) for name in param_names],
        Column("trials", "trials"),
        Column("epochs", "epochs", count),
        Column("pruned", "pruned"),
        Column("epochs_spent", "epochs spent", count),
        Column("best", "best", scored),
        Column("median", "median", scored),
        Column("reason", "why", left=True),
    ]


def round_csv_columns(data: queries.StudyData) -> list[Column]:
    """Ranges as numbers for machines: <param>_low, <param>_high (or <param>_choices)."""
    kinds = {p.name: p.kind for p in data.spec.params} if data.spec else {}
    bounds = [
        Column(f"{name}_{end}", "")
        for name in data.param_names
        for end in (("choices",) if kinds.get(name) == "categorical" else ("low", "high"))
    ]
    return [
        Column("round", ""),
        *bounds,
        Column("trials", ""),
        Column("epochs", ""),
        Column("pruned", ""),
        Column("epochs_spent", ""),
        Column("done", ""),
        Column("best", ""),
        Column("median", ""),
        Column("reason", ""),
    ]


def round_rows(rounds: list[RoundRecord], param_names: list[str]) -> list[dict[str, Any]]:
    rows = []
    for r in rounds:
        bounds = {
            f"{name}_{end}": value
            for name, current in r.ranges.items()
            for end, value in current.to_dict().items()
        }
        rows.append(
            {
                "round": r.number,
                **{name: range_text(r, name) for name in param_names},
                **bounds,
                "trials": len(r.trial_numbers) if r.done else "running",
                "epochs": r.epochs,
                "pruned": r.pruned,
                "epochs_spent": r.epochs_spent,
                "done": r.done,
                "best": r.best,
                "median": r.median,
                "reason": r.reason,
            }
        )
    return rows
