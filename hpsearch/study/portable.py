"""Limits every backend shares: what SQLite would store but PostgreSQL refuses mid-run.

Optuna's schema bounds its indexed strings at 512 characters (`study_name`, attribute keys,
`param_name`); SQLite ignores the bound, PostgreSQL fails with `value too long for type
character varying(512)`. Of what a study file writes, only the study's name lands in a bounded
column: parameter and setting names are the trainer's own field names, and values (choices,
the stored study file) go into unbounded JSON text. PostgreSQL also refuses the NUL character
in any text, so no string of a study file may hold one. Checked when the file is read, before
anything is stored, so a study file that runs on SQLite runs on PostgreSQL too.
"""

from __future__ import annotations

from typing import Any

from hpsearch.errors import StudyFileError

MAX_NAME_LENGTH = 512  # Optuna's MAX_INDEXED_STRING_LENGTH (a store test checks it)


def check_name(name: str, where: str, field: str = "name") -> None:
    """A study name every backend stores: at most 512 characters, no NUL."""
    if len(name) > MAX_NAME_LENGTH:
        raise StudyFileError(
            where,
            field,
            f"is {len(name)} characters long; Optuna's study_name column holds at most "
            f"{MAX_NAME_LENGTH} (PostgreSQL refuses longer names); shorten it",
        )


def check_strings(value: Any, where: str, field: str = "") -> None:
    """No string of the document (keys included) holds a NUL character."""
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{field}.{key}" if field else str(key)
            check_strings(key, where, path)
            check_strings(item, where, path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_strings(item, where, f"{field}[{i}]")
    elif isinstance(value, str) and "\x00" in value:
        raise StudyFileError(
            where, field, "holds a NUL character (\\u0000), which PostgreSQL cannot store"
        )
