"""What may change between a stored study and its study file, and what may not.

A stored study keeps the study file it ran. Running a changed file against it continues the
study when the change does not change any result:

- `search.rounds` raised is a top-up: the stored rounds are what a run of the new file
  computes first (a round depends only on the rounds before it), so the study goes on.
- `search.retries` and `data.data_dir` change how trials are run or found, never their values.
- `[search.final]` added, changed or removed changes no trial, only the final choice and its
  test score, which the next run makes again (re-evaluations already stored are kept).
- `data.dataset` as a path may move (the project folder moved) if the file's content, its
  SHA-256, is the one the study was created with.

Anything else (`search.trials_per_round` too: the stored later rounds were narrowed from
rounds of the old size) makes another study, and is refused naming each field by its path in
the study file, e.g. `search.params.lr.high: stored 0.01, file 0.02`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

FREE = {"retries", "data_dir", "final"}
DATA = {"dataset", "n_samples", "val_fraction", "test_fraction", "data_dir"}
SEARCH = {"rounds", "trials_per_round", "retries", "lower_when_diverged", "objective", "final"}


def file_path(key: str) -> str:
    """The study file's path of a key of the stored spec (`rounds` -> `search.rounds`)."""
    if key in DATA:
        return f"data.{key}"
    if key in SEARCH:
        return f"search.{key}"
    return "search" if key == "narrowing" else key


def dataset_digest(dataset: str) -> str | None:
    """SHA-256 of a dataset file (or of an IDX folder's files, by name); None for a named
    dataset or a path that does not exist."""
    path = Path(dataset)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    if not path.is_absolute() or not all(p.is_file() for p in files):
        return None
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(path)).encode() if path.is_dir() else b"")
        with file.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def refused_changes(
    stored: dict[str, Any], new: dict[str, Any], *, moved_data: bool = False
) -> list[str]:
    """Every change from `stored` to `new` that changes results, as 'path: stored a, file b'.

    `moved_data`: the dataset path differs but names the same content.
    """
    changes: list[str] = []
    for key in sorted(set(stored) | set(new)):
        old, now = stored.get(key), new.get(key)
        if key in FREE or old == now or (key == "dataset" and moved_data):
            continue
        if key == "rounds" and isinstance(old, int) and isinstance(now, int) and now > old:
            continue
        if key == "params":
            changes += _nested("search.params", _by_name(old), _by_name(now))
        elif isinstance(old, dict) and isinstance(now, dict):
            changes += _nested(file_path(key), old, now)
        else:
            changes.append(f"{file_path(key)}: stored {old!r}, file {now!r}")
    return changes


def grows(stored: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when `new` raises the study's rounds (a top-up) or changes its final choice."""
    raised = int(new.get("rounds", 0)) > int(stored.get("rounds", 0))
    return raised or stored.get("final") != new.get("final")


def _by_name(params: Any) -> dict[str, Any]:
    return {p["name"]: {k: v for k, v in p.items() if k != "name"} for p in params or []}


def _nested(prefix: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    changes: list[str] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            changes += _nested(f"{prefix}.{key}", a, b)
        elif key not in old or key not in new:
            what = "stored, not in the file" if key in old else "in the file, not stored"
            changes.append(f"{prefix}.{key}: {what}")
        else:
            changes.append(f"{prefix}.{key}: stored {a!r}, file {b!r}")
    return changes
