"""Turning run results into text: the book-style ranking, round tables, JSON summaries."""

from __future__ import annotations

import math
from typing import Any

from optuna.trial import FrozenTrial
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from hpsearch.records import RoundRecord, is_diverged, score
from hpsearch.runner import Observer, RunSummary
from hpsearch.runner import Progress as RunProgress
from hpsearch.space import Range
from hpsearch.study_file import StudySpec

LABELS = {"lr": "lr", "weight_decay": "weight decay"}


def fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return (
            f"{value:.1e}"
            if value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e3)
            else f"{value:.3g}"
        )
    return str(value)


def fmt_range(current: Range) -> str:
    if current.choices:
        return "{" + ", ".join(map(str, current.choices)) + "}"
    return f"{fmt_value(current.low)} .. {fmt_value(current.high)}"


def book_line(rank: int, trial: FrozenTrial) -> str:
    """'Best-1 (val acc 0.83) | lr 9.2e-03, weight decay 3.9e-07', the book's 6.5 printout."""
    params = ", ".join(f"{LABELS.get(k, k)} {_book_value(v)}" for k, v in trial.params.items())
    acc = "diverged" if is_diverged(trial) else f"val acc {score(trial) or 0.0:.2f}"
    return f"Best-{rank} ({acc}) | {params}"


def _book_value(value: Any) -> str:
    return f"{value:.1e}" if isinstance(value, float) else str(value)


def rounds_table(rounds: list[RoundRecord], spec: StudySpec) -> Table:
    table = Table(title="Rounds", title_justify="left")
    table.add_column("round", justify="right")
    for param in spec.params:
        table.add_column(LABELS.get(param.name, param.name))
    for column in ("trials", "best", "median", "why"):
        table.add_column(column, justify="right" if column != "why" else "left")
    for record in rounds:
        table.add_row(
            str(record.number),
            *[range_text(record, p.name) for p in spec.params],
            str(len(record.trial_numbers)) if record.done else "running",
            _score_text(record.best),
            _score_text(record.median),
            record.reason,
        )
    return table


def range_text(record: RoundRecord, name: str) -> str:
    """A round's range of one parameter, marked where it extends past the previous edge."""
    edge = {"high": " (past high)", "low": " (past low)"}.get(record.crowded.get(name) or "", "")
    return fmt_range(record.ranges[name]) + edge


def _score_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def round_line(record: RoundRecord, spec: StudySpec) -> str:
    """One plain line per finished round, for logs and non-interactive runs."""
    ranges = ", ".join(f"{p.name} {fmt_range(record.ranges[p.name])}" for p in spec.params)
    return (
        f"round {record.number + 1}/{spec.rounds}: {len(record.trial_numbers)} trials, "
        f"best {_score_text(record.best)}, median {_score_text(record.median)} | {ranges}"
    )


def print_summary(console: Console, summary: RunSummary) -> None:
    if summary.already_complete:
        console.print(f"Study {summary.study_name!r} is already complete; nothing to do.")
    console.print(rounds_table(summary.rounds, summary.spec))
    for rank, trial in enumerate(summary.top, start=1):
        console.print(book_line(rank, trial), highlight=False)
    test = summary.test
    if test.get("test_accuracy") is not None:
        console.print(
            f"Best configuration (trial {test['trial']}): val acc "
            f"{test['val_accuracy']:.3f}, test acc {test['test_accuracy']:.3f}"
        )
    console.print(
        f"Study {summary.study_name!r} stored in {summary.storage} ({summary.seconds:.1f} s)",
        highlight=False,
    )


def summary_json(summary: RunSummary) -> dict[str, Any]:
    return {
        "study": summary.study_name,
        "storage": summary.storage,
        "already_complete": summary.already_complete,
        "complete": summary.complete,
        "finished_trials": summary.finished,
        "planned_trials": summary.planned,
        "seconds": round(summary.seconds, 3),
        "rounds": [r.to_dict() for r in summary.rounds],
        "best": [trial_json(t) for t in summary.top],
        "test": summary.test,
    }


def trial_json(trial: FrozenTrial) -> dict[str, Any]:
    value = trial.value
    return {
        "number": trial.number,
        "round": trial.user_attrs.get("round"),
        "state": "DIVERGED" if is_diverged(trial) else trial.state.name,
        "value": value if value is None or math.isfinite(value) else None,
        "params": dict(trial.params),
    }


class ConsoleObserver(Observer):
    """A rich progress bar per round on a terminal; one line per round otherwise."""

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self.console, self.quiet = console, quiet
        self.bar: Progress | None = None
        self.task: Any = None

    def round_started(self, record: RoundRecord, spec: StudySpec) -> None:
        if self.quiet or not self.console.is_terminal:
            return
        self.bar = Progress(
            TextColumn("round {task.fields[round]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("best {task.fields[best]}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.task = self.bar.add_task(
            "", total=spec.trials_per_round, round=f"{record.number + 1}/{spec.rounds}", best="-"
        )
        self.bar.start()

    def progress(self, progress: RunProgress) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=progress.done, best=_score_text(progress.best))

    def round_finished(self, record: RoundRecord, spec: StudySpec) -> None:
        self.close()
        if not self.quiet:
            self.console.print(round_line(record, spec), highlight=False, soft_wrap=True)

    def testing(self) -> None:
        if not self.quiet:
            self.console.print(
                "scoring the best configuration on the test split ...", highlight=False
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
