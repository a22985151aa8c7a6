"""Search settings a user can get wrong or leave out: `min_top` above the round's trials is
refused (only as written: a stored study's defaults never are); a study of no searched
parameter re-evaluates its fixed settings; total divergence lowers only what causes it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import optuna
import pytest
from conftest import hpsearch, write_tiny_study

from hpsearch.errors import StudyFileError
from hpsearch.store.records import SPEC_KEY, read_rounds
from hpsearch.study.file import load_study_file, parse_study
from hpsearch.study.narrowing import Outcome, narrow
from hpsearch.study.space import Range
from hpsearch.study.spec import Narrowing, ParamSpec
from hpsearch.study.toml import spec_toml


def _edit(tmp_path: Path, *pairs: tuple[str, str], **kwargs: int) -> Path:
    path = write_tiny_study(tmp_path, **kwargs)
    text = path.read_text()
    for old, new in pairs:
        assert old in text
        text = text.replace(old, new, 1)
    path.write_text(text)
    return path


def test_a_written_min_top_above_the_rounds_trials_is_refused(tmp_path: Path) -> None:
    path = _edit(tmp_path, ("min_top = 2", "min_top = 7"))
    with pytest.raises(StudyFileError) as caught:
        load_study_file(path)
    assert str(caught.value) == (
        f"{path}: search.min_top: is 7, more than the 6 trials of a round it narrows from; "
        "keep it at most 6"
    )
    result = hpsearch("check", str(path))
    assert result.returncode == 2 and "search.min_top: is 7" in result.stderr


def test_the_default_min_top_above_a_small_round_is_no_error_and_resumes(tmp_path: Path) -> None:
    """min_top 3 (the default, not written) with rounds of 2: stored, shown, re-run alike."""
    path = _edit(tmp_path, ("min_top = 2\n", ""), trials=2, epochs=1)
    db = tmp_path / "s.db"
    for _ in range(2):  # the second run finds the study complete
        result = hpsearch("run", str(path), "--storage", str(db), "--jobs", "1")
        assert result.returncode == 0, result.stderr
    stored = optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}").user_attrs[SPEC_KEY]
    assert parse_study(tomllib.loads(spec_toml(stored)), "shown").to_dict() == stored


def test_min_top_is_judged_against_the_rounds_it_narrows_from(tmp_path: Path) -> None:
    schedule = "min_top = 3\n[search.schedule]\ntrials = [4, 2]\n"
    path = _edit(tmp_path, ("trials_per_round = 6\nmin_top = 2\n", schedule))
    assert load_study_file(path).narrowing.min_top == 3  # round 1 (2 trials) narrows nothing
    path.write_text(path.read_text().replace("min_top = 3", "min_top = 5"))
    with pytest.raises(StudyFileError, match=r"search\.min_top: is 5, more than the 4 trials"):
        load_study_file(path)


FIXED = """
name = "fixed"
seed = 2
[data]
dataset = "mnist-5k"
n_samples = 300
[train]
hidden_sizes = [20]
epochs = 2
lr = 0.05
[search]
repeats = 3
"""


def test_a_study_of_no_searched_parameter_re_evaluates_its_settings(tmp_path: Path) -> None:
    path = tmp_path / "fixed.toml"
    path.write_text(FIXED)
    spec = load_study_file(path)
    assert spec.params == () and spec.total_trials == 3
    db = str(tmp_path / "s.db")
    result = hpsearch("run", str(path), "--storage", db, "--jobs", "1", "--report", str(tmp_path))
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(study_name="fixed", storage=f"sqlite:///{db}")
    seeds = {t.user_attrs["seed"] for t in study.trials}
    assert len(study.trials) == 3 and len(seeds) == 3 and all(t.params == {} for t in study.trials)
    best = json.loads(hpsearch("best", "--storage", db, "--format", "json").stdout)
    assert best["train"]["lr"] == 0.05
    assert hpsearch("show", "--storage", db).returncode == 0
    assert (tmp_path / "fixed" / "index.html").is_file()


def test_no_parameter_and_no_repeats_says_how_to_re_evaluate(tmp_path: Path) -> None:
    path = tmp_path / "fixed.toml"
    path.write_text(FIXED.replace("repeats = 3", "trials_per_round = 3"))
    refused = r"search\.params: no parameters to search; .*repeats"
    with pytest.raises(StudyFileError, match=refused):
        load_study_file(path)


LR = ParamSpec("lr", "float", low=1e-3, high=1e-1, log=True)
DECAY = ParamSpec("weight_decay", "float", low=1e-8, high=1e-4, log=True)
RANGES = {"lr": Range(1e-3, 1e-1), "weight_decay": Range(1e-8, 1e-4)}
DIVERGED = [Outcome(i, {"lr": 0.05, "weight_decay": 1e-6}, None, i) for i in range(6)]


def test_when_every_trial_diverged_only_the_learning_rate_moves_down() -> None:
    decision = narrow([LR, DECAY], RANGES, DIVERGED, Narrowing())
    assert decision.ranges["lr"].low == pytest.approx(1e-5)
    assert decision.ranges["lr"].high == pytest.approx(1e-3)
    assert decision.ranges["weight_decay"] == RANGES["weight_decay"]
    assert decision.reason == "every trial diverged or failed: lr moved one width down"


def test_a_study_file_names_what_moves_down_on_divergence(tmp_path: Path) -> None:
    path = _edit(tmp_path, ("min_top = 2", 'min_top = 2\nlower_when_diverged = ["weight_decay"]'))
    spec = load_study_file(path)
    assert spec.lower_when_diverged == ("weight_decay",)
    decision = narrow([LR, DECAY], RANGES, DIVERGED, Narrowing(), lowered=("weight_decay",))
    assert decision.ranges["lr"] == RANGES["lr"]
    assert decision.ranges["weight_decay"].high == pytest.approx(1e-8)
    path.write_text(path.read_text().replace('["weight_decay"]', '["weight_decy"]'))
    with pytest.raises(StudyFileError) as caught:
        load_study_file(path)
    assert str(caught.value) == (
        f"{path}: search.lower_when_diverged: 'weight_decy' is not a searched numeric "
        "parameter; did you mean 'weight_decay'?"
    )


def test_a_diverging_study_lowers_only_lr_in_its_round_records(tmp_path: Path) -> None:
    path = _edit(
        tmp_path,
        ("low = 1e-3\nhigh = 0.3", "low = 1e3\nhigh = 1e5"),
        ("hidden_sizes = [20]", "hidden_sizes = [100, 100]"),
        trials=3,
        epochs=2,
    )
    db = tmp_path / "s.db"
    result = hpsearch("run", str(path), "--storage", str(db), "--jobs", "1")
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}")
    first, second = read_rounds(study.user_attrs)
    assert second.ranges["weight_decay"] == first.ranges["weight_decay"]
    assert second.ranges["lr"].high == pytest.approx(1e3)
    assert SPEC_KEY in study.user_attrs and "lower_when_diverged" not in study.user_attrs[SPEC_KEY]
