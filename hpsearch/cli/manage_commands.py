"""The commands that manage whole studies and files: `delete`, `copy` and `check`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hpsearch.cli.app import StorageOption, app, stdout
from hpsearch.errors import UsageError


@app.command()
def delete(
    study: Annotated[str, typer.Argument(help="The study to delete.", show_default=False)],
    storage: StorageOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a study and every trial of it (Optuna's delete_study), after asking."""
    from hpsearch.store.engines import resolve_url
    from hpsearch.store.manage import count_trials, delete_study

    url = resolve_url(storage)
    name, count = count_trials(url, study)
    if not yes and not typer.confirm(f"Delete study {name!r} and its {count} trials?"):
        raise UsageError("nothing deleted")
    delete_study(url, name)
    stdout.print(f"Deleted study {name!r} ({count} trials).", highlight=False, markup=False)


@app.command()
def copy(
    study: Annotated[str, typer.Argument(help="The study to copy.", show_default=False)],
    new_name: Annotated[str, typer.Argument(help="The copy's name.", show_default=False)],
    storage: StorageOption = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="Storage of the copy. Default: the same storage.", show_default=False
        ),
    ] = None,
) -> None:
    """Copy a study with its trials (Optuna's copy_study) under a new name. Copy, then
    `delete`, to rename or move one."""
    from hpsearch.store.engines import resolve_url
    from hpsearch.store.manage import copy_study

    url = resolve_url(storage)
    count = copy_study(url, study, resolve_url(to) if to else url, new_name)
    stdout.print(
        f"Copied {study!r} to {new_name!r} ({count} trials).", highlight=False, markup=False
    )


@app.command()
def check(
    study_files: Annotated[
        list[Path], typer.Argument(help="Study files (TOML) to check.", show_default=False)
    ],
) -> None:
    """Check study files, their data included, without running them or opening a storage."""
    from hpsearch.run.coordinator import check_data
    from hpsearch.study.file import load_study_file

    for path in study_files:
        spec = load_study_file(path)
        check_data(spec, str(path))
        names = ", ".join(p.name for p in spec.params) or "nothing (repeats)"
        sizes = sorted({spec.trials_in(r) for r in range(spec.rounds)})
        each = ", ".join(str(spec.trials_in(r)) for r in range(spec.rounds))
        shape = f"of {sizes[0]} trials" if len(sizes) == 1 else f"of {each} trials"
        rounds = f"{spec.rounds} round{'s' if spec.rounds != 1 else ''}"
        stdout.print(
            f"{path}: ok: study {spec.name!r}, {rounds} {shape}, searching {names}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
