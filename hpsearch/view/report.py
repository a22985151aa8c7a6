"""The report folder: every plot, `index.html`, `summary.md` and `summary.json` of a study.

`write_report` writes into one folder and nowhere else: file names made from study names are
sanitised, and every path is checked to stay inside.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from optuna.storages import RDBStorage

from hpsearch.errors import HpsearchError
from hpsearch.store.records import SPEC_KEY, ranked
from hpsearch.study.toml import spec_toml
from hpsearch.view import grid, pages, queries
from hpsearch.view.documents import show_payload, write_text
from hpsearch.view.final import TITLE, final_columns, final_record, final_rows, split_sizes
from hpsearch.view.listings import round_columns, round_rows, study_rows, to_json
from hpsearch.view.overview import study_overview
from hpsearch.view.tables import markdown_table
from hpsearch.view.text import acc_in, best_text, book_line, safe_name, test_line, trial_counts


def write_report(storage: RDBStorage, name: str | None, folder: Path) -> list[Path]:
    """Every plot, `index.html`, `summary.md` and `summary.json` of a study, into `folder` only.

    A plot a study cannot have (importances of one parameter ...) is listed as skipped, with
    why, in both summaries. Returns the files written.
    """
    from hpsearch.view.plots import GRID_KINDS, KINDS, NotDrawable, write_plot

    data = queries.load_study_data(storage, name, curves=True)
    folder = _make_folder(folder)
    written, plots, skipped = [], {}, {}
    for kind in GRID_KINDS + KINDS if grid.is_grid(data) else KINDS:
        path = _inside(folder, f"{safe_name(data.name)}-{kind}.png")
        try:
            write_plot(data, kind, path)
        except NotDrawable as error:
            skipped[kind] = str(error)
            continue
        plots[kind] = path.name
        written.append(path)
    found = study_overview(storage, data.name)
    summary = {
        **show_payload(data, 20, found),
        "overview": study_rows([found])[0],
        "plots": plots,
        "skipped_plots": skipped,
    }
    try:
        summary["best"] = queries.best_settings(data)
    except HpsearchError:
        summary["best"] = None
    written.append(write_text(_inside(folder, "summary.json"), to_json(summary) + "\n"))
    written.append(write_text(_inside(folder, "summary.md"), summary_markdown(data, summary)))
    written.append(write_text(_inside(folder, pages.INDEX), pages.study_page(data, summary)))
    return written


def report_into(url: str, name: str, parent: Path) -> list[Path]:
    """The report of study `name` in `parent/<safe name>/`: for `hpsearch run --report`,
    where one folder receives the reports of several studies; `parent/index.html` lists them.
    The storage is closed after."""
    storage = queries.open_reader(url)
    try:
        written = write_report(storage, name, parent / safe_name(name))
    finally:
        storage.engine.dispose()
    return [*written, pages.write_folder_index(parent.resolve())]


def summary_markdown(data: queries.StudyData, summary: dict[str, Any]) -> str:
    overview = summary["overview"]
    counts = trial_counts({s: overview[s] for s in queries.STATES}, overview.get("retried", 0))
    sizes, final = split_sizes(data), final_record(data)
    n_val = sizes.get("val")
    lines = [
        f"# Study {_md_code(data.name)}",
        "",
        f"State: **{overview['state']}**; rounds {overview['rounds']}; trials: "
        f"{counts}; {best_text(overview['best'], n_val, queries.maximize(data))}; "
        f"test accuracy {acc_in(overview['test_accuracy'], sizes.get('test'))}.",
        "",
        test_line(data.test, sizes, final),
        "",
    ]
    spec = data.user_attrs.get(SPEC_KEY)
    if spec:
        lines += ["## Study file", "", *_fenced(spec_toml(spec), "toml"), ""]
        rows = round_rows(data.rounds, data.param_names)
        table = markdown_table(
            round_columns(data.param_names, n_val if queries.maximize(data) else None), rows
        )
        lines += ["## Rounds", "", table, ""]
    if grid.is_grid(data):
        columns, rows = (
            grid.point_columns(data.param_names),
            grid.table_rows(grid.point_rows(data)),
        )
        lines += [
            "## Grid points (mean ± std over repeats)",
            "",
            markdown_table(columns, rows),
            "",
        ]
    best = [
        book_line(i, t, n_val)
        for i, t in enumerate(ranked(data.trials, queries.maximize(data))[:20], start=1)
    ]
    lines += ["## Best trials", "", *_fenced("\n".join(best)), ""] if best else []
    if final:
        table = markdown_table(final_columns(data.param_names), final_rows(final, n_val))
        lines += [f"## {TITLE}", "", table, ""]
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
