"""The `hpsearch` command: thin typer commands over the library.

Each command parses its options, calls one library function and renders the result. One error
boundary (`app.Commands.invoke`, as `optuna/cli.py`'s `main`) turns an `HpsearchError` into
one line on stderr and its exit code; --debug shows its traceback instead.
"""

from typer.core import TyperCommand

from hpsearch.cli import manage_commands, run_commands, view_commands  # noqa: F401  (they register the commands)
from hpsearch.cli.app import Command, app, with_debug

for _info in app.registered_commands:
    if _info.cls in (None, TyperCommand):
        _info.cls = Command  # flags untyped in --help
    if _info.callback is not None:
        _info.callback = with_debug(_info.callback)  # --debug after the command name too

__all__ = ["app"]
