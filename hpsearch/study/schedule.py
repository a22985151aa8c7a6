"""Few epochs first and pruning, decided when a round is planned. Pure functions.

A round's epochs come from the study file's `[search.schedule]`; its pruning thresholds from
`[search.pruning]` and the finished trials of earlier rounds only: at each judging epoch, the
`percentile` of the completed earlier trials' validation accuracies at that same epoch (what
Optuna's PercentilePruner computes, `numpy.percentile` over the other trials' values at the
step, but over earlier rounds instead of whatever happens to run at the same time), or the fixed
`threshold`. Both are stored with the round and travel with each of its queued trials, so a
trial's fate depends on nothing that runs beside it: the same with any number of workers, and
after any crash.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hpsearch.study.spec import StudySpec
from trainer import TrainConfig


def round_epochs(spec: StudySpec, round_number: int) -> int:
    """The epochs a trial of `round_number` trains (the schedule's, else the fixed setting)."""
    scheduled = spec.epochs_in(round_number)
    return (
        scheduled if scheduled is not None else int(spec.train.get("epochs", TrainConfig.epochs))
    )


def thresholds(
    spec: StudySpec, round_number: int, reference_curves: Sequence[dict[int, float]]
) -> dict[int, float]:
    """{epoch: accuracy a trial must reach by then} for the round; empty when nothing prunes.

    `reference_curves`: validation accuracy by epoch of every completed (not diverged) trial of
    the earlier rounds. An epoch with fewer than `min_reference` of them judges nothing.
    """
    pruning = spec.pruning
    if pruning is None:
        return {}
    result: dict[int, float] = {}
    for epoch in pruning.epochs:
        if epoch >= round_epochs(spec, round_number):
            break
        if pruning.rule == "threshold":
            result[epoch] = float(pruning.threshold)  # type: ignore[arg-type]
            continue
        values = [curve[epoch] for curve in reference_curves if epoch in curve]
        if len(values) >= pruning.min_reference:
            # a loss is judged from the other end, as Optuna's pruner does when minimising
            percentile = pruning.percentile if spec.maximize else 100 - pruning.percentile
            result[epoch] = float(np.percentile(values, percentile))
    return result


def behind(
    limits: dict[int, float], epoch: int, best_so_far: float, *, maximize: bool = True
) -> bool:
    """True if a trial whose best objective value up to `epoch` is `best_so_far` stops
    there: strictly worse than the round's threshold at that epoch (below it for an accuracy,
    above it for a loss; as Optuna's pruner judges)."""
    limit = limits.get(epoch)
    if limit is None:
        return False
    return best_so_far < limit if maximize else best_so_far > limit
