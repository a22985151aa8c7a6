"""`plot --kind strength`: a grid study's final measures against each numeric parameter.

The book's overfitting experiment asks how the final train-validation gap and the validation
accuracy move with the strength of a regulariser. Here, for every numeric parameter that
varies across the grid points, one column of two panels: the final gap (training minus
validation accuracy, the last epoch's) above, the final validation accuracy below, against the
parameter's value (log scale when every value drawn is positive). Each line is one setting of
the other varied parameters (L2 and L1 weight decay are two lines); a point is the mean over
its repeats, the bar runs from their min to their max. The baseline, the one grid point where
every numeric varied parameter is 0 (no regularisation), is a grey line with a min-max band in
every panel: on a log axis it has no place of its own. A parameter's zero points are the
baseline or belong to another column, so they are not drawn against it.

`strength_panels` is the data (tested against the stored trials), `strength` the drawing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial

from hpsearch.view.figures import NotDrawable
from hpsearch.view.grid import by_point, finals
from hpsearch.view.queries import StudyData
from hpsearch.view.text import fmt_value

MEASURES = ("gap", "val_accuracy")
LABELS = {"gap": "final train - val accuracy", "val_accuracy": "final val accuracy"}


@dataclass(frozen=True)
class Summary:
    """One final measure of a grid point over its repeats (NaN where no repeat has one: a
    diverged repeat has no gap)."""

    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class Series:
    """One line of a panel: the points that share the other varied parameters' values."""

    label: str
    x: list[float]
    measures: dict[str, list[Summary]]  # MEASURES -> one Summary per x


@dataclass(frozen=True)
class Panel:
    """One column of the figure: a numeric parameter and its lines."""

    param: str
    log: bool
    series: list[Series]
    baseline: dict[str, Summary] | None  # MEASURES -> Summary of the all-zero point


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def summarize(trials: list[FrozenTrial], measure: str) -> Summary:
    """Mean, min and max of a final measure (`hpsearch.view.grid.finals`) over trials."""
    values = [v for v in (finals(t)[measure] for t in trials) if v is not None]
    if not values:
        return Summary(math.nan, math.nan, math.nan)
    return Summary(math.fsum(values) / len(values), min(values), max(values))


def strength_panels(data: StudyData) -> list[Panel]:
    """One `Panel` per numeric parameter that varies across the grid's finished points."""
    if data.spec is None or not data.spec.grid:
        raise NotDrawable(f"study {data.name!r} is no grid study: no strengths to compare")
    groups = {point: trials for point, trials in by_point(data).items() if trials}
    names = data.param_names
    varied = [i for i in range(len(names)) if len({repr(p[i]) for p in groups}) > 1]
    numeric = [i for i in varied if all(_numeric(p[i]) for p in groups)]
    if not numeric:
        raise NotDrawable(f"study {data.name!r} varies no numeric parameter across its points")
    zero = [p for p in groups if all(p[i] == 0 for i in numeric)]
    baseline = None
    if len(zero) == 1:
        baseline = {m: summarize(groups[zero[0]], m) for m in MEASURES}
    return [_panel(data, groups, column, varied, baseline) for column in numeric]


def _panel(
    data: StudyData,
    groups: dict[tuple[Any, ...], list[FrozenTrial]],
    column: int,
    varied: list[int],
    baseline: dict[str, Summary] | None,
) -> Panel:
    names = data.param_names
    others = [i for i in varied if i != column]
    lines: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for point in groups:
        if point[column] != 0:
            lines.setdefault(tuple(point[i] for i in others), []).append(point)
    # a parameter that has one value on every line of this column says nothing in a label
    told = [n for n, i in enumerate(others) if len({repr(key[n]) for key in lines}) > 1]
    series = []
    for key, points in lines.items():
        points.sort(key=lambda p: p[column])
        label = ", ".join(f"{names[others[n]]} {fmt_value(key[n])}" for n in told)
        series.append(
            Series(
                label or names[column],
                [float(p[column]) for p in points],
                {m: [summarize(groups[p], m) for p in points] for m in MEASURES},
            )
        )
    log = all(x > 0 for s in series for x in s.x)
    return Panel(names[column], log, series, baseline)


def strength(figure: Any, data: StudyData) -> None:
    """Draw `strength_panels(data)`: a column per parameter, gap above, accuracy below."""
    panels = strength_panels(data)
    axes = figure.subplots(2, len(panels), sharex="col", sharey="row", squeeze=False)
    zeros = ", ".join(f"{p.param} 0" for p in panels)
    colours: dict[str, str] = {}
    for column, panel in enumerate(panels):
        for row, measure in enumerate(MEASURES):
            ax = axes[row][column]
            if panel.baseline is not None:
                base = panel.baseline[measure]
                ax.axhline(base.mean, color="0.35", linestyle="--", label=f"baseline ({zeros})")
                ax.axhspan(base.low, base.high, color="0.35", alpha=0.12, linewidth=0)
            for series in panel.series:
                colour = colours.setdefault(series.label, f"C{len(colours) % 10}")
                values = series.measures[measure]
                means = [v.mean for v in values]
                below = [v.mean - v.low for v in values]
                above = [v.high - v.mean for v in values]
                ax.errorbar(series.x, means, yerr=[below, above], marker="o", capsize=3,
                            color=colour, label=series.label)  # fmt: skip
            if panel.log:
                ax.set_xscale("log")
            _ticks(ax, panel)
            ax.grid(alpha=0.3)
            if measure == "gap":
                ax.axhline(0.0, color="black", linewidth=0.6)
                ax.set_title(panel.param, fontsize=10)
            else:
                ax.set_xlabel(panel.param + (" (log scale)" if panel.log else ""))
            if column == 0:
                ax.set_ylabel(LABELS[measure])
    unique: dict[str, Any] = {}
    for ax in axes.flat:
        handles, labels = ax.get_legend_handles_labels()
        unique.update(zip(labels, handles, strict=True))
    figure.legend(unique.values(), unique.keys(), loc="outside right upper", frameon=False)
    repeats = data.spec.repeats if data.spec else 1
    spread = f", mean of {repeats} repeats (bars: min to max)" if repeats > 1 else ""
    figure.suptitle(
        f"{data.name}: final train - val gap and val accuracy by parameter{spread}",
        x=0.01,
        ha="left",
    )


def _ticks(ax: Any, panel: Panel) -> None:
    """Ticks at the grid's values, written as `show` writes them (0.01, 1.0e-03), and no
    others: a log axis over one decade would otherwise read 2×10⁻¹, 3×10⁻¹."""
    from matplotlib.ticker import NullLocator

    values = sorted({x for series in panel.series for x in series.x})
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(values, [fmt_value(x) for x in values], fontsize=8)
