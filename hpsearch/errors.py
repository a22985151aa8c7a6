"""The errors hpsearch raises on purpose: each is one line for the user, with an exit code.

The CLI prints `hpsearch: <message>` on stderr and exits with `exit_code`; anything else is
a bug and keeps its traceback (shown with --debug).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """ "; did you mean 'adam'?" for the known name nearest `word` (case first), else ""."""
    names = [str(name) for name in known]
    exact = [name for name in names if name.lower() == str(word).lower()]
    near = exact or difflib.get_close_matches(str(word), names, n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else ""


def unknown_choice(what: str, word: object, known: Iterable[str]) -> str:
    """ "unknown sampler 'TPE'; did you mean 'tpe'?", or the choices when none is near."""
    names = list(known)
    return f"unknown {what} {word!r}" + (
        did_you_mean(str(word), names) or f"; choose from {', '.join(names)}"
    )


class HpsearchError(Exception):
    """Base: a problem the user can fix, described in one line."""

    exit_code = 1


class UsageError(HpsearchError):
    """The command line or a study file asks for something impossible."""

    exit_code = 2


class StudyFileError(UsageError):
    """A study file is not valid; the message names the file, the field and the fix."""

    def __init__(self, path: str, field: str | None, message: str) -> None:
        where = f"{path}: {field}" if field else path
        super().__init__(f"{where}: {message}")


class StorageError(HpsearchError):
    """The storage URL or database cannot be used (never contains a password)."""


class StorageMissingError(StorageError):
    """The storage does not exist yet: no database file, an empty one, or no Optuna tables."""


class StudyNotFoundError(HpsearchError):
    """The storage holds no study of that name."""


class StudyMismatchError(HpsearchError):
    """A study file differs from the study of the same name already stored."""


class StudyHeldError(HpsearchError):
    """Another live process coordinates this study; try again later (EX_TEMPFAIL)."""

    exit_code = 75


# Exit codes of the `hpsearch` command (the README's table; tested). When several studies end
# differently, a batch exits with the most urgent of theirs (URGENCY, most urgent first).
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_HELD = 0, 1, 2, 75
EXIT_TIMEOUT, EXIT_SIGINT, EXIT_SIGTERM = 124, 130, 143
URGENCY = (EXIT_SIGINT, EXIT_SIGTERM, EXIT_TIMEOUT, EXIT_ERROR, EXIT_USAGE, EXIT_HELD, EXIT_OK)
