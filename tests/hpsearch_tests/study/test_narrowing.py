"""The narrowing rule as a pure function: shrink, extend past crowded edges, ties, failures."""

from __future__ import annotations

import math

import pytest

from hpsearch.study.narrowing import Outcome, narrow, select_top
from hpsearch.study.space import Range
from hpsearch.study.spec import Narrowing, ParamSpec
from trainer import TrainConfig

LR = ParamSpec("lr", "float", low=1e-6, high=1e-2, log=True, limits=(1e-8, 1.0))
SETTINGS = Narrowing(top_fraction=0.2, min_top=3, margin=0.1)
RANGES = {"lr": Range(1e-6, 1e-2)}


def outcomes(pairs: list[tuple[float, float | None]]) -> list[Outcome]:
    return [Outcome(i, {"lr": lr}, score, i) for i, (lr, score) in enumerate(pairs)]


def log_span(r: Range) -> tuple[float, float]:
    return math.log10(r.low), math.log10(r.high)  # type: ignore[arg-type]


def test_shrinks_around_the_best_in_log_space() -> None:
    # The best three sit between 1e-4 and 1e-3; the rest are worse.
    pairs = [(1e-4, 0.9), (3e-4, 0.95), (1e-3, 0.92)] + [
        (10 ** -(5 + i / 10), 0.1) for i in range(12)
    ]
    decision = narrow([LR], RANGES, outcomes(pairs), SETTINGS)
    low, high = log_span(decision.ranges["lr"])
    assert low == pytest.approx(-4 - 0.4) and high == pytest.approx(-3 + 0.4)
    assert decision.crowded == {}
    assert set(decision.top_trials) == {0, 1, 2}


def test_extends_past_a_crowded_upper_edge() -> None:
    # The book's case: the best learning rates sit just under the upper bound 1e-2.
    pairs = [(9e-3, 0.83), (8e-3, 0.82), (7e-3, 0.8)] + [(1e-5, 0.1)] * 12
    decision = narrow([LR], RANGES, outcomes(pairs), SETTINGS)
    low, high = log_span(decision.ranges["lr"])
    assert high > -2, "the next range must reach past the old upper bound"
    assert low < math.log10(7e-3)
    assert decision.crowded == {"lr": "high"}


def test_extends_past_a_crowded_lower_edge_within_hard_limits() -> None:
    param = ParamSpec("lr", "float", low=1e-6, high=1e-2, log=True, limits=(5e-7, 1.0))
    pairs = [(1.1e-6, 0.9), (1.2e-6, 0.9), (1.5e-6, 0.9)] + [(1e-3, 0.1)] * 5
    decision = narrow([param], RANGES, outcomes(pairs), SETTINGS)
    assert decision.crowded == {"lr": "low"}
    assert decision.ranges["lr"].low == pytest.approx(5e-7)  # clipped to the limit


@pytest.mark.parametrize(
    ("param", "start", "best"),
    [
        (ParamSpec("dropout_rate", "float", low=0.0, high=0.5), Range(0.0, 0.5), 0.0),
        (ParamSpec("dropout_rate", "float", low=0.0, high=0.9), Range(0.5, 0.9), 0.89),
        (ParamSpec("batch_size", "int", low=2, high=128), Range(2, 128), 2),
    ],
)
def test_a_crowded_edge_never_leads_past_what_the_trainer_accepts(
    param: ParamSpec, start: Range, best: float
) -> None:
    # Found by a user: without `limits`, dropout 0..0.5 narrowed to -0.24..0.24 and batch
    # size 16..128 to -9..79, and every trial sampled below 0 failed with a ConfigError.
    near = [best, best, best] if param.kind == "float" else [best, best + 1, best + 2]
    far = start.high if best < start.high / 2 else start.low  # type: ignore[operator]
    found = [
        Outcome(i, {param.name: v}, 0.9 if i < 3 else 0.1, i)
        for i, v in enumerate(near + [far] * 5)
    ]
    decision = narrow([param], {param.name: start}, found, SETTINGS)
    assert decision.crowded, "the best sit at the edge"
    start = decision.ranges[param.name]
    least, bound = TrainConfig.domain(param.name)
    assert start.low >= least  # type: ignore[operator]
    assert bound is None or start.high < bound  # type: ignore[operator]


def test_ties_at_the_cutoff_are_all_kept_whatever_their_order() -> None:
    pairs = [(1e-3, 0.9), (1e-4, 0.8), (1e-5, 0.8), (2e-5, 0.8)] + [(1e-2, 0.1)] * 6
    top = select_top(outcomes(pairs), SETTINGS)
    assert [o.number for o in top] == [0, 1, 2, 3]
    reversed_top = select_top(list(reversed(outcomes(pairs))), SETTINGS)
    assert sorted(o.number for o in reversed_top) == [0, 1, 2, 3]


def test_diverged_trials_rank_last_and_never_crash() -> None:
    pairs = [(1e-2, None)] * 10 + [(1e-4, 0.5), (2e-4, 0.6), (3e-4, 0.4)]
    decision = narrow([LR], RANGES, outcomes(pairs), SETTINGS)
    _, high = log_span(decision.ranges["lr"])
    assert high < -3 + 0.5, "diverged trials at 1e-2 must not pull the range up"
    assert set(decision.top_trials) == {10, 11, 12}


def test_every_trial_diverged_moves_numeric_ranges_down() -> None:
    decision = narrow([LR], RANGES, outcomes([(1e-3, None)] * 8), SETTINGS)
    assert decision.ranges["lr"].high == pytest.approx(1e-6)
    assert decision.ranges["lr"].low == pytest.approx(1e-8)  # 1e-10, clipped to the limit
    assert "diverged" in decision.reason


def test_too_few_scored_trials_keep_the_ranges() -> None:
    decision = narrow([LR], RANGES, outcomes([(1e-3, 0.5), (1e-4, None)]), SETTINGS)
    assert decision.ranges == RANGES
    assert "min_top" in decision.reason


def test_best_trials_spanning_everything_keep_the_range() -> None:
    pairs = [(1.1e-6, 0.9), (9e-3, 0.9), (1e-4, 0.9)]
    decision = narrow([LR], RANGES, outcomes(pairs), SETTINGS)
    assert decision.ranges == RANGES
    assert decision.crowded == {"lr": "both"}


def test_categorical_keeps_the_choices_of_the_best_and_int_stays_integral() -> None:
    params = [
        ParamSpec("optimizer", "categorical", choices=("sgd", "adam", "rmsprop")),
        ParamSpec("batch_size", "int", low=16, high=256, log=True),
    ]
    ranges = {"optimizer": Range(choices=("sgd", "adam", "rmsprop")), "batch_size": Range(16, 256)}
    trials = [
        Outcome(0, {"optimizer": "adam", "batch_size": 50}, 0.9, 0),
        Outcome(1, {"optimizer": "sgd", "batch_size": 60}, 0.8, 1),
        Outcome(2, {"optimizer": "adam", "batch_size": 70}, 0.85, 2),
        Outcome(3, {"optimizer": "rmsprop", "batch_size": 200}, 0.1, 3),
    ]
    decision = narrow(params, ranges, trials, SETTINGS)
    assert decision.ranges["optimizer"].choices == ("sgd", "adam")
    size = decision.ranges["batch_size"]
    assert isinstance(size.low, int) and isinstance(size.high, int)
    assert size.low <= 50 and size.high >= 70 and size.high < 200


def test_ranges_never_collapse() -> None:
    pairs = [(1e-4, 0.9)] * 5
    decision = narrow([LR], RANGES, outcomes(pairs), SETTINGS)
    low, high = log_span(decision.ranges["lr"])
    assert high - low == pytest.approx(2 * 0.1 * 4)
