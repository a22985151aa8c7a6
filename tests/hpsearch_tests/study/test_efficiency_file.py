"""The study file's schedule, sampler and pruning fields: parsed, stored, written back, and
every bad value one line naming file, field and fix (exit 2 from the CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.errors import StudyFileError
from hpsearch.study.file import load_study_file, parse_study
from hpsearch.study.spec import Pruning, StudySpec
from hpsearch.study.toml import spec_toml

BASE = """
name = "t"
seed = 1
[data]
n_samples = 300
[train]
hidden_sizes = [20]
epochs = 8
[search]
rounds = 3
{search}
[search.params.lr]
low = 1e-3
high = 1e-1
log = true
"""

GOOD = """sampler = "tpe"
growth = 2.0
[search.schedule]
epochs = [2, 4, 8]
trials = [12, 8, 4]
[search.pruning]
rule = "percentile"
epochs = [1, 3]
percentile = 40
"""


def write(tmp_path: Path, search: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(BASE.format(search=search))
    return path


def test_the_fields_parse_round_trip_and_write_back(tmp_path: Path) -> None:
    spec = load_study_file(write(tmp_path, GOOD))
    assert spec.round_epochs == (2, 4, 8) and spec.round_trials == (12, 8, 4)
    assert spec.sampler == "tpe" and spec.total_trials == 24
    assert spec.pruning == Pruning("percentile", (1, 3), percentile=40.0)
    assert [spec.trials_in(r) for r in range(3)] == [12, 8, 4]
    assert spec.narrowing.growth == 2.0
    assert StudySpec.from_dict(spec.to_dict()) == spec
    import tomllib

    assert parse_study(tomllib.loads(spec_toml(spec.to_dict())), "x") == spec


def test_a_study_without_the_fields_stores_what_it_stored_before(tmp_path: Path) -> None:
    spec = load_study_file(write(tmp_path, "trials_per_round = 4"))
    stored = spec.to_dict()
    assert not {"round_epochs", "round_trials", "sampler", "pruning"} & set(stored)
    assert "growth" not in stored["narrowing"]
    assert StudySpec.from_dict(stored) == spec


BAD = [
    ("trials_per_round = 4\ngrowth = 0.5", "search.growth", "from 1"),
    ('sampler = "bayes"\ntrials_per_round = 4', "search.sampler", "unknown sampler 'bayes'"),
    ("[search.schedule]\nepochs = [2, 4]\ntrials = [4, 4, 4]", "search.schedule.epochs", "3"),
    (
        "[search.schedule]\nepochs = [2, 4, 9]\ntrials = [4, 4, 4]",
        "search.schedule.epochs",
        "train.epochs (8)",
    ),
    ("[search.schedule]\nepochs = [0, 4, 8]\ntrials = [4, 4, 4]", "search.schedule.epochs", "1"),
    (
        "trials_per_round = 4\n[search.schedule]\ntrials = [4, 4, 4]",
        "search.schedule.trials",
        "keep one",
    ),
    (
        "trials_per_round = 4\n[search.schedule]\nepoch = [1, 2, 3]",
        "search.schedule.epoch",
        "unknown",
    ),
    ("trials_per_round = 4\n[search.pruning]\nepochs = [1]", "search.pruning.rule", "required"),
    (
        "trials_per_round = 4\n[search.pruning]\nrule = 'median'\nepochs = [1]",
        "search.pruning.rule",
        "percentile, threshold",
    ),
    (
        "trials_per_round = 4\n[search.pruning]\nrule = 'threshold'\nepochs = [1]",
        "search.pruning.threshold",
        "needs a threshold",
    ),
    (
        "trials_per_round = 4\n[search.pruning]\nrule = 'percentile'\nepochs = [8]",
        "search.pruning.epochs",
        "from 1 to 7",
    ),
    (
        "trials_per_round = 4\n[search.pruning]\nrule = 'percentile'\nepochs = [3, 1]",
        "search.pruning.epochs",
        "increasing",
    ),
    (
        "trials_per_round = 4\n[search.pruning]\nrule = 'percentile'\nepochs = [1]\n"
        "percentile = 100",
        "search.pruning.percentile",
        "(0, 100)",
    ),
    (
        "trials_per_round = 4\n[search.pruning]\nrule = 'threshold'\nepochs = [1]\nthreshold = 2",
        "search.pruning.threshold",
        "[0, 1]",
    ),
]


@pytest.mark.parametrize(("search", "field", "words"), BAD)
def test_bad_values_name_file_field_and_fix(
    tmp_path: Path, search: str, field: str, words: str
) -> None:
    path = write(tmp_path, search)
    with pytest.raises(StudyFileError) as caught:
        load_study_file(path)
    message = str(caught.value)
    assert f"{path}: {field}:" in message and words in message and "\n" not in message


def test_percentile_pruning_needs_an_earlier_round(tmp_path: Path) -> None:
    path = tmp_path / "one.toml"
    text = BASE.format(
        search="trials_per_round = 4\n[search.pruning]\nrule = 'percentile'\nepochs = [1]"
    )
    path.write_text(text.replace("rounds = 3", "rounds = 1"))
    with pytest.raises(
        StudyFileError, match=r"search\.pruning\.rule: 'percentile' judges against earlier rounds"
    ):
        load_study_file(path)


def test_the_cli_says_it_in_one_line_with_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, 'sampler = "bayes"\ntrials_per_round = 4')
    result = CliRunner().invoke(app, ["run", str(path), "--storage", str(tmp_path / "x.db")])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "search.sampler" in result.stderr
