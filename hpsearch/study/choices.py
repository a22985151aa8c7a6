"""The choices of a categorical parameter: what a study file may list.

Only strings, numbers and booleans: they are what Optuna's `CategoricalDistribution` stores and
ranks. A list as a choice (`hidden_sizes` with `choices = [[32], [64, 64]]`) makes Optuna warn on
every command and breaks its importances and slice plots (a list is not hashable), so it is
refused here rather than encoded: an encoding would have to be decoded again by every reader of
a trial's parameters (tables, exports, `best`, plots, reports).
"""

from __future__ import annotations

from typing import Any

from hpsearch.errors import StudyFileError


def check_choices(choices: Any, where: str, field: str) -> tuple[Any, ...]:
    """The choices as a tuple; a StudyFileError naming `field` if they cannot be searched."""
    if not isinstance(choices, list) or not choices:
        raise StudyFileError(where, field, "give a non-empty list of choices")
    for choice in choices:
        if isinstance(choice, list | dict):
            raise StudyFileError(
                where,
                field,
                f"a choice must be a string, number or boolean, not {choice!r}; to compare "
                "layer layouts, give each its own study file with hidden_sizes in [train]",
            )
    if len({repr(c) for c in choices}) != len(choices):
        raise StudyFileError(where, field, "lists a choice twice")
    return tuple(choices)
