"""Finding, creating and checking studies by name."""

from __future__ import annotations

from typing import Any

import optuna
import sqlalchemy as sa
from optuna.storages import RDBStorage

from hpsearch.errors import StudyMismatchError, StudyNotFoundError, UsageError
from hpsearch.store.records import COMPLETE_KEY, DATA_KEY, SPEC_KEY
from hpsearch.store.tables import STUDIES, snapshot
from hpsearch.study.growth import dataset_digest, grows, refused_changes
from hpsearch.study.spec import StudySpec


def study_names(storage: RDBStorage) -> list[str]:
    """The names of the storage's studies in the order they were made (no attribute read)."""
    with snapshot(storage) as connection:
        query = sa.select(STUDIES.c.study_name).order_by(STUDIES.c.study_id)
        return list(connection.execute(query).scalars())


def _not_found(storage: RDBStorage, name: str) -> StudyNotFoundError:
    names = study_names(storage)
    return StudyNotFoundError(
        f"no study named {name!r}; the storage holds: {', '.join(names) or 'no studies'}"
    )


def pick_study(storage: RDBStorage, name: str | None) -> str:
    """`name` if the storage holds it; with no name, the storage's only study."""
    names = study_names(storage)
    if name is None:
        if len(names) == 1:
            return names[0]
        if not names:
            raise StudyNotFoundError(
                "the storage holds no studies; run `hpsearch run STUDY_FILE` first"
            )
        raise UsageError(f"the storage holds {len(names)} studies; name one: {', '.join(names)}")
    if name not in names:
        raise _not_found(storage, name)
    return name


def load_study(storage: RDBStorage, name: str) -> optuna.Study:
    """The stored study `name`; StudyNotFoundError listing the stored ones if there is none."""
    try:
        return optuna.load_study(
            study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler()
        )
    except KeyError:
        raise _not_found(storage, name) from None


def create_or_check_study(storage: RDBStorage, spec: StudySpec) -> optuna.Study:
    """The study of `spec.name`, created with the spec stored, or refused if it differs in
    anything that changes results (`hpsearch.study.growth`); a top-up stores the new spec."""
    study = optuna.create_study(
        study_name=spec.name,
        storage=storage,
        direction=spec.direction,
        sampler=optuna.samplers.RandomSampler(),
        load_if_exists=True,
    )
    stored = study.user_attrs.get(SPEC_KEY)
    if stored is None:
        study.set_user_attr(DATA_KEY, dataset_digest(spec.dataset))
        study.set_user_attr(SPEC_KEY, spec.to_dict())
        return study
    same_data = _same_data(study, stored, spec)
    if same_data is False:
        raise StudyMismatchError(
            f"study {spec.name!r}: data.dataset: {spec.dataset} is not the data the study "
            "began with (its SHA-256 differs); restore the file, or give the study a new "
            "`name` to start another"
        )
    if stored != spec.to_dict():
        refused = refused_changes(stored, spec.to_dict(), moved_data=same_data is True)
        if refused:
            raise StudyMismatchError(
                f"study {spec.name!r} already exists with a different study file "
                f"({'; '.join(refused[:4])}); restore the file, or give the study a new "
                "`name` to start another (raising search.rounds continues it)"
            )
        if grows(stored, spec.to_dict()):  # first: a worker must not exit on the old mark
            study.set_user_attr(COMPLETE_KEY, False)
        study.set_user_attr(SPEC_KEY, spec.to_dict())
    return study


def _same_data(study: optuna.Study, stored: dict[str, Any], spec: StudySpec) -> bool | None:
    """Whether the file's dataset has the content the study began with (None: not a path, or
    a study of an older hpsearch whose old path is gone, so the paths decide)."""
    new = dataset_digest(spec.dataset)
    old = study.user_attrs.get(DATA_KEY) or dataset_digest(stored["dataset"])
    if new is None or old is None:
        return None
    return new == old
