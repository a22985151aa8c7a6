"""What a run tells whoever watches it: progress while a round runs, a summary at the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from optuna.trial import FrozenTrial

from hpsearch.store.records import RoundRecord
from hpsearch.study.spec import StudySpec


@dataclass
class Progress:
    """What the coordinator reports while a round runs (for a progress bar or a log line)."""

    round_number: int
    rounds: int
    done: int
    total: int
    best: float | None


@dataclass
class RunSummary:
    study_name: str
    storage: str
    already_complete: bool
    complete: bool
    finished: int
    planned: int
    rounds: list[RoundRecord]
    top: list[FrozenTrial]
    test: dict[str, Any]
    seconds: float
    spec: StudySpec
    param_names: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)  # the split's parts: train, val, test
    final: dict[str, Any] | None = None  # the [search.final] choice, as stored


class Observer:
    """Callbacks of a run; the CLI renders them. The default does nothing."""

    def round_started(self, record: RoundRecord, spec: StudySpec) -> None: ...
    def progress(self, progress: Progress) -> None: ...
    def round_finished(self, record: RoundRecord, spec: StudySpec) -> None: ...
    def testing(self) -> None: ...
    def reevaluating(self, spec: StudySpec) -> None:
        """The top trials are trained again with new seeds ([search.final]), then tested."""

    def waiting(self, message: str) -> None:
        """The run waits for someone else (workers, another coordinator): say for whom."""
