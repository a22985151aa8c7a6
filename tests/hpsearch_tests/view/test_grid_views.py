"""The views of a grid study: `show` with one row per grid point, `plot --kind compare` and
`--kind activations` as images of the expected size, and `report` drawing both."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import optuna
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.run.coordinator import run_study
from hpsearch.study.file import load_study_file
from hpsearch.view.plots import figure_size

GRID = """
name = "grid"
seed = 2
[data]
dataset = "mnist-5k"
n_samples = 300
[train]
hidden_sizes = [20, 20, 20]
epochs = 3
lr = 0.05
init = "std"
[search]
repeats = 2
[search.grid]
optimizer = ["sgd", "adam"]
init_std = [0.1, 0.01, 0.001]
"""


@pytest.fixture(scope="module")
def grid_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("grid")
    (folder / "grid.toml").write_text(GRID)
    url = f"sqlite:///{folder / 'grid.db'}"
    run_study(load_study_file(folder / "grid.toml"), url, jobs=2)
    return url


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_show_has_one_row_per_point_with_mean_and_spread_over_repeats(grid_url: str) -> None:
    payload = json.loads(cli("show", "grid", "-s", grid_url, "--format", "json"))
    rows = payload["grid"]
    assert [(r["optimizer"], r["init_std"]) for r in rows] == [
        (o, s) for o in ("sgd", "adam") for s in (0.1, 0.01, 0.001)
    ]
    study = optuna.load_study(study_name="grid", storage=grid_url)
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    for row in rows:
        mine = [t for t in trials if t.params == {"optimizer": row["optimizer"],
                                                  "init_std": row["init_std"]}]  # fmt: skip
        assert row["repeats"] == len(mine) == 2
        vals = [t.value for t in mine]
        gaps = [t.user_attrs["train_accuracy"][-1] - t.value for t in mine]
        assert row["val_accuracy"] == pytest.approx(statistics.fmean(vals))
        assert row["val_accuracy_std"] == pytest.approx(statistics.pstdev(vals))
        assert row["gap"] == pytest.approx(statistics.fmean(gaps))
    table = cli("show", "grid", "-s", grid_url)
    assert "Grid points" in table and "train - val" in table and "±" in table


@pytest.mark.parametrize(
    "extra",
    [
        (),
        ("--by", "init_std", "--curve", "train_loss"),
        ("--by", "optimizer", "--facet", "init_std"),
        ("--curve", "train_accuracy,val_accuracy"),
    ],
)
def test_compare_writes_an_image_of_the_expected_size(
    grid_url: str, tmp_path: Path, extra: tuple[str, ...]
) -> None:
    path = tmp_path / "c.png"
    cli("plot", "grid", "-s", grid_url, "--kind", "compare", *extra, "-o", str(path))
    image = matplotlib.image.imread(path)
    width, height = figure_size("compare")
    assert image.shape[:2] == (height, width)
    assert image[..., :3].std() > 0.05


def test_activations_writes_an_image_of_the_expected_size(grid_url: str, tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "hpsearch",
            "plot",
            "grid",
            "-s",
            grid_url,
            "-k",
            "activations",
            "-o",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    image = matplotlib.image.imread(path)
    width, height = figure_size("activations")
    assert image.shape[:2] == (height, width)
    assert image[..., :3].std() > 0.05


def test_compare_options_that_do_not_fit_are_one_clear_line(grid_url: str) -> None:
    for args, words in (
        (("--by", "lr"), "--by 'lr': not a parameter"),
        (("--curve", "loss"), "--curve 'loss'"),
        (("--by", "optimizer", "--facet", "optimizer"), "both 'optimizer'"),
    ):
        result = CliRunner().invoke(app, ["plot", "grid", "-s", grid_url, "-k", "compare", *args])
        assert result.exit_code == 2 and words in result.stderr, result.output
        assert result.stderr.count("\n") == 1


def test_a_grid_report_draws_compare_and_activations(grid_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "report"
    cli("report", "grid", "-s", grid_url, "-o", str(folder))
    summary = json.loads((folder / "summary.json").read_text())
    assert {"compare", "strength", "activations", "curves"} <= set(summary["plots"])
    markdown = (folder / "summary.md").read_text()
    assert "## Grid points" in markdown and "![compare](grid-compare.png)" in markdown


def test_compare_defaults_facet_by_a_second_grid_axis_never_a_points_key(tmp_path: Path) -> None:
    from hpsearch.view.compare import CompareOptions, resolve
    from hpsearch.view.queries import StudyData

    path = tmp_path / "p.toml"
    path.write_text(
        GRID.replace('optimizer = ["sgd", "adam"]\n', "").replace("lr = 0.05\n", "")
        + '[[search.points]]\noptimizer = "sgd"\nlr = 0.01\n'
        + '[[search.points]]\noptimizer = "adam"\nlr = 0.001\n'
    )
    with_points = StudyData("p", {}, [], spec=load_study_file(path))
    assert resolve(with_points, CompareOptions()) == CompareOptions("init_std", None)
    (tmp_path / "g.toml").write_text(GRID)
    plain = StudyData("g", {}, [], spec=load_study_file(tmp_path / "g.toml"))
    assert resolve(plain, CompareOptions()) == CompareOptions("optimizer", "init_std")
