"""The terminal side of `hpsearch run`: a progress bar or log lines, the summary, its JSON.

Beside `cli` in the top layer: it renders `run`'s events with `view`'s text.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from hpsearch.run.events import Observer, RunSummary
from hpsearch.run.events import Progress as RunProgress
from hpsearch.store.records import RoundRecord
from hpsearch.study.spec import StudySpec
from hpsearch.view.listings import rich_table, round_columns, round_rows
from hpsearch.view.text import acc, book_line, round_line, round_name, test_line, trial_json


def print_summary(console: Console, summary: RunSummary) -> None:
    if summary.already_complete:
        console.print(f"Study {summary.study_name!r} is already complete; nothing to do.")
    n_val = summary.sizes.get("val")
    rows = round_rows(summary.rounds, summary.param_names)
    scored = n_val if summary.spec.maximize else None  # a loss has no binomial interval
    console.print(rich_table("Rounds", round_columns(summary.param_names, scored), rows))
    for rank, trial in enumerate(summary.top, start=1):
        console.print(book_line(rank, trial, n_val), highlight=False)
    if summary.test.get("test_accuracy") is not None:
        console.print(test_line(summary.test, summary.sizes, summary.final), highlight=False)
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
        "final": summary.final,
        "split": summary.sizes,
    }


class ConsoleObserver(Observer):
    """A rich progress bar per round on a terminal; one line per round otherwise.

    `quiet` drops the progress; `notices` (what the run waits for) show unless turned off.
    """

    def __init__(self, console: Console, *, quiet: bool = False, notices: bool = True) -> None:
        self.console, self.quiet, self.notices = console, quiet, notices
        self.bar: Progress | None = None
        self.task: Any = None

    def round_started(self, record: RoundRecord, spec: StudySpec) -> None:
        if self.quiet or not self.console.is_terminal:
            return
        self.bar = Progress(
            TextColumn("{task.fields[round]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("best {task.fields[best]}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.task = self.bar.add_task(
            "",
            total=spec.trials_in(record.number),
            round=round_name(record.number, spec.rounds),
            best="-",
        )
        self.bar.start()

    def progress(self, progress: RunProgress) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=progress.done, best=acc(progress.best))

    def round_finished(self, record: RoundRecord, spec: StudySpec) -> None:
        self.close()
        if not self.quiet:
            self.console.print(round_line(record, spec), highlight=False, soft_wrap=True)

    def testing(self) -> None:
        if not self.quiet:
            self.console.print(
                "scoring the best configuration on the test split ...", highlight=False
            )

    def reevaluating(self, spec: StudySpec) -> None:
        if not self.quiet and spec.final:
            self.console.print(
                f"re-evaluating the top {spec.final.top} configurations with "
                f"{spec.final.seeds} new seeds each, then scoring the best mean on the test "
                "split ...",
                highlight=False,
                soft_wrap=True,
            )

    def waiting(self, message: str) -> None:
        if self.notices:
            self.console.print(
                f"hpsearch: {message}", highlight=False, markup=False, soft_wrap=True
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
