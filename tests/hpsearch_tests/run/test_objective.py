"""The study file chooses what is optimised (`search.objective`): the validation accuracy
(maximised, the default) or the validation loss (minimised), everywhere a best is chosen."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import optuna
import pytest
from conftest import hpsearch, write_tiny_study
from optuna.study import StudyDirection
from optuna.trial import TrialState

from hpsearch.errors import StudyFileError
from hpsearch.store.records import SPEC_KEY, TEST_KEY, place, read_rounds
from hpsearch.study.file import load_study_file
from hpsearch.study.schedule import behind, thresholds
from hpsearch.study.spec import Pruning


def _loss_study(tmp_path: Path, objective: str = '"val_loss"') -> Path:
    path = write_tiny_study(tmp_path, trials=5, epochs=2)
    path.write_text(
        path.read_text().replace("min_top = 2", f"min_top = 2\nobjective = {objective}")
    )
    return path


def test_the_objective_is_checked_and_the_default_is_not_stored(tmp_path: Path) -> None:
    assert load_study_file(_loss_study(tmp_path)).objective == "val_loss"
    (tmp_path / "plain").mkdir()
    default = load_study_file(write_tiny_study(tmp_path / "plain"))
    assert default.objective == "val_accuracy" and "objective" not in default.to_dict()
    path = _loss_study(tmp_path, '"val_acc"')
    with pytest.raises(StudyFileError) as caught:
        load_study_file(path)
    assert str(caught.value) == (
        f"{path}: search.objective: unknown objective 'val_acc'; did you mean 'val_accuracy'?"
    )


def _best_loss_first(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    return sorted(trials, key=lambda t: (t.value, place(t)))


def test_a_loss_study_minimises_the_validation_loss_everywhere(tmp_path: Path) -> None:
    path, db = _loss_study(tmp_path), str(tmp_path / "s.db")
    result = hpsearch("run", str(path), "--storage", db, "--jobs", "1")
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}")
    assert study.direction == StudyDirection.MINIMIZE
    finished = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(finished) == 10
    for trial in finished:  # the value and the curve are the loss; the accuracy is kept
        loss = trial.user_attrs["val_loss"]
        assert trial.value == loss[-1]
        assert [trial.intermediate_values[s] for s in sorted(trial.intermediate_values)] == loss
        assert len(trial.user_attrs["val_accuracy"]) == 2
    first, second = read_rounds(study.user_attrs)
    round0 = [t for t in finished if t.user_attrs["round"] == 0]
    assert first.best == min(t.value for t in round0)
    assert second.source_trials == [t.number for t in _best_loss_first(round0)[:2]]
    best = _best_loss_first(finished)[0]
    assert study.user_attrs[TEST_KEY]["trial"] == best.number
    shown = json.loads(hpsearch("best", "--storage", db, "--format", "json").stdout)
    assert shown["trial"] == best.number
    assert shown["val_accuracy"] == best.user_attrs["val_accuracy"][-1]
    top = json.loads(hpsearch("trials", "--storage", db, "--top", "1", "-f", "json").stdout)
    assert [row["trial"] for row in top] == [best.number]
    studies = json.loads(hpsearch("studies", "--storage", db, "-f", "json").stdout)
    assert studies[0]["best"] == best.value  # the lowest loss
    show = hpsearch("show", "--storage", db)
    assert show.returncode == 0 and f"Best configuration (trial {best.number})" in show.stdout
    assert f"val loss {best.value:.3f}" in show.stdout
    for kind in ("history", "contour", "curves"):
        out = tmp_path / f"{kind}.png"
        drawn = hpsearch("plot", "--storage", db, "--kind", kind, "-o", str(out))
        assert drawn.returncode == 0 and out.stat().st_size > 0, drawn.stderr
    # losses over 1 crashed the accuracy intervals (math domain error) in JSON and reports
    as_json = hpsearch("show", "--storage", db, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert all(r["best_interval"] is None for r in json.loads(as_json.stdout)["rounds"])
    report = hpsearch("report", "--storage", db, "-o", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert f"best validation loss {best.value:.3f}" in summary


def test_changing_the_objective_is_refused_on_resume(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    plain = write_tiny_study(tmp_path, trials=2, epochs=1)
    assert hpsearch("run", str(plain), "--storage", db, "--jobs", "1").returncode == 0
    plain.write_text(
        plain.read_text().replace("min_top = 2", 'min_top = 2\nobjective = "val_loss"')
    )
    result = hpsearch("run", str(plain), "--storage", db, "--jobs", "1")
    assert result.returncode == 1
    assert "search.objective: stored None, file 'val_loss'" in result.stderr
    stored = optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}").user_attrs[SPEC_KEY]
    assert "objective" not in stored


def test_pruning_a_loss_judges_from_the_other_end(tmp_path: Path) -> None:
    spec = dataclasses.replace(
        load_study_file(_loss_study(tmp_path)),
        pruning=Pruning("percentile", (1,), 25.0, min_reference=2),
    )
    curves = [{1: loss} for loss in (1.0, 2.0, 3.0, 4.0, 5.0)]
    limits = thresholds(spec, 1, curves)
    assert limits == {1: 4.0}  # the 75th percentile of the losses: the worst quarter stops
    assert behind(limits, 1, 4.5, maximize=False) and not behind(limits, 1, 3.5, maximize=False)


def test_a_pruning_threshold_is_an_accuracy_and_refused_with_a_loss(tmp_path: Path) -> None:
    path = _loss_study(tmp_path)
    path.write_text(
        path.read_text() + '[search.pruning]\nrule = "threshold"\nthreshold = 0.2\nepochs = [1]\n'
    )
    with pytest.raises(StudyFileError, match=r"search.pruning.threshold: is an accuracy"):
        load_study_file(path)
