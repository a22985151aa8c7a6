"""Intervals beside every accuracy of `show` and `report`, and the final choice they show."""

from __future__ import annotations

import json
import re
from pathlib import Path

import optuna
import pytest
from conftest import write_tiny_study
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.run.coordinator import run_study
from hpsearch.store.records import FINAL_KEY, TEST_KEY
from hpsearch.study.file import load_study_file
from hpsearch.study.final import wilson

INTERVAL = r"\[\d\.\d\d, \d\.\d\d\]"


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One storage with a study with [search.final] ('chosen') and one without ('plain')."""
    folder = tmp_path_factory.mktemp("final_views")
    url = f"sqlite:///{folder / 'views.db'}"
    for name, final in (("chosen", "top = 3\nseeds = 2"), ("plain", None)):
        path = write_tiny_study(folder, name=name, final=final, seed=0)
        run_study(load_study_file(path), url, jobs=1)
    return url


def ok(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def test_show_prints_an_interval_beside_every_accuracy(storage: str) -> None:
    text = ok("show", "plain", "-s", storage, "--top", "3")
    books = [line for line in text.splitlines() if line.startswith("Best-")]
    assert len(books) == 3
    assert all(re.search(rf"\(val acc \d\.\d\d {INTERVAL}\)", line) for line in books)
    assert re.search(rf"Best configuration \(trial \d+\): val acc \d\.\d{{3}} {INTERVAL}, "
                     rf"test acc \d\.\d{{3}} {INTERVAL}$", text, re.M)  # fmt: skip
    rounds = [line for line in text.splitlines() if re.match(r"│\s+[01] │", line)]
    assert len(rounds) == 2 and all(len(re.findall(INTERVAL, r)) == 2 for r in rounds)
    assert "Final choice" not in text


def test_show_prints_the_chosen_configuration_with_its_mean_and_interval(storage: str) -> None:
    study = optuna.load_study(study_name="chosen", storage=storage)
    final, test = study.user_attrs[FINAL_KEY], study.user_attrs[TEST_KEY]
    chosen = next(c for c in final["configurations"] if c["trial"] == final["chosen"])
    text = ok("show", "chosen", "-s", storage)
    assert "Final choice (validation accuracy; mean over new seeds, 95 % intervals)" in text
    mean = f"{chosen['mean']:.3f} [{chosen['low']:.2f}, {chosen['high']:.2f}]"
    assert (
        f"Chosen configuration (trial {test['trial']}, the best mean of 2 new seeds among the "
        f"top 3): val acc mean {mean} (its own seed {test['val_accuracy']:.3f} "
    ) in text
    rows = [line for line in text.splitlines() if line.startswith("│ chosen")]
    assert len(rows) == 1 and mean in rows[0]


def test_show_json_adds_intervals_beside_the_old_fields(storage: str) -> None:
    shown = json.loads(ok("show", "chosen", "-s", storage, "-f", "json"))
    study = optuna.load_study(study_name="chosen", storage=storage)
    assert shown["intervals"] == {
        "level": 0.95, "z": 1.96, "method": "wilson", "n_val": 60, "n_test": 1000,
    }  # fmt: skip
    top = shown["top"][0]
    assert top["val_interval"] == list(wilson(top["val_accuracy"], 60))
    test = shown["test"]
    assert test["test_interval"] == list(wilson(test["test_accuracy"], 1000))
    assert {k: test[k] for k in study.user_attrs[TEST_KEY]} == study.user_attrs[TEST_KEY]
    assert shown["final"] == study.user_attrs[FINAL_KEY]
    assert all(len(r["best_interval"]) == 2 for r in shown["rounds"])
    assert json.loads(ok("show", "plain", "-s", storage, "-f", "json"))["final"] is None


def test_report_shows_the_choice_and_the_intervals(storage: str, tmp_path: Path) -> None:
    ok("report", "chosen", "-s", storage, "--output", str(tmp_path))
    markdown = (tmp_path / "summary.md").read_text()
    assert re.search(rf"best validation accuracy \d\.\d{{3}} {INTERVAL}; test accuracy "
                     rf"\d\.\d{{3}} {INTERVAL}\.", markdown)  # fmt: skip
    assert "Chosen configuration (trial" in markdown and "## Final choice" in markdown
    assert re.search(rf"Best-1 \(val acc \d\.\d\d {INTERVAL}\)", markdown)
    page = (tmp_path / "index.html").read_text()
    assert 'id="final"' in page and "Chosen configuration (trial" in page
    assert re.search(rf"test accuracy \d\.\d{{3}} {INTERVAL}", page)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["final"]["chosen"] == summary["test"]["trial"]
