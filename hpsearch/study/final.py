"""The noise-aware final choice (`[search.final]`): pure math, no database.

With 100 validation images an accuracy moves in steps of 0.01 with a standard error near
0.03, so the best of a study's scores is optimistic. Before the test split is used, the
`top` best trials are each trained again with `seeds` new training seeds, and the
configuration with the best mean validation accuracy over those new seeds is chosen. The
trial's own score is left out of its mean: it is what made the trial a top one, so it is
biased upward (the winner's curse); the new seeds are not.

Intervals (95 %, z = 1.96):

- one accuracy `p` on `n` images: Wilson's score interval for a binomial proportion, which
  stays inside [0, 1] and is honest near 0 and 1, where p ± z·√(p(1-p)/n) is not;
- a mean `m` over `k` seeds, all scored on the same `n` images: m ± z·√(s²/k + m(1-m)/n),
  the seeds' standard error (s: their sample standard deviation) and the validation set's
  own sampling error, which more seeds cannot shrink (every seed sees the same images).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpsearch.errors import StudyFileError
from hpsearch.study.spec import Final

Z = 1.96  # 95 % two-sided, normal
FINAL_FIELDS = {"top", "seeds"}
MAX_TOP, MAX_SEEDS = 100, 100
_FINAL_TAG = 0x66696E616C  # "final": keeps re-evaluation seeds apart from any trial seed


def parse_final(search: dict[str, Any], where: str, *, grid: bool, trials: int) -> Final | None:
    """`[search.final]` -> Final, or None when the table is absent (the single best trial is
    trained once more for the test split, as before)."""
    if "final" not in search:
        return None
    table = search["final"]
    if not isinstance(table, dict):
        raise StudyFileError(where, "search.final", "must be a table ([search.final])")
    for key in table:
        if key not in FINAL_FIELDS:
            raise StudyFileError(
                where, f"search.final.{key}", f"unknown field; known: {', '.join(FINAL_FIELDS)}"
            )
    if grid:
        raise StudyFileError(
            where,
            "search.final",
            "a grid study's search.repeats already trains each point with several seeds; "
            "remove [search.final]",
        )
    most = f"the study's {trials} trials" if trials <= MAX_TOP else "the most re-evaluated"
    top = _count(table, "top", 3, min(MAX_TOP, trials), where, most)
    seeds = _count(table, "seeds", 5, MAX_SEEDS, where, "the most per configuration")
    return Final(top=top, seeds=seeds)


def _count(table: dict[str, Any], key: str, default: int, high: int, where: str, most: str) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= high:
        raise StudyFileError(
            where,
            f"search.final.{key}",
            f"give an integer from 1 to {high} ({most}), got {value!r}",
        )
    return value


def final_seed(seed: int, round_number: int, index: int, repeat: int) -> int:
    """The training seed of re-evaluation `repeat` (0, 1, ...) of the trial at place (round,
    index): from the study seed and the place only, so any worker count, a crash or a raised
    `seeds` give the same seeds; never a trial's own seed (`space.trial_seed`)."""
    entropy = [seed, round_number, index, _FINAL_TAG, repeat]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def wilson(accuracy: float, n: int, z: float = Z) -> tuple[float, float]:
    """Wilson's score interval of an accuracy measured on `n` images."""
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class MeanScore:
    """The mean validation accuracy over re-evaluation seeds, with its interval."""

    mean: float
    std: float  # sample standard deviation over the seeds (0 for one seed)
    low: float
    high: float


def mean_score(values: Sequence[float], n: int, z: float = Z) -> MeanScore:
    """The mean of `values` (accuracies on the same `n` images) and m ± z·√(s²/k + m(1-m)/n)."""
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    half = z * math.sqrt(std * std / len(values) + mean * (1 - mean) / n)
    return MeanScore(mean, std, max(0.0, mean - half), min(1.0, mean + half))


def choose(means: Sequence[tuple[float, tuple[int, int]]]) -> int:
    """The position of the best mean among (mean, place) pairs; ties to the earlier place
    (round, index), as every best of a study is chosen."""
    return min(range(len(means)), key=lambda i: (-means[i][0], means[i][1]))
