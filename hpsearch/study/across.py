"""Checks of a study file across its fields: settings that are valid alone but not together.

- `search.min_top` above the trials of a round it narrows from would keep every round's
  ranges ("only N scored trials"): refused, but only as written; the default (3) is no
  error, so a stored study of small rounds (whose TOML, as `show` prints it, leaves the
  default out) reads back and resumes.
- `search.lower_when_diverged`: the parameters whose ranges move one width down when every
  trial of a round diverged (default: `lr`, when searched; divergence comes from too large
  steps, not from weight decay); each must be a searched numeric parameter.
"""

from __future__ import annotations

from typing import Any

from hpsearch.errors import StudyFileError, did_you_mean
from hpsearch.study.spec import StudySpec

DEFAULT_LOWERED = ("lr",)


def narrowed_from(spec: StudySpec) -> int:
    """The fewest trials of a round whose results narrow the next round's ranges."""
    rounds = range(spec.rounds - 1) if spec.rounds > 1 else range(1)
    return min(spec.trials_in(r) for r in rounds)


def check_min_top(spec: StudySpec, search: dict[str, Any], where: str) -> None:
    fewest = narrowed_from(spec)
    if "min_top" in search and not spec.grid and spec.narrowing.min_top > fewest:
        raise StudyFileError(
            where,
            "search.min_top",
            f"is {spec.narrowing.min_top}, more than the {fewest} trials of a round it "
            f"narrows from; keep it at most {fewest}",
        )


def lowered_params(search: dict[str, Any], spec: StudySpec, where: str) -> tuple[str, ...]:
    """`search.lower_when_diverged`, checked; the default when not written."""
    field = "search.lower_when_diverged"
    if "lower_when_diverged" not in search:
        return DEFAULT_LOWERED
    names = search["lower_when_diverged"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise StudyFileError(where, field, 'give a list of parameter names, e.g. ["lr"]')
    numeric = [p.name for p in spec.params if p.kind != "categorical"]
    for name in names:
        if name not in numeric:
            hint = did_you_mean(name, numeric) or f"; searched: {', '.join(numeric) or 'none'}"
            raise StudyFileError(
                where, field, f"{name!r} is not a searched numeric parameter{hint}"
            )
    if len(set(names)) != len(names):
        raise StudyFileError(where, field, "lists a parameter twice")
    return tuple(names)
