"""Scheduled batch runs: several study files, idempotent re-runs, deadlines, quiet output."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import optuna
import pytest
from conftest import BIN, fingerprint, hpsearch, write_tiny_study
from optuna.trial import TrialState

from hpsearch.errors import UsageError
from hpsearch.run.batch import parse_duration
from hpsearch.run.coordinator import run_study
from hpsearch.study.file import load_study_file


def three_studies(folder: Path) -> Path:
    folder.mkdir()
    for name in ("alpha", "beta", "gamma"):
        write_tiny_study(folder, name=name, trials=3)
    return folder


def test_a_batch_from_a_cron_like_environment(tmp_path: Path) -> None:
    studies = three_studies(tmp_path / "studies")
    url = f"sqlite:///{tmp_path / 'batch.db'}"
    cron_env = {"PATH": f"{BIN}:/usr/bin:/bin"}  # nothing else, as cron gives
    result = hpsearch("run", str(studies), "--storage", url, "--json", env=cron_env)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["study"] for line in lines] == ["alpha", "beta", "gamma"]
    for line in lines:
        assert line["complete"] and line["exit_code"] == 0
        assert line["finished_trials"] == line["planned_trials"] == 6
        study = optuna.load_study(study_name=line["study"], storage=url)
        assert line["best"][0]["val_accuracy"] == study.best_value
    assert "\x1b" not in result.stderr, "no terminal escape codes without a terminal"

    reports = tmp_path / "www"
    again = hpsearch(
        "run",
        str(studies),
        "--storage",
        url,
        "--json",
        "--quiet",
        "--report",
        str(reports),
        env=cron_env,
    )
    assert again.returncode == 0, again.stderr
    assert all(json.loads(line)["already_complete"] for line in again.stdout.splitlines())
    for name in ("alpha", "beta", "gamma"):  # no extra work the second time, one report each
        assert len(optuna.load_study(study_name=name, storage=url).trials) == 6
        summary = json.loads((reports / name / "summary.json").read_text())
        assert summary["overview"]["name"] == name and summary["overview"]["state"] == "complete"
        assert (reports / name / f"{name}-curves.png").stat().st_size > 0


def test_a_report_that_cannot_be_written_fails_its_study_with_one_line(tmp_path: Path) -> None:
    path = write_tiny_study(tmp_path, trials=3)
    (tmp_path / "taken").write_text("a file, not a folder\n")
    url = f"sqlite:///{tmp_path / 'r.db'}"
    result = hpsearch(
        "run", str(path), "--storage", url, "--json", "--report", str(tmp_path / "taken")
    )
    assert result.returncode == 1
    line = json.loads(result.stdout)
    assert line["complete"] and line["exit_code"] == 1 and "report of 'tiny'" in line["error"]
    assert result.stderr.strip().splitlines()[-1].startswith("hpsearch: report of 'tiny': ")
    assert len(fingerprint(url)) == 6, "the study itself is stored and complete"


def test_non_interactive_output_is_one_line_per_round_and_quiet_is_silent(tmp_path: Path) -> None:
    path = write_tiny_study(tmp_path, trials=3)
    url = f"sqlite:///{tmp_path / 'out.db'}"
    result = hpsearch("run", str(path), "--storage", url, "--jobs", "1")
    assert result.returncode == 0
    rounds = [line for line in result.stderr.splitlines() if line.startswith("round ")]
    assert [line.split(":")[0] for line in rounds] == ["round 0 (1 of 2)", "round 1 (2 of 2)"]
    assert "\x1b" not in result.stderr + result.stdout
    assert "Best-1 (val acc" in result.stdout
    quiet = hpsearch("run", str(path), "--storage", url, "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""


def test_timeout_stops_mid_trial_and_a_resume_loses_nothing(tmp_path: Path) -> None:
    path = write_tiny_study(tmp_path, epochs=3000, trials=4)  # trials of a second or two
    url = f"sqlite:///{tmp_path / 'deadline.db'}"
    # The deadline must land mid-trial: on a loaded machine, start-up alone can outlast a
    # short one. Each attempt continues the same study, as a nightly job would.
    for deadline in ("3s", "6s", "12s"):
        result = hpsearch("run", str(path), "--storage", url, "--jobs", "2", "--timeout", deadline)
        assert result.returncode == 124, result.stderr
        assert "stopped at" in result.stderr and "of 8 trials" in result.stderr
        study = optuna.load_study(study_name="tiny", storage=url)
        assert not study.get_trials(states=(TrialState.RUNNING,))
        if any(t.user_attrs.get("fail_reason") == "interrupted" for t in study.trials):
            break
    else:
        pytest.fail("no deadline landed in the middle of a trial")
    before = fingerprint(url)
    assert len(before) < 8
    resumed = hpsearch("run", str(path), "--storage", url, "--jobs", "2")
    assert resumed.returncode == 0, resumed.stderr
    after = fingerprint(url)
    assert {key: after[key] for key in before} == before and len(after) == 8
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    run_study(load_study_file(path), clean, jobs=2)
    assert after == fingerprint(clean)


def test_one_failing_study_does_not_stop_the_batch_and_exits_1(tmp_path: Path) -> None:
    studies = three_studies(tmp_path / "studies")
    url = f"sqlite:///{tmp_path / 'mixed.db'}"
    run_study(load_study_file(studies / "beta.toml"), url, jobs=1)
    (studies / "beta.toml").write_text(
        (studies / "beta.toml").read_text().replace("epochs = 3", "epochs = 4")
    )
    result = hpsearch("run", str(studies), "--storage", url, "--json")
    assert result.returncode == 1
    codes = {
        json.loads(line)["study_file"].split("/")[-1]: json.loads(line)["exit_code"]
        for line in result.stdout.splitlines()
    }
    assert codes == {"alpha.toml": 0, "beta.toml": 1, "gamma.toml": 0}
    assert "train.epochs: stored 3, file 4" in result.stderr
    assert result.stderr.count("\n") == 1 + result.stderr.count("round ") + result.stderr.count(
        "scoring"
    )


def test_wait_runs_after_the_holder_instead_of_exiting_75(tmp_path: Path) -> None:
    path = write_tiny_study(tmp_path, epochs=100, trials=3)
    url = f"sqlite:///{tmp_path / 'wait.db'}"
    first = subprocess.Popen(
        [str(BIN / "hpsearch"), "run", str(path), "--storage", url, "--jobs", "1", "--quiet"]
    )
    deadline = time.monotonic() + 60
    while not holds_lock(url):
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.05)
    try:
        waited = hpsearch("run", str(path), "--storage", url, "--wait", "--json")
    finally:
        assert first.wait(timeout=300) == 0
    assert waited.returncode == 0, waited.stderr
    summary = json.loads(waited.stdout)
    assert summary["complete"] and summary["finished_trials"] == 6


def holds_lock(url: str) -> bool:
    try:
        storage = optuna.storages.RDBStorage(url)
        attrs = storage.get_study_system_attrs(storage.get_study_id_from_name("tiny"))
    except Exception:  # not created yet
        return False
    return "hpsearch:coordinator" in attrs


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("1h30m", 5400), ("0.5s", 0.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-5s", "0", "5x"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="timeout"):
        parse_duration(text)


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    missing = hpsearch("run", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "no such study file" in missing.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    assert hpsearch("run", str(empty)).returncode == 2
    bad_timeout = hpsearch("run", str(write_tiny_study(tmp_path)), "--timeout", "soon")
    assert bad_timeout.returncode == 2 and "--timeout" in bad_timeout.stderr
    assert hpsearch("run").returncode == 2  # typer's own usage error
