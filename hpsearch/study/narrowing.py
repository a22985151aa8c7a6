"""The narrowing rule: a finished round's trials -> the next round's ranges. Pure functions.

The book narrows by hand: look at the best results, keep the range they span. Here the best
`top_fraction` of the round (never fewer than `min_top`; ties with the last one kept count too)
span an interval per parameter, measured in log10 units on log scales; it is widened by
`margin` × the current width on each side. Where that widened span would pass an edge of the
current range, the best trials crowd that edge and the optimum probably lies beyond it (the
book's best learning rates all sat just under its upper bound of 1e-2), so the next range is
centred on that edge instead and extends past it, within the parameter's hard `limits`.
With `growth` g > 1, an edge crossed again in the round after it was crossed moves further:
the next range reaches g**k half-widths past it (k: the rounds in a row that crossed that edge
of that parameter), within `limits`.
Pruned trials (stopped early, behind) rank below every trial that trained all its epochs,
by what they reached; diverged and failed trials rank below every finished one. When every
trial diverged, the ranges of the `lowered` parameters (the study file's
`search.lower_when_diverged`, default the learning rate) move one width down: divergence comes
from steps that are too large, not from weight decay; the other ranges stay.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hpsearch.study.space import Range, Ranges
from hpsearch.study.spec import Narrowing, ParamSpec
from trainer import TrainConfig

RULE = "top-fraction-span"


@dataclass(frozen=True)
class Outcome:
    """A finished trial as the rule sees it; `score` None means diverged or failed.

    `index` is its place in the round: ties are broken by it, never by the trial `number`,
    which changes when a trial is run again after a crash.
    """

    number: int
    params: dict[str, Any]
    score: float | None
    index: int
    pruned: bool = False


@dataclass(frozen=True)
class Decision:
    """The next ranges and why: the trials they were drawn from and the edges they crossed."""

    ranges: Ranges
    top_trials: tuple[int, ...]
    crowded: dict[str, str]
    reason: str


def select_top(outcomes: Sequence[Outcome], settings: Narrowing) -> list[Outcome]:
    """The best `top_fraction` of the scored outcomes, at least `min_top`, ties included."""

    def key(outcome: Outcome) -> tuple[bool, float]:
        return (outcome.pruned, -(outcome.score or 0.0))

    scored = sorted((o for o in outcomes if o.score is not None), key=lambda o: (key(o), o.index))
    count = max(settings.min_top, math.ceil(settings.top_fraction * len(outcomes)))
    if len(scored) <= count:
        return scored
    cutoff = key(scored[count - 1])
    return [o for o in scored if key(o) <= cutoff]


def narrow(
    params: Sequence[ParamSpec],
    ranges: Ranges,
    outcomes: Sequence[Outcome],
    settings: Narrowing,
    streaks: dict[str, tuple[str, int]] | None = None,
    lowered: Sequence[str] = ("lr",),
) -> Decision:
    """The next round's ranges from this round's outcomes (see the module docstring).

    `streaks`: per parameter, the edge crossed into this round's range and in how many rounds
    in a row (from the round records); only used when `settings.growth` > 1. `lowered`: the
    parameters moved one width down when every trial diverged.
    """
    scored = [o for o in outcomes if o.score is not None]
    if outcomes and not scored:
        down = [p for p in params if p.name in lowered and p.kind != "categorical"]
        moved = {
            p.name: _shift_down(p, ranges[p.name]) if p in down else ranges[p.name] for p in params
        }
        what = f"{', '.join(p.name for p in down)} moved one width down" if down else "ranges kept"
        return Decision(moved, (), {}, f"every trial diverged or failed: {what}")
    if len(scored) < settings.min_top:
        return Decision(
            dict(ranges),
            (),
            {},
            f"only {len(scored)} scored trials (< min_top {settings.min_top}): ranges kept",
        )
    top = select_top(outcomes, settings)
    next_ranges: Ranges = {}
    crowded: dict[str, str] = {}
    for param in params:
        values = [o.params[param.name] for o in top]
        if param.kind == "categorical":
            next_ranges[param.name] = Range(
                choices=tuple(c for c in ranges[param.name].choices if c in values)
            )
            continue
        edge_before, streak = (streaks or {}).get(param.name, ("", 0))
        next_ranges[param.name], edge = _numeric(
            param,
            ranges[param.name],
            values,
            settings.margin,
            settings.growth,
            edge_before,
            streak,
        )
        if edge:
            crowded[param.name] = edge
    return Decision(
        next_ranges,
        tuple(o.number for o in top),
        crowded,
        f"best {len(top)} of {len(outcomes)} trials",
    )


def _to_axis(param: ParamSpec, value: float) -> float:
    return math.log10(value) if param.log else float(value)


def _from_axis(param: ParamSpec, value: float) -> float:
    return 10**value if param.log else value


def _numeric(
    param: ParamSpec,
    current: Range,
    values: list[float],
    margin: float,
    growth: float = 1.0,
    edge_before: str = "",
    streak: int = 0,
) -> tuple[Range, str]:
    low, high = _to_axis(param, current.low), _to_axis(param, current.high)  # type: ignore[arg-type]
    pad = margin * (high - low)
    new_low = min(_to_axis(param, v) for v in values) - pad
    new_high = max(_to_axis(param, v) for v in values) + pad
    half_width, edge = (new_high - new_low) / 2, ""
    if new_high > high and new_low < low:
        edge = "both"  # the best trials span the whole range: keep it
        new_low, new_high = low, high
    elif new_high > high:
        reach = half_width * _step(growth, edge_before == "high", streak)
        edge, new_low, new_high = "high", high - half_width, high + reach
    elif new_low < low:
        reach = half_width * _step(growth, edge_before == "low", streak)
        edge, new_low, new_high = "low", low - reach, low + half_width
    return _bounded(param, new_low, new_high, current), edge


def _step(growth: float, same_edge: bool, streak: int) -> float:
    """How many half-widths the next range reaches past a crowded edge: 1, or growth**streak
    when the same edge was crossed in the `streak` rounds before (at most 100: limits clip it
    anyway, and 10**x must not overflow)."""
    return min(growth ** min(streak, 64), 100.0) if growth > 1 and same_edge else 1.0


def _shift_down(param: ParamSpec, current: Range) -> Range:
    if param.kind == "categorical":
        return current
    low, high = _to_axis(param, current.low), _to_axis(param, current.high)  # type: ignore[arg-type]
    return _bounded(param, 2 * low - high, low, current)


def _bounded(param: ParamSpec, low: float, high: float, current: Range) -> Range:
    """Back from the axis, clipped to the hard limits and to the trainer's domain of the
    field (no negative dropout rate or batch size), integers for int params.

    If clipping leaves nothing (the range already sits against a limit), `current` stays.
    """
    lo, hi = _from_axis(param, low), _from_axis(param, high)
    if param.limits:
        lo, hi = max(lo, param.limits[0]), min(hi, param.limits[1])
    least, bound = TrainConfig.domain(param.name)  # never past what the trainer accepts
    lo = max(lo, least)
    if bound is not None:
        hi = min(hi, math.nextafter(bound, -math.inf))
    if param.kind == "int":
        lo, hi = math.floor(lo), math.ceil(hi)
        if param.log:
            lo = max(lo, 1)
    if not lo < hi:
        return current
    return Range(int(lo), int(hi)) if param.kind == "int" else Range(float(lo), float(hi))
