"""The coordinator reads slices of the study (a round, the best trials), never all of it:
`Study.get_trials` is refused here, in a run and in a run resumed between two rounds."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import optuna
import pytest
from conftest import fingerprint, write_tiny_study

from hpsearch.run.coordinator import run_study
from hpsearch.run.events import Observer
from hpsearch.store.records import RoundRecord, place, read_rounds
from hpsearch.study.file import load_study_file
from hpsearch.study.spec import StudySpec


class StopAfterRound(Observer):
    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop

    def round_finished(self, record: RoundRecord, spec: StudySpec) -> None:
        self.stop.set()


def test_a_run_and_its_resume_never_read_the_whole_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # trials long enough (a second a round) that round 1 cannot end before the stop lands
    spec = load_study_file(write_tiny_study(tmp_path, trials=4, epochs=150))
    whole = f"sqlite:///{tmp_path / 'whole.db'}"
    run_study(spec, whole, jobs=1)  # the reference, with Optuna's reads allowed

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the coordinator read every trial of the study")

    monkeypatch.setattr(optuna.Study, "get_trials", refuse)
    url = f"sqlite:///{tmp_path / 'sliced.db'}"
    stop = threading.Event()
    first = run_study(spec, url, jobs=1, observer=StopAfterRound(stop), stop=stop)
    # stopped once round 0 is done (a trial of round 1 may finish before the stop lands)
    assert not first.complete and 4 <= first.finished < 8
    resumed = run_study(spec, url, jobs=1)  # plans round 1 from round 0, read once
    assert resumed.complete and resumed.finished == 8
    # the same best trials, by place (a trial re-run after the stop has a new number)
    assert [place(t)[:2] for t in resumed.top] == [
        place(t)[:2] for t in run_study(spec, whole, jobs=1).top
    ]
    monkeypatch.undo()
    assert fingerprint(url) == fingerprint(whole)
    storage = optuna.storages.RDBStorage(url)
    rounds = read_rounds(storage.get_study_user_attrs(storage.get_study_id_from_name("tiny")))
    assert [len(r.trial_numbers) for r in rounds] == [4, 4]
