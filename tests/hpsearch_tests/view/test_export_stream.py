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


def test_csv_rows_are_what_the_csv_module_writes_for_every_kind_of_cell() -> None:
    """The export quotes a trial's cells once and joins its epochs' numbers by hand: the
    text must be what `csv.writer` writes row by row (quotes, commas, newlines in a
    categorical choice; missing cells; a trial without epochs; curves of unequal length;
    infinities and NaN)."""
    curves = {"train_accuracy": [0.5, 0.75], "train_loss": [2.0, float("inf")],
              "val_loss": [float("nan")]}  # fmt: skip
    records = [
        {"number": 0, "round": 0, "index": 0, "state": "complete", "value": 0.9,
         "params": {"act": 'a "b", c\nd', "lr": 1e-3}, "epochs_run": 2, "seconds": 0.5,
         "curves": {"val_accuracy": [0.25, 0.9], **curves}},
        {"number": 1, "round": None, "index": None, "state": "failed", "value": None,
         "params": {"lr": 0.1}, "epochs_run": None, "seconds": None,
         "curves": {key: [] for key in documents.EXPORT_CURVES}},
    ]  # fmt: skip
    names = ["act", "lr"]
    out = io.StringIO()
    documents._export_csv(out, records, names)
    expected = io.StringIO()
    writer = csv.writer(expected, lineterminator="\n")
    params = [f"params_{name}" for name in names]
    after = documents.EXPORT_AFTER
    writer.writerow([*documents.EXPORT_FIRST, *params, *after, "epoch", *documents.EXPORT_CURVES])
    for record in records:
        fixed = [record[key] for key in documents.EXPORT_FIRST]
        fixed += [record["params"].get(name) for name in names]
        fixed += [record[key] for key in after]
        lists = [record["curves"][key] for key in documents.EXPORT_CURVES]
        epochs = max(len(c) for c in lists)
        for epoch in range(max(epochs, 1)):
            cells = [c[epoch] if epoch < len(c) else None for c in lists]
            row = [*fixed, epoch + 1 if epochs else None, *cells]
            writer.writerow(["" if cell is None else cell for cell in row])
    assert out.getvalue() == expected.getvalue()
    assert list(csv.reader(io.StringIO(out.getvalue())))[1][5] == 'a "b", c\nd'
