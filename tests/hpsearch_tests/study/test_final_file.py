"""`[search.final]`: parsed, stored, written back, a change continues the study, every bad value
one line naming file, field and fix (exit 2); and the pure math of the choice."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest
from conftest import write_tiny_study
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.errors import StudyFileError
from hpsearch.study.file import load_study_file, parse_study
from hpsearch.study.final import choose, final_seed, mean_score, wilson
from hpsearch.study.growth import grows, refused_changes
from hpsearch.study.space import trial_seed
from hpsearch.study.spec import Final, StudySpec
from hpsearch.study.toml import spec_toml


def test_the_table_parses_round_trips_and_writes_back(tmp_path: Path) -> None:
    spec = load_study_file(write_tiny_study(tmp_path, final="top = 4\nseeds = 2"))
    assert spec.final == Final(top=4, seeds=2)
    assert StudySpec.from_dict(spec.to_dict()) == spec
    text = spec_toml(spec.to_dict())
    assert "[search.final]\ntop = 4\nseeds = 2" in text
    assert parse_study(tomllib.loads(text), "again.toml") == spec
    assert load_study_file(write_tiny_study(tmp_path, final="")).final == Final(3, 5)


def test_without_the_table_the_stored_spec_is_as_before(tmp_path: Path) -> None:
    spec = load_study_file(write_tiny_study(tmp_path))
    assert spec.final is None and "final" not in spec.to_dict()
    assert "[search.final]" not in spec_toml(spec.to_dict())


@pytest.mark.parametrize(
    ("body", "field", "fix"),
    [
        ("top = 0", "search.final.top", "give an integer from 1 to 12 (the study's 12 trials)"),
        ("top = 13", "search.final.top", "from 1 to 12"),
        ("top = 2.5", "search.final.top", "got 2.5"),
        ("top = true", "search.final.top", "got True"),
        ('seeds = "5"', "search.final.seeds", "give an integer from 1 to 100"),
        ("seeds = 0", "search.final.seeds", "from 1 to 100"),
        ("seeds = 101", "search.final.seeds", "from 1 to 100"),
        ("repeats = 3", "search.final.repeats", "unknown field; known:"),
    ],
)
def test_bad_values_name_file_field_and_fix(
    tmp_path: Path, body: str, field: str, fix: str
) -> None:
    path = write_tiny_study(tmp_path, final=body)
    with pytest.raises(StudyFileError) as error:
        load_study_file(path)
    message = str(error.value)
    assert message.startswith(f"{path}: {field}: ") and fix in message
    assert "\n" not in message


def test_not_a_table_and_in_a_grid_study_are_refused(tmp_path: Path) -> None:
    path = write_tiny_study(tmp_path)
    path.write_text(path.read_text().replace("[search]\n", "[search]\nfinal = 3\n"))
    with pytest.raises(StudyFileError, match=r": search.final: must be a table"):
        load_study_file(path)
    grid = {
        "name": "g",
        "train": {"hidden_sizes": [20], "epochs": 1},
        "search": {"grid": {"lr": [0.1, 0.01]}, "final": {"top": 2}},
    }
    with pytest.raises(StudyFileError, match=r"g.toml: search.final: a grid study's"):
        parse_study(grid, "g.toml")


def test_the_cli_says_it_in_one_line_with_exit_2(tmp_path: Path) -> None:
    path = write_tiny_study(tmp_path, final="seeds = -1")
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert f"{path}: search.final.seeds: give an integer" in result.output


def test_a_changed_final_table_continues_the_study(tmp_path: Path) -> None:
    before = load_study_file(write_tiny_study(tmp_path)).to_dict()
    after = load_study_file(write_tiny_study(tmp_path, final="top = 2")).to_dict()
    assert refused_changes(before, after) == [] and grows(before, after)
    assert refused_changes(after, before) == [] and grows(after, before)
    assert not grows(after, after)


def test_wilson_interval_of_one_accuracy() -> None:
    low, high = wilson(0.89, 100)
    assert (round(low, 3), round(high, 3)) == (0.814, 0.937)  # asymmetric, inside [0, 1]
    assert wilson(1.0, 100)[1] == pytest.approx(1.0) and wilson(0.0, 100)[0] == 0.0
    assert wilson(0.5, 10_000)[1] - wilson(0.5, 10_000)[0] < 0.02


def test_mean_interval_adds_the_validation_sets_own_error() -> None:
    steady = mean_score([0.86, 0.86, 0.86], 100)
    assert steady.std == 0.0 and steady.mean == pytest.approx(0.86)
    half = 1.96 * math.sqrt(0.86 * 0.14 / 100)  # more seeds cannot shrink it below this
    assert steady.high - steady.mean == pytest.approx(half)
    noisy = mean_score([0.80, 0.92, 0.86], 100)
    assert noisy.high - noisy.low > steady.high - steady.low


def test_a_lucky_configuration_loses_to_a_steadier_one() -> None:
    # the first was ranked first on its own score (0.89); its new seeds say it was lucky
    lucky = mean_score([0.82, 0.80, 0.84], 100).mean
    steady = mean_score([0.86, 0.87, 0.85], 100).mean
    assert choose([(lucky, (3, 4)), (steady, (2, 7))]) == 1
    assert choose([(0.85, (3, 4)), (0.85, (2, 7))]) == 1  # a tie: the earlier place


def test_reevaluation_seeds_depend_on_place_only_and_are_new() -> None:
    seeds = [final_seed(0, 3, 4, r) for r in range(5)]
    assert len(set(seeds)) == 5 and seeds == [final_seed(0, 3, 4, r) for r in range(5)]
    assert trial_seed(0, 3, 4) not in seeds
    assert final_seed(0, 3, 5, 0) != seeds[0] and final_seed(1, 3, 4, 0) != seeds[0]


def test_the_final_choice_with_a_loss_objective_is_refused(tmp_path: Path) -> None:
    path = write_tiny_study(tmp_path)
    path.write_text(
        path.read_text().replace("[search]\n", '[search]\nobjective = "val_loss"\n')
        + "\n[search.final]\ntop = 2\nseeds = 2\n"
    )
    with pytest.raises(StudyFileError, match=r"search.final: chooses by the mean validation"):
        load_study_file(path)
