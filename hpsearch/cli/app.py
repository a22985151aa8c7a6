"""The `hpsearch` Typer app, its one error boundary, and the options commands share."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from hpsearch.cli.terminal import console
from hpsearch.errors import HpsearchError

stdout = console()
stderr = console(stderr=True)


def error_line(message: str) -> None:
    stderr.print(f"hpsearch: {message}", highlight=False, markup=False, soft_wrap=True)


class Commands(TyperGroup):
    """The CLI's one error boundary: an HpsearchError from any command becomes one line on
    stderr and its exit code, unless --debug (kept in the context) asks for the traceback."""

    def invoke(self, ctx: Any) -> Any:  # typer's own click.Context
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # `hpsearch trials | head -1`: the reader has all it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error
            raise typer.Exit(0) from None
        except HpsearchError as error:
            if (ctx.obj or {}).get("debug"):
                raise
            error_line(str(error))
            raise typer.Exit(error.exit_code) from None


app = typer.Typer(
    name="hpsearch",
    cls=Commands,
    help="Hyperparameter search for small NumPy networks, stored in Optuna studies.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion, typer's
    pretty_exceptions_enable=False,
)

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


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        stdout.print(f"hpsearch {version('hpsearch')}", highlight=False, markup=False)
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    ctx.obj = {"debug": debug}


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


def reader(storage: str | None) -> Any:
    from hpsearch.store.engines import resolve_url
    from hpsearch.view.queries import open_reader

    return open_reader(resolve_url(storage))
