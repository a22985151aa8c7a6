"""Few epochs first, model-based rounds and pruning: stored as planned, and deterministic with
any number of workers and after a kill -9 (real SQLite files, real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from conftest import fingerprint
from optuna.trial import TrialState
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.run.coordinator import run_study
from hpsearch.run.rounds import FAULT_ENV, plan_round
from hpsearch.store.records import read_rounds, round_trials
from hpsearch.study.file import load_study_file

EFFICIENT = """
name = "tiny"
seed = 5
[data]
dataset = "mnist-5k"
n_samples = 300
[train]
hidden_sizes = [20]
epochs = 8
[search]
rounds = 3
min_top = 2
sampler = "{sampler}"
[search.schedule]
epochs = [2, 4, 8]
trials = [12, 8, 6]
[search.pruning]
rule = "percentile"
epochs = [1, 2]
percentile = 50
min_reference = 3
[search.params.lr]
low = 1e-4
high = 0.3
log = true
limits = [1e-6, 1.0]
[search.params.weight_decay]
low = 1e-8
high = 1e-4
log = true
"""


def efficient_study(folder: Path, sampler: str = "tpe") -> Path:
    path = folder / f"efficient-{sampler}.toml"
    path.write_text(EFFICIENT.format(sampler=sampler))
    return path


def trials_of(url: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="tiny", storage=url).get_trials()


@pytest.mark.parametrize("sampler", ["tpe", "cmaes", "qmc"])
def test_jobs_1_and_jobs_3_give_identical_trials(tmp_path: Path, sampler: str) -> None:
    spec = load_study_file(efficient_study(tmp_path, sampler))
    one, three = f"sqlite:///{tmp_path / 'one.db'}", f"sqlite:///{tmp_path / 'three.db'}"
    run_study(spec, one, jobs=1)
    run_study(spec, three, jobs=3)
    assert fingerprint(one) == fingerprint(three)
    assert len(fingerprint(one)) == 12 + 8 + 6
    states = [(t.user_attrs["round"], t.user_attrs["index"], t.state) for t in trials_of(one)]
    assert sorted(states) == sorted(
        (t.user_attrs["round"], t.user_attrs["index"], t.state) for t in trials_of(three)
    )


def test_rounds_train_their_scheduled_epochs_and_prune_behind_earlier_rounds(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    run_study(load_study_file(efficient_study(tmp_path)), url, jobs=2)
    trials = trials_of(url)
    rounds = read_rounds(optuna.load_study(study_name="tiny", storage=url).user_attrs)
    assert [r.epochs for r in rounds] == [2, 4, 8]
    assert [r.sampler for r in rounds] == ["tpe"] * 3
    assert rounds[0].pruning == {}  # nothing earlier to judge against
    assert set(rounds[1].pruning) == {"1", "2"} and set(rounds[2].pruning) == {"1", "2"}
    # The round-1 threshold at epoch 2: the median of round 0's completed trials at epoch 2.
    first = [t for t in trials if t.user_attrs["round"] == 0 and t.state == TrialState.COMPLETE]
    values = sorted(t.intermediate_values[2] for t in first)
    assert rounds[1].pruning["2"] == pytest.approx(
        (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2
        if len(values) % 2 == 0
        else values[len(values) // 2]
    )
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, "the median rule should stop some trials"
    for trial in pruned:
        limits = rounds[trial.user_attrs["round"]].pruning
        at = trial.user_attrs["pruned_at"]
        best = max(trial.intermediate_values[e] for e in range(1, at + 1))
        assert best < limits[str(at)]
        assert trial.user_attrs["epochs_run"] == at == len(trial.intermediate_values)
        assert trial.value == trial.intermediate_values[at]
    for trial in trials:
        record = rounds[trial.user_attrs["round"]]
        if trial.state == TrialState.COMPLETE:
            assert len(trial.intermediate_values) == record.epochs
    for record in rounds:
        mine = [t for t in trials if t.user_attrs["round"] == record.number]
        assert record.epochs_spent == sum(t.user_attrs["epochs_run"] for t in mine)
        assert record.pruned == sum(t.state == TrialState.PRUNED for t in mine)
        assert len(record.trial_numbers) == len(mine)  # pruned trials fill their places
    assert sum(r.epochs_spent or 0 for r in rounds) < 12 * 2 + 8 * 4 + 6 * 8
    shown = CliRunner().invoke(app, ["show", "--storage", url])
    assert shown.exit_code == 0, shown.output
    assert "epochs spent" in shown.stdout and "pruned" in shown.stdout
    lines = shown.stdout.splitlines()
    table = next(line for line in lines if line.replace("│", " ").split()[:1] == ["1"])
    cells = [c.strip() for c in table.replace("│", "|").split("|")]
    assert [str(rounds[1].epochs), str(rounds[1].pruned), str(rounds[1].epochs_spent)] in [
        cells[i : i + 3] for i in range(len(cells))
    ]
    csv = CliRunner().invoke(app, ["show", "--storage", url, "--format", "csv"]).stdout
    assert "epochs,pruned,epochs_spent" in csv.splitlines()[0]


def test_a_rounds_pruning_does_not_depend_on_its_own_trials(tmp_path: Path) -> None:
    """Planned again now that every trial of rounds 1 and 2 has finished, each round gets the
    thresholds (and proposals) it was given before any of its trials ran."""
    spec = load_study_file(efficient_study(tmp_path))
    url = f"sqlite:///{tmp_path / 'a.db'}"
    run_study(spec, url, jobs=2)
    study = optuna.load_study(study_name="tiny", storage=url)
    records = {r.number: r for r in read_rounds(study.user_attrs)}
    for number in (1, 2):
        previous = round_trials(study.get_trials(), number - 1)
        again = plan_round(study, spec, number, records, previous)
        assert again.pruning == records[number].pruning
        assert again.ranges == records[number].ranges


def test_a_kill_9_mid_round_resumes_to_the_values_of_a_clean_run(tmp_path: Path) -> None:
    path = efficient_study(tmp_path)
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    run_study(load_study_file(path), clean, jobs=1)
    url = f"sqlite:///{tmp_path / 'k.db'}"
    run = subprocess.Popen(
        [sys.executable, "-m", "hpsearch", "run", str(path), "--storage", url, "--jobs", "2"],
        env={**os.environ, FAULT_ENV: "wait"},  # SIGKILL in round 1, once a trial finished
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert run.wait(timeout=300) == -signal.SIGKILL
    os.killpg(run.pid, signal.SIGKILL)  # its workers, orphaned by the kill
    before = fingerprint(url)
    assert 12 < len(before) < 26, "the kill must land in the middle of round 1"
    run_study(load_study_file(path), url, jobs=2)
    after = fingerprint(url)
    assert {k: after[k] for k in before} == before
    assert after == fingerprint(clean)
