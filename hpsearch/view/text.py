"""The one text layer: how values, ranges, scores, trials and results are written.

Every view (tables, reports, the run's progress lines and summary) formats through these, so
the same thing reads the same everywhere.
"""

from __future__ import annotations

import math
import re
from typing import Any

from optuna.trial import FrozenTrial

from hpsearch.store.reads import STATE_NAMES
from hpsearch.store.records import FINISHED, RoundRecord, is_diverged, score, val_accuracy
from hpsearch.study.final import wilson
from hpsearch.study.space import Range
from hpsearch.study.spec import StudySpec

LABELS = {"lr": "lr", "weight_decay": "weight decay"}


def label(name: str) -> str:
    """A parameter's name as tables and plots show it."""
    return LABELS.get(name, name)


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


def acc(value: float | None) -> str:
    """An accuracy (or any score) to three places; '-' where there is none."""
    return "-" if value is None or not math.isfinite(value) else f"{value:.3f}"


def interval(low: float, high: float) -> str:
    """'[0.81, 0.94]': a 95 % interval, to two places (an accuracy on 100 images moves in
    steps of 0.01)."""
    return f"[{low:.2f}, {high:.2f}]"


def acc_in(value: float | None, n: int | None, places: int = 3) -> str:
    """An accuracy measured on `n` images with its 95 % Wilson interval: '0.890 [0.81, 0.94]';
    without `n` (a study stored before hpsearch recorded its split) the accuracy alone."""
    if value is None or not math.isfinite(value):
        return "-"
    text = f"{value:.{places}f}"
    return f"{text} {interval(*wilson(value, n))}" if n else text


def best_text(value: float | None, n_val: int | None, maximize: bool) -> str:
    """'best validation accuracy 0.890 [0.81, 0.94]', or for a study minimising the loss
    'best validation loss 0.412' (a loss has no binomial interval)."""
    if maximize:
        return f"best validation accuracy {acc_in(value, n_val)}"
    return f"best validation loss {acc(value)}"


def book_line(rank: int, trial: FrozenTrial, n_val: int | None = None) -> str:
    """'Best-1 (val acc 0.83 [0.74, 0.89]) | lr 9.2e-03, weight decay 3.9e-07', the book's 6.5
    printout, with the accuracy's interval on the `n_val` validation images."""
    params = ", ".join(f"{label(k)} {_book_value(v)}" for k, v in trial.params.items())
    value = val_accuracy(trial) or 0.0
    accuracy = "diverged" if is_diverged(trial) else f"val acc {acc_in(value, n_val, 2)}"
    if "val_accuracy" in trial.user_attrs and not is_diverged(trial):  # the objective: a loss
        accuracy = f"val loss {score(trial) or 0.0:.3f}, {accuracy}"
    return f"Best-{rank} ({accuracy})" + (f" | {params}" if params else "")


def _book_value(value: Any) -> str:
    return f"{value:.1e}" if isinstance(value, float) else str(value)


def range_text(record: RoundRecord, name: str) -> str:
    """A round's range of one parameter, marked where it extends past the previous edge."""
    edge = {"high": " (past high)", "low": " (past low)"}.get(record.crowded.get(name) or "", "")
    return fmt_range(record.ranges[name]) + edge


def round_name(number: int, rounds: int) -> str:
    """'round 0 (1 of 4)': rounds are numbered from 0 wherever people read them, as they are
    stored and in every table, plot, JSON document and `--round`."""
    return f"round {number} ({number + 1} of {rounds})"


def round_line(record: RoundRecord, spec: StudySpec) -> str:
    """One plain line per finished round, for logs and non-interactive runs."""
    ranges = ", ".join(f"{p.name} {fmt_range(record.ranges[p.name])}" for p in spec.params)
    return (
        f"{round_name(record.number, spec.rounds)}: {len(record.trial_numbers)} trials"
        + (f" of {record.epochs} epochs ({record.pruned} pruned)" if record.epochs else "")
        + ", "
        f"best {acc(record.best)}, median {acc(record.median)} | {ranges}"
    )


def test_line(
    test: dict[str, Any], sizes: dict[str, int] | None = None, final: dict[str, Any] | None = None
) -> str:
    """The study's test score: 'Best configuration (trial 87): val acc 0.890 [0.81, 0.94],
    test acc 0.839 [0.81, 0.86]' (intervals when the split's `sizes` are known); with the
    `final` choice, the chosen configuration's mean over its new seeds comes first."""
    if test.get("test_accuracy") is None:
        why = f" ({test.get('reason', 'no result')})" if test else ""
        return f"Test accuracy: not scored yet{why}."
    sizes = sizes or {}
    val = acc_in(test["val_accuracy"], sizes.get("val"))
    tested = f"test acc {acc_in(test['test_accuracy'], sizes.get('test'))}"
    chosen = chosen_row(final, test["trial"]) if final else None
    if chosen is None:
        return f"Best configuration (trial {test['trial']}): val acc {val}, {tested}"
    assert final is not None
    return (
        f"Chosen configuration (trial {test['trial']}, the best mean of {final['seeds']} new "
        f"seeds among the top {len(final['configurations'])}): val acc mean "
        f"{chosen['mean']:.3f} {interval(chosen['low'], chosen['high'])} (its own seed {val}), "
        f"{tested}"
    )


def chosen_row(final: dict[str, Any], trial: int | None) -> dict[str, Any] | None:
    """The configuration of the `final` choice that was chosen, if it is trial `trial`."""
    if final.get("chosen") != trial:
        return None
    return next((c for c in final["configurations"] if c["trial"] == trial), None)


def trial_json(trial: FrozenTrial) -> dict[str, Any]:
    value = val_accuracy(trial)  # whatever the objective
    return {
        "trial": trial.number,
        "round": trial.user_attrs.get("round"),
        "state": "diverged"
        if trial.state in FINISHED and is_diverged(trial)
        else STATE_NAMES.get(trial.state, trial.state.name.lower()),
        "val_accuracy": value if value is None or math.isfinite(value) else None,
        "params": dict(trial.params),
    }


def safe_name(name: str) -> str:
    """A file name made from a study name: no folders, no dots in front, nothing to quote."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".")[:100]
    return cleaned or "study"


def count(value: object) -> str:
    """A count that may be unknown (a round planned before it was recorded): '-'."""
    return "-" if value is None else str(value)


def trial_counts(counts: dict[str, int], retried: int = 0) -> str:
    """'24 complete, 1 pruned, 2 retried': the trials by state, only the states there are; a
    retried attempt (interrupted or abandoned, then run again) is not a failed trial."""
    parts = [f"{n} {state}" for state, n in counts.items() if n]
    parts += [f"{retried} retried"] if retried else []
    return ", ".join(parts) or "none"
