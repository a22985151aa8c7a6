"""Figures that read: the contour matrix's colour bar beside the axes, not over them; log tick
labels that do not overlap; whole trial numbers on the history plot's x axis."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import hpsearch

from hpsearch.store.engines import open_storage
from hpsearch.view import plots
from hpsearch.view.queries import load_study_data

THREE = """
name = "three"
[data]
dataset = "digits"
n_samples = 200
[train]
hidden_sizes = [20]
epochs = 2
optimizer = "momentum"
[search]
trials_per_round = 12
[search.params.lr]
low = 1e-6
high = 1.0
log = true
[search.params.weight_decay]
low = 1.5e-6
high = 7e-6
log = true
[search.params.momentum]
low = 0.5
high = 0.99
"""
# three trials: the history plot's automatic ticks would be 0, 0.25, 0.5, ...
TWO = (
    THREE.split("[search]")[0].replace('"three"', '"two"')
    + """[search]
trials_per_round = 3
[search.params.lr]
low = 1e-3
high = 1e-1
log = true
"""
)


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("three")
    (folder / "three.toml").write_text(THREE)
    (folder / "two.toml").write_text(TWO)
    url = f"sqlite:///{folder / 's.db'}"
    for name in ("three", "two"):
        result = hpsearch("run", str(folder / f"{name}.toml"), "--storage", url, "--jobs", "1")
        assert result.returncode == 0, result.stderr
    return url


def _figure(url: str, kind: str, name: str = "three"):  # type: ignore[no-untyped-def]
    storage = open_storage(url, write=False)
    try:
        data = load_study_data(storage, name, curves=True)
    finally:
        storage.engine.dispose()
    if kind in plots.OPTUNA_KINDS:
        return plots._optuna_figure(data, kind)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=plots.SIZES.get(kind, plots.DEFAULT_SIZE), layout="constrained")
    FigureCanvasAgg(figure)  # as savefig draws it
    plots.OWN[kind](figure, data)
    return figure


def _overlaps(a, b) -> bool:  # type: ignore[no-untyped-def]
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_the_contour_colour_bar_covers_no_axes(three: str) -> None:
    figure = _figure(three, "contour")
    renderer = figure.canvas.get_renderer()
    figure.draw(renderer)
    bars = [ax for ax in figure.axes if ax.get_label() == "<colorbar>"]
    plotted = [ax for ax in figure.axes if ax not in bars]
    assert bars and len(plotted) == 9
    for bar in bars:
        box = bar.get_window_extent(renderer)
        assert not any(_overlaps(box, ax.get_window_extent(renderer)) for ax in plotted)


@pytest.mark.parametrize("kind", ["contour", "scatter", "slice"])
def test_log_tick_labels_do_not_overlap(three: str, kind: str) -> None:
    """A log axis spanning less than a decade (weight decay here) gets labelled minor ticks
    from matplotlib: they must not run into each other."""
    figure = _figure(three, kind)
    renderer = figure.canvas.get_renderer()
    figure.draw(renderer)
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() != "log":
                continue
            boxes = [
                t.get_window_extent(renderer)
                for t in [*axis.get_ticklabels(), *axis.get_ticklabels(minor=True)]
                if t.get_visible() and t.get_text()
            ]
            for i, box in enumerate(boxes):
                assert not any(_overlaps(box, other) for other in boxes[i + 1 :]), ax.get_label()


def test_the_history_plot_shows_whole_trial_numbers(three: str, tmp_path: Path) -> None:
    figure = _figure(three, "history", "two")
    ax = figure.axes[0]
    figure.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
