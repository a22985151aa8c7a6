"""Tables for people: rich tables that fit the console, and Markdown tables for reports.

A table is a list of flat rows and the columns to show; each column turns its cell's value
into text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    text: Callable[[Any], str] = str
    left: bool = False


class FittedTable(Table):
    """A rich table that stays readable on a narrow console: a cell wraps between words but
    no word of it is cut short (each column is at least as wide as its longest word). Where
    the rows do not fit, the columns share the room beyond those widths in proportion to
    what they lack; where even the words do not fit, the cells lose their padding, and only
    then do the longest words fold onto the next line (never an ellipsis)."""

    def __init__(self, title: str, cells: list[list[str]], headers: list[str]) -> None:
        super().__init__(title=title, title_justify="left")
        columns = list(zip(*cells, strict=True)) if cells else [() for _ in headers]
        self.natural = [max(map(len, [h, *c])) for h, c in zip(headers, columns, strict=True)]
        self.least = [
            max(len(word) for text in [h, *c] for word in text.split() or [""]) or 1
            for h, c in zip(headers, columns, strict=True)
        ]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        self.fit(options.max_width)
        yield from super().__rich_console__(console, options)

    def fit(self, width: int) -> None:
        """Fix the columns' widths (padding excluded) for a console `width` characters wide."""
        count = len(self.columns)
        for column in self.columns:
            column.no_wrap = False  # (a table printed again, narrower)
        for padding in (1, 0):
            room = width - (count + 1) - 2 * padding * count  # borders, then padding
            if sum(self.least) <= room:
                break
        else:
            self.padding = (0, 0)
            return  # rich folds the longest words
        self.padding = (0, padding)
        if sum(self.natural) <= room:
            for column in self.columns:
                column.no_wrap = True  # the same lines, without rich's search for breaks
            return
        lack = [n - m for n, m in zip(self.natural, self.least, strict=True)]
        spare, total = room - sum(self.least), sum(lack)
        for column, least, short in zip(self.columns, self.least, lack, strict=True):
            column.width = least + spare * short // total


def rich_table(title: str, columns: list[Column], rows: list[dict[str, Any]]) -> Table:
    cells = [[column.text(row.get(column.key)) for column in columns] for row in rows]
    table = FittedTable(title, cells, [column.header for column in columns])
    for column in columns:
        table.add_column(
            column.header, justify="left" if column.left else "right", overflow="fold"
        )
    for line in cells:  # plain text, not markup: faster, and a "[...]" in a value stays
        table.add_row(*map(Text, line))
    return table


def markdown_table(columns: list[Column], rows: list[dict[str, Any]]) -> str:
    def cell(text: str) -> str:
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(cell(c.header) for c in columns) + " |",
        "|" + "|".join(":---" if c.left else "---:" for c in columns) + "|",
    ]
    lines += [
        "| " + " | ".join(cell(c.text(row.get(c.key))) for c in columns) + " |" for row in rows
    ]
    return "\n".join(lines)
