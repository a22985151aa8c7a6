"""The commands that read studies (never changing them): thin calls into `hpsearch.view`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hpsearch.cli.app import (
    FormatOption,
    StorageOption,
    StudyArgument,
    TopOption,
    app,
    reader,
    stdout,
)


@app.command()
def studies(storage: StorageOption = None, output_format: FormatOption = "table") -> None:
    """List every study in the storage: state, rounds, trials by state, best and test accuracy.

    A study is complete once its test score is stored; running while a worker's or its
    coordinator's heartbeat is fresh (10-15 s); interrupted otherwise.
    """
    from hpsearch.view.listings import check_format, print_studies
    from hpsearch.view.overview import overview

    fmt = check_format(output_format)
    print_studies(stdout, overview(reader(storage)), fmt)


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
    from hpsearch.view.documents import print_show
    from hpsearch.view.listings import check_format
    from hpsearch.view.overview import show_data

    fmt = check_format(output_format)
    top = 20 if top is None else top
    data, found = show_data(reader(storage), study, top)
    print_show(stdout, data, top, fmt, found)


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
            help="Sort by a column (trial, round, state, val_accuracy, train_accuracy, "
            "epochs_run, seconds) or a parameter; accuracies best first. With --top, sorts "
            "the N best. Default: trial, or the ranking with --top.",
            show_default=False,
        ),
    ] = None,
    reverse: Annotated[bool, typer.Option("--reverse", help="Reverse the order.")] = False,
    output_format: FormatOption = "table",
) -> None:
    """One row per trial: parameters, round, state, final validation and training accuracy,
    and why a failed trial failed. `--top N`: the N best trials, then ordered by `--sort`."""
    from hpsearch.cli.app import error_line
    from hpsearch.view.listings import check_format, print_trials
    from hpsearch.view.selection import list_trials

    fmt = check_format(output_format)
    data, rows, empty = list_trials(
        reader(storage), study, top=top, round_number=round_number, state=state, sort=sort,
        reverse=reverse,
    )  # fmt: skip
    if empty is None or fmt != "table":
        print_trials(stdout, data, rows, fmt)
    if empty is not None:
        error_line(f"no trials to list: {empty}")


@app.command()
def best(
    study: StudyArgument = None,
    storage: StorageOption = None,
    output_format: FormatOption = "table",
) -> None:
    r"""The best trial. `--format json` prints settings to feed back: its `train` object is a
    study file's \[train] table (the study's fixed settings with the best parameters)."""
    from hpsearch.view.documents import print_best
    from hpsearch.view.listings import check_format
    from hpsearch.view.queries import best_settings, load_top_data

    fmt = check_format(output_format)
    settings = best_settings(load_top_data(reader(storage), study, 1))
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
    from hpsearch.view.export import export_format, export_study

    fmt = export_format(output_format, output)
    export_study(reader(storage), study, fmt, output)


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
            "ranges, or Optuna's importances, slice, contour, intermediate; compare "
            "(curves by a parameter, mean and min-max over repeats), strength (final "
            "train-val gap and val accuracy against each numeric grid parameter) or "
            "activations (hidden-layer histograms at initialisation).",
        ),
    ] = "curves",
    by: Annotated[
        str | None,
        typer.Option(
            help="compare: colour by this parameter (grid: its first).", show_default=False
        ),
    ] = None,
    facet: Annotated[
        str | None,
        typer.Option(
            help="compare: one panel per value of this parameter (grid: its second).",
            show_default=False,
        ),
    ] = None,
    curve: Annotated[
        str,
        typer.Option(
            help="compare: val_accuracy, train_accuracy, train_loss or val_loss; two "
            "comma-separated draw both (solid, dashed)."
        ),
    ] = "val_accuracy",
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
    from hpsearch.store.engines import resolve_url
    from hpsearch.view.compare import CompareOptions
    from hpsearch.view.plots import plot_study

    options = CompareOptions(by, facet, curve)
    path = plot_study(resolve_url(storage), study, kind, output, options)
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
    """Write every plot, an index.html (the page to publish), a summary.md and a summary.json."""
    from hpsearch.view.report import write_report

    for path in write_report(reader(storage), study, output):
        stdout.print(str(path), highlight=False, markup=False, soft_wrap=True)


@app.command()
def dashboard(
    storage: StorageOption = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; 0.0.0.0 serves every network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = 8080,
) -> None:
    """Serve the storage's studies with optuna-dashboard, read only (the `dashboard` extra)."""
    from hpsearch.cli.app import stderr
    from hpsearch.store.engines import resolve_url
    from hpsearch.view.dashboard import describe, serve_dashboard

    url = resolve_url(storage)
    try:
        serve_dashboard(
            url,
            host,
            port,
            lambda address: stderr.print(
                describe(url, address), highlight=False, markup=False, soft_wrap=True
            ),
        )
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
