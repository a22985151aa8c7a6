"""Leaving wrong ranges fast: with `growth`, the step past an edge grows while that same edge
stays crowded, within `limits`; without it (growth 1, book.toml) nothing changes."""

from __future__ import annotations

import math

import pytest

from hpsearch.study.narrowing import Outcome, narrow
from hpsearch.study.space import Range
from hpsearch.study.spec import Narrowing, ParamSpec

LR = ParamSpec("lr", "float", low=1e-6, high=1e-2, log=True, limits=(1e-8, 1.0))
RANGES = {"lr": Range(1e-6, 1e-2)}
# The best three crowd the high edge, 1e-2; the rest are worse.
OUTCOMES = [
    Outcome(i, {"lr": lr}, score, i)
    for i, (lr, score) in enumerate(
        [(6e-3, 0.8), (8e-3, 0.85), (9.5e-3, 0.9)] + [(10 ** -(3 + i / 4), 0.1) for i in range(12)]
    )
]


def high_reach(settings: Narrowing, streaks: dict[str, tuple[str, int]] | None) -> float:
    decision = narrow([LR], RANGES, OUTCOMES, settings, streaks)
    assert decision.crowded == {"lr": "high"}
    return math.log10(decision.ranges["lr"].high)  # type: ignore[arg-type]


def test_the_step_grows_while_the_same_edge_stays_crowded() -> None:
    plain = Narrowing(top_fraction=0.2, min_top=3, margin=0.1)
    fast = Narrowing(top_fraction=0.2, min_top=3, margin=0.1, growth=2.0)
    first = high_reach(plain, None)
    half_width = first - (-2)
    assert high_reach(fast, None) == pytest.approx(first)  # a first crossing: one step
    assert high_reach(fast, {"lr": ("low", 3)}) == pytest.approx(first)  # another edge
    assert high_reach(fast, {"lr": ("high", 1)}) == pytest.approx(-2 + 2 * half_width)
    assert high_reach(fast, {"lr": ("high", 2)}) == pytest.approx(-2 + 4 * half_width)
    assert high_reach(plain, {"lr": ("high", 2)}) == pytest.approx(first)  # growth 1: as before
    assert high_reach(fast, {"lr": ("high", 30)}) == pytest.approx(0.0)  # the limit 1.0 holds
