"""A study file that SQLite would store but PostgreSQL refuses is refused when it is read."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import hpsearch, write_tiny_study
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.errors import StudyFileError
from hpsearch.study.file import load_study_file


def _named(tmp_path: Path, name: str) -> Path:
    path = write_tiny_study(tmp_path)
    path.write_text(path.read_text().replace("name = 'tiny'", f'name = "{name}"'))
    return path


def test_a_name_longer_than_optunas_column_is_refused_by_check_and_run(tmp_path: Path) -> None:
    path = _named(tmp_path, "n" * 513)
    db = tmp_path / "s.db"
    for args in (["check", str(path)], ["run", str(path), "--storage", str(db), "--jobs", "1"]):
        result = hpsearch(*args)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == (
            f"hpsearch: {path}: name: is 513 characters long; Optuna's study_name column "
            "holds at most 512 (PostgreSQL refuses longer names); shorten it"
        )
    assert not db.exists()
    assert load_study_file(_named(tmp_path, "n" * 512)).name == "n" * 512  # the bound itself


def test_copy_to_a_name_longer_than_the_column_is_refused(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    path = write_tiny_study(tmp_path, epochs=1, trials=2)
    assert hpsearch("run", str(path), "--storage", db, "--jobs", "1").returncode == 0
    result = CliRunner().invoke(app, ["copy", "tiny", "c" * 600, "--storage", db])
    assert result.exit_code == 2, result.output
    assert "NEW_NAME: is 600 characters long" in result.stderr


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("name = 'tiny'", 'name = "ti\\u0000ny"', "name"),
        ("[train]", '[train]\noptimizer = "sg\\u0000d"', "train.optimizer"),
    ],
)
def test_a_nul_character_is_refused_naming_its_field(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    path = write_tiny_study(tmp_path)
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(StudyFileError, match=f": {field}: holds a NUL character"):
        load_study_file(path)
