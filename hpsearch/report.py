"""Whole-study documents: `show`, `best`, `export`, and the report folder.

`write_report` writes every plot, `summary.md` (the tables of `studies` and `show` as
Markdown, with the images linked) and `summary.json` into one folder, and nowhere else: file
names made from study names are sanitised, and every path is checked to stay inside.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

from optuna.storages import RDBStorage
from rich.console import Console

from hpsearch import queries
from hpsearch.errors import HpsearchError, UsageError
from hpsearch.listings import (
    Column,
    acc,
    check_format,
    markdown_table,
    maybe,
    print_listing,
    rich_table,
    round_columns,
    round_csv_columns,
    round_rows,
    study_rows,
    to_json,
    wide,
    write_csv,
)
from hpsearch.records import ranked
from hpsearch.render import LABELS, book_line, fmt_value, trial_json

# --- show and best --------------------------------------------------------------------------


def show_payload(data: queries.StudyData, top: int) -> dict[str, Any]:
    best = ranked(data.trials)[:top]
    return {
        "study": data.name,
        "complete": data.complete,
        "spec": data.user_attrs.get(queries.SPEC_KEY),
        "rounds": [r.to_dict() for r in data.rounds],
        "top": [{"rank": i, **trial_json(t)} for i, t in enumerate(best, start=1)],
        "test": data.test,
    }


def print_show(console: Console, data: queries.StudyData, top: int, output_format: str) -> None:
    """The study file, the rounds table, the book-style ranking and the test accuracy."""
    if output_format == "json":
        sys.stdout.write(to_json(show_payload(data, top)) + "\n")
        return
    if output_format == "csv":  # the one table of `show` that CSV can hold
        write_csv(sys.stdout, round_csv_columns(data), round_rows(data))
        return
    out = wide(console)
    spec = data.user_attrs.get(queries.SPEC_KEY)
    state = (
        "not written by hpsearch" if not spec else "complete" if data.complete else "not complete"
    )
    out.print(f"Study {data.name!r} ({state}), {len(data.trials)} trials", highlight=False)
    if spec:
        out.print("Study file:")
        out.print(spec_toml(spec), markup=False, highlight=False)
        out.print(rich_table("Rounds", round_columns(data), round_rows(data)))
    for rank, trial in enumerate(ranked(data.trials)[:top], start=1):
        out.print(book_line(rank, trial), highlight=False, markup=False)
    out.print(test_line(data), highlight=False)


def test_line(data: queries.StudyData) -> str:
    test = data.test
    if test.get("test_accuracy") is None:
        return f"Test accuracy: not scored yet{'' if not test else ' (' + _why(test) + ')'}."
    return (
        f"Best configuration (trial {test['trial']}): val acc {test['val_accuracy']:.3f}, "
        f"test acc {test['test_accuracy']:.3f}"
    )


def _why(test: dict[str, Any]) -> str:
    return str(test.get("reason", "no result"))


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
        *[Column(k, LABELS.get(k, k), maybe(fmt_value)) for k in settings["params"]],
        Column("val_accuracy", "val acc", acc),
        Column("test_accuracy", "test acc", acc),
    ]
    print_listing(console, "Best trial", columns, [row], output_format, payload=settings)
    if output_format == "table":
        train = ", ".join(f"{k} = {_toml(v)}" for k, v in settings["train"].items())
        wide(console).print(f"[train] {train}", highlight=False, markup=False)


# --- study files as TOML --------------------------------------------------------------------


def spec_toml(spec: dict[str, Any]) -> str:
    """The stored study file written back as TOML (it parses to the same spec)."""
    narrowing = spec.get("narrowing", {})
    lines = [f"name = {_toml(spec['name'])}", f"seed = {_toml(spec['seed'])}", "", "[data]"]
    lines += [
        f"{key} = {_toml(spec[key])}"
        for key in ("dataset", "n_samples", "val_fraction", "test_fraction", "data_dir")
        if spec.get(key) is not None
    ]
    lines += ["", "[train]", *[f"{_key(k)} = {_toml(v)}" for k, v in spec["train"].items()]]
    search = {
        "rounds": spec["rounds"],
        "trials_per_round": spec["trials_per_round"],
        **narrowing,
        "retries": spec["retries"],
    }
    lines += ["", "[search]", *[f"{k} = {_toml(v)}" for k, v in search.items()]]
    for param in spec["params"]:
        lines += ["", f"[search.params.{_key(param['name'])}]"]
        if param["kind"] != "float":
            lines.append(f"type = {_toml(param['kind'])}")
        if param["kind"] == "categorical":
            lines.append(f"choices = {_toml(param['choices'])}")
            continue
        lines += [f"low = {_toml(param['low'])}", f"high = {_toml(param['high'])}"]
        lines += ["log = true"] if param["log"] else []
        lines += [f"limits = {_toml(param['limits'])}"] if param.get("limits") else []
    return "\n".join(lines)


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


# --- the report folder ----------------------------------------------------------------------


def safe_name(name: str) -> str:
    """A file name made from a study name: no folders, no dots in front, nothing to quote."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".")[:100]
    return cleaned or "study"


def write_report(storage: RDBStorage, name: str | None, folder: Path) -> list[Path]:
    """Every plot, `summary.md` and `summary.json` of a study, written into `folder` only.

    A plot a study cannot have (importances of one parameter ...) is listed as skipped, with
    why, in both summaries. Returns the files written.
    """
    from hpsearch.plots import KINDS, NotDrawable, write_plot

    data = queries.load_study_data(storage, name, curves=True)
    folder = _make_folder(folder)
    written, plots, skipped = [], {}, {}
    for kind in KINDS:
        path = _inside(folder, f"{safe_name(data.name)}-{kind}.png")
        try:
            write_plot(data, kind, path)
        except NotDrawable as error:
            skipped[kind] = str(error)
            continue
        plots[kind] = path.name
        written.append(path)
    overview = next(o for o in queries.overview(storage) if o.name == data.name)
    summary = {
        **show_payload(data, 20),
        "overview": study_rows([overview])[0],
        "plots": plots,
        "skipped_plots": skipped,
    }
    try:
        summary["best"] = queries.best_settings(data)
    except HpsearchError:
        summary["best"] = None
    written.append(_write(_inside(folder, "summary.json"), to_json(summary) + "\n"))
    written.append(_write(_inside(folder, "summary.md"), summary_markdown(data, summary)))
    return written


def report_into(url: str, name: str, parent: Path) -> list[Path]:
    """The report of study `name` in `parent/<safe name>/`: for `hpsearch run --report`,
    where one folder receives the reports of several studies."""
    return write_report(queries.open_reader(url), name, parent / safe_name(name))


def summary_markdown(data: queries.StudyData, summary: dict[str, Any]) -> str:
    overview = summary["overview"]
    counts = ", ".join(f"{overview[s]} {s}" for s in queries.STATES if overview[s])
    lines = [
        f"# Study {_md_code(data.name)}",
        "",
        f"State: **{overview['state']}**; rounds {overview['rounds']}; trials: "
        f"{counts or 'none'}; best validation accuracy {acc(overview['best'])}; "
        f"test accuracy {acc(overview['test_accuracy'])}.",
        "",
        test_line(data),
        "",
    ]
    spec = data.user_attrs.get(queries.SPEC_KEY)
    if spec:
        lines += ["## Study file", "", *_fenced(spec_toml(spec), "toml"), ""]
        lines += ["## Rounds", "", markdown_table(round_columns(data), round_rows(data)), ""]
    best = [book_line(i, t) for i, t in enumerate(ranked(data.trials)[:20], start=1)]
    lines += ["## Best trials", "", *_fenced("\n".join(best)), ""] if best else []
    lines += ["## Plots", ""]
    lines += [f"![{kind}]({file})\n" for kind, file in summary["plots"].items()]
    lines += [f"- {kind}: not drawn ({why})" for kind, why in summary["skipped_plots"].items()]
    return "\n".join(lines).rstrip() + "\n"


def _md_code(text: str) -> str:
    """`text` as inline code, whatever backticks it holds."""
    ticks = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    return f"{ticks} {text.replace(chr(10), ' ')} {ticks}" if "`" in text else f"`{text}`"


def _fenced(text: str, language: str = "") -> list[str]:
    """`text` as a fenced code block whose fence no backtick run inside can close."""
    fence = "`" * max(3, max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    return [fence + language, text, fence]


def _make_folder(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise HpsearchError(
            f"cannot create the report folder {folder}: {error.strerror}"
        ) from None
    return folder.resolve()


def _inside(folder: Path, file_name: str) -> Path:
    path = (folder / file_name).resolve()
    if path.parent != folder:  # safe_name makes this impossible; refuse rather than trust
        raise HpsearchError(f"refusing to write {file_name!r} outside {folder}")
    return path


def _write(path: Path, text: str) -> Path:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise HpsearchError(f"cannot write {path}: {error.strerror}") from None
    return path


def export_format(output_format: str | None, output: Path | None) -> str:
    """json or csv: as asked, else by the output file's suffix, else json; and a usable path."""
    if output is not None and not output.parent.is_dir():
        raise UsageError(f"{output}: the folder {output.parent} does not exist; create it first")
    if output_format is None:
        return "csv" if output is not None and output.suffix.lower() == ".csv" else "json"
    return check_format(output_format, ("json", "csv"))


def write_output(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        _write(output, text)


def export_text(data: queries.StudyData, output_format: str) -> str:
    """Every trial with its parameters, round and per-epoch curves, as JSON or CSV.

    CSV is long: one row per trial and epoch (a trial without epochs has one row, epoch empty).
    """
    records = [queries.export_record(t) for t in data.trials]
    if output_format == "csv":
        return _export_csv(records, data.param_names)
    spec = data.user_attrs.get(queries.SPEC_KEY)
    rounds = [r.to_dict() for r in data.rounds]
    document = {"study": data.name, "spec": spec, "rounds": rounds, "test": data.test}
    return to_json({**document, "trials": records}) + "\n"


EXPORT_FIRST, EXPORT_AFTER = (
    ("number", "round", "index", "state", "value"),
    ("epochs_run", "seconds"),
)
EXPORT_CURVES = ("val_accuracy", *queries.CURVE_KEYS)


def _export_csv(records: list[dict[str, Any]], names: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    params = [f"params_{name}" for name in names]
    writer.writerow([*EXPORT_FIRST, *params, *EXPORT_AFTER, "epoch", *EXPORT_CURVES])
    for record in records:
        fixed = [record[key] for key in EXPORT_FIRST]
        fixed += [record["params"].get(name) for name in names]
        fixed += [record[key] for key in EXPORT_AFTER]
        curves = [record["curves"][key] for key in EXPORT_CURVES]
        for epoch in range(max(len(c) for c in curves)) or [None]:
            cells = [
                *fixed,
                None if epoch is None else epoch + 1,
                *(_at(c, epoch) for c in curves),
            ]
            writer.writerow(["" if cell is None else cell for cell in cells])
    return buffer.getvalue()


def _at(curve: list[float], epoch: int | None) -> float | None:
    return curve[epoch] if epoch is not None and epoch < len(curve) else None
