"""Shared fixtures: tiny study files, study fingerprints, a scratch PostgreSQL database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState

BIN = Path(sys.executable).parent  # this environment's console scripts


def hpsearch(*args: str, timeout: float = 300, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """The installed `hpsearch` command run to its end, as a scheduler would run it: no
    terminal on stdin, output captured as text. `kwargs` go to `subprocess.run` (cwd, env...)."""
    return subprocess.run(
        [str(BIN / "hpsearch"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )


TINY = """
name = "tiny"
seed = 3
[data]
dataset = "mnist-5k"
n_samples = 300
[train]
hidden_sizes = [20]
epochs = {epochs}
[search]
rounds = 2
trials_per_round = {trials}
min_top = {min_top}
[search.params.lr]
low = 1e-3
high = 0.3
log = true
[search.params.weight_decay]
low = 1e-8
high = 1e-4
log = true
"""


def write_tiny_study(
    folder: Path,
    *,
    epochs: int = 3,
    trials: int = 6,
    name: str = "tiny",
    final: str | None = None,
    seed: int = 3,
) -> Path:
    """A 2-round study of a 20-unit network on mnist-5k: a trial takes milliseconds per epoch.

    `final`: the body of a `[search.final]` table (e.g. "top = 3\nseeds = 2"), appended.
    """
    path = folder / f"{name}.toml"
    text = TINY.format(epochs=epochs, trials=trials, min_top=min(2, trials))
    text = text.replace('"tiny"', repr(name))
    text = text.replace("seed = 3\n", f"seed = {seed}\n", 1)
    path.write_text(text + ("" if final is None else f"[search.final]\n{final}\n"))
    return path


@pytest.fixture
def tiny_study(tmp_path: Path) -> Callable[..., Path]:
    return lambda **kwargs: write_tiny_study(tmp_path, **kwargs)


def fingerprint(url: str, name: str = "tiny") -> dict[tuple[int, int], tuple]:
    """(round, index) -> (params, value, curve) of every finished trial; fails on duplicates."""
    study = optuna.load_study(study_name=name, storage=url)
    result: dict[tuple[int, int], tuple] = {}
    for trial in study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED)):
        key = (trial.user_attrs["round"], trial.user_attrs["index"])
        assert key not in result, f"place {key} finished twice"
        curve = tuple(trial.intermediate_values[s] for s in sorted(trial.intermediate_values))
        result[key] = (tuple(sorted(trial.params.items())), trial.value, curve)
    return result


POSTGRES_ENV = "HPSEARCH_TEST_POSTGRES_URL"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards.

    Skips when no server answers, except under CI=true, where PostgreSQL is required.
    """
    admin_url = os.environ.get(POSTGRES_ENV, "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    admin = sqlalchemy.create_engine(
        admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    name = f"hpsearch_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sqlalchemy.exc.OperationalError as error:
        admin.dispose()
        reason = f"no PostgreSQL server answers at {POSTGRES_ENV}={admin_url}: {error.orig}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI: {reason}")
        pytest.skip(reason)
    url = sqlalchemy.engine.make_url(admin_url).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh SQLite file, then a fresh PostgreSQL database (`postgres_url`): for the tests
    that must hold on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("postgres_url"))
