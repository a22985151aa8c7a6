"""The commands that change studies: `run` and `worker`."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hpsearch.cli.app import StorageOption, app, error_line, stderr, stdout
from hpsearch.errors import EXIT_SIGINT, EXIT_SIGTERM, EXIT_TIMEOUT, HpsearchError

if TYPE_CHECKING:  # the run modules load with the commands that run (read commands start fast)
    from hpsearch.run.batch import Stop, StudyResult


@contextmanager
def stop_on_signals(stop: Stop) -> Iterator[None]:
    """SIGINT and SIGTERM request a stop (exit 130 / 143) instead of killing the process."""
    from hpsearch.run.signals import on_signals

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
            help="Write each study's report (index.html, plots, summaries) into this folder.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run study files' searches, or continue them where they stopped."""
    from hpsearch.console import ConsoleObserver
    from hpsearch.run.batch import batch_exit_code, collect_study_files, parse_duration, run_batch
    from hpsearch.store.engines import resolve_url

    url = resolve_url(storage)
    seconds = parse_duration(timeout) if timeout else None
    files = collect_study_files(study_files)
    from hpsearch.run.batch import Stop

    stop = Stop()
    observer = ConsoleObserver(stderr, quiet=quiet or json_output, notices=not quiet)
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
    from hpsearch.view.report import report_into

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
    from hpsearch.console import print_summary, summary_json
    from hpsearch.view.listings import wide

    if result.error:
        error_line(result.error)
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
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="If the storage or study does not exist yet, wait for its coordinator to "
            "create it instead of failing.",
        ),
    ] = False,
) -> None:
    """Run trials of a study until it is complete (start on any machine, any time)."""
    from hpsearch.run.batch import Stop
    from hpsearch.run.joining import work
    from hpsearch.store.engines import resolve_url

    stop = Stop()
    with stop_on_signals(stop):
        work(resolve_url(storage), study, jobs, stop.event, wait=wait, on_wait=error_line)
    raise typer.Exit(stop.exit_code or 0)
