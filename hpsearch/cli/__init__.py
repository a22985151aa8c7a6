"""The `hpsearch` command: thin typer commands over the library.

Each command parses its options, calls one library function and renders the result. One error
boundary (`app.Commands.invoke`, as `optuna/cli.py`'s `main`) turns an `HpsearchError` into
one line on stderr and its exit code; --debug shows its traceback instead.
"""

from hpsearch.cli import manage_commands, run_commands, view_commands  # noqa: F401  (they register the commands)
from hpsearch.cli.app import app

__all__ = ["app"]
