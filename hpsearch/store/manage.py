"""Deleting and copying whole studies, over Optuna's own `delete_study` and `copy_study`.

Neither touches a study that a live coordinator holds. A copy is a study of its own: its
stored study file carries the new name, and the source's coordinator lock is not copied.
"""

from __future__ import annotations

import optuna

from hpsearch.errors import StudyHeldError, UsageError
from hpsearch.store.engines import open_storage
from hpsearch.store.liveness import describe, holder_alive, server_time
from hpsearch.store.records import LOCK_KEY, SPEC_KEY
from hpsearch.store.studies import pick_study
from hpsearch.store.writes import release_study
from hpsearch.study.portable import check_name


def _refuse_if_held(storage: optuna.storages.RDBStorage, name: str, doing: str) -> int:
    study_id = storage.get_study_id_from_name(name)
    holder = storage.get_study_system_attrs(study_id).get(LOCK_KEY)
    if holder and holder_alive(holder, server_time(storage)):
        raise StudyHeldError(
            f"cannot {doing} study {name!r}: it is being run by {describe(holder)}; "
            "stop that run first"
        )
    return study_id


def count_trials(url: str, name: str) -> tuple[str, int]:
    """The study's name (checked) and how many trials it holds."""
    storage = open_storage(url, write=False)
    try:
        name = pick_study(storage, name)
        return name, len(storage.get_all_trials(storage.get_study_id_from_name(name)))
    finally:
        storage.engine.dispose()


def delete_study(url: str, name: str) -> None:
    storage = open_storage(url, write=True)
    try:
        name = pick_study(storage, name)
        _refuse_if_held(storage, name, "delete")
        optuna.delete_study(study_name=name, storage=storage)
    finally:
        storage.engine.dispose()


def copy_study(url: str, name: str, to_url: str, to_name: str) -> int:
    """Copy study `name` of `url` to `to_name` in `to_url` (may be the same); its trial count."""
    check_name(to_name, "copy", "NEW_NAME")
    source = open_storage(url, write=False)
    target = open_storage(to_url, write=True)
    try:
        name = pick_study(source, name)
        _refuse_if_held(source, name, "copy")
        if to_name in [s.study_name for s in target.get_all_studies()]:
            raise UsageError(f"the target storage already holds a study named {to_name!r}")
        optuna.copy_study(
            from_study_name=name, from_storage=source, to_storage=target, to_study_name=to_name
        )
        copy = optuna.load_study(study_name=to_name, storage=target)
        copy_id = target.get_study_id_from_name(to_name)
        lock = target.get_study_system_attrs(copy_id).get(LOCK_KEY)
        if lock:
            release_study(target, copy_id, LOCK_KEY, lock["token"])
        if SPEC_KEY in copy.user_attrs:
            copy.set_user_attr(SPEC_KEY, {**copy.user_attrs[SPEC_KEY], "name": to_name})
        return len(copy.trials)
    finally:
        source.engine.dispose()
        target.engine.dispose()
