"""Running several study files in turn, unattended: deadlines, stop requests, exit codes.

The exit codes are `hpsearch.errors`' (the README's table): a batch exits with the most
urgent of its studies' codes.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hpsearch.errors import EXIT_ERROR, EXIT_OK, URGENCY, HpsearchError, UsageError
from hpsearch.run.coordinator import check_data, run_study
from hpsearch.run.events import Observer, RunSummary
from hpsearch.study.file import load_study_file
from hpsearch.study.settings import check_geometry
from hpsearch.study.spec import StudySpec


class Stop:
    """A stop request with the exit code it implies (the first request wins)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.exit_code: int | None = None

    def request(self, exit_code: int) -> None:
        if not self.event.is_set():
            self.exit_code = exit_code
            self.event.set()


@dataclass
class StudyResult:
    path: Path
    exit_code: int
    summary: RunSummary | None = None
    error: str | None = None


def parse_duration(text: str) -> float:
    """Seconds in '90', '90s', '15m', '2h', '1h30m' or '1d'; UsageError otherwise."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1, "": 1}
    parts = re.fullmatch(r"\s*((?:\d+(?:\.\d+)?[dhms]?\s*)+)", text or "")
    if parts is None:
        raise UsageError(f"--timeout {text!r} is not a duration; write e.g. 90s, 15m, 2h, 1h30m")
    seconds = sum(
        float(number) * units[unit]
        for number, unit in re.findall(r"(\d+(?:\.\d+)?)([dhms]?)", text)
    )
    if seconds <= 0:
        raise UsageError(f"--timeout {text!r} must be longer than zero")
    return seconds


def collect_study_files(paths: list[Path]) -> list[Path]:
    """The study files named, folders expanded to their *.toml files in name order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.toml"))
            if not found:
                raise UsageError(f"{path} holds no .toml study files")
            files += found
        elif path.exists():
            files.append(path)
        else:
            raise UsageError(f"{path}: no such study file or folder")
    return files


def run_batch(
    paths: list[Path],
    url: str,
    *,
    jobs: int,
    stop: Stop,
    observer: Observer,
    wait: bool = False,
    on_result: Callable[[StudyResult], StudyResult] = lambda result: result,
) -> list[StudyResult]:
    """Run each study file in turn; a failing study does not stop the others, a stop does.

    `on_result` sees each study's result as it ends and returns it (changed, if what it did
    for the study failed).
    """
    results = []
    for path in collect_study_files(paths):
        if stop.event.is_set():  # not started: the stop is this study's outcome
            result = StudyResult(
                path,
                stop.exit_code or EXIT_ERROR,
                error=f"{path}: not run, stopped before its turn",
            )
        else:
            result = _run_one(path, url, jobs=jobs, stop=stop, observer=observer, wait=wait)
        results.append(on_result(result))
    return results


def _run_one(
    path: Path, url: str, *, jobs: int, stop: Stop, observer: Observer, wait: bool
) -> StudyResult:
    try:
        spec: StudySpec = load_study_file(path)
        check_geometry(spec, check_data(spec, str(path)).image_shape, str(path))
        summary = run_study(spec, url, jobs=jobs, observer=observer, stop=stop.event, wait=wait)
    except HpsearchError as error:
        return StudyResult(path, error.exit_code, error=str(error))
    if not summary.complete:
        return StudyResult(
            path, stop.exit_code or EXIT_ERROR, summary=summary, error=progress_note(summary)
        )
    return StudyResult(path, EXIT_OK, summary=summary)


def progress_note(summary: RunSummary) -> str:
    """'study 'book' stopped at 57 of 100 trials, round 3 of 4; run again to continue'."""
    rounds_done = sum(r.done for r in summary.rounds)
    return (
        f"study {summary.study_name!r} stopped at {summary.finished} of {summary.planned} "
        f"trials, {rounds_done} of {summary.spec.rounds} rounds done; the same command "
        "continues it"
    )


def batch_exit_code(results: list[StudyResult]) -> int:
    """The most urgent of the studies' exit codes (a stop that cut nothing does not count)."""
    codes = {r.exit_code for r in results}
    return next((code for code in URGENCY if code in codes), EXIT_OK)
