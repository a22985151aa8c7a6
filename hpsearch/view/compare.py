"""The figures of the book's comparisons (chapters 6 and 7), drawn on a bare matplotlib `Figure`.

`compare`: one stored curve per epoch, one line per value of a parameter (colour), optionally
one panel per value of another (the book's Fig. 6-18 is 16 panels of init_std), the mean over
a grid point's repeats with a band from their min to their max. `activations`: histograms of
each hidden layer's output at initialisation on 1,000 random inputs (Figs. 6-10 to 6-14).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.trial import FrozenTrial

import trainer
from hpsearch.errors import UsageError
from hpsearch.store.records import CURVE_KEYS, is_diverged, val_accuracy_curve
from hpsearch.view.figures import NotDrawable
from hpsearch.view.grid import by_point
from hpsearch.view.queries import StudyData, best_trial
from hpsearch.view.text import fmt_value

CURVES = ("val_accuracy", *CURVE_KEYS)
STYLES = ("-", "--", ":", "-.")
MAX_ROWS = 8  # grid points in an activations figure
INPUTS, INPUT_SIZE, BINS = 1000, 100, 30  # the book's 1,000 random 100-feature inputs


@dataclass(frozen=True)
class CompareOptions:
    """What `plot --kind compare` groups by (colour), facets by (panels) and draws."""

    by: str | None = None
    facet: str | None = None
    curve: str = "val_accuracy"


def resolve(data: StudyData, options: CompareOptions) -> CompareOptions:
    """`options` checked against the study; a grid study's defaults are its first parameter
    (by) and its second grid axis (facet; a `[[search.points]]` key is none)."""
    names = data.param_names
    grid = data.spec is not None and data.spec.grid
    if not names:
        raise NotDrawable(f"study {data.name!r} searches no parameter: nothing to compare")
    by = options.by or (names[0] if grid else None)
    zipped = set(data.spec.points[0]) if grid and data.spec and data.spec.points else set()
    axes = [n for n in names if n not in zipped]  # a [[search.points]] key is no grid axis
    facet = options.facet or (axes[1] if len(axes) > 1 and not options.by and grid else None)
    if by is None:
        raise NotDrawable(f"study {data.name!r} is no grid study: give --by PARAMETER")
    for flag, name in (("--by", by), ("--facet", facet)):
        if name is not None and name not in names:
            raise UsageError(f"{flag} {name!r}: not a parameter of the study; choose from "
                             f"{', '.join(names)}")  # fmt: skip
    if by == facet:
        raise UsageError(f"--by and --facet are both {by!r}; give two different parameters")
    for curve in options.curve.split(","):
        if curve not in CURVES:
            raise UsageError(
                f"--curve {curve!r}: choose from {', '.join(CURVES)} (or two, comma-separated)"
            )
    return CompareOptions(by, facet, options.curve)


def stored_curve(trial: FrozenTrial, name: str) -> list[float]:
    """One stored per-epoch curve of a trial (validation accuracy: Optuna's intermediate
    values; the others: user attributes of the same name)."""
    if name == "val_accuracy":
        return val_accuracy_curve(trial)
    return list(trial.user_attrs.get(name) or [])


def _values(data: StudyData, name: str | None) -> list[Any]:
    if name is None:
        return [None]
    if data.spec is not None:
        spec_param = next(p for p in data.spec.params if p.name == name)
        if spec_param.choices:
            return list(spec_param.choices)
    return sorted({t.params[name] for t in data.trials if name in t.params}, key=repr)


def compare(figure: Any, data: StudyData, options: CompareOptions) -> None:
    options = resolve(data, options)
    by, names = str(options.by), data.param_names
    index = {name: i for i, name in enumerate(names)}
    shown = [n for n in names if n not in (options.by, options.facet)]
    zipped = set(data.spec.points[0]) if data.spec and data.spec.points else set()
    tied = zipped if {options.by, options.facet} & zipped else set()
    rest = [n for n in shown if n not in tied]  # a line style each; tied ones go with --by
    facets, colours = _values(data, options.facet), _values(data, options.by)
    curves = options.curve.split(",")
    columns = math.ceil(math.sqrt(len(facets)))
    axes = figure.subplots(
        math.ceil(len(facets) / columns), columns, sharex=True, sharey=True, squeeze=False
    )
    groups = {point: trials for point, trials in by_point(data).items() if trials}
    rest_values = sorted({tuple(p[index[n]] for n in rest) for p in groups}, key=repr)
    titled = _constant_per_facet(groups, [index[n] for n in shown], options.facet, index)
    drawn = False
    for ax, facet in zip(axes.flat, facets, strict=False):
        members = [p for p in groups if options.facet is None or p[index[options.facet]] == facet]
        lost = []
        for point in members:
            colour = f"C{colours.index(point[index[by]]) % 10}"
            style = rest_values.index(tuple(point[index[n]] for n in rest))
            if len(colours) == 2 and len(rest_values) == 1:  # two settings: solid, dashed
                style = colours.index(point[index[by]])
            label = ", ".join(_label(data, point, n) for n in (by, *shown) if n not in titled)
            for number, curve in enumerate(curves):  # several curves: a line style each
                line = STYLES[(number if len(curves) > 1 else style) % len(STYLES)]
                if _band(ax, groups[point], curve, colour, line, label):
                    drawn = True
                else:
                    lost.append(label)
        if lost:  # a setting that diverged in every repeat has no curve: say so
            text = "no curve (diverged): " + "; ".join(dict.fromkeys(lost))
            ax.text(0.98, 0.97, text, transform=ax.transAxes, ha="right", va="top", fontsize=8)
        if options.facet is not None:
            extra = [_label(data, members[0], n) for n in titled] if members else []
            ax.set_title(", ".join([f"{options.facet} {fmt_value(facet)}", *extra]), fontsize=9)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(facets) :]:
        ax.set_axis_off()
    if not drawn:
        raise NotDrawable(f"study {data.name!r} has no {options.curve} curves to compare")
    _legend(figure, axes, curves)
    repeats = data.spec.repeats if data.spec else 1
    spread = f", mean of {repeats} repeats (band: min to max)" if repeats > 1 else ""
    what = " and ".join(c.replace("_", " ") for c in curves)
    figure.suptitle(f"{data.name}: {what} by {options.by}{spread}", x=0.01, ha="left")
    figure.supxlabel("epoch")
    figure.supylabel(" / ".join(c.replace("_", " ") for c in curves))


def _constant_per_facet(
    groups: dict[tuple[Any, ...], Any], shown: list[int], facet: str | None,
    index: dict[str, int],
) -> list[str]:  # fmt: skip
    """The shown parameters that have one value within every panel: they go in the panel's
    title, not in every line's label (overfit's L1 panels are titled l1)."""
    if facet is None:
        return []
    names = {i: n for n, i in index.items()}
    panels: dict[Any, list[tuple[Any, ...]]] = {}
    for point in groups:
        panels.setdefault(point[index[facet]], []).append(point)
    one = [i for i in shown if all(len({repr(p[i]) for p in ps}) == 1 for ps in panels.values())]
    return [names[i] for i in one]


def _label(data: StudyData, point: tuple[Any, ...], name: str) -> str:
    """`name value`; the std of `init std`, which the trainer settings fix, is spelled out."""
    value = point[data.param_names.index(name)]
    if name == "init" and value == "std" and data.spec is not None:
        config = data.spec.train_config(dict(zip(data.param_names, point, strict=True)), 0)
        return f"init std {fmt_value(config.init_std)}"
    return f"{name} {fmt_value(value)}"


def _log_axis(ax: Any) -> None:
    """A log y axis (losses shrink by orders of magnitude), labelled at 1, 2 and 5 times a
    power of ten when it spans under three decades (matplotlib labels only the powers)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    low, high = ax.get_ylim()
    if low > 0 and math.log10(high / low) < 3:
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())


def _legend(figure: Any, axes: Any, curves: list[str]) -> None:
    """One entry per setting (colour); with several curves, one more per curve (line style)."""
    from matplotlib.lines import Line2D

    unique: dict[str, Any] = {}
    for ax in axes.flat:
        handles, labels = ax.get_legend_handles_labels()
        unique.update(zip(labels, handles, strict=True))
        if all("loss" in c for c in curves):
            _log_axis(ax)
    if len(curves) > 1:
        unique = {label: Line2D([], [], color=handle.get_color()) for label, handle in
                  unique.items()}  # fmt: skip
        for number, curve in enumerate(curves):
            style: Any = STYLES[number % len(STYLES)]  # matplotlib wants a Literal
            unique[curve.replace("_", " ")] = Line2D([], [], color="0.3", linestyle=style)
    figure.legend(unique.values(), unique.keys(), loc="outside right upper", frameon=False)


def _band(ax: Any, trials: list[FrozenTrial], curve: str, colour: str, style: str,
          label: str) -> bool:  # fmt: skip
    """The mean of the trials' curves (over the epochs all of them reached), min-max band."""
    curves = [stored_curve(t, curve) for t in trials if not is_diverged(t)]
    curves = [c for c in curves if c]
    if not curves:
        return False
    length = min(len(c) for c in curves)
    values = np.array([c[:length] for c in curves], dtype=float)
    epochs = np.arange(1, length + 1)
    ax.plot(epochs, values.mean(axis=0), style, color=colour, label=label)
    if len(curves) > 1:
        ax.fill_between(epochs, values.min(axis=0), values.max(axis=0), color=colour, alpha=0.2)
    return True


def activations(figure: Any, data: StudyData) -> None:
    """Each grid point (or the best trial's configuration) as a row of histograms, one per
    hidden layer, of the activations on 1,000 standard normal 100-feature inputs."""
    if data.spec is None:
        raise NotDrawable(f"study {data.name!r} was not written by hpsearch: no configuration")
    spec = data.spec
    if spec.grid:
        points = [dict(zip(data.param_names, p, strict=True)) for p in by_point(data)]
    else:
        points = [dict(best_trial(data).params)]
    points = points[:MAX_ROWS]
    rng = np.random.default_rng([spec.seed, 0xAC7])
    x = rng.standard_normal((INPUTS, INPUT_SIZE))
    configs = [spec.train_config(p, seed=spec.seed) for p in points]
    if any(c.model != "mlp" for c in configs):
        raise NotDrawable(f"study {data.name!r}: activation histograms are drawn for mlp only")
    layers = max(len(c.hidden_sizes) for c in configs)
    axes = figure.subplots(len(points), layers, sharey="row", squeeze=False)
    for row, config in enumerate(configs):
        outputs = trainer.hidden_activations(config, x)
        span = (-1.0, 1.0) if config.activation == "tanh" else (0.0, 1.0)
        for column, ax in enumerate(axes[row]):
            if column >= len(outputs):
                ax.set_axis_off()
                continue
            values = outputs[column].ravel()
            if config.activation == "relu":  # half are exactly 0: a bar that flattens the rest
                ax.text(0.97, 0.92, f"{np.mean(values == 0):.0%} zero, not drawn", fontsize=7,
                        ha="right", va="top", transform=ax.transAxes)  # fmt: skip
                values = values[values != 0]
            ax.hist(values, BINS, range=span, color=f"C{row % 10}")
            ax.tick_params(labelsize=7)
            if row == 0:
                ax.set_title(f"{column + 1}-layer", fontsize=9)
        norm = ", batch norm" if config.batch_norm else ""  # what shapes the activations
        axes[row][0].set_ylabel(f"{config.activation}, init {_init(config)}{norm}", fontsize=8)
    figure.suptitle(
        f"{data.name}: hidden activations at initialisation, {INPUTS:,} random inputs",
        x=0.01,
        ha="left",
    )


def _init(config: trainer.TrainConfig) -> str:
    return f"std {fmt_value(config.init_std)}" if config.init == "std" else config.init
