"""The CLI's consoles: colour and styles on a terminal, plain text under NO_COLOR or a pipe.

rich already writes no escape codes to a pipe or file, and drops colours under NO_COLOR
(https://no-color.org) but keeps bold and dim; here NO_COLOR means plain text, so it also
turns styles off, in hpsearch's own output and in typer's help and usage errors alike.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console


class _Stdout(Console):
    """rich's console on stdout, ending with exit 0, not 1, when the reader closes the pipe
    (`hpsearch trials | head -1`): the reader has all it wanted."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        raise SystemExit(0)


def plain() -> bool:
    """True under NO_COLOR (set and not empty, as the convention says)."""
    return bool(os.environ.get("NO_COLOR"))


def console(*, stderr: bool = False) -> Console:
    if plain():
        import typer.rich_utils  # here only: its import (rich's markdown, syntax...) is 0.08 s

        typer.rich_utils.COLOR_SYSTEM = None  # typer's documented switch for its own console
    kind = Console if stderr else _Stdout
    return kind(stderr=stderr, color_system=None if plain() else "auto")
