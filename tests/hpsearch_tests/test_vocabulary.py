"""One vocabulary across outputs: rounds numbered from 0 in progress lines as in tables, JSON
and `--round`; trial states lowercase everywhere; a round stopped by --timeout keeps the
numbers of its finished trials; a trial's validation accuracy is `val_accuracy` in every
JSON document. `hpsearch run` as a subprocess and in process, real SQLite files."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import hpsearch, write_tiny_study
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.store.reads import STATE_NAMES

STATES = {*STATE_NAMES.values(), "diverged"}


def test_progress_lines_number_rounds_as_tables_and_json_do(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    done = hpsearch("run", str(write_tiny_study(tmp_path)), "-s", url, "-j", "1")
    assert done.returncode == 0, done.stderr
    said = [int(n) for n in re.findall(r"^round (\d+) \(\d of 2\):", done.stderr, re.M)]
    table = [int(n) for n in re.findall(r"^│\s*(\d+)\s*│", done.stdout, re.M)]
    assert said == table == [0, 1], done.stdout
    shown = json.loads(CliRunner().invoke(app, ["show", "-s", url, "-f", "json"]).stdout)
    assert [r["number"] for r in shown["rounds"]] == said
    listed = json.loads(
        CliRunner().invoke(app, ["trials", "-s", url, "--round", "0", "-f", "json"]).stdout
    )
    assert {r["round"] for r in listed} == {0}


def test_states_are_lowercase_and_val_accuracy_is_named_alike_everywhere(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    done = hpsearch("run", str(write_tiny_study(tmp_path)), "-s", url, "-j", "1", "--json")
    run_best = json.loads(done.stdout)["best"]
    shown = json.loads(CliRunner().invoke(app, ["show", "-s", url, "-f", "json"]).stdout)["top"]
    listed = json.loads(CliRunner().invoke(app, ["trials", "-s", url, "-f", "json"]).stdout)
    for rows in (run_best, shown, listed):
        assert {r["state"] for r in rows} <= STATES, rows
        assert all("val_accuracy" in r and "value" not in r for r in rows)
    assert run_best[0]["val_accuracy"] == max(r["val_accuracy"] for r in listed)


def test_a_round_stopped_by_timeout_keeps_its_finished_trial_numbers(tmp_path: Path) -> None:
    # 5,000 trials of milliseconds: some finish within the 10 s whatever the machine's load,
    # and the round does not (a few hundred trials a second at most)
    path = write_tiny_study(tmp_path, epochs=1, trials=5000)
    path.write_text(path.read_text().replace("rounds = 2", "rounds = 1"))
    url = f"sqlite:///{tmp_path / 'cut.db'}"
    cut = hpsearch("run", str(path), "-s", url, "-j", "1", "--json", "--timeout", "10s")
    assert cut.returncode == 124, cut.stderr
    rounds = json.loads(cut.stdout)["rounds"]
    listed = json.loads(CliRunner().invoke(app, ["trials", "-s", url, "-f", "json"]).stdout)
    finished = sorted(r["trial"] for r in listed if r["state"] == "complete")
    assert finished, "a trial finished before the deadline"
    assert not rounds[-1]["done"] and rounds[-1]["trial_numbers"] == finished
