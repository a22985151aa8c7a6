"""Output into a pipe that closes early (`hpsearch trials | head -1`) ends quietly, exit 0."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import BIN, hpsearch, write_tiny_study


@pytest.mark.parametrize(
    "command", [["trials", "--format", "csv"], ["trials"], ["export", "--format", "json"]]
)
def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path, command: list[str]) -> None:
    path = write_tiny_study(tmp_path, epochs=1, trials=2)
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert hpsearch("run", str(path), "--storage", url, "--jobs", "1").returncode == 0
    process = subprocess.Popen(
        [str(BIN / "hpsearch"), *command, "--storage", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()  # closed before the command writes a byte: every write fails
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert err == ""
