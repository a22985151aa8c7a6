"""`hpsearch export`: every trial with its parameters, round and per-epoch curves, as JSON or
CSV, read and written a batch at a time (memory flat in the size of the study).

The trials come as their stored rows (`store.rows`), user attributes as JSON text. The JSON
document parses them (and writes them again as `to_json` does); the CSV keeps the text of
each number, which is the `str` of its value that `csv` would write: parsing and formatting
the curves' numbers was most of an export's time.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import textwrap
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from optuna.storages import RDBStorage

from hpsearch.errors import HpsearchError, UsageError
from hpsearch.store.reads import STATE_NAMES
from hpsearch.store.records import CURVE_KEYS, FINISHED, SPEC_KEY
from hpsearch.store.rows import TrialRows
from hpsearch.view import queries
from hpsearch.view.listings import check_format, to_json

EXPORT_FIRST, EXPORT_AFTER = (
    ("number", "round", "index", "state", "value"),
    ("epochs_run", "seconds"),
)
EXPORT_CURVES = ("val_accuracy", *CURVE_KEYS)
# The user attributes an exported trial shows (a CSV row shows fewer: fewer rows to read).
CSV_ATTRS = ("round", "index", "epochs_run", "seconds", "diverged", *EXPORT_CURVES)
JSON_ATTRS = (*CSV_ATTRS, "attempt", "seed", "diverged_at_epoch", "fail_reason", "error")


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


def export_study(
    storage: RDBStorage, name: str | None, output_format: str, output: Path | None
) -> None:
    """Write the study `name` to `output` (default: stdout)."""
    keys = CSV_ATTRS if output_format == "csv" else JSON_ATTRS
    data, trials = queries.stream_study_data(storage, name, keys)
    if output is None:
        write_export(sys.stdout, data, trials, output_format)
        return
    try:
        with output.open("w", encoding="utf-8", newline="") as stream:
            write_export(stream, data, trials, output_format)
    except OSError as error:
        raise HpsearchError(f"cannot write {output}: {error.strerror}") from None


def write_export(
    stream: TextIO, data: queries.StudyData, trials: Iterator[TrialRows], output_format: str
) -> None:
    """CSV is long: one row per trial and epoch (a trial without epochs has one row, epoch
    empty). JSON is one document, written as `to_json` would write it whole."""
    if output_format == "csv":
        write_csv_rows(stream, trials, data.param_names)
        return
    spec = data.user_attrs.get(SPEC_KEY)
    rounds = [r.to_dict() for r in data.rounds]
    document = {"study": data.name, "spec": spec, "rounds": rounds, "test": data.test}
    head = to_json({**document, "trials": []})
    assert head.endswith('"trials": []\n}')
    stream.write(head[: -len("[]\n}")])
    separator = "[\n"
    for trial in trials:
        stream.write(separator + textwrap.indent(to_json(export_record(trial)), "    "))
        separator = ",\n"
    stream.write("[]\n}\n" if separator == "[\n" else "\n  ]\n}\n")


def export_record(trial: TrialRows) -> dict[str, Any]:
    """Everything about one trial, curves included."""
    attrs = _parsed(trial.attrs)
    curve = attrs.get("val_accuracy")
    return {
        "number": trial.number,
        "round": attrs.get("round"),
        "index": attrs.get("index"),
        "attempt": attrs.get("attempt"),
        "seed": attrs.get("seed"),
        "state": _state(trial),
        "value": trial.value,
        "params": trial.params,
        "datetime_start": _iso(trial.datetime_start),
        "datetime_complete": _iso(trial.datetime_complete),
        "epochs_run": attrs.get("epochs_run"),
        "seconds": attrs.get("seconds"),
        "diverged_at_epoch": attrs.get("diverged_at_epoch"),
        "fail_reason": attrs.get("fail_reason"),
        "error": attrs.get("error"),
        "curves": {
            "val_accuracy": trial.intermediate if curve is None else [float(v) for v in curve],
            **{key: attrs.get(key) or [] for key in CURVE_KEYS},
        },
    }


def write_csv_rows(stream: TextIO, trials: Iterable[TrialRows], names: list[str]) -> None:
    """One row per trial and epoch. The trial's cells are quoted by `csv` once per trial and
    repeated on each of its rows; the epoch's cells are numbers, which need no quoting."""
    params = [f"params_{name}" for name in names]
    header = [*EXPORT_FIRST, *params, *EXPORT_AFTER, "epoch", *EXPORT_CURVES]
    csv.writer(stream, lineterminator="\n").writerow(header)
    line = io.StringIO()
    quoted = csv.writer(line, lineterminator=",")
    for trial in trials:
        attrs = trial.attrs
        fixed = [trial.number, _cell(attrs.get("round")), _cell(attrs.get("index"))]
        fixed += [_state(trial), "" if trial.value is None else trial.value]
        fixed += ["" if (p := trial.params.get(n)) is None else p for n in names]
        fixed += [_cell(attrs.get(key)) for key in EXPORT_AFTER]
        line.seek(0)
        line.truncate()
        quoted.writerow(fixed)
        prefix = line.getvalue()
        curves = [_val_accuracy_cells(trial)]
        curves += [_curve_cells(attrs.get(key)) for key in CURVE_KEYS]
        if not any(curves):
            stream.write(prefix + "," * len(curves) + "\n")
            continue
        epochs = max(map(len, curves))
        if any(len(curve) < epochs for curve in curves):
            curves = [curve + [""] * (epochs - len(curve)) for curve in curves]
        rows = map(",".join, zip(map(str, range(1, epochs + 1)), *curves, strict=True))
        stream.write(prefix + ("\n" + prefix).join(rows) + "\n")


def _numbers(text: str) -> bool:
    """Whether the JSON text holds only numbers (and the commas, spaces and brackets of a
    list): any other value holds one of these letters or marks (null, true, false, NaN,
    Infinity, a string, an object; a nested list shows as a second bracket)."""
    return not (
        "n" in text or "t" in text or "f" in text or "N" in text or "I" in text
        or '"' in text or "{" in text or "[" in text[1:]
    )  # fmt: skip


def _cell(text: str | None) -> Any:
    """An attribute's JSON text as the cell `csv` writes for its value."""
    if text is None:
        return ""
    if _numbers(text):
        return text  # json.dumps writes a number as `repr`, which is its `str`
    value = json.loads(text)
    return "" if value is None else value


def _curve_cells(text: str | None) -> list[str]:
    """A curve's JSON text as the cells `csv` writes for its values (None: an empty cell)."""
    if text is None:
        return []
    if text.startswith("[") and _numbers(text):
        numbers = text[1:-1].replace(" ", "")  # whatever the separators of the JSON's writer
        return numbers.split(",") if numbers else []
    return _cells(json.loads(text))


def _val_accuracy_cells(trial: TrialRows) -> list[str]:
    """The per-epoch validation accuracy: Optuna's intermediate values, unless the objective
    is another curve (then the user attribute `val_accuracy`)."""
    text = trial.attrs.get("val_accuracy")
    if text is None:
        return list(map(str, trial.intermediate))
    return [str(float(v)) for v in json.loads(text)]


def _cells(curve: list[Any]) -> list[str]:
    """A curve's values (not all numbers) as the cells `csv` writes: quoted where needed."""
    return [_quoted(value) for value in curve]


def _quoted(value: Any) -> str:
    if value is None or value == "":
        return ""  # (`csv` quotes an empty string only when it is a row's one cell)
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow([value])
    return line.getvalue()


def _parsed(attrs: dict[str, str]) -> dict[str, Any]:
    """The attributes' values, parsed in one call (keys are plain names)."""
    return json.loads("{" + ",".join(f'"{key}": {text}' for key, text in attrs.items()) + "}")


def _state(trial: TrialRows) -> str:
    """complete, pruned, failed, diverged, running or waiting (as `queries.trial_state`)."""
    text = trial.attrs.get("diverged", "false")
    if trial.state in FINISHED and text != "false" and (text == "true" or json.loads(text)):
        return "diverged"
    return STATE_NAMES.get(trial.state, trial.state.name.lower())


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(sep=" ", timespec="seconds") if moment else None
