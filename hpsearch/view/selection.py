"""The rows of `hpsearch trials`: which trials, in which order, and why none when none.

`--top N` means the N best trials (as `ranked` orders them); `--sort` then orders those N.
"""

from __future__ import annotations

from typing import Any

from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from hpsearch.errors import UsageError
from hpsearch.store.records import FINISHED, FIXED_PARAMS_KEY, place, ranked, val_accuracy
from hpsearch.view.queries import (
    ROW_ATTRS,
    STATES,
    StudyData,
    load_study_data,
    load_top_data,
    maximize,
    trial_state,
)

TRIAL_COLUMNS = (
    "trial",
    "round",
    "state",
    "val_accuracy",
    "train_accuracy",
    "epochs_run",
    "seconds",
)
BEST_FIRST = {"val_accuracy", "train_accuracy"}


def list_trials(
    storage: RDBStorage,
    name: str | None,
    *,
    top: int | None = None,
    round_number: int | None = None,
    state: str | None = None,
    sort: str | None = None,
    reverse: bool = False,
) -> tuple[StudyData, list[dict[str, Any]], str | None]:
    """The study, the rows `hpsearch trials` lists, and why there are none (else None)."""
    data = None
    if top is not None and (round_number, state) == (None, None):
        data = load_top_data(storage, name, top)  # cut by the database
        if len(data.trials) < min(top, data.trial_count):  # unfinished ones come after
            data = None
    if data is None:
        data = load_study_data(storage, name, attrs=ROW_ATTRS)
    rows = select_trials(
        data, top=top, round_number=round_number, state=state, sort=sort, reverse=reverse
    )
    return data, rows, None if rows else why_empty(data, top, round_number, state)


def trial_row(trial: FrozenTrial, param_names: list[str]) -> dict[str, Any]:
    """One line of `hpsearch trials`: parameters (a waiting trial's enqueued ones), round,
    state, final accuracies, cost, and why it failed."""
    train = trial.user_attrs.get("train_accuracy") or []
    value = val_accuracy(trial) if trial.state in FINISHED else None
    params = trial.params or trial.system_attrs.get(FIXED_PARAMS_KEY, {})
    return {
        "trial": trial.number,
        "round": trial.user_attrs.get("round"),
        "state": trial_state(trial),
        "params": {name: params.get(name) for name in param_names},
        "val_accuracy": value,
        "train_accuracy": train[-1] if train else None,
        "epochs_run": trial.user_attrs.get("epochs_run"),
        "seconds": trial.user_attrs.get("seconds"),
        "reason": _failure(trial),
    }


def _failure(trial: FrozenTrial) -> str | None:
    if trial.state != TrialState.FAIL:
        return None
    reason = trial.user_attrs.get("fail_reason") or "failed"
    error = trial.user_attrs.get("error")
    return f"{reason}: {error}" if error else str(reason)


def _retried(rows: list[dict[str, Any]], trials: list[FrozenTrial]) -> None:
    """Add to each failed row that its place ran again, and as which trial."""
    later: dict[tuple[Any, Any], int] = {}
    for trial in sorted(trials, key=lambda t: t.number):
        later[(trial.user_attrs.get("round"), trial.user_attrs.get("index"))] = trial.number
    keys = {t.number: (t.user_attrs.get("round"), t.user_attrs.get("index")) for t in trials}
    for row in rows:
        if row["reason"] and None not in keys[row["trial"]]:
            again = later[keys[row["trial"]]]
            if again != row["trial"]:
                row["reason"] += f"; run again as trial {again}"


def select_trials(
    data: StudyData,
    *,
    top: int | None = None,
    round_number: int | None = None,
    state: str | None = None,
    sort: str | None = None,
    reverse: bool = False,
) -> list[dict[str, Any]]:
    """Rows of `hpsearch trials`: filtered, cut to the `top` best (as `ranked` ranks them:
    the study's objective, ties by place), then sorted by `sort` (accuracies best first;
    default: the trial number, or with `top` the ranking itself)."""
    if state is not None and state not in STATES:
        raise UsageError(f"unknown trial state {state!r}; choose from {', '.join(STATES)}")
    names = data.param_names
    if sort is not None and sort not in (*TRIAL_COLUMNS, *names):
        raise UsageError(
            f"cannot sort by {sort!r}; choose from {', '.join((*TRIAL_COLUMNS, *names))}"
        )
    places = {t.number: place(t) for t in data.trials}
    rows = [trial_row(t, names) for t in data.trials]
    _retried(rows, data.trials)
    rows = [
        r
        for r in rows
        if (round_number is None or r["round"] == round_number)
        and (state is None or r["state"] == state)
    ]
    if top is not None:  # the N best as the study ranks them (its objective, ties by place),
        shown = {r["trial"] for r in rows}  # then unfinished ones, in trial order
        kept = [t for t in data.trials if t.number in shown]
        best = ranked(kept, maximize(data))
        rest = sorted((t for t in kept if t.state not in FINISHED), key=lambda t: t.number)
        by_number = {r["trial"]: r for r in rows}
        rows = [by_number[t.number] for t in [*best, *rest][:top]]
        if sort is None:
            return rows[::-1] if reverse else rows
    return _sorted(rows, sort or "trial", reverse, names, places)


def _sorted(
    rows: list[dict[str, Any]],
    sort: str,
    reverse: bool,
    names: list[str],
    places: dict[int, tuple[float, float, int]],
) -> list[dict[str, Any]]:
    descending = (sort in BEST_FIRST) != reverse

    def key(row: dict[str, Any]) -> tuple[bool, Any, tuple[float, ...]]:
        value = row["params"][sort] if sort in names else row[sort]
        missing = value is None
        if missing:
            value = 0
        # ties by place (round, index), the earliest first either way, as `ranked` breaks them
        tie = places[row["trial"]]
        return (missing != descending, value, tuple(-x for x in tie) if descending else tie)

    return sorted(rows, key=key, reverse=descending)


def why_empty(
    data: StudyData, top: int | None, round_number: int | None, state: str | None
) -> str:
    """Why `hpsearch trials` lists nothing, in one line."""
    if top == 0:
        return "--top 0 lists no trials; give --top 1 or more"
    if not data.trial_count:
        return f"study {data.name!r} has no trials yet"
    rounds = sorted({int(r) for t in data.trials if (r := t.user_attrs.get("round")) is not None})
    if round_number is not None and round_number not in rounds:
        have = f"rounds {rounds[0]} to {rounds[-1]}" if rounds else "no rounds yet"
        return f"study {data.name!r} has no round {round_number}; it has {have}"
    where = f" in round {round_number}" if round_number is not None else ""
    return f"no trial of study {data.name!r}{where} is {state}"
