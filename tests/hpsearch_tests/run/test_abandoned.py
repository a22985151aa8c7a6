"""Abandoned trials: who is judged gone, the one-transaction mark, and bounded re-queues.

Real storages (SQLite files, a scratch PostgreSQL database) and real dead processes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa
from conftest import write_tiny_study
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from hpsearch.run.rounds import enqueue_missing, plan_round
from hpsearch.run.worker import fail_abandoned, open_worker_storage
from hpsearch.store.liveness import owner_identity
from hpsearch.store.records import WORKER_KEY
from hpsearch.store.studies import create_or_check_study
from hpsearch.store.tables import HEARTBEATS, SYSTEM_ATTRS, TRIALS
from hpsearch.store.writes import claim_waiting_trial, finish_trial, mark_abandoned
from hpsearch.study.file import load_study_file
from hpsearch.study.space import round_generator, sample


def dead_pid() -> int:
    """The pid of a process of this namespace that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


class Round:
    """Round 0 of the tiny study, queued as the coordinator queues it."""

    def __init__(self, folder: Path, url: str, *, trials: int = 2) -> None:
        self.spec = load_study_file(write_tiny_study(folder, trials=trials))
        self.storage = open_worker_storage(url)
        self.study = create_or_check_study(self.storage, self.spec)
        self.study_id = self.storage.get_study_id_from_name(self.spec.name)
        self.record = plan_round(self.study, self.spec, 0, {}, [])
        rng = round_generator(self.spec.seed, 0)
        self.params = sample(self.spec.params, self.record.ranges, rng, trials)

    def enqueue(self) -> bool:
        trials = self.study.get_trials()
        return enqueue_missing(
            self.storage, self.study_id, self.spec, self.record, self.params, trials
        )

    def claim(self, owner: dict) -> int:
        claimed = claim_waiting_trial(self.storage, self.study_id, {WORKER_KEY: owner})
        assert claimed is not None
        return claimed.trial_id

    def state(self, trial_id: int) -> tuple[TrialState, dict]:
        trial = self.storage.get_trial(trial_id)
        return trial.state, trial.user_attrs

    def age_heartbeat(self, trial_id: int, seconds: float) -> None:
        with self.storage.engine.begin() as connection:
            old = connection.execute(sa.select(HEARTBEATS.c.heartbeat)).scalars().first()
            assert old is not None
            connection.execute(
                sa.update(HEARTBEATS)
                .where(HEARTBEATS.c.trial_id == trial_id)
                .values(heartbeat=old - timedelta(seconds=seconds))
            )


def foreign(pid: int) -> dict:
    """A process in another container on this host: same hostname, its own pid namespace."""
    return {**owner_identity(), "pid": pid, "pid_ns": "pid:[4026530000]", "since": 0.0}


def test_a_live_worker_in_another_container_with_this_hostname_is_not_judged_dead(
    tmp_path: Path, url: str
) -> None:
    queued = Round(tmp_path, url)
    queued.enqueue()
    owner = foreign(dead_pid())  # no such pid here; in its own namespace it runs
    assert owner["host"] == socket.gethostname()
    trial_id = queued.claim(owner)  # with a fresh heartbeat
    assert fail_abandoned(queued.storage, queued.study_id) == []
    assert queued.state(trial_id)[0] == TrialState.RUNNING
    queued.age_heartbeat(trial_id, 3600)  # then its heartbeat stops: it is gone
    assert len(fail_abandoned(queued.storage, queued.study_id)) == 1
    state, attrs = queued.state(trial_id)
    assert (state, attrs["fail_reason"]) == (TrialState.FAIL, "abandoned")


def test_a_reused_pid_does_not_keep_a_dead_foreign_worker_alive(tmp_path: Path, url: str) -> None:
    """This test process lives; a worker of another namespace with the same pid number died
    an hour ago: its heartbeat, not the pid, decides."""
    queued = Round(tmp_path, url)
    queued.enqueue()
    trial_id = queued.claim(foreign(os.getpid()))
    queued.age_heartbeat(trial_id, 3600)
    assert len(fail_abandoned(queued.storage, queued.study_id)) == 1
    assert queued.state(trial_id)[0] == TrialState.FAIL


def test_a_dead_worker_of_this_namespace_is_gone_at_once(tmp_path: Path, url: str) -> None:
    queued = Round(tmp_path, url)
    queued.enqueue()
    trial_id = queued.claim({**owner_identity(), "pid": dead_pid(), "since": 0.0})
    assert len(fail_abandoned(queued.storage, queued.study_id)) == 1  # heartbeat still fresh
    assert queued.state(trial_id)[0] == TrialState.FAIL


def commits(storage: RDBStorage) -> list[int]:
    counted: list[int] = []
    sa.event.listen(storage.engine, "commit", lambda _: counted.append(1))
    return counted


def test_marking_abandoned_is_one_transaction_conditional_on_running_under_its_owner(
    tmp_path: Path, url: str
) -> None:
    queued = Round(tmp_path, url, trials=3)
    queued.enqueue()
    owner = {**owner_identity(), "pid": dead_pid(), "since": 1.0}
    first, second, third = (queued.claim(owner) for _ in range(3))
    counted = commits(queued.storage)
    assert mark_abandoned(queued.storage, first, owner)
    assert len(counted) == 1, "one transaction"
    assert queued.state(first)[0] == TrialState.FAIL
    assert queued.state(first)[1]["fail_reason"] == "abandoned"
    # owned by someone else now: untouched
    assert not mark_abandoned(queued.storage, second, {**owner, "pid": 1})
    assert queued.state(second)[0] == TrialState.RUNNING
    # its worker finished it first: it stays COMPLETE with no fail_reason, and the worker's
    # own write never collides with one
    finish_trial(
        queued.storage,
        third,
        state=TrialState.COMPLETE,
        value=0.5,
        intermediate_values=[0.5],
        user_attrs={"epochs_run": 1},
    )
    assert not mark_abandoned(queued.storage, third, owner)
    state, attrs = queued.state(third)
    assert state == TrialState.COMPLETE and "fail_reason" not in attrs
    # and the worker of an abandoned trial that finishes late writes nothing over it
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        finish_trial(
            queued.storage,
            first,
            state=TrialState.COMPLETE,
            value=0.5,
            intermediate_values=[],
            user_attrs={"fail_reason": "late"},
        )
    assert queued.state(first)[1]["fail_reason"] == "abandoned"


def test_a_trial_whose_worker_keeps_dying_is_requeued_retries_times_then_left_failed(
    tmp_path: Path,
) -> None:
    queued = Round(tmp_path, f"sqlite:///{tmp_path / 'oom.db'}", trials=2)
    assert queued.spec.retries == 2
    queued.enqueue()
    # place 1 finishes; place 0's worker is OOM-killed every time it runs it
    claims = [queued.claim({**owner_identity(), "pid": dead_pid(), "since": 0.0}) for _ in "ab"]
    finish_trial(
        queued.storage,
        claims[1],
        state=TrialState.COMPLETE,
        value=0.5,
        intermediate_values=[0.5],
        user_attrs={},
    )
    for _attempt in range(queued.spec.retries + 1):
        assert fail_abandoned(queued.storage, queued.study_id)
        settled = queued.enqueue()
        if settled:
            break
        queued.claim({**owner_identity(), "pid": dead_pid(), "since": 0.0})
    assert settled, "the round completes without the place"
    place0 = [t for t in queued.study.get_trials() if t.user_attrs["index"] == 0]
    assert len(place0) == queued.spec.retries + 1
    assert {t.state for t in place0} == {TrialState.FAIL}
    assert {t.user_attrs["fail_reason"] for t in place0} == {"abandoned"}


def test_an_interrupted_trial_is_always_run_again(tmp_path: Path) -> None:
    queued = Round(tmp_path, f"sqlite:///{tmp_path / 'sig.db'}", trials=1)
    queued.enqueue()
    for _ in range(queued.spec.retries + 3):
        trial_id = queued.claim({**owner_identity(), "since": 0.0})
        finish_trial(
            queued.storage,
            trial_id,
            state=TrialState.FAIL,
            value=None,
            intermediate_values=[],
            user_attrs={"fail_reason": "interrupted"},
        )
        assert not queued.enqueue()
    waiting = queued.study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1


def test_owner_json_is_compared_as_stored(tmp_path: Path) -> None:
    """The owner condition matches the stored attribute exactly as the claim wrote it."""
    queued = Round(tmp_path, f"sqlite:///{tmp_path / 'json.db'}", trials=1)
    queued.enqueue()
    owner = {**owner_identity(), "pid": dead_pid(), "since": 1712345678.123456}
    trial_id = queued.claim(owner)
    with queued.storage.engine.connect() as connection:
        stored = connection.execute(
            sa.select(SYSTEM_ATTRS.c.value_json).where(
                SYSTEM_ATTRS.c.trial_id == trial_id, SYSTEM_ATTRS.c.key == WORKER_KEY
            )
        ).scalar_one()
        assert connection.execute(sa.select(TRIALS.c.state)).scalar_one() == TrialState.RUNNING
    assert mark_abandoned(queued.storage, trial_id, json.loads(stored))
