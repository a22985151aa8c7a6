"""One trial: its parameters -> a TrainConfig -> `trainer.train` -> one atomic store."""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from functools import lru_cache
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState

import trainer
from hpsearch.store.liveness import identity
from hpsearch.store.retries import with_retries
from hpsearch.store.writes import ClaimedTrial, finish_trial
from hpsearch.study.schedule import behind
from hpsearch.study.spec import StudySpec

# Folders the trainer reads data sets from and caches them in (it reads no environment).
DATA_DIR_ENV = "HPSEARCH_DATA_DIR"
CACHE_DIR_ENV = "HPSEARCH_CACHE_DIR"


class Interrupted(Exception):
    """Raised from the epoch callback when the process was asked to stop (SIGINT/SIGTERM)."""


class Pruned(Exception):
    """Raised from the epoch callback when the trial is behind its round's threshold (the
    search side's optuna.TrialPruned; the trainer only lets it through)."""


@lru_cache(maxsize=4)
def _cached_split(
    dataset: str,
    data_dir: str | None,
    n_samples: int | None,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> trainer.Split:
    data = trainer.load_dataset(
        dataset,
        data_dir=data_dir or os.environ.get(DATA_DIR_ENV),
        cache_dir=os.environ.get(CACHE_DIR_ENV),
    )
    return trainer.split(
        data,
        n_samples=n_samples,
        val_fraction=val_fraction,
        seed=seed,
        test_fraction=test_fraction,
    )


def load_split(spec: StudySpec) -> trainer.Split:
    """The study's train/validation/test split: the same for every trial (study seed)."""
    return _cached_split(
        spec.dataset,
        spec.data_dir,
        spec.n_samples,
        spec.val_fraction,
        spec.test_fraction,
        spec.seed,
    )


def run_trial(
    storage: RDBStorage, trial: ClaimedTrial, spec: StudySpec, stop: threading.Event
) -> TrialState:
    """Train a claimed (RUNNING) trial and store everything it produced in one write.

    A diverged run is a finished trial with value 0.0 and `diverged` set. A stop request
    ends the run at the next epoch: the trial is marked failed ("interrupted") and the
    coordinator queues it again.
    """
    worker, started = identity(), time.perf_counter()
    limits = {int(e): float(v) for e, v in trial.user_attrs.get("prune_at", {}).items()}
    seen: list[trainer.EpochResult] = []
    try:
        epochs = trial.user_attrs.get("epochs")
        config = spec.train_config(trial.params, int(trial.user_attrs["seed"]), epochs)

        def epoch_done(result: trainer.EpochResult) -> None:
            if stop.is_set():
                raise Interrupted
            seen.append(result)
            curve = [getattr(r, spec.objective) for r in seen]
            best = max(curve) if spec.maximize else min(curve)
            if behind(limits, result.epoch, best, maximize=spec.maximize):
                raise Pruned

        history = trainer.train(config, load_split(spec), epoch_done)
    except Interrupted:
        _fail(storage, trial.trial_id, "interrupted", worker)
        return TrialState.FAIL
    except Pruned:
        history = trainer.History(epochs=seen, seconds=time.perf_counter() - started)
        state = TrialState.PRUNED
    except Exception as error:  # a bug or a resource failure in this trial, not the worker
        _fail(
            storage,
            trial.trial_id,
            "error",
            {**worker, "error": f"{type(error).__name__}: {error}"[:500]},
        )
        return TrialState.FAIL
    else:
        state = TrialState.COMPLETE
    result = history.to_dict()
    result.pop("test_accuracy")
    if spec.maximize:  # val_accuracy: the curve is Optuna's intermediate values, as ever
        val_curve = result.pop("val_accuracy")
        value = val_curve[-1] if state == TrialState.PRUNED else history.val_accuracy
    else:  # val_loss: its curve; the accuracy curve stays a user attribute
        val_curve = list(result["val_loss"])
        value = math.inf if history.diverged or not val_curve else val_curve[-1]
    pruned = {"pruned_at": len(val_curve)} if state == TrialState.PRUNED else {}
    _store(
        storage,
        trial.trial_id,
        state=state,
        value=value,
        intermediate_values=val_curve,
        user_attrs={**result, "epochs_run": len(val_curve), **pruned, **worker},
    )
    return state


def _fail(storage: RDBStorage, trial_id: int, reason: str, attrs: dict[str, Any]) -> None:
    _store(
        storage,
        trial_id,
        state=TrialState.FAIL,
        value=None,
        intermediate_values=[],
        user_attrs={"fail_reason": reason, **attrs},
    )


def _store(storage: RDBStorage, trial_id: int, **result: Any) -> None:
    """finish_trial, retried while the database is away; a trial already finished (the commit
    landed but its answer was lost, or the coordinator gave up on us) is left as it is."""
    with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
        with_retries(lambda: finish_trial(storage, trial_id, **result), "store a trial")
