"""A coordinator without local workers (`run --jobs 0`) says whom it waits for.

Its trials wait until an `hpsearch worker` claims them; when nothing has claimed one for a
few seconds, the run says so once (and again after claims stop a later time), instead of
waiting in silence.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

from hpsearch.timing import IDLE_NOTICE_S


@dataclass
class IdleWatch:
    """Whether a round has had waiting trials and none running for IDLE_NOTICE_S seconds."""

    after: float = IDLE_NOTICE_S
    clock: Callable[[], float] = time.monotonic
    since: float | None = None  # when the round was last seen being worked on
    told: bool = False

    def notice(self, trials: list[FrozenTrial]) -> bool:
        """True once per idle spell: trials wait, none runs, and it has lasted `after`."""
        now = self.clock()
        idle = any(t.state == TrialState.WAITING for t in trials) and not any(
            t.state == TrialState.RUNNING for t in trials
        )
        if not idle:
            self.since, self.told = now, False
            return False
        if self.since is None:
            self.since = now
        if self.told or now - self.since < self.after:
            return False
        self.told = True
        return True


def idle_message(study_name: str, url: str) -> str:
    command = shlex.join(["hpsearch", "worker", "--study", study_name, "--storage", url])
    return (
        f"waiting for workers: no trial of study {study_name!r} has been claimed for "
        f"{IDLE_NOTICE_S:g}s (this run has no local workers: --jobs 0); start one with "
        f"`{command}` on any machine that reaches the storage"
    )
