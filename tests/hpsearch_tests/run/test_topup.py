"""Raising `search.rounds` tops a study up; changes that alter results are refused by path."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
from conftest import fingerprint, hpsearch, write_tiny_study

from hpsearch.store.records import TEST_KEY, read_rounds


def run(path: Path, url: str) -> tuple[int, str]:
    done = hpsearch("run", str(path), "--storage", url, "--jobs", "1", "--json")
    return done.returncode, done.stderr if done.returncode else done.stdout


def test_raising_rounds_continues_the_study_to_what_a_fresh_run_gives(tmp_path: Path) -> None:
    path = write_tiny_study(tmp_path)  # 2 rounds of 6
    url = f"sqlite:///{tmp_path / 'grown.db'}"
    assert run(path, url)[0] == 0
    grown = path.read_text().replace("rounds = 2", "rounds = 3\nretries = 5")
    path.write_text(grown.replace("[data]", '[data]\ndata_dir = "/elsewhere"'))
    code, out = run(path, url)
    assert code == 0, out
    assert json.loads(out)["complete"] is True
    study = optuna.load_study(study_name="tiny", storage=url)
    assert [r.done for r in read_rounds(study.user_attrs)] == [True, True, True]

    fresh_dir = tmp_path / "fresh"
    fresh_dir.mkdir()
    fresh = fresh_dir / "tiny.toml"
    fresh.write_text(path.read_text())
    fresh_url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert run(fresh, fresh_url)[0] == 0
    assert fingerprint(url) == fingerprint(fresh_url)
    fresh_test = optuna.load_study(study_name="tiny", storage=fresh_url).user_attrs[TEST_KEY]
    assert study.user_attrs[TEST_KEY] == fresh_test  # the test split scores the final best
    assert run(path, url)[0] == 0  # and again: nothing left to do


def test_a_change_that_alters_results_is_refused_naming_the_field_path(tmp_path: Path) -> None:
    path = write_tiny_study(tmp_path)
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert run(path, url)[0] == 0
    original = path.read_text()
    for old, new, words in [
        ("high = 0.3", "high = 0.5", "search.params.lr.high: stored 0.3, file 0.5"),
        ("trials_per_round = 6", "trials_per_round = 8", "search.trials_per_round: stored 6"),
        ("rounds = 2", "rounds = 1", "search.rounds: stored 2, file 1"),
        ("min_top = 2", "min_top = 3", "search.min_top: stored 2, file 3"),
    ]:
        path.write_text(original.replace(old, new, 1))
        code, err = run(path, url)
        assert code == 1 and words in err, err
        assert "[{" not in err and err.count("\n") == 1, err
