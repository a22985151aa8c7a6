"""Plots of a study, written to PNG, SVG or PDF with no display (matplotlib's Agg).

Our own kinds (`hpsearch.view.figures`) draw on a bare `Figure` (no pyplot state); the Optuna kinds
reuse `optuna.visualization.matplotlib` rather than redrawing what it already draws. matplotlib
is imported only when a plot is drawn, so that the other commands stay fast.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from hpsearch.errors import HpsearchError, UsageError, unknown_choice
from hpsearch.store.records import FINISHED, ranked
from hpsearch.store.studies import pick_study
from hpsearch.view import figures, history
from hpsearch.view.figures import NotDrawable
from hpsearch.view.queries import RANK_ATTRS, StudyData, load_study_data, maximize, open_reader
from hpsearch.view.text import safe_name

OWN = {"curves": figures.curves, "scatter": figures.scatter, "history": history.history,
       "ranges": figures.ranges}  # fmt: skip
OWN_KINDS = tuple(OWN)
OPTUNA_KINDS = ("importances", "slice", "contour", "intermediate")
KINDS = OWN_KINDS + OPTUNA_KINDS
GRID_KINDS = ("compare", "strength", "activations")  # the book's comparisons (view.compare)
ALL_KINDS = KINDS + GRID_KINDS
SUFFIXES = (".png", ".svg", ".pdf")
DPI = 100
SIZES = {"curves": (16.0, 11.0), "ranges": (10.0, 6.5), "compare": (14.0, 10.0),
         "strength": (14.0, 8.0), "activations": (14.0, 10.0)}  # fmt: skip  # inches
# every other kind: DEFAULT_SIZE
DEFAULT_SIZE = (10.0, 7.0)
MIN_IMPORTANCE_TRIALS = 5
MAX_LEGEND = 30
MAX_CURVES = 200


def figure_size(kind: str) -> tuple[int, int]:
    """(width, height) in pixels of a PNG of `kind`."""
    width, height = SIZES.get(kind, DEFAULT_SIZE)
    return round(width * DPI), round(height * DPI)


def check_kind(kind: str) -> str:
    if kind not in ALL_KINDS:
        raise UsageError(unknown_choice("plot kind", kind, ALL_KINDS))
    return kind


def output_path(study_name: str, kind: str, output: Path | None) -> Path:
    """`output`, checked (known suffix, existing folder); default `<study>-<kind>.png` here."""
    path = output if output is not None else Path(f"{safe_name(study_name)}-{kind}.png")
    if path.suffix.lower() not in SUFFIXES:
        raise UsageError(
            f"{path}: unknown image type {path.suffix or '(none)'!r}; end the file "
            f"name with {', '.join(SUFFIXES)}"
        )
    if not path.parent.is_dir():
        raise UsageError(f"{path}: the folder {path.parent} does not exist; create it first")
    return path


def plot_study(
    url: str, study: str | None, kind: str, output: Path | None, options: Any = None
) -> Path:
    """Draw `kind` for the study `study` (or the storage's only one) into `output`;
    `options` (a `CompareOptions`) for `compare`."""
    check_kind(kind)
    storage = open_reader(url)
    name = pick_study(storage, study)
    path = output_path(name, kind, output)
    curves = kind in ("curves", "intermediate", "compare", "strength")
    data = load_study_data(storage, name, curves=curves, attrs=None if curves else RANK_ATTRS)
    return write_plot(data, kind, path, options)


def write_plot(data: StudyData, kind: str, path: Path, options: Any = None) -> Path:
    """Draw `kind` for the study and save it to `path` (format from the suffix)."""
    check_kind(kind)
    if not any(t.state in FINISHED for t in data.trials):
        raise NotDrawable(f"study {data.name!r} has no finished trials to plot yet")
    if kind in OPTUNA_KINDS:
        figure = _optuna_figure(data, kind)
    else:
        from matplotlib.figure import Figure

        figure = Figure(figsize=SIZES.get(kind, DEFAULT_SIZE), dpi=DPI, layout="constrained")
        if kind in GRID_KINDS:
            _grid_figure(figure, data, kind, options)
        else:
            OWN[kind](figure, data)
    try:
        figure.savefig(path, dpi=DPI)
    except OSError as error:
        raise HpsearchError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        if kind in OPTUNA_KINDS:  # drawn through pyplot, which keeps its figures
            import matplotlib.pyplot as plt

            plt.close(figure)
    return path


def _grid_figure(figure: Any, data: StudyData, kind: str, options: Any) -> None:
    from hpsearch.view import compare, strength

    if kind == "compare":
        compare.compare(figure, data, options or compare.CompareOptions())
    elif kind == "strength":
        strength.strength(figure, data)
    else:
        compare.activations(figure, data)


# --- Optuna's views -------------------------------------------------------------------------


def _optuna_figure(data: StudyData, kind: str) -> Any:
    """One of Optuna's own views, drawn at our size; its global style change is undone.

    Optuna draws from an in-memory copy of the trials already read: loading the study through
    its RDB storage takes ~8 s for 10,000 trials, the copy ~0.6 s.
    """
    import matplotlib

    matplotlib.use("Agg")  # before pyplot is imported: never a display
    import matplotlib.pyplot
    from optuna.visualization import matplotlib as views

    _check_optuna_kind(data, kind)
    views_by_kind: dict[str, Callable[..., Any]] = {
        "importances": views.plot_param_importances,
        "slice": views.plot_slice,
        "contour": views.plot_contour,
        "intermediate": views.plot_intermediate_values,
    }
    draw = views_by_kind[kind]
    study, title = _in_memory(data, kind)
    with warnings.catch_warnings(), matplotlib.rc_context():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", UserWarning)  # "no artists with labels" and the like
        matplotlib.rcParams.update({"figure.figsize": DEFAULT_SIZE, "figure.dpi": DPI})
        axes = draw(study)
        first = axes.flat[0] if hasattr(axes, "flat") else axes
        figure = first.figure
        figure.suptitle(title, x=0.01, y=0.995, ha="left", va="top", fontsize=10)
        if kind == "importances" and not first.patches:
            matplotlib.pyplot.close(figure)
            raise NotDrawable(f"Optuna found no parameter importances in study {data.name!r}")
        if kind == "intermediate" and len(first.lines) > MAX_LEGEND:
            first.get_legend().remove()  # one entry per trial: unreadable past a few dozen
        _readable_log_ticks(figure)
        matrix = kind == "contour" and len(figure.axes) > 2  # a grid of pairs and one bar
        if kind != "slice" and not matrix:  # their shared colour bar does not survive it
            figure.tight_layout()
        elif matrix:  # room for the bar at the right, over no axes
            figure.subplots_adjust(left=0.08, right=0.86, bottom=0.08, top=0.93, hspace=0.45)
            bar = next(ax for ax in figure.axes if ax.get_label() == "<colorbar>")
            bar.set_position((0.89, 0.08, 0.02, 0.85))
    return figure


def _readable_log_ticks(figure: Any) -> None:
    """Log axes labelled at a few ticks that never overlap. matplotlib labels the minor ticks
    of an axis spanning less than a decade (2×10⁻⁶, 3×10⁻⁶, ...), and every decade of a wide
    one: on the small axes of Optuna's matrices they run into each other. Here at most four
    labelled ticks: powers of ten on a wide axis, 1, 2 and 5 times one (written 2e-06) on a
    narrow one; the other ticks unlabelled."""
    import math

    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for ax in figure.axes:
        for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            if axis.get_scale() != "log" or min(limits) <= 0:
                continue
            decades = math.log10(max(limits)) - math.log10(min(limits))
            if decades >= 1.5:
                axis.set_major_locator(LogLocator(base=10, numticks=4))
            else:
                axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
                axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0e}"))
            axis.set_minor_formatter(NullFormatter())


def _in_memory(data: StudyData, kind: str) -> tuple[optuna.Study, str]:
    """An in-memory Optuna study of the trials (at most the MAX_CURVES best for intermediate
    values: more is a hairball, slow to draw), and the figure's title."""
    trials, title = data.trials, data.name
    if kind == "intermediate" and len(trials) > MAX_CURVES:
        trials = ranked(trials, maximize(data))[:MAX_CURVES]
        title += f" (the {MAX_CURVES} best of {len(data.trials)} trials)"
    storage = optuna.storages.InMemoryStorage()
    direction = data.spec.direction if data.spec else "maximize"
    study = optuna.create_study(storage=storage, study_name=data.name, direction=direction)
    study.add_trials(trials)
    return study, title


def _check_optuna_kind(data: StudyData, kind: str) -> None:
    names = data.param_names
    complete = [t for t in data.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if kind == "importances" and (len(names) < 2 or len(complete) < MIN_IMPORTANCE_TRIALS):
        raise NotDrawable(
            f"parameter importances need at least 2 searched parameters and "
            f"{MIN_IMPORTANCE_TRIALS} complete trials; study {data.name!r} has {len(names)} "
            f"and {len(complete)}"
        )
    if kind == "contour" and len(names) < 2:
        raise NotDrawable(
            f"a contour plot needs at least 2 searched parameters; study "
            f"{data.name!r} has {len(names)}"
        )
    if kind == "intermediate" and not any(t.intermediate_values for t in complete):
        raise NotDrawable(f"study {data.name!r} has no per-epoch values to plot")
