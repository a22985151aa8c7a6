"""`hpsearch run` end to end on real SQLite files: rounds, determinism, resume, refusal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from conftest import fingerprint, write_tiny_study
from optuna.trial import TrialState
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.errors import StudyMismatchError
from hpsearch.run.coordinator import run_study
from hpsearch.store.records import COMPLETE_KEY, TEST_KEY, read_rounds
from hpsearch.study.file import load_study_file


def study_file(tmp_path: Path, *, epochs: int = 3, trials: int = 6) -> Path:
    return write_tiny_study(tmp_path, epochs=epochs, trials=trials)


def test_a_run_stores_rounds_trials_curves_and_the_test_score(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    summary = run_study(load_study_file(study_file(tmp_path)), url, jobs=1)
    study = optuna.load_study(study_name="tiny", storage=url)
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 12
    rounds = read_rounds(study.user_attrs)
    assert [r.number for r in rounds] == [0, 1] and all(r.done for r in rounds)
    assert sorted(rounds[1].trial_numbers) == sorted(
        t.number for t in trials if t.user_attrs["round"] == 1
    )
    assert rounds[1].reason.startswith("best")
    assert rounds[0].best == max(t.value for t in trials if t.user_attrs["round"] == 0)
    trial = trials[0]
    assert sorted(trial.intermediate_values) == [1, 2, 3]
    assert len(trial.user_attrs["train_accuracy"]) == 3
    assert trial.user_attrs["diverged"] is False
    assert trial.value == trial.intermediate_values[3]
    test = study.user_attrs[TEST_KEY]
    best = max(trials, key=lambda t: (t.value, -t.number))
    assert test["trial"] == best.number and test["val_accuracy"] == best.value
    assert 0.0 < test["test_accuracy"] <= 1.0
    assert study.user_attrs[COMPLETE_KEY] is True
    assert summary.top[0].number == best.number


def test_jobs_1_and_jobs_2_give_identical_trials(tmp_path: Path) -> None:
    spec = load_study_file(study_file(tmp_path))
    one, two = f"sqlite:///{tmp_path / 'one.db'}", f"sqlite:///{tmp_path / 'two.db'}"
    run_study(spec, one, jobs=1)
    run_study(spec, two, jobs=2)
    assert fingerprint(one) == fingerprint(two)
    assert len(fingerprint(one)) == 12


def test_a_finished_study_is_already_complete_and_adds_nothing(tmp_path: Path) -> None:
    spec = load_study_file(study_file(tmp_path))
    url = f"sqlite:///{tmp_path / 'a.db'}"
    run_study(spec, url, jobs=1)
    before = len(optuna.load_study(study_name="tiny", storage=url).trials)
    summary = run_study(spec, url, jobs=1)
    assert summary.already_complete
    assert len(optuna.load_study(study_name="tiny", storage=url).trials) == before


def test_a_changed_study_file_is_refused_saying_what_differs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    run_study(load_study_file(study_file(tmp_path)), url, jobs=1)
    with pytest.raises(StudyMismatchError, match=r"train\.epochs: stored 3, file 4"):
        run_study(load_study_file(study_file(tmp_path, epochs=4)), url, jobs=1)


def test_diverging_trials_complete_the_study(tmp_path: Path) -> None:
    # Two 100-wide layers overflow to NaN within an epoch at these rates.
    text = (
        study_file(tmp_path)
        .read_text()
        .replace("low = 1e-3\nhigh = 0.3", "low = 1e2\nhigh = 1e4")
        .replace("hidden_sizes = [20]", "hidden_sizes = [100, 100]")
    )
    path = tmp_path / "diverge.toml"
    path.write_text(text)
    url = f"sqlite:///{tmp_path / 'd.db'}"
    run_study(load_study_file(path), url, jobs=1)
    study = optuna.load_study(study_name="tiny", storage=url)
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 12
    first = [t for t in trials if t.user_attrs["round"] == 0]
    assert all(t.user_attrs["diverged"] and t.value == 0.0 for t in first)
    rounds = read_rounds(study.user_attrs)
    assert rounds[1].ranges["lr"].high == pytest.approx(1e2)  # moved one width down
    assert "diverged" in rounds[1].reason
    assert study.user_attrs[COMPLETE_KEY] is True


def hpsearch(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hpsearch", *args], **kwargs)


def test_resume_after_the_run_is_killed_keeps_every_finished_trial(tmp_path: Path) -> None:
    path = study_file(tmp_path, epochs=400, trials=8)
    url = f"sqlite:///{tmp_path / 'k.db'}"
    process = hpsearch(
        "run",
        str(path),
        "--storage",
        url,
        "--jobs",
        "2",
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    finished: dict = {}
    while time.monotonic() < deadline and len(finished) < 3:
        time.sleep(0.2)
        try:
            finished = fingerprint(url)
        except Exception:  # the study may not exist yet
            continue
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert 3 <= len(finished) < 16, "the kill must land in the middle of the study"
    before = fingerprint(url)

    run_study(load_study_file(path), url, jobs=1)

    after = fingerprint(url)
    assert len(after) == 16
    assert {k: after[k] for k in before} == before, "a finished trial changed or vanished"
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    run_study(load_study_file(path), clean, jobs=1)
    assert after == fingerprint(clean), "re-run trials must give the numbers of a clean run"


def test_cli_run_prints_the_ranking_and_json(tmp_path: Path) -> None:
    path = study_file(tmp_path)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    result = CliRunner().invoke(app, ["run", str(path), "--storage", url, "--jobs", "1", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["study"] == "tiny" and summary["complete"] is True
    assert len(summary["rounds"]) == 2 and summary["best"][0]["val_accuracy"] > 0
    process = subprocess.run(
        [sys.executable, "-m", "hpsearch", "run", str(path), "--storage", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    assert "already complete" in process.stdout
    assert "Best-1 (val acc" in process.stdout


def test_cli_bad_study_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(study_file(tmp_path).read_text().replace("rounds = 2", "rounds = 'many'"))
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "hpsearch",
            "run",
            str(path),
            "--storage",
            f"sqlite:///{tmp_path / 'x.db'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 2
    assert process.stderr.strip().count("\n") == 0
    assert "search.rounds" in process.stderr and "Traceback" not in process.stderr
