"""The read commands on a study of 10,000 trials: each must answer within 3 s.

The study is made with Optuna's own pieces, not by training: `create_trial` builds (and
validates) each FrozenTrial with lr/weight_decay, a 10-epoch validation curve as intermediate
values and the user attributes hpsearch stores; the study gets a stored study file, four round
records and a test score. The trials are written with one bulk INSERT per Optuna table
(`study.add_trials` costs ~20 ms per trial on SQLite, over 3 minutes here). Then each command
runs as a subprocess (`.venv/bin/hpsearch ...`), three times; the median is compared with 3 s.

Run: `.venv/bin/python -m tests.benchmarks.inspect_bench`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, FloatDistribution, distribution_to_json
from optuna.storages._rdb import models
from optuna.trial import FrozenTrial, TrialState, create_trial

from hpsearch.store.engines import open_storage
from hpsearch.store.records import COMPLETE_KEY, ROUND_PREFIX, SPEC_KEY, TEST_KEY, RoundRecord
from hpsearch.study.file import parse_study
from hpsearch.study.space import Range

TRIALS = 10_000
ROUNDS = 4
EPOCHS = 10
BUDGET_S = 3.0
REPEATS = 3
NAME = "bench"
HPSEARCH = Path(sys.executable).with_name("hpsearch")
STUDY = {
    "name": NAME,
    "seed": 0,
    "data": {"dataset": "mnist-5k", "n_samples": 500},
    "train": {"hidden_sizes": [100, 100], "epochs": EPOCHS},
    "search": {
        "rounds": ROUNDS,
        "trials_per_round": TRIALS // ROUNDS,
        "params": {
            "lr": {"low": 1e-6, "high": 1.0, "log": True},
            "weight_decay": {"low": 1e-8, "high": 1e-1, "log": True},
        },
    },
}


def _ranges(round_number: int) -> dict[str, Range]:
    """Ranges that zoom in on lr 0.05, weight decay 1e-6 tenfold per round (to 10x)."""
    factor = 10.0 ** max(ROUNDS - round_number, 1)
    return {
        "lr": Range(0.05 / factor, min(1.0, 0.05 * factor)),
        "weight_decay": Range(1e-6 / factor, min(0.1, 1e-6 * factor)),
    }


def _curves(rng: np.random.Generator, lr: float) -> dict[str, Any]:
    """Made-up curves peaking at lr 0.05; above 0.3 the run diverges in epoch 3."""
    diverged = lr > 0.3
    top = 0.0 if diverged else float(0.97 - 0.15 * abs(np.log10(lr / 0.05)))
    epochs = 3 if diverged else EPOCHS
    val = [
        float(np.clip(top * e / epochs + rng.normal(0, 0.01), 0, 1)) for e in range(1, epochs + 1)
    ]
    train = [min(1.0, v + 0.03) for v in val]
    losses = {"train_loss": [2.3 - 2 * v for v in train], "val_loss": [2.3 - 2 * v for v in val]}
    return {"val": val, "train_accuracy": train, **losses, "diverged": diverged,
            "diverged_at_epoch": epochs if diverged else None, "epochs_run": epochs,
            "seconds": 0.5}  # fmt: skip


def _trial(rng: np.random.Generator, number: int, end: datetime, per_round: int) -> FrozenTrial:
    """Trial `number` as `hpsearch run` stores it: 1% failed, lr > 0.3 diverged."""
    round_number, index = divmod(number, per_round)
    bounds = {k: (float(r.low or 0), float(r.high or 0)) for k, r in _ranges(round_number).items()}
    dists: dict[str, BaseDistribution] = {
        k: FloatDistribution(low, high, log=True) for k, (low, high) in bounds.items()
    }
    params = {k: float(10 ** rng.uniform(np.log10(low), np.log10(high)))
              for k, (low, high) in bounds.items()}  # fmt: skip
    attrs = {"round": round_number, "index": index, "attempt": 0, "seed": number,
             "host": "bench", "pid": 1}  # fmt: skip
    if number % 97 == 96:
        failed = {**attrs, "fail_reason": "error", "error": "bench"}
        return create_trial(state=TrialState.FAIL, params=params, distributions=dists,
                            user_attrs=failed)  # fmt: skip
    result = _curves(rng, params["lr"])
    val = result.pop("val")
    value = 0.0 if result["diverged"] else val[-1]
    trial = create_trial(value=value, params=params, distributions=dists,
                         user_attrs={**attrs, **result},
                         intermediate_values=dict(enumerate(val, start=1)))  # fmt: skip
    trial.datetime_start, trial.datetime_complete = end - timedelta(seconds=1), end
    return trial


def _rows(study_id: int, number: int, trial: FrozenTrial) -> dict[Any, list[dict[str, Any]]]:
    """The rows `study.add_trials` would write for one trial, by Optuna model."""
    trial_id = number + 1  # a new database: ids are ours to choose
    dists = trial.distributions
    return {
        models.TrialModel: [{"trial_id": trial_id, "number": number, "study_id": study_id,
                             "state": trial.state, "datetime_start": trial.datetime_start,
                             "datetime_complete": trial.datetime_complete}],
        models.TrialValueModel: [{"trial_id": trial_id, "objective": 0, "value": trial.value,
                                  "value_type": "FINITE"}] if trial.value is not None else [],
        models.TrialParamModel: [
            {"trial_id": trial_id, "param_name": k, "param_value": dists[k].to_internal_repr(v),
             "distribution_json": distribution_to_json(dists[k])}
            for k, v in trial.params.items()],
        models.TrialUserAttributeModel: [
            {"trial_id": trial_id, "key": k, "value_json": json.dumps(v)}
            for k, v in trial.user_attrs.items()],
        models.TrialIntermediateValueModel: [
            {"trial_id": trial_id, "step": step, "intermediate_value": v,
             "intermediate_value_type": "FINITE"}
            for step, v in trial.intermediate_values.items()],
    }  # fmt: skip


def _insert(
    storage: optuna.storages.RDBStorage, study_id: int, first: int, trials: list[FrozenTrial]
) -> None:
    """Trials `first`, `first + 1`, ... in one transaction, one bulk INSERT per Optuna table."""
    rows: dict[Any, list[dict[str, Any]]] = {}
    for number, trial in enumerate(trials, start=first):
        for model, values in _rows(study_id, number, trial).items():
            rows.setdefault(model, []).extend(values)
    with storage.engine.begin() as connection:
        for model, values in rows.items():
            connection.execute(model.__table__.insert(), values)


def _round_record(values: list[float | None], round_number: int, per_round: int) -> RoundRecord:
    numbers = list(range(round_number * per_round, (round_number + 1) * per_round))
    scores = [v for n in numbers if (v := values[n]) is not None]
    return RoundRecord(round_number, _ranges(round_number), "top-fraction-span", {}, "bench",
                       trial_numbers=numbers, best=max(scores),
                       median=statistics.median(scores), done=True)  # fmt: skip


def make_study(
    url: str, trials: int = TRIALS, rounds: int = ROUNDS, study: dict[str, Any] | None = None
) -> float:
    """Write the study of `trials` trials in `rounds` done rounds to `url` (its study file
    `study`, default STUDY); returns the seconds it took. Written 5,000 trials at a time."""
    started = time.perf_counter()
    per_round = trials // rounds
    storage = open_storage(url, write=True)
    created = optuna.create_study(study_name=NAME, storage=storage, direction="maximize")
    created.set_user_attr(SPEC_KEY, parse_study(study or STUDY, "<bench>").to_dict())
    rng = np.random.default_rng(0)
    start = datetime.now() - timedelta(seconds=trials)
    values: list[float | None] = []
    for first in range(0, trials, 5000):
        chunk = [_trial(rng, n, start + timedelta(seconds=n), per_round)
                 for n in range(first, min(trials, first + 5000))]  # fmt: skip
        _insert(storage, created._study_id, first, chunk)
        values += [None if t.user_attrs.get("diverged") else t.value for t in chunk]
    for round_number in range(rounds):
        record = _round_record(values, round_number, per_round)
        created.set_user_attr(f"{ROUND_PREFIX}{round_number}", record.to_dict())
    best = max(range(trials), key=lambda n: (values[n] or 0.0, -n))
    test = {"trial": best, "val_accuracy": values[best], "test_accuracy": 0.9}
    created.set_user_attr(TEST_KEY, test)
    if study is None:
        created.set_user_attr(COMPLETE_KEY, True)
    storage.engine.dispose()
    return time.perf_counter() - started


def commands(folder: Path) -> dict[str, list[str]]:
    return {
        "studies": ["studies"],
        "show": ["show", NAME],
        "trials --top 20": ["trials", NAME, "--top", "20"],
        "export --format csv": [
            "export",
            NAME,
            "--format",
            "csv",
            "-o",
            str(folder / "export.csv"),
        ],
        "plot --kind scatter": [
            "plot",
            NAME,
            "--kind",
            "scatter",
            "-o",
            str(folder / "scatter.png"),
        ],
    }


def time_command(args: list[str], url: str, folder: Path) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        done = subprocess.run(
            [str(HPSEARCH), *args, "--storage", url],
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise RuntimeError(f"hpsearch {' '.join(args)} failed: {done.stderr.strip()}")
    return statistics.median(times)


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hpsearch-inspect-bench-") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'bench.db'}"
        built = make_study(url)
        print(f"inspect: built a study of {TRIALS} trials in {built:.1f} s")
        results: dict[str, Any] = {
            "trials": TRIALS,
            "budget_s": BUDGET_S,
            "build_s": round(built, 2),
            "commands": {},
        }
        for name, args in commands(folder).items():
            seconds = time_command(args, url, folder)
            verdict = "PASS" if seconds <= BUDGET_S else "MISS"
            print(
                f"inspect: hpsearch {name:<22} {seconds:6.2f} s  {verdict} (budget "
                f"{BUDGET_S:.0f} s, median of {REPEATS})"
            )
            results["commands"][name] = {
                "median_s": round(seconds, 3),
                "pass": seconds <= BUDGET_S,
            }
        results["pass"] = all(c["pass"] for c in results["commands"].values())
    return results


if __name__ == "__main__":
    main()
