"""The errors hpsearch raises on purpose: each is one line for the user, with an exit code.

The CLI prints `hpsearch: <message>` on stderr and exits with `exit_code`; anything else is
a bug and keeps its traceback (shown with --debug).
"""

from __future__ import annotations


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
