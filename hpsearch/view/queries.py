"""Read-only views of stored studies: what `studies`, `show`, `trials`, `best` and `export` show.

Nothing here writes: storages are opened with `open_storage(url, write=False)` and trials are
read in bulk by `hpsearch.store.reads`, each study in one transaction, so a study that a run
is writing shows a consistent live state.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from hpsearch.errors import HpsearchError
from hpsearch.store.engines import open_storage
from hpsearch.store.reads import STATE_NAMES, read_trials
from hpsearch.store.records import (
    COMPLETE_KEY,
    FINISHED,
    SPEC_KEY,
    TEST_KEY,
    RoundRecord,
    is_diverged,
    ranked,
    read_rounds,
    score,
    val_accuracy,
)
from hpsearch.store.rows import TrialRows, iter_trial_rows
from hpsearch.store.slices import (
    param_names,
    read_trial_ids,
    study_user_attr,
    trial_count,
)
from hpsearch.store.studies import pick_study
from hpsearch.store.top import top_trial_ids
from hpsearch.study.spec import OBJECTIVES, StudySpec

STATES = ("complete", "pruned", "failed", "diverged", "running", "waiting")
# The trial attributes each view needs (reading fewer is faster on big studies).
RANK_ATTRS = ("round", "index", "diverged", "seed", "epochs")  # what `ranked` reads
ROW_ATTRS = (
    *RANK_ATTRS,
    "train_accuracy",
    "val_accuracy",
    "epochs_run",
    "seconds",
    "fail_reason",
    "error",
)


@dataclass
class StudyData:
    """One study as the read commands see it: stored records plus its trials."""

    name: str
    user_attrs: dict[str, Any]
    trials: list[FrozenTrial]
    spec: StudySpec | None = None
    rounds: list[RoundRecord] = field(default_factory=list)
    count: int | None = None  # trials in the study, when `trials` holds only some of them
    names: list[str] | None = None  # the parameter names, when not from `spec` or `trials`

    @property
    def trial_count(self) -> int:
        return len(self.trials) if self.count is None else self.count

    @property
    def test(self) -> dict[str, Any]:
        return dict(self.user_attrs.get(TEST_KEY) or {})

    @property
    def complete(self) -> bool:
        return bool(self.user_attrs.get(COMPLETE_KEY))

    @property
    def param_names(self) -> list[str]:
        if self.spec is not None:
            return [p.name for p in self.spec.params]
        if self.names is not None:
            return self.names
        return sorted({name for t in self.trials for name in t.params})


# --- opening ------------------------------------------------------------------------------


def open_reader(url: str) -> RDBStorage:
    """The storage at `url`, read-only: a missing or foreign database is a StorageError."""
    return open_storage(url, write=False)


def load_study_data(
    storage: RDBStorage,
    name: str | None,
    *,
    curves: bool = False,
    attrs: Collection[str] | None = None,
    states: Iterable[TrialState] | None = None,
) -> StudyData:
    """The study `name` (or the only one) with its trials; `curves` adds per-epoch lists and
    `attrs` limits the trial user attributes read (see `read_trials`)."""
    name = pick_study(storage, name)
    study_id = storage.get_study_id_from_name(name)
    trials = read_trials(storage, study_id, curves=curves, attrs=attrs, states=states)
    return _study_data(storage, name, study_id, trials)


def load_top_data(storage: RDBStorage, name: str | None, top: int) -> StudyData:
    """The study `name` with only its `top` best trials, ordered and cut by the database as
    `ranked` orders them. `count` holds the number of trials in the study."""
    name = pick_study(storage, name)
    study_id = storage.get_study_id_from_name(name)
    spec = study_user_attr(storage, study_id, SPEC_KEY) or {}
    maximize = OBJECTIVES[spec.get("objective", "val_accuracy")] == "maximize"
    ids = top_trial_ids(storage, study_id, top, maximize)
    data = _study_data(storage, name, study_id, read_trial_ids(storage, study_id, ids))
    data.count = trial_count(storage, study_id)
    return data


def stream_study_data(
    storage: RDBStorage, name: str | None, keys: Collection[str]
) -> tuple[StudyData, Iterator[TrialRows]]:
    """The study `name` without trials (but with its parameter names), and an iterator over
    its trials as stored, with their user attributes `keys` (see `store.rows`), read a batch
    at a time."""
    name = pick_study(storage, name)
    study_id = storage.get_study_id_from_name(name)
    data = _study_data(storage, name, study_id, [])
    if data.spec is None:
        data.names = param_names(storage, study_id)
    return data, iter_trial_rows(storage, study_id, keys)


def maximize(data: StudyData) -> bool:
    """Whether the study's objective is maximised (a study not made by hpsearch: yes)."""
    return data.spec is None or data.spec.maximize


def _study_data(
    storage: RDBStorage, name: str, study_id: int, trials: list[FrozenTrial]
) -> StudyData:
    stored = storage.get_study_user_attrs(study_id)
    data = StudyData(name, stored, trials)
    if SPEC_KEY in stored:
        data.spec = StudySpec.from_dict(stored[SPEC_KEY])
        data.rounds = read_rounds(stored)
    return data


# --- trials, best, export -------------------------------------------------------------------


def trial_state(trial: FrozenTrial) -> str:
    """complete, pruned, failed, diverged, running or waiting."""
    if trial.state in FINISHED and is_diverged(trial):
        return "diverged"
    return STATE_NAMES.get(trial.state, trial.state.name.lower())


def best_trial(data: StudyData) -> FrozenTrial:
    """The best finished, non-diverged trial (ties: the earliest), as the runner ranks them."""
    best = ranked(data.trials, maximize(data))
    if not best or score(best[0]) is None:
        raise HpsearchError(f"study {data.name!r} has no finished trial that did not diverge yet")
    return best[0]


def best_settings(data: StudyData) -> dict[str, Any]:
    """The best trial as a file to feed back: `train` is a study file's [train] table.

    `train` holds the study's fixed settings merged with the best parameters (every field a
    `TrainConfig` field except the seed); `data` is the study's [data] table.
    """
    trial = best_trial(data)
    test = data.test
    spec = data.spec
    return {
        "name": data.name,
        "seed": spec.seed if spec else None,
        "trial": trial.number,
        "round": trial.user_attrs.get("round"),
        "trial_seed": trial.user_attrs.get("seed"),
        "val_accuracy": val_accuracy(trial),
        "test_accuracy": test.get("test_accuracy") if test.get("trial") == trial.number else None,
        "params": dict(trial.params),
        "data": _data_table(spec) if spec else {},
        "train": {**(spec.train if spec else {}), **trial.params},
    }


def _data_table(spec: StudySpec) -> dict[str, Any]:
    table = {
        "dataset": spec.dataset,
        "n_samples": spec.n_samples,
        "val_fraction": spec.val_fraction,
        "test_fraction": spec.test_fraction,
        "data_dir": spec.data_dir,
    }
    return {key: value for key, value in table.items() if value is not None}
