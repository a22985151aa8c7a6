"""Data a study file names but that cannot be used: one line naming the file and the field,
with the exit code the README gives (2: the file asks for the impossible; 1: the data cannot
be fetched right now, the file is fine)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import hpsearch, write_tiny_study
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.run import trial as trial_module
from trainer import data
from trainer.data import IdxSource


def _study(tmp_path: Path, old: str, new: str) -> Path:
    path = write_tiny_study(tmp_path)
    path.write_text(path.read_text().replace(old, new))
    return path


@pytest.mark.parametrize("command", ["check", "run"])
def test_too_many_samples_names_the_file_and_data_n_samples(tmp_path: Path, command: str) -> None:
    path = _study(tmp_path, "n_samples = 300", "n_samples = 100000")
    extra = ["--storage", str(tmp_path / "s.db"), "--jobs", "0"] if command == "run" else []
    result = hpsearch(command, str(path), *extra)
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert line.startswith(f"hpsearch: {path}: data.n_samples: "), line
    assert "ask for 1 to 4000" in line and "\n" not in line
    assert not (tmp_path / "s.db").exists()  # refused before any storage is opened


def test_an_npz_without_known_keys_names_the_file_and_data_dataset(tmp_path: Path) -> None:
    np.savez(tmp_path / "bad.npz", foo=np.zeros((10, 4)), bar=np.zeros(10))
    path = _study(tmp_path, '"mnist-5k"', '"bad.npz"')
    result = hpsearch("check", str(path))
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert line.startswith(f"hpsearch: {path}: data.dataset: "), line
    assert "expected keys" in line and "found bar, foo" in line


def test_an_offline_download_exits_1_naming_the_file_and_data_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unreachable = IdxSource("http://127.0.0.1:9/", data.SOURCES["fashion-mnist"].sha256)
    monkeypatch.setitem(data.SOURCES, "fashion-mnist", unreachable)
    monkeypatch.setenv("HPSEARCH_CACHE_DIR", str(tmp_path / "cache"))
    trial_module._cached_split.cache_clear()
    path = _study(tmp_path, '"mnist-5k"', '"fashion-mnist"')
    run = ["run", str(path), "--storage", str(tmp_path / "s.db"), "--jobs", "0"]
    for command in (["check", str(path)], run):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 1, result.output
        line = result.stderr.strip().splitlines()[-1]  # after pooch's "Downloading ..." log
        assert line.startswith(f"hpsearch: {path}: data.dataset: fashion-mnist: cannot download")
        assert "data_dir" in line
