"""`hpsearch export` streams: the same document as written whole, across read batches."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import optuna
from conftest import hpsearch, write_tiny_study
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from hpsearch.store import slices
from hpsearch.store.engines import open_storage
from hpsearch.view import documents, queries
from hpsearch.view.listings import to_json

LR = FloatDistribution(1e-4, 1e-1, log=True)


def test_streamed_json_is_the_whole_document_text(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    done = hpsearch("run", str(write_tiny_study(tmp_path, trials=3)), "-s", url, "--quiet")
    assert done.returncode == 0, done.stderr
    storage = open_storage(url, write=False)
    data = queries.load_study_data(storage, "tiny", curves=True)
    whole = {"study": "tiny", "spec": data.user_attrs["hpsearch:spec"],
             "rounds": [r.to_dict() for r in data.rounds], "test": data.test,
             "trials": [documents.export_record(t) for t in data.trials]}  # fmt: skip
    exported = hpsearch("export", "tiny", "-s", url, "--format", "json")
    assert exported.stdout == to_json(whole) + "\n"
    storage.engine.dispose()


def test_batches_give_every_trial_once_in_order_and_csv_rows_for_each(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'o.db'}"
    study = optuna.create_study(study_name="plain", storage=url)  # not written by hpsearch
    for number in range(7):
        state = TrialState.COMPLETE if number % 3 else TrialState.FAIL
        study.add_trial(
            optuna.trial.create_trial(
                state=state, value=0.1 * number if number % 3 else None,
                params={"lr": 0.01, **({"momentum": 0.9} if number == 5 else {})},
                distributions={"lr": LR, "momentum": FloatDistribution(0, 1)} if number == 5
                else {"lr": LR}, intermediate_values={1: 0.1, 2: 0.2} if number % 3 else {},
            )
        )  # fmt: skip
    storage = open_storage(url, write=False)
    study_id = study._study_id
    batched = list(slices.iter_trials(storage, study_id, curves=True, batch=2))
    assert [t.number for t in batched] == list(range(7))
    assert batched == queries.load_study_data(storage, "plain", curves=True).trials
    assert slices.param_names(storage, study_id) == ["lr", "momentum"]
    done = hpsearch("export", "plain", "-s", url, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [int(r["number"]) for r in rows] == [0, 1, 1, 2, 2, 3, 4, 4, 5, 5, 6]
    assert [r["params_momentum"] for r in rows if r["number"] == "5"] == ["0.9", "0.9"]
    assert json.loads(hpsearch("export", "plain", "-s", url).stdout)["trials"][6]["number"] == 6
    storage.engine.dispose()
