"""Our own four figures of a study, each drawn on a bare matplotlib `Figure` (no pyplot state).

`curves` is the book's 6.5 figure; `scatter`, `history` and `ranges` show how the rounds
narrowed the search. `hpsearch.view.plots` picks the kind, the size and the file.
"""

from __future__ import annotations

from typing import Any

from matplotlib.ticker import MaxNLocator
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial

from hpsearch.errors import HpsearchError
from hpsearch.store.records import (
    FINISHED,
    RoundRecord,
    is_diverged,
    ranked,
    score,
    val_accuracy,
    val_accuracy_curve,
)
from hpsearch.view.queries import StudyData, maximize
from hpsearch.view.text import label as param_label

TOP = 20


class NotDrawable(HpsearchError):
    """The study cannot have this plot (yet): too few parameters, trials or epochs.

    A report skips such a plot and says why; any other error (a disk full ...) stops it.
    """


VAL, TRAIN, DIVERGED = "#1f77b4", "#ff7f0e", "#d62728"
BEST_STAR = {"marker": "*", "s": 260, "facecolor": "none", "edgecolor": "black", "zorder": 4}
ROUND_LABEL = {"fontsize": 9, "color": "grey", "va": "bottom"}


def _curve(trial: FrozenTrial) -> list[float]:
    return val_accuracy_curve(trial)


def curves(figure: Any, data: StudyData) -> None:
    """The book's figure: the 20 best trials' accuracy per epoch, a 4×5 grid titled Best-k."""
    top = ranked(data.trials, maximize(data))[:TOP]
    if not any(trial.intermediate_values for trial in top):
        raise NotDrawable(f"study {data.name!r} has no per-epoch values to plot")
    axes = figure.subplots(4, 5, sharex=True, sharey=True)
    for rank, ax in enumerate(axes.flat, start=1):
        if rank > len(top):
            ax.set_axis_off()
            continue
        _panel(ax, rank, top[rank - 1])
        if rank + 5 > len(top):  # nothing drawn below: this one carries the epoch labels
            ax.xaxis.set_tick_params(labelbottom=True)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside upper right", ncols=2, frameon=False)
    title = f"{data.name}: learning curves of the {len(top)} best trials"
    figure.suptitle(f"{title} (validation solid, training dashed)", x=0.01, ha="left")
    figure.supxlabel("epoch")
    figure.supylabel("accuracy")


def _panel(ax: Any, rank: int, trial: FrozenTrial) -> None:
    """One trial's curves, titled as the book does: Best-k (its validation accuracy)."""

    val, train = _curve(trial), trial.user_attrs.get("train_accuracy") or []
    ax.plot(range(1, len(val) + 1), val, "-", color=VAL, label="validation")
    ax.plot(range(1, len(train) + 1), train, "--", color=TRAIN, label="training")
    if is_diverged(trial):
        ax.set_title(f"Best-{rank} (diverged)", fontsize=10, color=DIVERGED)
        epoch = trial.user_attrs.get("diverged_at_epoch")
        text = f"diverged at epoch {epoch}" if epoch else "diverged"
        ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", color=DIVERGED)
    else:
        ax.set_title(f"Best-{rank} ({val_accuracy(trial) or 0.0:.3f})", fontsize=10)
    ax.set_ylim(0.0, 1.0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def numeric_params(data: StudyData) -> list[tuple[str, bool]]:
    """(name, log scale) of the searched float and int parameters, in the study file's order."""
    if data.spec is not None:
        return [(p.name, p.log) for p in data.spec.params if p.kind != "categorical"]
    found: dict[str, bool] = {}
    for trial in data.trials:
        for name, dist in trial.distributions.items():
            if isinstance(dist, FloatDistribution | IntDistribution):
                found.setdefault(name, dist.log)
    return list(found.items())


def _pair(data: StudyData) -> tuple[tuple[str, bool], tuple[str, bool], str]:
    """lr and weight decay if searched, else the first two numeric parameters (and a note)."""
    params = dict(numeric_params(data))
    if "lr" in params and "weight_decay" in params:
        return ("lr", params["lr"]), ("weight_decay", params["weight_decay"]), ""
    if len(params) < 2:
        searched = ", ".join(params) or "none"
        raise NotDrawable(
            f"a scatter plot needs two numeric parameters; study {data.name!r} searches {searched}"
        )
    first, second = list(params.items())[:2]
    return first, second, " (the first two numeric parameters)"


def scatter(figure: Any, data: StudyData) -> None:
    """Parameter pairs coloured by validation accuracy, diverged as red x, rounds as boxes."""
    (x, x_log), (y, y_log), note = _pair(data)
    ax = figure.add_subplot()
    trials = [t for t in data.trials if t.state in FINISHED and x in t.params and y in t.params]
    good = [t for t in trials if score(t) is not None]
    bad = [t for t in trials if is_diverged(t)]
    size = 36 if len(trials) < 500 else 8
    points = ax.scatter(
        [t.params[x] for t in good],
        [t.params[y] for t in good],
        c=[val_accuracy(t) for t in good],
        cmap="viridis",
        vmin=0.0,
        vmax=1.0,
        s=size,
        edgecolors="none",
        zorder=3,
    )
    if bad:
        ax.scatter(
            [t.params[x] for t in bad],
            [t.params[y] for t in bad],
            marker="x",
            color=DIVERGED,
            s=size * 1.5,
            label="diverged",
            zorder=3,
        )
    _round_boxes(ax, data.rounds, x, y)
    if good:
        best = ranked(good, maximize(data))[0]
        best_label = f"best ({val_accuracy(best) or 0.0:.3f})"
        ax.scatter([best.params[x]], [best.params[y]], label=best_label, **BEST_STAR)
    ax.set_xscale("log" if x_log else "linear")
    ax.set_yscale("log" if y_log else "linear")
    ax.set_xlabel(param_label(x))
    ax.set_ylabel(param_label(y))
    ax.set_title(f"{data.name}: {param_label(x)} against {param_label(y)}{note}")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    figure.colorbar(points, ax=ax, label="validation accuracy")


def _round_boxes(ax: Any, rounds: list[RoundRecord], x: str, y: str) -> None:
    """Each round's ranges of x and y, as a rectangle in the round's colour."""
    from matplotlib.patches import Rectangle

    for record in rounds:
        xr, yr = record.ranges.get(x), record.ranges.get(y)
        if xr is None or yr is None or xr.low is None or yr.low is None:
            continue  # categorical
        corner = (float(xr.low), float(yr.low))
        width, height = float(xr.high or 0) - corner[0], float(yr.high or 0) - corner[1]
        color, label = f"C{record.number % 10}", f"round {record.number} range"
        box = Rectangle(corner, width, height, fill=False, edgecolor=color, label=label)
        box.set(linewidth=1.5, zorder=2)
        ax.add_patch(box)


def ranges(figure: Any, data: StudyData) -> None:
    """Each numeric parameter's range per round, the values tried and each round's best."""
    params = numeric_params(data)
    if not params or not data.rounds:
        raise NotDrawable(f"study {data.name!r} has no rounds of numeric parameters to draw")
    limits = {p.name: p.limits for p in data.spec.params} if data.spec else {}
    axes = figure.subplots(len(params), 1, squeeze=False)[:, 0]
    for ax, (name, log) in zip(axes, params, strict=True):
        for record in data.rounds:
            _round_range(ax, data, record, name)
        for index, limit in enumerate(limits.get(name) or ()):
            label = None if index else "limits"
            ax.axvline(limit, color="grey", linestyle=":", linewidth=1, label=label)
        ax.set_xscale("log" if log else "linear")
        varied = len({r.epochs for r in data.rounds}) > 1  # a schedule: say each round's epochs
        names = [f"round {r.number}" + (f"\n{r.epochs} ep" if varied else "") for r in data.rounds]
        ax.set_yticks([r.number for r in data.rounds], names)
        ax.set_ylim(len(data.rounds) - 0.5, -0.5)
        ax.set_title(param_label(name) + (" (log scale)" if log else ""), fontsize=11, loc="left")
        ax.grid(alpha=0.3, axis="x")
    handles, labels = axes[0].get_legend_handles_labels()
    legend = figure.legend(
        handles, labels, loc="outside upper right", ncols=len(labels), fontsize=9, frameon=False
    )
    for handle in legend.legend_handles:  # the trial ticks may be faint; their key is not
        if handle is not None:
            handle.set_alpha(1.0)
    figure.suptitle(f"{data.name}: search ranges per round", x=0.02, ha="left")


def _round_range(ax: Any, data: StudyData, record: RoundRecord, name: str) -> None:
    """One round on one parameter's axis: its range as a bar, its trials as ticks, its best."""
    current = record.ranges.get(name)
    if current is None or current.low is None:
        return
    first, color, row = record.number == 0, f"C{record.number % 10}", record.number
    ax.hlines(
        row,
        current.low,
        current.high,
        linewidth=10,
        alpha=0.35,
        color=color,
        label="range" if first else None,
    )
    trials = [
        t
        for t in data.trials
        if t.user_attrs.get("round") == row and t.state in FINISHED and name in t.params
    ]
    faint = min(1.0, max(0.05, 50 / max(len(trials), 1)))  # thousands of ticks stay readable
    ax.plot(
        [t.params[name] for t in trials],
        [row] * len(trials),
        "|",
        color=color,
        markersize=12,
        alpha=faint,
        label="trials" if first else None,
    )
    best = ranked(trials, maximize(data))
    if best and score(best[0]) is not None:
        ax.plot(
            [best[0].params[name]],
            [row],
            "*",
            color="black",
            markersize=13,
            label="round's best" if first else None,
        )
