"""`hpsearch delete`, `copy` and `check`, through the CLI on real SQLite files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from conftest import hpsearch, write_tiny_study
from typer.testing import CliRunner

from hpsearch.cli import app


def cli(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def names(url: str) -> list[str]:
    code, out, err = cli("studies", "--storage", url, "--format", "json")
    assert code == 0, err
    return sorted(s["name"] for s in json.loads(out))


def test_copy_then_delete_a_study(tmp_path: Path) -> None:
    path = write_tiny_study(tmp_path, epochs=1, trials=2)
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert hpsearch("run", str(path), "--storage", url, "--jobs", "1").returncode == 0

    assert cli("copy", "tiny", "tiny2", "--storage", url)[0] == 0
    assert names(url) == ["tiny", "tiny2"]
    code, _, err = cli("copy", "tiny", "tiny2", "--storage", url)
    assert code == 2 and "already holds a study named 'tiny2'" in err
    other = f"sqlite:///{tmp_path / 'b.db'}"
    assert cli("copy", "tiny", "elsewhere", "--storage", url, "--to", other)[0] == 0
    assert names(other) == ["elsewhere"]
    renamed = tmp_path / "tiny2.toml"  # the copy is a study of its own, complete
    renamed.write_text(path.read_text().replace('name = "tiny"', 'name = "tiny2"'))
    again = hpsearch("run", str(renamed), "--storage", url, "--jobs", "1")
    assert again.returncode == 0 and "already complete" in again.stdout, again.stderr

    code, _, err = cli("delete", "tiny", "--storage", url, input="n\n")
    assert code == 2 and "nothing deleted" in err
    assert names(url) == ["tiny", "tiny2"]
    code, out, _ = cli("delete", "tiny", "--storage", url, input="y\n")
    assert code == 0 and "Deleted study 'tiny'" in out
    assert names(url) == ["tiny2"]
    code, _, err = cli("delete", "nope", "--storage", url, "--yes")
    assert code == 1 and "tiny2" in err
    assert cli("delete", "tiny2", "--storage", url, "--yes")[0] == 0
    assert names(url) == []


def test_check_validates_a_study_file_and_its_data_without_running_it(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_tiny_study(tmp_path)
    code, out, err = cli("check", str(path))
    assert code == 0 and "ok: study 'tiny', 2 rounds of 6 trials" in out, err
    np.savez(tmp_path / "odd.npz", pictures=np.zeros((10, 4, 4)))
    bad = tmp_path / "bad.toml"
    bad.write_text(path.read_text().replace('"mnist-5k"', '"odd.npz"'))
    code, _, err = cli("check", str(bad))
    assert code == 2 and "data.dataset" in err and err.count("\n") == 1, err
    assert list(tmp_path.glob("*.db")) == []


def test_check_says_each_rounds_size_of_a_schedule_and_one_round_in_the_singular() -> None:
    root = Path(__file__).resolve().parents[3] / "studies"
    code, out, err = cli("check", str(root / "efficient.toml"), str(root / "init.toml"))
    assert code == 0, err
    assert "5 rounds of 12, 10, 10, 12, 12 trials" in out
    assert "'init', 1 round of 6 trials" in out
