"""Grid studies end to end: every point × repeat exactly once, with 1 or 3 workers, and
after a kill; the study file's grid errors."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from conftest import fingerprint
from optuna.trial import TrialState

from hpsearch.errors import StudyFileError
from hpsearch.run.coordinator import run_study
from hpsearch.study.file import load_study_file
from hpsearch.study.space import trial_seed

GRID = """
name = "tiny"
seed = 5
[data]
dataset = "mnist-5k"
n_samples = 300
[train]
hidden_sizes = [20]
epochs = {epochs}
lr = 0.05
[search]
repeats = 2
[search.grid]
optimizer = ["sgd", "adam", "momentum"]
init_std = [0.1, 0.01]
"""


def grid_file(tmp_path: Path, epochs: int = 2, text: str = GRID) -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(text.format(epochs=epochs))
    return path


def places(url: str) -> list[tuple[int, str, float, int]]:
    """(index, optimizer, init_std, seed) of every finished trial, sorted."""
    study = optuna.load_study(study_name="tiny", storage=url)
    return sorted(
        (
            t.user_attrs["index"],
            t.params["optimizer"],
            t.params["init_std"],
            t.user_attrs["seed"],
        )
        for t in study.get_trials(states=(TrialState.COMPLETE,))
    )


def expected_places() -> list[tuple[int, str, float, int]]:
    points = itertools.product(["sgd", "adam", "momentum"], [0.1, 0.01])
    rows = [(o, s) for o, s in points for _ in range(2)]
    return [(i, o, s, trial_seed(5, 0, i)) for i, (o, s) in enumerate(rows)]


def test_the_grid_parses_to_one_round_of_points_times_repeats(tmp_path: Path) -> None:
    spec = load_study_file(grid_file(tmp_path))
    assert spec.grid and spec.repeats == 2 and spec.rounds == 1
    assert spec.trials_per_round == 12
    assert [(p.name, p.choices) for p in spec.params] == [
        ("optimizer", ("sgd", "adam", "momentum")),
        ("init_std", (0.1, 0.01)),
    ]


def test_every_point_and_repeat_runs_once_with_1_or_3_workers(tmp_path: Path) -> None:
    spec = load_study_file(grid_file(tmp_path))
    one, three = f"sqlite:///{tmp_path / 'one.db'}", f"sqlite:///{tmp_path / 'three.db'}"
    run_study(spec, one, jobs=1)
    run_study(spec, three, jobs=3)
    assert places(one) == expected_places() == places(three)
    assert fingerprint(one) == fingerprint(three)  # fails on a place finished twice
    study = optuna.load_study(study_name="tiny", storage=one)
    repeats = [t for t in study.trials if t.user_attrs["index"] in (0, 1)]
    assert repeats[0].params == repeats[1].params
    assert repeats[0].intermediate_values != repeats[1].intermediate_values  # other seeds


def test_a_killed_grid_study_resumes_repeating_nothing(tmp_path: Path) -> None:
    path = grid_file(tmp_path, epochs=150)
    url = f"sqlite:///{tmp_path / 'k.db'}"
    process = subprocess.Popen(
        [sys.executable, "-m", "hpsearch", "run", str(path), "--storage", url, "--jobs", "2"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline, finished = time.monotonic() + 120, {}
    while time.monotonic() < deadline and len(finished) < 2:
        time.sleep(0.2)
        try:
            finished = fingerprint(url)
        except Exception:  # the study may not exist yet
            continue
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert 2 <= len(finished) < 12, "the kill must land in the middle of the study"
    before = fingerprint(url)
    run_study(load_study_file(path), url, jobs=2)
    after = fingerprint(url)
    assert len(after) == 12 and {k: after[k] for k in before} == before
    assert [p[:3] for p in places(url)] == [p[:3] for p in expected_places()]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("repeats = 2", "repeats = 0"), "search.repeats"),
        (("repeats = 2", "rounds = 3"), "search.rounds"),
        (("repeats = 2", "trials_per_round = 3"), "search.trials_per_round"),
        (('optimizer = ["sgd", "adam", "momentum"]', 'optimizer = ["sgd", "sgd"]'), "optimizer"),
        (('optimizer = ["sgd", "adam", "momentum"]', 'optimizer = ["sgd", "fast"]'), "optimizer"),
        (('optimizer = ["sgd", "adam", "momentum"]', "epochs = [1, 2]"), "epochs"),
        (('optimizer = ["sgd", "adam", "momentum"]', "colour = [1]"), "colour"),
        (("[search.grid]", "[search.grid.x]"), "search.grid.x"),
    ],
)
def test_grid_errors_name_the_field(tmp_path: Path, change: tuple[str, str], field: str) -> None:
    path = grid_file(tmp_path, text=GRID.replace(*change))
    with pytest.raises(StudyFileError, match=field.replace(".", r"\.")):
        load_study_file(path)


POINTS = """
name = "points"
[data]
n_samples = 300
[train]
hidden_sizes = [20]
epochs = 1
[search]
repeats = 2
[search.grid]
init_std = [0.1, 0.01]
[[search.points]]
optimizer = "sgd"
lr = 0.01
[[search.points]]
optimizer = "adam"
lr = 0.001
"""


def test_points_are_one_axis_of_settings_that_go_together(tmp_path: Path) -> None:
    from hpsearch.study.grid import grid_points

    path = tmp_path / "points.toml"
    path.write_text(POINTS)
    spec = load_study_file(path)
    assert spec.trials_per_round == 8 and [p.name for p in spec.params] == [
        "init_std",
        "optimizer",
        "lr",
    ]
    assert grid_points(spec)[::2] == [
        {"init_std": s, "optimizer": o, "lr": lr}
        for s in (0.1, 0.01)
        for o, lr in (("sgd", 0.01), ("adam", 0.001))
    ]
    assert type(spec).from_dict(spec.to_dict()) == spec
    path.write_text(POINTS.replace("lr = 0.001", "momentum = 0.5"))
    with pytest.raises(StudyFileError, match=r"search\.points\[2\]"):
        load_study_file(path)
