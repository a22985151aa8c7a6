"""The conventions people expect of a command: --version, shell completion, and plain output
under NO_COLOR or on a pipe, for every command."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import typer
from conftest import BIN, hpsearch
from typer.testing import CliRunner

import hpsearch as package
from hpsearch.cli import app

ROOT = Path(__file__).resolve().parents[2]
ANY_ESCAPE = re.compile(r"\x1b")
STYLE = re.compile(r"\x1b\[[0-9;]*m")  # SGR: colours, bold, dim, italic ...
STUDY = """
name = "plain"
[data]
dataset = "digits"
[train]
hidden_sizes = [10]
epochs = 2
[search]
trials_per_round = 2
[search.params.lr]
low = 0.01
high = 0.1
log = true
[search.params.weight_decay]
low = 1e-6
high = 1e-3
log = true
"""


def test_version_prints_the_installed_version() -> None:
    done = hpsearch("--version")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert done.returncode == 0 and done.stdout == f"hpsearch {version('hpsearch')}\n"
    assert version("hpsearch") == pyproject == package.__version__


def test_shell_completion_prints_a_script_for_the_command() -> None:
    done = hpsearch("--show-completion", "bash", env={**os.environ, "SHELL": "/bin/bash"})
    assert done.returncode == 0 and "_HPSEARCH_COMPLETE" in done.stdout
    completed = subprocess.run(
        [str(BIN / "hpsearch")],
        env={**os.environ, "_HPSEARCH_COMPLETE": "complete_bash", "COMP_WORDS": "hpsearch sh",
             "COMP_CWORD": "1"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "show" in completed.stdout.split()


def every_command(folder: Path) -> dict[str, list[list[str]]]:
    """Each command's normal use and one error (and its --help), on a finished study."""
    db = ["-s", str(folder / "plain.db")]
    out = str(folder / "out")
    return {
        "run": [["run", "plain.toml", *db, "-j", "1"], ["run", "missing.toml", *db]],
        "worker": [["worker", "--study", "plain", *db], ["worker", *db]],
        "studies": [["studies", *db], ["studies", "-f", "yaml", *db]],
        "show": [["show", *db], ["show", "nope", *db]],
        "trials": [["trials", *db], ["trials", "--round", "-1", *db]],
        "best": [["best", *db], ["best", "nope", *db]],
        "export": [["export", *db, "-f", "csv"], ["export", *db, "-f", "xml"]],
        "plot": [["plot", *db, "-o", out + ".png"], ["plot", *db, "-k", "pie"]],
        "report": [["report", *db, "-o", out], ["report", *db]],
        "dashboard": [["dashboard", "-s", str(folder / "none.db")], ["dashboard", "-p", "x"]],
        "check": [["check", "plain.toml"], ["check", "missing.toml"]],
        "copy": [["copy", "plain", "plain-copy", *db], ["copy", "nope", "x", *db]],
        "delete": [["delete", "plain-copy", "--yes", *db], ["delete", "nope", "--yes", *db]],
    }


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[list[str]]]]:
    folder = tmp_path_factory.mktemp("conventions")
    (folder / "plain.toml").write_text(STUDY)
    done = hpsearch("run", "plain.toml", "-s", str(folder / "plain.db"), "-j", "1", cwd=folder)
    assert done.returncode == 0, done.stderr
    found = every_command(folder)
    group = typer.main.get_command(app)
    assert set(found) == set(group.commands)  # type: ignore[attr-defined]
    return folder, found


def plain_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "PY_COLORS")}
    return {k: v for k, v in env.items() if k not in ("GITHUB_ACTIONS", "NO_COLOR")} | extra


def on_a_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    """What a person sees: the command on a pseudo-terminal (stdout and stderr both)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [str(BIN / "hpsearch"), *args], stdin=subprocess.DEVNULL, stdout=follower,
        stderr=follower, cwd=cwd, env=env | {"COLUMNS": "120"},
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=300)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_every_command_writes_no_escape_codes_to_a_pipe(
    commands: tuple[Path, dict[str, list[list[str]]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, found = commands
    monkeypatch.chdir(folder)
    for variable in ("NO_COLOR", "FORCE_COLOR", "PY_COLORS", "GITHUB_ACTIONS"):
        monkeypatch.delenv(variable, raising=False)
    for name, uses in found.items():
        for args in [*uses, [name, "--help"]]:
            done = CliRunner().invoke(app, args)  # stdout and stderr are not terminals
            assert not ANY_ESCAPE.search(done.stdout + done.stderr), args


def test_no_color_gives_plain_text_on_a_terminal_for_every_command(
    commands: tuple[Path, dict[str, list[list[str]]]],
) -> None:
    folder, found = commands
    styled = on_a_terminal(["studies", "-s", str(folder / "plain.db")], folder, plain_env())
    assert STYLE.search(styled), "the terminal shows no styles at all: this test cannot fail"
    usage_error, failure = found["trials"][1], found["show"][1]
    for args in [*(uses[0] for uses in found.values()), usage_error, failure, ["--help"]]:
        seen = on_a_terminal(args, folder, plain_env(NO_COLOR="1"))
        assert not STYLE.search(seen), (args, seen[:300])
