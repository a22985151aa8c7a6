"""Whole-study documents on stdout or in a file: `show`, `best` and `export`."""

from __future__ import annotations

import csv
import io
import sys
import textwrap
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import zip_longest
from pathlib import Path
from typing import Any, TextIO

from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial
from rich.console import Console

from hpsearch.errors import HpsearchError, UsageError
from hpsearch.store.records import CURVE_KEYS, SPEC_KEY, ranked, val_accuracy_curve
from hpsearch.study.toml import spec_toml, toml_key, toml_value
from hpsearch.view import grid, queries
from hpsearch.view.final import (
    TITLE,
    final_columns,
    final_record,
    final_rows,
    interval_fields,
    split_sizes,
)
from hpsearch.view.listings import (
    Column,
    check_format,
    maybe,
    print_listing,
    rich_table,
    round_columns,
    round_csv_columns,
    round_rows,
    to_json,
    when,
    wide,
    write_csv,
)
from hpsearch.view.overview import StudyOverview
from hpsearch.view.text import (
    acc,
    book_line,
    fmt_value,
    label,
    test_line,
    trial_counts,
    trial_json,
)


def show_payload(
    data: queries.StudyData, top: int, found: StudyOverview | None = None
) -> dict[str, Any]:
    best = ranked(data.trials, queries.maximize(data))[:top]
    counts = {"trials": found.trials, "retried": found.retried} if found else {}
    payload = {
        "study": data.name,
        "complete": data.complete,
        **counts,
        "spec": data.user_attrs.get(SPEC_KEY),
        "rounds": [r.to_dict() for r in data.rounds],
        "top": [{"rank": i, **trial_json(t)} for i, t in enumerate(best, start=1)],
        "test": data.test,
        **({"grid": grid.point_rows(data)} if grid.is_grid(data) else {}),
    }
    return interval_fields(data, payload)


def print_show(
    console: Console,
    data: queries.StudyData,
    top: int,
    output_format: str,
    found: StudyOverview | None = None,
) -> None:
    """The study file, the rounds table, the book-style ranking and the test accuracy; with
    the study's overview `found`, its trials by state and when it started and changed."""
    if output_format == "json":
        sys.stdout.write(to_json(show_payload(data, top, found)) + "\n")
        return
    if output_format == "csv":  # the one table of `show` that CSV can hold
        write_csv(sys.stdout, round_csv_columns(data), round_rows(data.rounds, data.param_names))
        return
    out = wide(console)
    spec = data.user_attrs.get(SPEC_KEY)
    state = (
        "not written by hpsearch" if not spec else "complete" if data.complete else "not complete"
    )
    out.print(f"Study {data.name!r} ({state}), {data.trial_count} trials", highlight=False)
    if found is not None:
        out.print(
            f"Trials: {trial_counts(found.trials, found.retried)}; started "
            f"{when(found.started)}, last changed {when(found.last_changed)}",
            highlight=False,
            markup=False,
        )
    n_val = split_sizes(data).get("val")
    if spec:
        out.print("Study file:")
        out.print(spec_toml(spec), markup=False, highlight=False)
        rows = round_rows(data.rounds, data.param_names)
        out.print(
            rich_table(
                "Rounds",
                round_columns(data.param_names, n_val if queries.maximize(data) else None),
                rows,
            )
        )
    if grid.is_grid(data):
        columns, rows = grid.point_columns(data.param_names), grid.point_rows(data)
        out.print(
            rich_table("Grid points (mean ± std over repeats)", columns, grid.table_rows(rows))
        )
    for rank, trial in enumerate(ranked(data.trials, queries.maximize(data))[:top], start=1):
        out.print(book_line(rank, trial, n_val), highlight=False, markup=False)
    final = final_record(data)
    if final:
        rows = final_rows(final, n_val)
        out.print(rich_table(TITLE, final_columns(data.param_names), rows))
    out.print(test_line(data.test, split_sizes(data), final), highlight=False, markup=False)


def print_best(console: Console, settings: dict[str, Any], output_format: str) -> None:
    row = {
        "study": settings["name"],
        "trial": settings["trial"],
        "round": settings["round"],
        "val_accuracy": settings["val_accuracy"],
        "test_accuracy": settings["test_accuracy"],
        **settings["params"],
    }
    columns = [
        Column("study", "study", left=True),
        Column("trial", "trial"),
        Column("round", "round", maybe(str)),
        *[Column(k, label(k), maybe(fmt_value)) for k in settings["params"]],
        Column("val_accuracy", "val acc", acc),
        Column("test_accuracy", "test acc", acc),
    ]
    print_listing(console, "Best trial", columns, [row], output_format, payload=settings)
    if output_format == "table":  # a study file's table, to paste: one key per line
        train = [f"{toml_key(k)} = {toml_value(v)}" for k, v in settings["train"].items()]
        wide(console).print(
            "\n".join(["[train]", *train]), highlight=False, markup=False, soft_wrap=True
        )


def write_text(path: Path, text: str) -> Path:
    """Write `text` to `path`; an OSError becomes one line naming the file."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise HpsearchError(f"cannot write {path}: {error.strerror}") from None
    return path


def export_format(output_format: str | None, output: Path | None) -> str:
    """json or csv: as asked, else by the output file's suffix, else json; and a usable path."""
    if output is not None and not output.parent.is_dir():
        raise UsageError(f"{output}: the folder {output.parent} does not exist; create it first")
    if output_format is None and output is not None:
        suffix = output.suffix.lower()
        if suffix not in (".json", ".csv"):
            raise UsageError(
                f"{output}: unknown export type {output.suffix or '(none)'!r}; end the file "
                "name with .json or .csv, or give --format json or csv"
            )
        return suffix[1:]
    return check_format(output_format or "json", ("json", "csv"))


def write_output(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        write_text(output, text)


def export_study(
    storage: RDBStorage, name: str | None, output_format: str, output: Path | None
) -> None:
    """`hpsearch export`: the study's trials read and written a batch at a time, so that
    memory stays flat in the size of the study."""
    data, trials = queries.stream_study_data(storage, name)
    if output is None:
        write_export(sys.stdout, data, trials, output_format)
        return
    try:
        with output.open("w", encoding="utf-8", newline="") as stream:
            write_export(stream, data, trials, output_format)
    except OSError as error:
        raise HpsearchError(f"cannot write {output}: {error.strerror}") from None


def write_export(
    stream: TextIO, data: queries.StudyData, trials: Iterator[FrozenTrial], output_format: str
) -> None:
    """Every trial with its parameters, round and per-epoch curves, as JSON or CSV.

    CSV is long: one row per trial and epoch (a trial without epochs has one row, epoch empty).
    JSON is one document, written as `to_json` would write it whole.
    """
    records = (export_record(t) for t in trials)
    if output_format == "csv":
        _export_csv(stream, records, data.param_names)
        return
    spec = data.user_attrs.get(SPEC_KEY)
    rounds = [r.to_dict() for r in data.rounds]
    document = {"study": data.name, "spec": spec, "rounds": rounds, "test": data.test}
    head = to_json({**document, "trials": []})
    assert head.endswith('"trials": []\n}')
    stream.write(head[: -len("[]\n}")])
    separator = "[\n"
    for record in records:
        stream.write(separator + textwrap.indent(to_json(record), "    "))
        separator = ",\n"
    stream.write("[]\n}\n" if separator == "[\n" else "\n  ]\n}\n")


EXPORT_FIRST, EXPORT_AFTER = (
    ("number", "round", "index", "state", "value"),
    ("epochs_run", "seconds"),
)
EXPORT_CURVES = ("val_accuracy", *CURVE_KEYS)


def _export_csv(stream: TextIO, records: Iterable[dict[str, Any]], names: list[str]) -> None:
    """One row per trial and epoch. The trial's cells are quoted by `csv` once per trial and
    repeated on each of its rows; the epoch's cells are numbers, which need no quoting."""
    params = [f"params_{name}" for name in names]
    header = [*EXPORT_FIRST, *params, *EXPORT_AFTER, "epoch", *EXPORT_CURVES]
    csv.writer(stream, lineterminator="\n").writerow(header)
    line = io.StringIO()
    quoted = csv.writer(line, lineterminator=",")
    for record in records:
        fixed = [record[key] for key in EXPORT_FIRST]
        fixed += [record["params"].get(name) for name in names]
        fixed += [record[key] for key in EXPORT_AFTER]
        line.seek(0)
        line.truncate()
        quoted.writerow(["" if cell is None else cell for cell in fixed])
        prefix = line.getvalue()
        curves = [_cells(record["curves"][key]) for key in EXPORT_CURVES]
        if not any(curves):
            stream.write(prefix + "," * len(curves) + "\n")
            continue
        epochs = enumerate(zip_longest(*curves, fillvalue=""), 1)
        stream.write("".join(f"{prefix}{epoch},{','.join(row)}\n" for epoch, row in epochs))


def _cells(curve: list[Any]) -> list[str]:
    """A curve's numbers as `csv` writes them (None: an empty cell)."""
    if None not in curve:
        return list(map(str, curve))
    return ["" if value is None else str(value) for value in curve]


def export_record(trial: FrozenTrial) -> dict[str, Any]:
    """Everything about one trial, curves included (read with `curves=True`)."""
    attrs = trial.user_attrs
    curve = val_accuracy_curve(trial)
    return {
        "number": trial.number,
        "round": attrs.get("round"),
        "index": attrs.get("index"),
        "attempt": attrs.get("attempt"),
        "seed": attrs.get("seed"),
        "state": queries.trial_state(trial),
        "value": trial.value,
        "params": dict(trial.params),
        "datetime_start": _iso(trial.datetime_start),
        "datetime_complete": _iso(trial.datetime_complete),
        "epochs_run": attrs.get("epochs_run"),
        "seconds": attrs.get("seconds"),
        "diverged_at_epoch": attrs.get("diverged_at_epoch"),
        "fail_reason": attrs.get("fail_reason"),
        "error": attrs.get("error"),
        "curves": {"val_accuracy": curve, **{k: attrs.get(k) or [] for k in CURVE_KEYS}},
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(sep=" ", timespec="seconds") if moment else None
