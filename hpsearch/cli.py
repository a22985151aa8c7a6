"""The `hpsearch` command: thin typer commands over the library.

Each command parses its options, calls one library function and renders the result.
`HpsearchError`s become one line on stderr and their exit code; --debug shows tracebacks.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from hpsearch.batch import EXIT_SIGINT, EXIT_SIGTERM, EXIT_TIMEOUT, Stop, StudyResult
from hpsearch.errors import HpsearchError
from hpsearch.signals import on_signals

app = typer.Typer(
    name="hpsearch",
    help="Hyperparameter search for small NumPy networks, stored in Optuna studies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
stdout = Console()
stderr = Console(stderr=True)
_debug = {"on": False}
T = TypeVar("T")

StorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage",
        "-s",
        envvar="HPSEARCH_STORAGE",
        help="Storage URL (sqlite:///file.db, postgresql://...) or a SQLite file path. "
        "Default: ./hpsearch.db.",
        show_default=False,
    ),
]


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    _debug["on"] = debug


def guarded(action: Callable[[], T]) -> T:
    """Run `action`; an HpsearchError becomes one line on stderr and its exit code."""
    try:
        return action()
    except HpsearchError as error:
        if _debug["on"]:
            raise
        stderr.print(f"hpsearch: {error}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(error.exit_code) from None


@contextmanager
def stop_on_signals(stop: Stop) -> Iterator[None]:
    """SIGINT and SIGTERM request a stop (exit 130 / 143) instead of killing the process."""
    with on_signals(
        lambda signum: stop.request(EXIT_SIGTERM if signum == signal.SIGTERM else EXIT_SIGINT)
    ):
        yield


@contextmanager
def deadline(stop: Stop, seconds: float | None) -> Iterator[None]:
    timer = threading.Timer(seconds, stop.request, args=(EXIT_TIMEOUT,)) if seconds else None
    if timer:
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer:
            timer.cancel()


@app.command()
def run(
    study_files: Annotated[
        list[Path],
        typer.Argument(
            help="Study files (TOML) or folders of them, run in turn.", show_default=False
        ),
    ],
    storage: StorageOption = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=0,
            help="Local worker processes (default: one per core; 0: none, "
            "for `hpsearch worker` elsewhere).",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON summary line per study on stdout.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")] = False,
    timeout: Annotated[
        str | None,
        typer.Option(
            help="Stop at this deadline (90s, 15m, 2h), even mid-trial; exit 124.",
            show_default=False,
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", help="If another run holds a study, wait for it instead of exiting 75."
        ),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(
            help="Write each study's report (plots, summary.md, summary.json) into this folder.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run study files' searches, or continue them where they stopped."""
    from hpsearch.batch import batch_exit_code, collect_study_files, parse_duration, run_batch
    from hpsearch.render import ConsoleObserver
    from hpsearch.storage import resolve_url

    url = resolve_url(storage)
    seconds = guarded(lambda: parse_duration(timeout)) if timeout else None
    files = guarded(lambda: collect_study_files(study_files))
    stop = Stop()
    observer = ConsoleObserver(stderr, quiet=quiet or json_output)
    with stop_on_signals(stop), deadline(stop, seconds):
        try:
            results = run_batch(
                files,
                url,
                jobs=os.cpu_count() or 1 if jobs is None else jobs,
                stop=stop,
                observer=observer,
                wait=wait,
                on_result=lambda result: _show_result(
                    _write_report(result, url, report) if report else result, json_output, quiet
                ),
            )
        finally:
            observer.close()
    if any(r.exit_code in (EXIT_SIGINT, EXIT_SIGTERM) for r in results):
        stderr.print(
            "hpsearch: interrupted; the studies are consistent. Resume with: "
            + shlex.join(["hpsearch", *sys.argv[1:]]),
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    raise typer.Exit(batch_exit_code(results))


def _write_report(result: StudyResult, url: str, folder: Path) -> StudyResult:
    """`run --report`: the study's report into `folder/<study>/`; a failure is the study's."""
    from hpsearch.report import report_into

    if result.summary is None or result.exit_code in (EXIT_SIGINT, EXIT_SIGTERM):
        return result
    try:
        report_into(url, result.summary.study_name, folder)
    except HpsearchError as error:
        message = f"report of {result.summary.study_name!r}: {error}"
        error_text = f"{result.error}; {message}" if result.error else message
        return dataclasses.replace(result, exit_code=result.exit_code or 1, error=error_text)
    return result


def _show_result(result: StudyResult, json_output: bool, quiet: bool) -> StudyResult:
    from hpsearch.listings import wide
    from hpsearch.render import print_summary, summary_json

    if result.error:
        stderr.print(f"hpsearch: {result.error}", highlight=False, markup=False, soft_wrap=True)
    if json_output:
        summary = summary_json(result.summary) if result.summary is not None else {}
        record = {"study_file": str(result.path), "exit_code": result.exit_code}
        record |= {"error": result.error, **summary}
        print(json.dumps(record), flush=True)
    elif result.summary is not None and not quiet:
        print_summary(wide(stdout), result.summary)
    return result


@app.command()
def worker(
    study: Annotated[
        str, typer.Option("--study", help="Name of the study to work on.", show_default=False)
    ],
    storage: StorageOption = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, help="Worker processes on this machine.")
    ] = 1,
) -> None:
    """Run trials of a study until it is complete (start on any machine, any time)."""
    from hpsearch.storage import resolve_url
    from hpsearch.worker import run_worker, spawn_workers, stop_workers

    url = resolve_url(storage)
    stop = Stop()
    with stop_on_signals(stop):
        if jobs == 1:
            guarded(lambda: run_worker(url, study, stop.event))
        else:
            processes = spawn_workers(url, study, jobs)
            while any(p.is_alive() for p in processes) and not stop.event.wait(0.5):
                pass
            stop_workers(processes)
    raise typer.Exit(stop.exit_code or 0)


# --- reading studies: thin commands over hpsearch.queries, .report and .plots ---------------

StudyArgument = Annotated[
    str | None,
    typer.Argument(
        help="Study name; may be left out when the storage holds only one study.",
        show_default=False,
    ),
]
FormatOption = Annotated[
    str,
    typer.Option(
        "--format", "-f", help="table, json or csv (json and csv print machine-readable stdout)."
    ),
]
TopOption = Annotated[
    int | None,
    typer.Option("--top", "-n", min=0, help="Only the N best trials.", show_default=False),
]


def _reader(storage: str | None) -> Any:
    from hpsearch.queries import open_reader
    from hpsearch.storage import resolve_url

    return open_reader(resolve_url(storage))


@app.command()
def studies(storage: StorageOption = None, output_format: FormatOption = "table") -> None:
    """List every study in the storage: state, rounds, trials by state, best and test accuracy.

    A study is complete once its test score is stored; running while a worker's or its
    coordinator's heartbeat is fresh (10-15 s); interrupted otherwise.
    """
    from hpsearch.listings import check_format, print_studies
    from hpsearch.queries import overview

    fmt = guarded(lambda: check_format(output_format))
    print_studies(stdout, guarded(lambda: overview(_reader(storage))), fmt)


@app.command()
def show(
    study: StudyArgument = None,
    storage: StorageOption = None,
    top: TopOption = 20,
    output_format: FormatOption = "table",
) -> None:
    """Show a study: its study file, rounds, best trials in the book's style, test accuracy.

    `--format csv` prints the rounds table.
    """
    from hpsearch.listings import check_format
    from hpsearch.queries import RANK_ATTRS, load_study_data
    from hpsearch.report import print_show

    fmt = guarded(lambda: check_format(output_format))
    data = guarded(lambda: load_study_data(_reader(storage), study, attrs=RANK_ATTRS))
    print_show(stdout, data, 20 if top is None else top, fmt)


@app.command()
def trials(
    study: StudyArgument = None,
    storage: StorageOption = None,
    top: TopOption = None,
    round_number: Annotated[
        int | None,
        typer.Option(
            "--round",
            "-r",
            min=0,
            help="Only trials of this round (0 is the first).",
            show_default=False,
        ),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            help="Only trials in this state: complete, pruned, failed, diverged, running, "
            "waiting.",
            show_default=False,
        ),
    ] = None,
    sort: Annotated[
        str | None,
        typer.Option(
            help="Sort by a column (number, round, state, val_accuracy, train_accuracy, "
            "epochs_run, seconds) or a parameter; accuracies best first. Default: number, or "
            "val_accuracy with --top.",
            show_default=False,
        ),
    ] = None,
    reverse: Annotated[bool, typer.Option("--reverse", help="Reverse the order.")] = False,
    output_format: FormatOption = "table",
) -> None:
    """One row per trial: parameters, round, state, final validation and training accuracy."""
    from hpsearch.listings import check_format, print_trials
    from hpsearch.queries import ROW_ATTRS, load_study_data, select_trials

    fmt = guarded(lambda: check_format(output_format))
    data = guarded(lambda: load_study_data(_reader(storage), study, attrs=ROW_ATTRS))
    rows = guarded(
        lambda: select_trials(
            data, top=top, round_number=round_number, state=state, sort=sort, reverse=reverse
        )
    )
    print_trials(stdout, data, rows, fmt)


@app.command()
def best(
    study: StudyArgument = None,
    storage: StorageOption = None,
    output_format: FormatOption = "table",
) -> None:
    r"""The best trial. `--format json` prints settings to feed back: its `train` object is a
    study file's \[train] table (the study's fixed settings with the best parameters)."""
    from hpsearch.listings import check_format
    from hpsearch.queries import RANK_ATTRS, best_settings, load_study_data
    from hpsearch.report import print_best

    fmt = guarded(lambda: check_format(output_format))
    data = guarded(lambda: load_study_data(_reader(storage), study, attrs=RANK_ATTRS))
    settings = guarded(lambda: best_settings(data))
    print_best(stdout, settings, fmt)


@app.command()
def export(
    study: StudyArgument = None,
    storage: StorageOption = None,
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="json or csv (one row per trial and epoch). Default: from the "
            "suffix of --output, else json.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="File to write (default: stdout).", show_default=False
        ),
    ] = None,
) -> None:
    """Every trial with its parameters, round and per-epoch curves, as JSON or CSV."""
    from hpsearch.queries import load_study_data
    from hpsearch.report import export_format, export_text, write_output

    fmt = guarded(lambda: export_format(output_format, output))
    data = guarded(lambda: load_study_data(_reader(storage), study, curves=True))
    guarded(lambda: write_output(export_text(data, fmt), output))


@app.command()
def plot(
    study: StudyArgument = None,
    storage: StorageOption = None,
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            "-k",
            help="curves (the book's 20 best learning curves), scatter, history, "
            "ranges, or Optuna's importances, slice, contour, intermediate.",
        ),
    ] = "curves",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="PNG, SVG or PDF file (by suffix). Default: "
            "<study>-<kind>.png in the current folder.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Draw a figure of a study into an image file (no display needed)."""
    from hpsearch.plots import plot_study
    from hpsearch.storage import resolve_url

    path = guarded(lambda: plot_study(resolve_url(storage), study, kind, output))
    stdout.print(str(path), highlight=False, markup=False, soft_wrap=True)


@app.command("report")
def report_command(
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Folder to write into (created if missing); nothing is written outside it.",
            show_default=False,
        ),
    ],
    study: StudyArgument = None,
    storage: StorageOption = None,
) -> None:
    """Write every plot, a summary.md (tables, linked images) and a summary.json of a study."""
    from hpsearch.report import write_report

    for path in guarded(lambda: write_report(_reader(storage), study, output)):
        stdout.print(str(path), highlight=False, markup=False, soft_wrap=True)
