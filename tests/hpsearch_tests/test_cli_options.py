"""Options that behave as a user expects wherever they are written: --debug after the command,
flags without a type in --help, an export file's suffix that is known or refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import hpsearch, write_tiny_study
from typer.testing import CliRunner

from hpsearch.cli import app

COMMANDS = sorted(
    c.name or getattr(c.callback, "__name__", "").replace("_", "-")
    for c in app.registered_commands
)


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback_before_or_after_the_command(tmp_path: Path, where: str) -> None:
    path = write_tiny_study(tmp_path)
    path.write_text(path.read_text().replace("epochs = 3", "epoch = 3"))
    args = (
        ["--debug", "check", str(path)] if where == "before" else ["check", str(path), "--debug"]
    )
    result = hpsearch(*args)
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "StudyFileError" in result.stderr, result.stderr
    quiet = hpsearch("check", str(path))
    assert quiet.returncode == 2 and "Traceback" not in quiet.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_no_type_for_flags_and_lists_debug(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "<bool>" not in result.output
    assert "--debug" in result.output


def test_the_main_help_shows_no_type_for_flags() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "<bool>" not in result.output


def test_export_to_an_unknown_suffix_says_which_it_knows(tmp_path: Path) -> None:
    out = tmp_path / "trials.xyz"
    result = hpsearch("export", "--storage", str(tmp_path / "s.db"), "-o", str(out))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"hpsearch: {out}: unknown export type '.xyz'; end the file name with .json or .csv, "
        "or give --format json or csv"
    )
    assert not out.exists()


def test_ctrl_c_before_a_commands_own_handlers_exits_130_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # click turns a KeyboardInterrupt into "Aborted!" and exit 1 (found by `make chaos`: a
    # SIGINT while `run` was still opening its PostgreSQL storage)
    def interrupted(_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("hpsearch.study.file.load_study_file", interrupted)
    result = CliRunner().invoke(app, ["check", str(write_tiny_study(tmp_path))])
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output and "Aborted" not in result.output
