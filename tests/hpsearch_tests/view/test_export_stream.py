"""`hpsearch export` streams the stored rows of a study a batch at a time, and keeps the text
of the numbers Optuna stored. What it writes is checked against a reference built another
way: the trials read as Optuna's `FrozenTrial`s (`read_trials`, the path every other view
takes), their values written by `csv.writer` row by row and by `to_json` whole."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import optuna
import pytest
from conftest import hpsearch, write_tiny_study
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from hpsearch.store import rows
from hpsearch.store.engines import open_storage
from hpsearch.store.records import CURVE_KEYS, val_accuracy_curve
from hpsearch.view import export, queries
from hpsearch.view.listings import to_json


def reference_record(trial: FrozenTrial) -> dict[str, Any]:
    """A trial's export record from its `FrozenTrial` (what export wrote before it read rows)."""
    attrs = trial.user_attrs
    moment = {
        key: None if when is None else when.isoformat(sep=" ", timespec="seconds")
        for key, when in (("start", trial.datetime_start), ("end", trial.datetime_complete))
    }
    return {
        "number": trial.number,
        **{key: attrs.get(key) for key in ("round", "index", "attempt", "seed")},
        "state": queries.trial_state(trial),
        "value": trial.value,
        "params": dict(trial.params),
        "datetime_start": moment["start"],
        "datetime_complete": moment["end"],
        **{key: attrs.get(key) for key in ("epochs_run", "seconds", "diverged_at_epoch")},
        **{key: attrs.get(key) for key in ("fail_reason", "error")},
        "curves": {
            "val_accuracy": val_accuracy_curve(trial),
            **{key: attrs.get(key) or [] for key in CURVE_KEYS},
        },
    }


def reference_csv(records: list[dict[str, Any]], names: list[str]) -> str:
    """The long CSV of `records` as `csv.writer` writes it, one row at a time."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    params = [f"params_{name}" for name in names]
    after = export.EXPORT_AFTER
    writer.writerow([*export.EXPORT_FIRST, *params, *after, "epoch", *export.EXPORT_CURVES])
    for record in records:
        fixed = [record[key] for key in export.EXPORT_FIRST]
        fixed += [record["params"].get(name) for name in names]
        fixed += [record[key] for key in after]
        lists = [record["curves"][key] for key in export.EXPORT_CURVES]
        epochs = max(len(c) for c in lists)
        for epoch in range(max(epochs, 1)):
            cells = [c[epoch] if epoch < len(c) else None for c in lists]
            row = [*fixed, epoch + 1 if epochs else None, *cells]
            writer.writerow(["" if cell is None else cell for cell in row])
    return out.getvalue()


def reference_exports(url: str, name: str) -> tuple[str, str]:
    """(JSON, CSV) of the study `name`, built from its `FrozenTrial`s."""
    storage = open_storage(url, write=False)
    data = queries.load_study_data(storage, name, curves=True)
    storage.engine.dispose()
    records = [reference_record(t) for t in data.trials]
    document = {"study": name, "spec": data.user_attrs.get("hpsearch:spec"),
                "rounds": [r.to_dict() for r in data.rounds], "test": data.test,
                "trials": records}  # fmt: skip
    return to_json(document) + "\n", reference_csv(records, data.param_names)


def test_an_hpsearch_study_exports_as_its_trials_read_whole(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    done = hpsearch("run", str(write_tiny_study(tmp_path, trials=3)), "-s", url, "--quiet")
    assert done.returncode == 0, done.stderr
    whole_json, whole_csv = reference_exports(url, "tiny")
    assert hpsearch("export", "tiny", "-s", url, "--format", "json").stdout == whole_json
    assert hpsearch("export", "tiny", "-s", url, "--format", "csv").stdout == whole_csv


ODD = [0.5, None, float("nan"), float("inf"), -float("inf"), 1e-05, 1e16, 3, -0.0]


def add_odd_trials(study: optuna.Study, other: optuna.Study) -> None:
    """Trials with every kind of stored value an export meets, each followed by a trial of
    another study (so that a range of trial ids holds both)."""
    distributions = {
        "lr": FloatDistribution(1e-4, 1e-1, log=True),
        "units": IntDistribution(10, 100),
        "act": CategoricalDistribution(['a "b", c\nd', "relu", None]),
    }
    for number in range(9):
        state = [TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED][number % 3]
        attrs: dict[str, Any] = {"round": number // 3, "index": number % 3, "seconds": 0.25}
        attrs |= {"epochs_run": 2, "diverged": number == 3}
        attrs |= {"train_loss": [2.0, ODD[number]], "train_accuracy": ODD[: number % 4]}
        if number == 4:
            attrs |= {"round": "r-4", "val_loss": ["a, b", True, [1]], "error": 'x "y"'}
        if number == 7:
            attrs |= {"val_loss": [[1, 2], 3]}
        if number == 5:
            attrs |= {"val_accuracy": [1, 0.5], "fail_reason": None}
        act = distributions["act"].choices[number % 3]
        params = {"lr": 0.01 * (number + 1), "units": 10 + number, "act": act}
        value = None if state == TrialState.FAIL else float("inf") if number == 6 else number / 10
        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                value=value,
                params=params if number != 7 else {"lr": 0.02},
                distributions=distributions if number != 7 else {"lr": distributions["lr"]},
                user_attrs=attrs,
                intermediate_values={} if number == 1 else {1: 0.1, 2: ODD[number], 3: 0.3},
            )
        )  # fmt: skip
        other.add_trial(
            optuna.trial.create_trial(
                value=9.0, params={"lr": 0.05}, distributions={"lr": distributions["lr"]},
                user_attrs={"round": 99, "train_loss": [9.0]}, intermediate_values={1: 9.0},
            )
        )  # fmt: skip


@pytest.mark.parametrize("url", ["sqlite", "postgresql"], indirect=True)
def test_stored_values_of_every_kind_export_as_read_whole(url: str) -> None:
    """Infinities, NaN, None, strings with quotes and commas, nested and compact lists, ints
    where floats are expected, a categorical choice of None, a trial without parameters of
    some names, without curves, diverged; a value of inf; another study in the same ids."""
    study = optuna.create_study(study_name="odd", storage=url)  # not written by hpsearch
    other = optuna.create_study(study_name="other", storage=url)
    add_odd_trials(study, other)
    whole_json, whole_csv = reference_exports(url, "odd")
    assert hpsearch("export", "odd", "-s", url, "--format", "json").stdout == whole_json
    assert hpsearch("export", "odd", "-s", url, "--format", "csv").stdout == whole_csv
    assert whole_csv.count("\n") > 20 and "-inf" in whole_csv and "nan" in whole_csv

    storage = open_storage(url, write=False)
    keys = export.JSON_ATTRS
    batched = list(rows.iter_trial_rows(storage, study._study_id, keys, batch=2))
    assert [t.number for t in batched] == list(range(9))
    trials = queries.load_study_data(storage, "odd", curves=True).trials
    for stored, trial in zip(batched, trials, strict=True):
        assert (stored.trial_id, stored.params, stored.state) == (
            trial._trial_id,
            trial.params,
            trial.state,
        )
        attrs = {k: json.loads(t) for k, t in stored.attrs.items()}
        expected = {k: v for k, v in trial.user_attrs.items() if k in keys}
        assert json.dumps(attrs, sort_keys=True) == json.dumps(expected, sort_keys=True)
    for output_format, whole in (("json", whole_json), ("csv", whole_csv)):
        data, _ = queries.stream_study_data(storage, "odd", keys)
        out = io.StringIO()
        export.write_export(out, data, iter(batched), output_format)
        assert out.getvalue() == whole
    storage.engine.dispose()
