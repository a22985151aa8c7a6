"""Output that fits people and tools: tables that fit 80 columns and stay readable when
narrower, `trials` with one column per name, `--top` then `--sort`, empty results that say
why, failed trials with their reason, `best`'s [train] table as TOML, and retried attempts
apart from failed trials. Real studies run by `hpsearch run`, the CLI in process and as a
subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from conftest import hpsearch, write_tiny_study
from typer.testing import CliRunner, Result

from hpsearch.cli import app
from hpsearch.store.records import ranked

EPOCHS = """
name = "ep"
seed = 3
[data]
dataset = "mnist-5k"
n_samples = 300
[train]
hidden_sizes = [20]
[search]
rounds = 2
trials_per_round = 4
min_top = 2
[search.params.lr]
low = 1e-3
high = 0.3
log = true
[search.params.epochs]
type = "int"
low = 1
high = 4
"""


@dataclass
class Stored:
    url: str
    folder: Path


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Stored:
    """Three finished studies in one file: `tiny`; `ep`, which searches `epochs`; and `slow`,
    whose first trial was interrupted (SIGINT) and run again by the next run."""
    folder = tmp_path_factory.mktemp("output")
    url = f"sqlite:///{folder / 'out.db'}"
    (folder / "ep.toml").write_text(EPOCHS)
    slow = write_tiny_study(folder, epochs=400, trials=2, name="slow")  # ~2 s a trial
    text = slow.read_text().replace("[20]", "[300, 300]")
    slow.write_text(text.replace("rounds = 2", "rounds = 1"))
    tiny = write_tiny_study(folder)
    done = hpsearch("run", str(tiny), str(folder / "ep.toml"), "-s", url, "-j", "1", "-q")
    assert done.returncode == 0, done.stderr
    interrupt_once_running(slow, url, "slow")
    again = hpsearch("run", str(slow), "-s", url, "-j", "1", "-q")
    assert again.returncode == 0, again.stderr
    return Stored(url, folder)


def interrupt_once_running(path: Path, url: str, name: str) -> None:
    """`hpsearch run` stopped by SIGINT once its first trial runs: an interrupted attempt,
    whatever the machine's load (a --timeout may fire before any trial starts)."""
    run = subprocess.Popen(
        [sys.executable, "-m", "hpsearch", "run", str(path), "-s", url, "-j", "1", "-q"],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not running(url, name):
        assert run.poll() is None and time.monotonic() < deadline, "no trial started"
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err


def running(url: str, name: str) -> bool:
    try:
        study = optuna.load_study(study_name=name, storage=url)
    except KeyError:
        return False
    return bool(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)))


def cli(*args: str, columns: int | None = None) -> Result:
    env = {"COLUMNS": str(columns)} if columns else {}
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def table_commands(url: str) -> list[list[str]]:
    return [
        ["studies", "-s", url],
        ["show", "tiny", "-s", url],
        ["trials", "tiny", "-s", url],
        ["trials", "ep", "-s", url],
        ["trials", "slow", "-s", url],
        ["best", "tiny", "-s", url],
    ]


def assert_fits(text: str, width: int) -> None:
    lines = text.splitlines()
    assert max(map(len, lines)) <= width, "\n".join(line for line in lines if len(line) > width)
    assert "…" not in text, text  # no value cut short


@pytest.mark.parametrize("width", [80, 60])
def test_every_table_fits_the_terminal_and_no_value_is_cut(stored: Stored, width: int) -> None:
    for args in table_commands(stored.url):
        assert_fits(cli(*args, columns=width).stdout, width)
    text = hpsearch("studies", "-s", stored.url, env={**os.environ, "COLUMNS": "80"}).stdout
    assert_fits(text, 80)


def test_studies_at_80_columns_shows_each_study_in_few_combined_columns(stored: Stored) -> None:
    text = cli("studies", "-s", stored.url, columns=80).stdout
    header = " ".join(line for line in text.splitlines()[:5] if "┃" in line)
    for word in ("study", "state", "rounds", "trials", "best", "test", "changed"):
        assert word in header
    assert "started" not in header and "diverged" not in header  # details are in `show`
    assert "12 complete" in " ".join(text.split()) and "2/2" in text
    shown = cli("show", "tiny", "-s", stored.url).stdout
    assert "Trials: 12 complete; started " in shown and "last changed" in shown


def test_trials_has_one_column_per_name(stored: Stored) -> None:
    text = cli("trials", "ep", "-s", stored.url).stdout
    header = next(line for line in text.splitlines() if "trial" in line and "┃" in line)
    names = [cell.strip() for cell in header.strip("┃").split("┃")]
    assert len(names) == len(set(names)), names
    assert "epochs" in names and "epochs run" in names


def test_top_n_is_the_n_best_then_sort_orders_them(stored: Stored) -> None:
    study = optuna.load_study(study_name="tiny", storage=stored.url)
    best = {t.number for t in ranked(study.trials)[:3]}
    for extra in ([], ["--round", "1"]):
        args = ["trials", "tiny", "-s", stored.url, "--top", "3", "--sort", "lr", *extra]
        rows = json.loads(cli(*args, "-f", "json").stdout)
        if not extra:
            assert {r["trial"] for r in rows} == best
        assert [r["params"]["lr"] for r in rows] == sorted(r["params"]["lr"] for r in rows)
        assert len(rows) == 3
    shown = cli("trials", "tiny", "-s", stored.url, "--top", "3", "--sort", "lr").stdout
    assert all(str(n) in shown for n in best)


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--round", "99"], "study 'tiny' has no round 99; it has rounds 0 to 1"),
        (["--top", "0"], "--top 0 lists no trials"),
        (["--state", "failed"], "no trial of study 'tiny' is failed"),
    ],
)
def test_an_empty_listing_says_why(stored: Stored, args: list[str], why: str) -> None:
    result = cli("trials", "tiny", "-s", stored.url, *args)
    assert result.stdout == "" and why in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert json.loads(cli("trials", "tiny", "-s", stored.url, *args, "-f", "json").stdout) == []
    process = hpsearch("trials", "tiny", "-s", stored.url, *args)
    assert process.returncode == 0 and why in process.stderr


def test_failed_trials_show_their_reason(stored: Stored) -> None:
    text = cli("trials", "slow", "-s", stored.url, "--state", "failed").stdout
    assert "why" in text and "interrupted; run again as trial 2" in text
    rows = json.loads(cli("trials", "slow", "-s", stored.url, "-f", "json").stdout)
    failed = [r for r in rows if r["state"] == "failed"]
    assert [r["reason"] for r in failed] == ["interrupted; run again as trial 2"]
    assert all(r["reason"] is None for r in rows if r["state"] != "failed")
    assert "why" not in cli("trials", "tiny", "-s", stored.url).stdout, "no failures, no column"


@pytest.mark.parametrize("width", [200, 50])
def test_bests_train_table_is_valid_toml_on_any_width(stored: Stored, width: int) -> None:
    text = cli("best", "tiny", "-s", stored.url, columns=width).stdout
    table = text[text.index("[train]") :]
    settings = json.loads(cli("best", "tiny", "-s", stored.url, "-f", "json").stdout)
    assert tomllib.loads(table) == {"train": settings["train"]}


def test_retried_attempts_are_not_failed_trials(stored: Stored) -> None:
    rows = {
        r["name"]: r for r in json.loads(cli("studies", "-s", stored.url, "-f", "json").stdout)
    }
    assert rows["slow"]["trials"]["failed"] == 0 and rows["slow"]["retried"] == 1
    assert rows["slow"]["trials"]["complete"] == 2
    text = " ".join(cli("studies", "-s", stored.url).stdout.split())
    assert "2 complete, 1 retried" in text and "failed" not in text
    shown = json.loads(cli("show", "slow", "-s", stored.url, "-f", "json").stdout)
    assert shown["retried"] == 1 and shown["trials"]["failed"] == 0
    assert "Trials: 2 complete, 1 retried" in cli("show", "slow", "-s", stored.url).stdout
