"""Typed reads of a study file's TOML tables: each wrong value one `StudyFileError` naming the
file, the field and the fix; an unknown name suggests the nearest known one."""

from __future__ import annotations

import math
from typing import Any

from hpsearch.errors import StudyFileError, did_you_mean

MAX_TRIALS = 100_000


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def unknown(table: dict[str, Any], known: set[str], where: str, prefix: str) -> None:
    for key in table:
        if key not in known:
            raise StudyFileError(where, prefix + key, unknown_field(key, known))


def unknown_field(key: str, known: set[str] | tuple[str, ...]) -> str:
    """'unknown field; did you mean 'epochs'?', or the known fields when none is near."""
    return "unknown field" + (did_you_mean(key, known) or f"; known: {', '.join(sorted(known))}")


def table(table: dict[str, Any], key: str, where: str, field: str | None = None) -> dict:
    value = table.get(key, {})
    if not isinstance(value, dict):
        raise StudyFileError(where, field or key, f"must be a table ([{field or key}])")
    return value


_MISSING = object()


def get(
    table: dict, key: str, kind: type, where: str, prefix: str, default: Any = _MISSING
) -> Any:
    if key not in table:
        if default is _MISSING:
            raise StudyFileError(where, prefix + key, "is required")
        return default
    value = table[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise StudyFileError(
            where, prefix + key, f"must be a {kind.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def number(
    table: dict,
    key: str,
    where: str,
    prefix: str,
    *,
    low: float | None = None,
    integer: bool = False,
    default: Any = _MISSING,
) -> Any:
    if key not in table and default is not _MISSING:
        return default
    value = get(table, key, object, where, prefix)
    if integer and not (isinstance(value, int) and not isinstance(value, bool)):
        raise StudyFileError(where, prefix + key, f"must be an integer, got {value!r}")
    if not is_number(value):
        raise StudyFileError(where, prefix + key, f"must be a number, got {value!r}")
    if not math.isfinite(value):
        raise StudyFileError(where, prefix + key, f"must be a finite number, got {value}")
    if low is not None and value < low:
        raise StudyFileError(where, prefix + key, f"must be >= {low}, got {value}")
    return value


def integer(
    table: dict, key: str, where: str, prefix: str, *, low: int, default: Any = _MISSING
) -> Any:
    if key not in table and default is not _MISSING:
        return default
    value = number(table, key, where, prefix, integer=True)
    if value < low:
        raise StudyFileError(where, prefix + key, f"must be at least {low}, got {value}")
    if value > MAX_TRIALS * 1000:
        raise StudyFileError(where, prefix + key, f"{value} is unreasonably large")
    return value


def fraction(table: dict, key: str, where: str, prefix: str, default: float) -> float:
    value = number(table, key, where, prefix, default=default)
    if not 0 < value < 1:
        raise StudyFileError(
            where, prefix + key, f"must be between 0 and 1 (exclusive), got {value}"
        )
    return float(value)
