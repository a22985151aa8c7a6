"""What a settled round says about the study: a round in which every trial failed stops it.

A failure of every trial is not a search result (a diverged trial is one: it finished, with
the score 0): it is a setting, data or resource problem the user must see, not a "complete"
study with nothing in it.
"""

from __future__ import annotations

import shlex

from optuna.trial import FrozenTrial, TrialState

from hpsearch.errors import HpsearchError
from hpsearch.store.records import FINISHED


class RoundFailedError(HpsearchError):
    """Every trial of a round failed (exit 1); the message quotes the first one's error."""


def check_round_outcome(study_name: str, round_number: int, trials: list[FrozenTrial]) -> None:
    """Raise RoundFailedError if the settled round `round_number` has no finished trial."""
    if not trials or any(t.state in FINISHED for t in trials):
        return
    failed = sorted((t for t in trials if t.state == TrialState.FAIL), key=lambda t: t.number)
    if not failed:
        return
    first = failed[0]
    reason = first.user_attrs.get("fail_reason")
    error = first.user_attrs.get("error") or (
        "its worker died every time it ran it" if reason == "abandoned" else f"{reason}"
    )
    command = shlex.join(["hpsearch", "trials", study_name, "--round", str(round_number)])
    raise RoundFailedError(
        f"study {study_name!r}: every trial of round {round_number} failed; the first, "
        f"trial {first.number}: {error}; see them all with: {command} --state failed"
    )
