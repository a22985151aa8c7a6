"""The `hpsearch` Typer app, its one error boundary, and the options commands share."""

from __future__ import annotations

import atexit
import functools
import gc
import inspect
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from hpsearch.cli.terminal import console
from hpsearch.errors import EXIT_SIGINT, HpsearchError

stdout = console()
stderr = console(stderr=True)


def error_line(message: str) -> None:
    stderr.print(f"hpsearch: {message}", highlight=False, markup=False, soft_wrap=True)


def _untyped_flags(params: list[Any]) -> list[Any]:
    """Flags take no value: no `<bool>` beside them in --help (typer's rich help prints the
    type of every option; an empty metavar prints nothing)."""
    for param in params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    return params


class Command(TyperCommand):
    """Every command: its flags untyped in --help."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _untyped_flags(super().get_params(ctx))


DebugOption = Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")]


def with_debug(callback: Callable[..., Any]) -> Callable[..., Any]:
    """`callback` taking `--debug` after the command name too (`hpsearch run x.toml --debug`):
    the flag lands where the error boundary looks, in the context's object."""
    signature = inspect.signature(callback, eval_str=True)  # the commands' annotations are text
    extra = [
        inspect.Parameter("debug", inspect.Parameter.KEYWORD_ONLY, default=False,
                          annotation=DebugOption),
        inspect.Parameter("_ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context),
    ]  # fmt: skip

    @functools.wraps(callback)
    def command(*args: Any, debug: bool = False, _ctx: Any = None, **kwargs: Any) -> Any:
        if debug and _ctx is not None:
            _ctx.ensure_object(dict)["debug"] = True
        return callback(*args, **kwargs)

    parameters = [*signature.parameters.values(), *extra]
    command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    return command


class Commands(TyperGroup):
    """The CLI's one error boundary: an HpsearchError from any command becomes one line on
    stderr and its exit code, unless --debug (kept in the context) asks for the traceback."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _untyped_flags(super().get_params(ctx))

    def invoke(self, ctx: Any) -> Any:  # typer's own click.Context
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # `hpsearch trials | head -1`: the reader has all it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error
            raise typer.Exit(0) from None
        except KeyboardInterrupt:  # Ctrl-C before a command's own handlers (click: exit 1)
            if (ctx.obj or {}).get("debug"):
                raise
            error_line("interrupted; what was stored stays stored: run the same command again")
            raise typer.Exit(EXIT_SIGINT) from None
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
    ctx.ensure_object(dict)["debug"] = debug


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
    """The storage a read command reads (opened read-only)."""
    from hpsearch.store.engines import resolve_url
    from hpsearch.view.queries import open_reader

    _spare_the_collector()
    return open_reader(resolve_url(storage))


@functools.cache
def _spare_the_collector() -> None:
    """Once per process: the objects that exist by now (the imported modules, most of them)
    are moved out of the garbage collector's sight, and again at exit, so that it does not
    walk them over and over while a read command builds its rows, nor once more while the
    interpreter shuts down: a tenth of a second of every read command. What is frozen is
    never collected as a cycle (freed only by its count), which costs nothing in a
    command's process and bounds what a process running many commands (the tests) keeps."""
    gc.freeze()
    atexit.register(gc.freeze)
