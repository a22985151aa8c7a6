"""`plot --kind strength`: the data (one panel per numeric varied parameter, the stored means,
L2 and L1 apart, the all-zero baseline) and the drawing (a PNG of the expected size whose
plotted numbers are those means); and `--kind compare` faceted over the same points study
(panel titles carry the points' other keys, each setting and each curve named once)."""

from __future__ import annotations

import statistics
from pathlib import Path

import matplotlib.image
import optuna
import pytest
from matplotlib.figure import Figure
from optuna.trial import TrialState
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.run.coordinator import run_study
from hpsearch.study.file import load_study_file
from hpsearch.view.compare import CompareOptions, compare
from hpsearch.view.figures import NotDrawable
from hpsearch.view.plots import figure_size
from hpsearch.view.queries import StudyData, load_study_data, open_reader
from hpsearch.view.strength import strength, strength_panels

POINTS = [("l2", 0.0, 0.0), ("l2", 0.01, 0.0), ("l2", 0.1, 0.0), ("l1", 0.001, 0.0),
          ("l1", 0.003, 0.0), ("l2", 0.0, 0.2), ("l2", 0.0, 0.5)]  # fmt: skip
REG = """
name = "reg"
seed = 1
[data]
dataset = "mnist-5k"
n_samples = 200
val_fraction = 0.5
[train]
hidden_sizes = [20, 20]
epochs = 3
lr = 0.05
[search]
repeats = 2
""" + "".join(
    f'[[search.points]]\nweight_decay_kind = "{k}"\nweight_decay = {w}\ndropout_rate = {d}\n'
    for k, w, d in POINTS
)


@pytest.fixture(scope="module")
def reg_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("reg")
    (folder / "reg.toml").write_text(REG)
    url = f"sqlite:///{folder / 'reg.db'}"
    run_study(load_study_file(folder / "reg.toml"), url, jobs=2)
    return url


def _stored(url: str) -> dict[tuple[str, float, float], tuple[list[float], list[float]]]:
    """(gaps, validation accuracies) of each point's complete trials, read through Optuna."""
    study = optuna.load_study(study_name="reg", storage=url)
    found: dict[tuple[str, float, float], tuple[list[float], list[float]]] = {}
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        p = trial.params
        gaps, vals = found.setdefault(
            (p["weight_decay_kind"], p["weight_decay"], p["dropout_rate"]), ([], [])
        )
        assert trial.value is not None
        gaps.append(trial.user_attrs["train_accuracy"][-1] - trial.value)
        vals.append(trial.value)
    return found


def _data(url: str) -> StudyData:
    return load_study_data(open_reader(url), "reg", curves=True)


def test_one_panel_per_numeric_parameter_with_l2_and_l1_apart_and_the_stored_means(
    reg_url: str,
) -> None:
    stored = _stored(reg_url)
    panels = {p.param: p for p in strength_panels(_data(reg_url))}
    assert set(panels) == {"weight_decay", "dropout_rate"}  # the kind is no axis: a line each
    decay, dropout = panels["weight_decay"], panels["dropout_rate"]
    assert decay.log and dropout.log
    lines = {s.label: s for s in decay.series}
    assert set(lines) == {"weight_decay_kind l2", "weight_decay_kind l1"}
    assert lines["weight_decay_kind l2"].x == [0.01, 0.1]
    assert lines["weight_decay_kind l1"].x == [0.001, 0.003]
    assert [s.x for s in dropout.series] == [[0.2, 0.5]]
    for panel, kinds in ((decay, {"weight_decay_kind l2": "l2", "weight_decay_kind l1": "l1"}),
                         (dropout, {"dropout_rate": "l2"})):  # fmt: skip
        for series in panel.series:
            for n, x in enumerate(series.x):
                key = (kinds[series.label], x, 0.0) if panel is decay else ("l2", 0.0, x)
                gaps, vals = stored[key]
                assert len(gaps) == 2
                for measure, values in (("gap", gaps), ("val_accuracy", vals)):
                    got = series.measures[measure][n]
                    assert got.mean == pytest.approx(statistics.fmean(values))
                    assert (got.low, got.high) == pytest.approx((min(values), max(values)))
    gaps, vals = stored[("l2", 0.0, 0.0)]
    assert decay.baseline is not None and decay.baseline == dropout.baseline
    assert decay.baseline["gap"].mean == pytest.approx(statistics.fmean(gaps))
    assert decay.baseline["val_accuracy"].mean == pytest.approx(statistics.fmean(vals))


def test_the_drawn_lines_are_the_panel_means(reg_url: str) -> None:
    data = _data(reg_url)
    panels = strength_panels(data)
    figure = Figure(figsize=(14, 8), layout="constrained")
    strength(figure, data)
    axes = figure.axes
    assert len(axes) == 2 * len(panels)
    columns = len(panels)
    for column, panel in enumerate(panels):
        for row, measure in enumerate(("gap", "val_accuracy")):
            ax = axes[row * columns + column]
            drawn = {bars.get_label(): list(bars.lines[0].get_ydata()) for bars in ax.containers}
            for series in panel.series:
                assert drawn[series.label] == pytest.approx(
                    [v.mean for v in series.measures[measure]]
                )
            assert panel.baseline is not None
            base = [line for line in ax.lines if line.get_label().startswith("baseline")]
            assert list(base[0].get_ydata()) == pytest.approx([panel.baseline[measure].mean] * 2)
            assert ax.get_xscale() == "log"


def test_plot_strength_writes_a_png_of_the_expected_size(reg_url: str, tmp_path: Path) -> None:
    path = tmp_path / "reg-strength.png"
    result = CliRunner().invoke(app, ["plot", "reg", "-s", reg_url, "-k", "strength",
                                      "-o", str(path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    height, width = matplotlib.image.imread(path).shape[:2]
    assert (width, height) == figure_size("strength") == (1400, 800)


def test_a_grid_without_a_numeric_parameter_is_not_drawable(tmp_path: Path) -> None:
    (tmp_path / "cat.toml").write_text(
        'name = "cat"\nseed = 0\n[data]\ndataset = "mnist-5k"\nn_samples = 100\n'
        '[train]\nhidden_sizes = [10]\nepochs = 1\n[search.grid]\noptimizer = ["sgd", "adam"]\n'
    )
    url = f"sqlite:///{tmp_path / 'cat.db'}"
    run_study(load_study_file(tmp_path / "cat.toml"), url, jobs=1)
    with pytest.raises(NotDrawable, match="no numeric parameter"):
        strength_panels(load_study_data(open_reader(url), "cat", curves=True))


def test_compare_over_points_titles_each_panel_with_its_kind_and_names_curves_once(
    reg_url: str,
) -> None:
    figure = Figure(figsize=(14, 10), layout="constrained")
    options = CompareOptions("dropout_rate", "weight_decay", "train_accuracy,val_accuracy")
    compare(figure, _data(reg_url), options)
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert "weight_decay 1.0e-03, weight_decay_kind l1" in titles
    assert "weight_decay 0, weight_decay_kind l2" in titles
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    assert labels == ["dropout_rate 0", "dropout_rate 0.2", "dropout_rate 0.5",
                      "train accuracy", "val accuracy"]  # fmt: skip
    title = figure.get_suptitle()
    assert "train accuracy and val accuracy by dropout_rate, mean of 2 repeats" in title


def test_compare_notes_a_setting_that_diverged_and_titles_one_repeat_without_a_band(
    tmp_path: Path,
) -> None:
    (tmp_path / "div.toml").write_text(
        'name = "div"\nseed = 0\n[data]\ndataset = "mnist-5k"\nn_samples = 100\n'
        "[train]\nhidden_sizes = [10]\nepochs = 2\n[search.grid]\nlr = [0.05, 1.0e30]\n"
    )
    url = f"sqlite:///{tmp_path / 'div.db'}"
    run_study(load_study_file(tmp_path / "div.toml"), url, jobs=1)
    figure = Figure(figsize=(14, 10), layout="constrained")
    compare(figure, load_study_data(open_reader(url), "div", curves=True), CompareOptions())
    notes = [text.get_text() for ax in figure.axes for text in ax.texts]
    assert notes == ["no curve (diverged): lr 1.0e+30"]
    assert figure.get_suptitle() == "div: val accuracy by lr"
