"""Ties are broken by a trial's place (round, index in round), never by its Optuna number.

A trial killed mid-run is run again under a new number; with ties broken by number, the
resumed study chose a different best configuration than an undisturbed run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
from conftest import hpsearch
from optuna.trial import TrialState

# Every image is the same, so every network predicts one class for all of them: with two
# classes of equal size in the validation and test splits, every trial scores exactly 0.5.
EVERY_TRIAL_TIES = """
name = "tie"
seed = 2
[data]
dataset = "flat.npz"
val_fraction = 0.5
[train]
hidden_sizes = [4]
epochs = 150
[search]
rounds = 2
trials_per_round = 3
min_top = 2
[search.params.lr]
low = 1e-3
high = 0.1
log = true
"""


def tied_study(folder: Path) -> Path:
    np.savez(folder / "flat.npz", x=np.zeros((40, 4, 4), np.float32), y=np.array([0, 1] * 20))
    path = folder / "tie.toml"
    path.write_text(EVERY_TRIAL_TIES)
    return path


def first_trial_running(path: Path) -> bool:
    """Trial 0 is RUNNING: read with plain sqlite3, fast enough to poll every few ms."""
    if not path.exists():
        return False
    with contextlib.closing(sqlite3.connect(path, timeout=5)) as connection:
        try:
            rows = connection.execute("SELECT state FROM trials WHERE number = 0").fetchall()
        except sqlite3.OperationalError:  # no tables yet
            return False
    return rows == [("RUNNING",)]


def best_and_show(url: str, folder: Path) -> tuple[dict, dict]:
    best = hpsearch("best", "--storage", url, "--format", "json", cwd=folder)
    show = hpsearch("show", "--storage", url, "--format", "json", cwd=folder)
    assert best.returncode == 0 and show.returncode == 0, best.stderr + show.stderr
    return json.loads(best.stdout), json.loads(show.stdout)


def test_a_run_killed_mid_trial_and_resumed_chooses_the_undisturbed_best(tmp_path: Path) -> None:
    path = tied_study(tmp_path)
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    assert (
        hpsearch("run", str(path), "--storage", clean, "--jobs", "1", cwd=tmp_path).returncode == 0
    )

    url = f"sqlite:///{tmp_path / 'killed.db'}"
    run = subprocess.Popen(
        [sys.executable, "-m", "hpsearch", "run", str(path), "--storage", url, "--jobs", "1"],
        start_new_session=True,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not first_trial_running(tmp_path / "killed.db") and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(run.pid, signal.SIGKILL)  # the coordinator and its worker, mid-trial 0
    run.wait()
    resumed = hpsearch("run", str(path), "--storage", url, "--jobs", "1", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    numbers = {
        t.number: (t.user_attrs["round"], t.user_attrs["index"])
        for t in optuna.load_study(study_name="tie", storage=url).trials
        if t.state == TrialState.COMPLETE
    }
    assert 0 not in numbers and (0, 0) in numbers.values(), "place (0, 0) ran again, renumbered"

    best, show = best_and_show(url, tmp_path)
    clean_best, clean_show = best_and_show(clean, tmp_path)
    assert (best["round"], best["val_accuracy"]) == (0, 0.5)
    del best["trial"], clean_best["trial"], show["test"]["trial"], clean_show["test"]["trial"]
    assert best == clean_best  # the trial number is the one thing a re-run changes
    assert show["test"] == clean_show["test"]
    assert show["top"][0]["params"] == clean_show["top"][0]["params"]
    top = hpsearch("trials", "--storage", url, "--top", "1", "--format", "json", cwd=tmp_path)
    assert json.loads(top.stdout)[0]["params"] == clean_best["params"]
