"""The overview of every study in a storage: what `hpsearch studies` lists."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from optuna.storages import RDBStorage
from optuna.study import StudyDirection

from hpsearch.store.aggregates import aggregates, studies_by_id
from hpsearch.store.liveness import holder_alive, server_time
from hpsearch.store.records import COMPLETE_KEY, LOCK_KEY, SPEC_KEY, TEST_KEY, read_rounds
from hpsearch.store.studies import pick_study
from hpsearch.timing import WORKER_GRACE_S
from hpsearch.view.queries import ROW_ATTRS, STATES, StudyData, load_study_data, load_top_data


@dataclass
class StudyOverview:
    """One line of `hpsearch studies`."""

    name: str
    state: str  # complete, running or interrupted
    rounds_done: int
    rounds_planned: int | None
    trials: dict[str, int]  # by STATES; a diverged trial counts only as diverged, and a
    # retried attempt (interrupted or abandoned, its place run again) not as failed
    retried: int
    best: float | None
    test_accuracy: float | None
    started: datetime | None
    last_changed: datetime | None


def overview(storage: RDBStorage, study_id: int | None = None) -> list[StudyOverview]:
    """Every study in the storage (or the one `study_id`), from a few aggregate queries (no
    trial is loaded).

    State: `complete` once hpsearch marked it so (a study not written by hpsearch: once no
    trial waits or runs); otherwise `running` while something is alive, i.e. a RUNNING trial
    whose Optuna heartbeat is younger than WORKER_GRACE_S, or a coordinator holding the
    study's lock (its process exists, on this host; its beat is fresh, on another); and
    `interrupted` when nothing is.
    """
    found, now = aggregates(storage, study_id), server_time(storage)
    result = []
    for sid, study in studies_by_id(storage).items():
        if study_id is not None and sid != study_id:
            continue
        attrs = study.user_attrs
        holder = study.system_attrs.get(LOCK_KEY)
        alive = found.heartbeat_age.get(sid, WORKER_GRACE_S) < WORKER_GRACE_S or bool(
            holder and holder_alive(holder, now)
        )
        spec = attrs.get(SPEC_KEY)
        started, last_changed = found.times.get(sid, (None, None))
        result.append(
            StudyOverview(
                name=study.study_name,
                state=_study_state(attrs, found.counts[sid], alive),
                rounds_done=sum(r.done for r in read_rounds(attrs)),
                rounds_planned=spec["rounds"] if spec else None,
                trials=_counts(found.counts[sid], retried := found.retried.get(sid, 0)),
                retried=retried,
                best=_best(found.best.get(sid), study.direction),
                test_accuracy=(attrs.get(TEST_KEY) or {}).get("test_accuracy"),
                started=started,
                last_changed=last_changed,
            )
        )
    return result


def _best(values: tuple[float, float] | None, direction: StudyDirection) -> float | None:
    """The study's best value in its objective's direction (a loss: the lowest)."""
    if values is None:
        return None
    return values[1] if direction == StudyDirection.MINIMIZE else values[0]


def _study_state(attrs: dict[str, Any], counts: dict[str, int], alive: bool) -> str:
    if attrs.get(COMPLETE_KEY):
        return "complete"
    if alive:
        return "running"
    if SPEC_KEY not in attrs and not counts.get("running") and not counts.get("waiting"):
        return "complete"
    return "interrupted"


def _counts(counts: dict[str, int], retried: int) -> dict[str, int]:
    by_state = {s: counts.get(s, 0) for s in STATES}
    by_state["failed"] -= retried
    return by_state


def show_data(storage: RDBStorage, name: str | None, top: int) -> tuple[StudyData, StudyOverview]:
    """What `show` shows of the study `name` (or the only one): its `top` best trials (a grid
    study: every trial, its table summarises them all) and its overview. The two read the
    whole study (a scan each): the overview is read by a thread of its own meanwhile."""
    name = pick_study(storage, name)
    with ThreadPoolExecutor(1) as pool:
        found = pool.submit(study_overview, storage, name)
        data = load_top_data(storage, name, top)
        if data.spec is not None and data.spec.grid:
            data = load_study_data(storage, name, attrs=ROW_ATTRS)
        return data, found.result()


def study_overview(storage: RDBStorage, name: str) -> StudyOverview:
    """The overview of the study `name` (which exists)."""
    (found,) = overview(storage, storage.get_study_id_from_name(name))
    return found
