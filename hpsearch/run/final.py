"""The end of a run: the noise-aware choice (`[search.final]`), then the one test score.

Without `[search.final]` the best trial is trained once more and scored on the test split.
With it, the `top` best trials (as `records.ranked` ranks them, ties by place) are first
trained again with `seeds` new seeds each (`study.final.final_seed`: from the study seed and
the trial's place), the configuration with the best mean validation accuracy over those new
seeds is chosen (`study.final.choose`), and the chosen one is trained with its own trial seed
and scored on the test split.

Every step is idempotent, so a coordinator killed at any point and run again gives the same
result: each re-evaluation is stored as it finishes (a study attribute per top trial, keyed by
its place, holding the accuracies of the seeds trained so far; a seed's result is written once,
in one transaction), a resumed run trains only the seeds missing, and the choice and the test
score are computed from what is stored. Re-evaluations never score the test split.
"""

from __future__ import annotations

import threading
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial
from threadpoolctl import threadpool_limits

import trainer
from hpsearch.run.rounds import fault_point
from hpsearch.run.trial import Interrupted, load_split
from hpsearch.store.records import FINAL_KEY, REEVAL_PREFIX, SPLIT_KEY, TEST_KEY, place, score
from hpsearch.store.slices import read_trial_ids
from hpsearch.store.top import top_trial_ids
from hpsearch.study.final import Z, choose, final_seed, mean_score
from hpsearch.study.spec import StudySpec


def split_sizes(split: trainer.Split) -> dict[str, int]:
    return {"train": len(split.t_train), "val": len(split.t_val), "test": len(split.t_test)}


def store_split_sizes(study: optuna.Study, split: trainer.Split) -> None:
    """The sizes of the study's split, which every interval `show` and `report` print is
    out of (written when missing; the split never changes for a study)."""
    if study.user_attrs.get(SPLIT_KEY) != split_sizes(split):
        study.set_user_attr(SPLIT_KEY, split_sizes(split))


def score_test(
    study: optuna.Study, storage: RDBStorage, study_id: int, spec: StudySpec, stop: threading.Event
) -> bool:
    """Choose the final configuration and score it on the held-out test split.

    Returns False if `stop` ended a training first (what finished before is kept).
    """
    count = spec.final.top if spec.final else 1
    top = read_trial_ids(storage, study_id, top_trial_ids(storage, study_id, count, spec.maximize))
    candidates = [t for t in top if score(t) is not None] if spec.final else top
    if spec.final and candidates:
        chosen = _choose(study, spec, candidates, stop)
        if chosen is None:
            return False
    else:
        if study.user_attrs.get(FINAL_KEY) is not None:  # [search.final] removed from the file
            study.set_user_attr(FINAL_KEY, None)
        chosen = candidates[0] if candidates else None
    stored = study.user_attrs.get(TEST_KEY)
    if stored is not None and stored["trial"] == (chosen.number if chosen else None):
        return True  # scored already; a top-up that found a better trial scores that one
    if chosen is None or score(chosen) is None:
        study.set_user_attr(
            TEST_KEY, {"trial": None, "reason": "no trial finished without diverging"}
        )
        return True
    seed = int(chosen.user_attrs["seed"])
    history = _train(spec, chosen, seed, stop, score_test=True)
    if history is None:
        return False
    fault_point("test")
    study.set_user_attr(
        TEST_KEY,
        {
            "trial": chosen.number,
            "params": dict(chosen.params),
            "val_accuracy": history.val_accuracy,
            "test_accuracy": history.test_accuracy,
        },
    )
    return True


def _choose(
    study: optuna.Study, spec: StudySpec, candidates: list[FrozenTrial], stop: threading.Event
) -> FrozenTrial | None:
    """Re-evaluate each candidate (the seeds not stored yet), store the choice, return the
    chosen trial; None if `stop` ended a training first."""
    assert spec.final is not None
    n_val = len(load_split(spec).t_val)
    rows: list[dict[str, Any]] = []
    ranking: list[tuple[float, tuple[int, int]]] = []  # (mean, place) for `choose`
    for trial in candidates:
        values = _reevaluate(study, spec, trial, stop)
        if values is None:
            return None
        where = place(trial)
        mean = mean_score(values, n_val)
        ranking.append((mean.mean, (int(where[0]), int(where[1]))))
        rows.append(
            {
                "trial": trial.number,
                "round": int(where[0]),
                "index": int(where[1]),
                "params": dict(trial.params),
                "val_accuracy": score(trial),
                "values": values,
                "mean": mean.mean,
                "std": mean.std,
                "low": mean.low,
                "high": mean.high,
            }
        )
    best = choose(ranking)
    record = {
        "top": spec.final.top,
        "seeds": spec.final.seeds,
        "n_val": n_val,
        "z": Z,
        "interval": "mean ± z·sqrt(std²/seeds + mean·(1-mean)/n_val)",
        "chosen": rows[best]["trial"],
        "configurations": rows,
    }
    if study.user_attrs.get(FINAL_KEY) != record:
        study.set_user_attr(FINAL_KEY, record)
    return candidates[best]


def _reevaluate(
    study: optuna.Study, spec: StudySpec, trial: FrozenTrial, stop: threading.Event
) -> list[float] | None:
    """The validation accuracies of `trial`'s configuration with the re-evaluation seeds:
    those stored, then each missing one trained and stored as it finishes."""
    assert spec.final is not None
    round_number, index = int(trial.user_attrs["round"]), int(trial.user_attrs["index"])
    key = f"{REEVAL_PREFIX}{round_number}:{index}"
    stored: dict[str, Any] = study.user_attrs.get(key) or {}
    values = list(stored.get("val_accuracy", []))[: spec.final.seeds]
    for repeat in range(len(values), spec.final.seeds):
        seed = final_seed(spec.seed, round_number, index, repeat)
        history = _train(spec, trial, seed, stop, score_test=False)
        if history is None:
            return None
        values.append(history.val_accuracy)  # 0.0 if it diverged, as a trial's value
        seeds = [final_seed(spec.seed, round_number, index, r) for r in range(len(values))]
        study.set_user_attr(
            key,
            {"trial": trial.number, "params": dict(trial.params), "seeds": seeds,
             "val_accuracy": values},
        )  # fmt: skip
        if len(values) == 2:
            fault_point("reeval")  # the crash tests: killed with part of a configuration stored
    return values


def _train(
    spec: StudySpec, trial: FrozenTrial, seed: int, stop: threading.Event, *, score_test: bool
) -> trainer.History | None:
    """`trial`'s configuration (its epochs too) trained with `seed`; None if stopped."""
    config = spec.train_config(dict(trial.params), seed, trial.user_attrs.get("epochs"))

    def check_stop(_: trainer.EpochResult) -> None:
        if stop.is_set():
            raise Interrupted

    try:
        with threadpool_limits(limits=1):
            return trainer.train(config, load_split(spec), check_stop, score_test=score_test)
    except Interrupted:
        return None
