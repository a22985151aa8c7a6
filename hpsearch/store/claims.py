"""A worker's claims, reading only the trials from the first one that may still wait.

A claim looks for the study's oldest waiting trial. Optuna indexes trials by id and study but
not by state, so without a lower bound on the id every claim would step over every finished
trial of the study (tens of milliseconds at 100,000 trials, inside SQLite's write lock). A
worker keeps two bounds:

- `safe`: no trial of a smaller id waits. An exact scan (one that waits for the claims under
  way) from `safe` that finds nothing moves it to the study's next trial id, read before the
  scan: only the coordinator creates a study's trials, one committed after the other, so a
  trial created after that read has an id at least it.
- `hint`: the trial it claimed last. Trials of smaller ids were claimed when it claimed, or
  being claimed on PostgreSQL (`SKIP LOCKED`): one of these comes back only if its claim
  rolls back, and the exact scan from `safe`, done whenever the scan from a `hint` above
  `safe` finds nothing, finds it. Once `hint` is `safe`, a trial whose claim rolls back has
  an id of at least `safe`, which every later scan covers.

So a claim reads the trials of the current round (from `safe`) at most, never the finished
rounds before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optuna.storages import RDBStorage

from hpsearch.store.slices import next_trial_id, waiting_from
from hpsearch.store.writes import ClaimedTrial, claim_waiting_trial


@dataclass
class Claimer:
    """One worker's claims on one study (see the module's docstring)."""

    storage: RDBStorage
    study_id: int
    safe: int = 0
    hint: int = 0

    def claim(self, system_attrs: dict[str, Any]) -> ClaimedTrial | None:
        """Claim the study's oldest waiting trial, or return None when none waits.

        An idle worker (nothing waits from `safe` on) only reads: no write transaction, so
        on SQLite its polls never queue the coordinator's writes behind the lock.
        """
        if self.hint == self.safe and not waiting_from(self.storage, self.study_id, self.safe):
            return None
        trial = claim_waiting_trial(self.storage, self.study_id, system_attrs, after_id=self.hint)
        if trial is None and self.hint > self.safe:
            upcoming = next_trial_id(self.storage, self.study_id)
            trial = claim_waiting_trial(
                self.storage, self.study_id, system_attrs, after_id=self.safe, skip_locked=False
            )
            if trial is None:
                self.safe = self.hint = upcoming
                return None
        if trial is not None:
            self.hint = trial.trial_id
        return trial
