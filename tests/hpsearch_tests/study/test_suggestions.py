"""An unknown name or choice in a study file or an option suggests the nearest known one."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import hpsearch, write_tiny_study
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.errors import StudyFileError
from hpsearch.study.file import load_study_file

CASES = [
    # (replace this, with this, field, the whole message after the field)
    ("epochs = 3", 'epochs = 3\noptimizer = "Adam"', "train.optimizer",
     "unknown value 'Adam'; did you mean 'adam'?"),
    ("epochs = 3", "epoch = 3", "train.epoch", "unknown field; did you mean 'epochs'?"),
    ("min_top = 2", "min_tops = 2", "search.min_tops", "unknown field; did you mean 'min_top'?"),
    ("n_samples = 300", "n_sample = 300", "data.n_sample",
     "unknown field; did you mean 'n_samples'?"),
    ("min_top = 2", 'min_top = 2\nsampler = "TPE"', "search.sampler",
     "unknown sampler 'TPE'; did you mean 'tpe'?"),
    ("[search.params.lr]", "[search.params.weight_decy]\nlow = 1e-8\nhigh = 1e-4\n"
     "[search.params.lr]", "search.params.weight_decy",
     "not a trainer setting; did you mean 'weight_decay'?"),
    ("[search.params.lr]", '[search.params.optimizer]\nchoices = ["sgd", "Adam"]\n'
     "[search.params.lr]", "search.params.optimizer.choices",
     "unknown value 'Adam'; did you mean 'adam'?"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "field", "message"), CASES)
def test_an_unknown_name_or_choice_suggests_the_nearest(
    tmp_path: Path, old: str, new: str, field: str, message: str
) -> None:
    path = write_tiny_study(tmp_path)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(StudyFileError) as caught:
        load_study_file(path)
    assert str(caught.value) == f"{path}: {field}: {message}"


def test_check_suggests_as_a_subprocess(tmp_path: Path) -> None:
    path = write_tiny_study(tmp_path)
    path.write_text(path.read_text().replace('"mnist-5k"', '"mnist5k"'))
    result = hpsearch("check", str(path))
    assert result.returncode == 2
    assert result.stderr.strip().endswith("did you mean 'mnist-5k'?"), result.stderr


def test_without_a_near_name_the_known_ones_are_listed(tmp_path: Path) -> None:
    path = write_tiny_study(tmp_path)
    path.write_text(path.read_text().replace("epochs = 3", 'epochs = 3\noptimizer = "lbfgs"'))
    with pytest.raises(StudyFileError, match="unknown value 'lbfgs'; choose one of sgd, "):
        load_study_file(path)


def test_an_unknown_plot_kind_suggests_the_nearest(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["plot", "-s", str(tmp_path / "x.db"), "-k", "scater"])
    assert result.exit_code == 2
    assert "unknown plot kind 'scater'; did you mean 'scatter'?" in result.stderr
