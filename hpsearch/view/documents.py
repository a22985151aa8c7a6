"""Whole-study documents on stdout or in a file: `show` and `best`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from hpsearch.errors import HpsearchError
from hpsearch.store.records import SPEC_KEY, ranked
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
