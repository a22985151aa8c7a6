"""The history figure: each trial's objective in trial order, the best so far, rounds."""

from __future__ import annotations

import math
from typing import Any

from matplotlib.ticker import MaxNLocator
from optuna.trial import FrozenTrial

from hpsearch.store.records import FINISHED, is_diverged, score
from hpsearch.view.figures import DIVERGED, ROUND_LABEL, VAL
from hpsearch.view.queries import StudyData, maximize


def history(figure: Any, data: StudyData) -> None:
    """Validation accuracy of each trial in trial order, the best so far, round boundaries."""
    ax = figure.add_subplot()
    trials = sorted((t for t in data.trials if t.state in FINISHED), key=lambda t: t.number)
    good = [t for t in trials if score(t) is not None]
    bad = [t for t in trials if is_diverged(t)]
    size = 20 if len(trials) < 500 else 4
    ax.scatter(
        [t.number for t in good],
        [score(t) for t in good],
        s=size,
        color=VAL,
        label="trial",
        zorder=3,
    )
    if bad:
        ax.scatter(
            [t.number for t in bad],
            [0.0] * len(bad),
            marker="x",
            s=size * 1.5,
            color=DIVERGED,
            label="diverged",
            zorder=3,
        )
    upward = maximize(data)
    best, so_far = [], -1.0 if upward else math.inf
    for trial in trials:
        value = score(trial)
        if upward:
            so_far = max(so_far, value or 0.0)
        elif value is not None:
            so_far = min(so_far, value)
        best.append(so_far if math.isfinite(so_far) else math.nan)
    ax.step([t.number for t in trials], best, where="post", color="black", label="best so far")
    _round_starts(ax, data.trials)
    what = "validation accuracy" if upward else "validation loss"
    if upward:
        ax.set_ylim(-0.02, 1.0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trials are whole numbers
    ax.set_xlabel("trial number")
    ax.set_ylabel(what)
    ax.set_title(f"{data.name}: {what} per trial", pad=22)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)


def _round_starts(ax: Any, trials: list[FrozenTrial]) -> None:
    """A dotted line before each round's first trial, and the round's name above it."""
    starts: dict[int, int] = {}
    epochs: dict[int, str] = {}  # with a schedule: the round's epochs in its label
    for trial in trials:
        number = trial.user_attrs.get("round")
        if number is not None:
            starts[number] = min(starts.get(number, trial.number), trial.number)
            if "epochs" in trial.user_attrs:
                epochs[number] = f", {trial.user_attrs['epochs']} ep"
    for number, start in sorted(starts.items()):
        if start > 0:
            ax.axvline(start - 0.5, color="grey", linestyle=":", zorder=1)
        where = ax.get_xaxis_transform()  # x in data, y in axes units
        label = f"round {number}{epochs.get(number, '')}"
        ax.text(start, 1.01, label, transform=where, **ROUND_LABEL)
