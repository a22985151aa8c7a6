"""Every parameter kind over several rounds, run with the installed `hpsearch` as a user runs it.

A categorical parameter keeps one Optuna distribution (the file's choices) for the whole
study; its narrowing restricts what a round samples, never the distribution.
"""

from __future__ import annotations

import json
from pathlib import Path

import optuna
from conftest import fingerprint, hpsearch
from optuna.distributions import CategoricalDistribution

from hpsearch.store.records import read_rounds

EVERY_KIND = """
name = "kinds"
seed = 5
[data]
dataset = "digits"
n_samples = 300
[train]
hidden_sizes = [16]
[search]
rounds = 3
trials_per_round = 6
min_top = 2
[search.params.lr]
low = 1e-3
high = 0.3
log = true
[search.params.dropout_rate]
low = 0.0
high = 0.3
[search.params.epochs]
type = "int"
low = 1
high = 3
[search.params.batch_size]
type = "int"
low = 16
high = 128
log = true
[search.params.optimizer]
choices = ["sgd", "momentum", "adam"]
"""


def test_every_parameter_kind_runs_three_rounds_the_same_with_any_number_of_jobs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "kinds.toml"
    path.write_text(EVERY_KIND)
    prints = {}
    for jobs in ("1", "3"):
        url = f"sqlite:///{tmp_path / f'jobs{jobs}.db'}"
        run = hpsearch("run", str(path), "--storage", url, "--jobs", jobs, "--json", cwd=tmp_path)
        assert run.returncode == 0, run.stderr
        assert "Traceback" not in run.stderr
        assert json.loads(run.stdout)["complete"] is True
        prints[jobs] = fingerprint(url, "kinds")
    assert prints["1"] == prints["3"]
    assert len(prints["1"]) == 18

    study = optuna.load_study(study_name="kinds", storage=url)
    rounds = read_rounds(study.user_attrs)
    assert [r.number for r in rounds] == [0, 1, 2]
    assert len(rounds[2].ranges["optimizer"].choices) < 3, "the choices narrowed"
    for trial in study.trials:
        current = rounds[trial.user_attrs["round"]].ranges
        assert trial.params["optimizer"] in current["optimizer"].choices
        assert trial.distributions["optimizer"] == CategoricalDistribution(
            ["sgd", "momentum", "adam"]
        )
        for name in ("lr", "dropout_rate", "epochs", "batch_size"):
            assert current[name].low <= trial.params[name] <= current[name].high
        assert isinstance(trial.params["epochs"], int)
        assert isinstance(trial.params["batch_size"], int)

    for command in (["show"], ["trials"], ["plot", "--kind", "slice", "-o", "s.png"]):
        shown = hpsearch(*command, "--storage", url, cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
