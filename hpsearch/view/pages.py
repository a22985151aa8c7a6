"""The report as a web page: `index.html` of one study, and of a folder of studies' reports.

Jinja2 templates (`templates/`) with autoescaping on for everything: a study's name, its study
file and every attribute are data, so a study named `<script>` shows as text and runs nothing.
A page links only files in its own folder (or its studies' folders), with relative links, so
it opens from disk as well as from any static web server; nothing is fetched from elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from hpsearch.store.records import SPEC_KEY, ranked
from hpsearch.study.toml import spec_toml
from hpsearch.view import queries
from hpsearch.view.documents import write_text
from hpsearch.view.final import TITLE, final_columns, final_record, final_rows, split_sizes
from hpsearch.view.listings import Column, round_columns, round_rows
from hpsearch.view.text import acc, acc_in, best_text, book_line, test_line

INDEX = "index.html"
SUMMARY = "summary.json"

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("hpsearch.view", "templates"),
    autoescape=True,  # every template, whatever its name: nothing from a study is markup
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_templates.filters["acc"] = acc
_templates.filters["href"] = lambda name: quote(str(name))


def study_page(data: queries.StudyData, summary: dict[str, Any]) -> str:
    """The `index.html` of one study's report, from the same `summary` as summary.json."""
    found = summary["overview"]
    counts = [(s, found[s]) for s in queries.STATES if found[s]]
    spec = data.user_attrs.get(SPEC_KEY)
    sizes, final = split_sizes(data), final_record(data)
    n_val = sizes.get("val")
    columns = round_columns(data.param_names, n_val if queries.maximize(data) else None)
    chosen = _table(final_columns(data.param_names), final_rows(final, n_val) if final else [])
    return _templates.get_template("study.html").render(
        name=data.name,
        overview=found,
        counts=counts,
        total=sum(n for _, n in counts),
        test=test_line(data.test, sizes, final),
        best_value=best_text(found["best"], n_val, queries.maximize(data)),
        test_accuracy=acc_in(found["test_accuracy"], sizes.get("test")),
        spec=spec_toml(spec) if spec else None,
        rounds=_table(columns, round_rows(data.rounds, data.param_names)),
        best=[
            book_line(i, t, n_val)
            for i, t in enumerate(ranked(data.trials, queries.maximize(data))[:20], start=1)
        ],
        final=chosen,
        final_title=TITLE,
        plots=list(summary["plots"].items()),
        skipped=list(summary["skipped_plots"].items()),
    )


def _table(columns: list[Column], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Headers and cells as the text tables write them (view/text.py), for the template."""
    return {
        "headers": [(c.header, c.left) for c in columns],
        "rows": [[(c.text(row.get(c.key)), c.left) for c in columns] for row in rows],
    }


def write_folder_index(parent: Path) -> Path:
    """`parent/index.html`: every study report in the folders below `parent`, with its state
    and scores as its summary.json recorded them (so a study reported by an earlier run, or
    from another storage, stays listed). A folder without a readable summary is left out."""
    studies = []
    for summary_file in sorted(parent.glob(f"*/{SUMMARY}")):
        entry = _entry(summary_file)
        if entry is not None:
            studies.append(entry)
    page = _templates.get_template("folder.html").render(studies=studies)
    return write_text(parent / INDEX, page)


def _entry(summary_file: Path) -> dict[str, Any] | None:
    try:
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
        found = summary["overview"]
        return {
            "folder": summary_file.parent.name,
            "has_page": (summary_file.parent / INDEX).is_file(),
            "name": str(summary["study"]),
            "state": str(found["state"]),
            "rounds": str(found["rounds"]),
            "trials": sum(int(found.get(s) or 0) for s in queries.STATES),
            "best": _number(found.get("best")),
            "test_accuracy": _number(found.get("test_accuracy")),
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None
