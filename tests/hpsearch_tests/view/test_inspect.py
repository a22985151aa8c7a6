"""The read side of the CLI on real studies written by `hpsearch run`: studies, show, trials,
best, export, plot, report; Optuna's own CLI on the same file; reading while a run writes;
reading never writes; and every kind of bad input as one line and an exit code."""

from __future__ import annotations

import csv
import io
import json
import signal
import sqlite3
import subprocess
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.image
import optuna
import pytest
from conftest import BIN, hpsearch
from optuna.trial import FrozenTrial, TrialState
from typer.testing import CliRunner, Result

from hpsearch.cli import app
from hpsearch.store.records import SPEC_KEY, TEST_KEY, ranked, read_rounds
from hpsearch.study.file import parse_study
from hpsearch.study.toml import spec_toml
from hpsearch.view.plots import KINDS, figure_size
from hpsearch.view.report import report_into
from hpsearch.view.text import safe_name
from trainer import TrainConfig

TINY = """
name = "tiny"
seed = 1
[data]
dataset = "digits"
[train]
hidden_sizes = [20]
epochs = 3
[search]
rounds = 2
trials_per_round = 5
min_top = 2
[search.params.lr]
low = 1e-3
high = 30.0
log = true
[search.params.weight_decay]
low = 1e-6
high = 1.0
log = true
"""
# One searched parameter, and a name that must not become a path.
ODD_NAME = '../odd "name"/x'
ODD = f"""
name = {json.dumps(ODD_NAME)}
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
"""
LIVE = (
    TINY.replace('"tiny"', '"live"').replace("epochs = 3", "epochs = 100").replace("[20]", "[50]")
)


@dataclass
class Studies:
    url: str
    path: Path
    folder: Path


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> Studies:
    """Two finished studies in one SQLite file, run once by a real `hpsearch run`."""
    folder = tmp_path_factory.mktemp("inspect")
    (folder / "tiny.toml").write_text(TINY)
    (folder / "odd.toml").write_text(ODD)
    path = folder / "studies.db"
    url = f"sqlite:///{path}"
    done = hpsearch(
        "run", "tiny.toml", "odd.toml", "--storage", url, "--jobs", "2", "-q", cwd=folder
    )
    assert done.returncode == 0, done.stderr
    return Studies(url, path, folder)


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def ok(*args: str) -> str:
    result = cli(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def stored(url: str, name: str = "tiny") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=url)


def state_of(trial: FrozenTrial) -> str:
    if trial.state == TrialState.COMPLETE and trial.user_attrs.get("diverged"):
        return "diverged"
    return {"FAIL": "failed"}.get(trial.state.name, trial.state.name.lower())


def score(trial: FrozenTrial) -> float | None:
    return None if state_of(trial) != "complete" else trial.value


# --- studies, show, trials, best, export ----------------------------------------------------


def test_studies_lists_each_study_with_counts_best_and_test_accuracy(studies: Studies) -> None:
    rows = {r["name"]: r for r in json.loads(ok("studies", "-s", studies.url, "-f", "json"))}
    assert set(rows) == {"tiny", ODD_NAME}
    for name, row in rows.items():
        study = stored(studies.url, name)
        counts = {s: 0 for s in ("complete", "pruned", "failed", "diverged", "running", "waiting")}
        for trial in study.trials:
            counts[state_of(trial)] += 1
        assert row["trials"] == counts
        assert row["state"] == "complete"
        assert row["rounds_done"] == row["rounds_planned"] == len(read_rounds(study.user_attrs))
        assert row["best"] == max(s for t in study.trials if (s := score(t)) is not None)
        assert row["test_accuracy"] == study.user_attrs[TEST_KEY]["test_accuracy"]
        assert row["started"] <= row["last_changed"]
    table = ok("studies", "-s", studies.url)
    assert "tiny" in table and ODD_NAME in table and "complete" in table
    parsed = list(csv.DictReader(io.StringIO(ok("studies", "-s", studies.url, "-f", "csv"))))
    assert {r["name"] for r in parsed} == set(rows)
    tiny = next(r for r in parsed if r["name"] == "tiny")
    assert int(tiny["complete"]) == rows["tiny"]["trials"]["complete"]
    assert float(tiny["best"]) == rows["tiny"]["best"]


def test_show_prints_the_study_file_rounds_book_lines_and_test_score(studies: Studies) -> None:
    study = stored(studies.url)
    text = ok("show", "tiny", "-s", studies.url)
    assert 'name = "tiny"' in text and "[search.params.lr]" in text and "Rounds" in text
    best = [t for t in ranked(study.trials) if score(t) is not None]
    assert f"Best-1 (val acc {best[0].value:.2f} [" in text  # with its interval
    assert f"test acc {study.user_attrs[TEST_KEY]['test_accuracy']:.3f}" in text
    shown = json.loads(ok("show", "tiny", "-s", studies.url, "-f", "json", "--top", "3"))
    assert shown["spec"] == study.user_attrs[SPEC_KEY]
    assert [r["number"] for r in shown["rounds"]] == [0, 1]
    assert [t["trial"] for t in shown["top"]] == [t.number for t in best[:3]]
    test = study.user_attrs[TEST_KEY]
    assert {key: shown["test"][key] for key in test} == test  # intervals added beside
    rounds = list(csv.DictReader(io.StringIO(ok("show", "tiny", "-s", studies.url, "-f", "csv"))))
    records = read_rounds(study.user_attrs)
    assert [float(r["lr_low"]) for r in rounds] == [r.ranges["lr"].low for r in records]
    assert [float(r["best"]) for r in rounds] == [r.best for r in records]


def test_the_stored_study_file_is_shown_as_toml_that_parses_back(studies: Studies) -> None:
    for name in ("tiny", ODD_NAME):
        spec = stored(studies.url, name).user_attrs[SPEC_KEY]
        assert parse_study(tomllib.loads(spec_toml(spec)), "shown").to_dict() == spec


def test_trials_lists_every_trial_with_its_final_accuracies(studies: Studies) -> None:
    study = stored(studies.url)
    rows = json.loads(ok("trials", "tiny", "-s", studies.url, "-f", "json"))
    assert [r["trial"] for r in rows] == [t.number for t in study.trials]
    for row, trial in zip(rows, study.trials, strict=True):
        assert row["params"] == trial.params and row["state"] == state_of(trial)
        assert row["round"] == trial.user_attrs["round"]
        assert row["val_accuracy"] == trial.value
        train = trial.user_attrs.get("train_accuracy")
        assert row["train_accuracy"] == (train[-1] if train else None)
        assert row["epochs_run"] == trial.user_attrs.get("epochs_run")
    top = json.loads(ok("trials", "tiny", "-s", studies.url, "--top", "3", "-f", "json"))
    best = [t for t in ranked(study.trials) if score(t) is not None]
    assert [r["trial"] for r in top] == [t.number for t in best[:3]]
    one = json.loads(ok("trials", "tiny", "-s", studies.url, "--round", "1", "-f", "json"))
    assert {r["round"] for r in one} == {1} and len(one) == 5
    by_lr = json.loads(ok("trials", "tiny", "-s", studies.url, "--sort", "lr", "-f", "json"))
    assert [r["params"]["lr"] for r in by_lr] == sorted(t.params["lr"] for t in study.trials)
    diverged = json.loads(
        ok("trials", "-s", studies.url, "tiny", "--state", "diverged", "-f", "json")
    )
    assert [r["trial"] for r in diverged] == [
        t.number for t in study.trials if state_of(t) == "diverged"
    ]
    parsed = list(
        csv.DictReader(io.StringIO(ok("trials", "tiny", "-s", studies.url, "-f", "csv")))
    )
    assert [float(r["lr"]) for r in parsed] == [t.params["lr"] for t in study.trials]
    assert "weight decay" in ok("trials", "tiny", "-s", studies.url, "--top", "2")


def test_best_json_feeds_back_as_a_study_files_train_table(studies: Studies) -> None:
    study = stored(studies.url)
    best = json.loads(ok("best", "tiny", "-s", studies.url, "-f", "json"))
    top = next(t for t in ranked(study.trials) if score(t) is not None)
    assert best["trial"] == top.number and best["val_accuracy"] == top.value
    assert best["test_accuracy"] == study.user_attrs[TEST_KEY]["test_accuracy"]
    assert best["name"] == "tiny" and best["seed"] == 1
    assert TrainConfig(**best["train"]).lr == top.params["lr"]
    train = {k: v for k, v in best["train"].items() if k != "weight_decay"}
    document = {
        "name": "next",
        "data": best["data"],
        "train": train,
        "search": {
            "trials_per_round": 2,
            "params": {"weight_decay": {"low": 1e-8, "high": 1e-2, "log": True}},
        },
    }
    assert parse_study(document, "fed back").train["lr"] == top.params["lr"]
    assert "val acc" in ok("best", "tiny", "-s", studies.url)
    row = next(csv.DictReader(io.StringIO(ok("best", "tiny", "-s", studies.url, "-f", "csv"))))
    assert int(row["trial"]) == top.number


def test_export_writes_every_trial_with_its_curves(studies: Studies, tmp_path: Path) -> None:
    study = stored(studies.url)
    exported = json.loads(ok("export", "tiny", "-s", studies.url, "--format", "json"))
    assert exported["spec"] == study.user_attrs[SPEC_KEY]
    for record, trial in zip(exported["trials"], study.trials, strict=True):
        assert record["number"] == trial.number and record["params"] == trial.params
        assert record["round"] == trial.user_attrs["round"]
        curve = [trial.intermediate_values[s] for s in sorted(trial.intermediate_values)]
        assert record["curves"]["val_accuracy"] == curve
        assert record["curves"]["train_loss"] == trial.user_attrs.get("train_loss", [])
    out = tmp_path / "trials.csv"
    assert ok("export", "tiny", "-s", studies.url, "-o", str(out)) == ""  # csv by suffix
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == sum(max(1, len(t.intermediate_values)) for t in study.trials)
    first = [r for r in rows if r["number"] == "0"]
    assert [float(r["val_accuracy"]) for r in first] == list(
        study.trials[0].intermediate_values.values()
    )
    assert float(first[0]["params_lr"]) == study.trials[0].params["lr"]


def test_a_storage_with_one_study_needs_no_study_name(tmp_path: Path, studies: Studies) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    done = hpsearch("run", str(studies.folder / "odd.toml"), "-s", url, "--jobs", "1", "-q")
    assert done.returncode == 0, done.stderr
    assert json.loads(ok("best", "-s", url, "-f", "json"))["name"] == ODD_NAME
    assert ODD_NAME in ok("show", "-s", url)


# --- plots and the report -------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_plot_kind_writes_a_non_blank_image(
    kind: str, studies: Studies, tmp_path: Path
) -> None:
    path = tmp_path / f"{kind}.png"
    assert ok("plot", "tiny", "-s", studies.url, "--kind", kind, "-o", str(path)).strip() == str(
        path
    )
    image = matplotlib.image.imread(path)
    width, height = figure_size(kind)
    assert image.shape[:2] == (height, width)
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_plots_write_svg_and_pdf_by_suffix_and_default_to_a_safe_name(
    studies: Studies, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok("plot", "tiny", "-s", studies.url, "-k", "scatter", "-o", str(tmp_path / "s.svg"))
    assert b"<svg" in (tmp_path / "s.svg").read_bytes()[:1000]
    ok("plot", "tiny", "-s", studies.url, "-k", "history", "-o", str(tmp_path / "h.pdf"))
    assert (tmp_path / "h.pdf").read_bytes().startswith(b"%PDF")
    monkeypatch.chdir(tmp_path)
    assert ok("plot", "tiny", "-s", studies.url).strip() == "tiny-curves.png"
    written = ok("plot", ODD_NAME, "-s", studies.url, "-k", "history").strip()
    assert written == f"{safe_name(ODD_NAME)}-history.png" and "/" not in written
    assert (tmp_path / written).is_file()


def test_a_plot_that_the_study_cannot_have_is_a_clear_error(
    studies: Studies, tmp_path: Path
) -> None:
    for kind, words in (
        ("importances", "at least 2 searched parameters"),
        ("scatter", "two numeric parameters"),
        ("contour", "at least 2"),
    ):
        result = cli(
            "plot", ODD_NAME, "-s", studies.url, "-k", kind, "-o", str(tmp_path / "x.png")
        )
        assert result.exit_code == 1 and words in result.stderr
        assert result.stderr.count("\n") == 1


def test_report_writes_every_plot_and_the_summaries_inside_its_folder(
    studies: Studies, tmp_path: Path
) -> None:
    folder = tmp_path / "published" / "tiny"
    ok("report", "tiny", "-s", studies.url, "-o", str(folder))
    summary = json.loads((folder / "summary.json").read_text())
    assert set(summary["plots"]) == set(KINDS) and not summary["skipped_plots"]
    assert summary["best"]["trial"] == summary["top"][0]["trial"]
    markdown = (folder / "summary.md").read_text()
    for kind, file in summary["plots"].items():
        assert (folder / file).is_file() and f"![{kind}]({file})" in markdown
    assert "## Rounds" in markdown and "Best-1" in markdown and "| round |" in markdown
    assert {p.name for p in folder.iterdir()} == {
        *summary["plots"].values(),
        "summary.md",
        "summary.json",
        "index.html",
    }


def test_a_report_of_a_study_named_like_a_path_stays_in_its_folder(
    studies: Studies, tmp_path: Path
) -> None:
    folder = tmp_path / "a" / "b"
    ok("report", ODD_NAME, "-s", studies.url, "-o", str(folder))
    everything = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()}
    assert all(p.parts[:2] == ("a", "b") and len(p.parts) == 3 for p in everything)
    summary = json.loads((folder / "summary.json").read_text())
    assert "importances" in summary["skipped_plots"] and "curves" in summary["plots"]
    assert "importances: not drawn" in (folder / "summary.md").read_text()
    files = report_into(studies.url, ODD_NAME, tmp_path / "all")  # as `run --report` would
    assert {p.parent for p in files[:-1]} == {tmp_path / "all" / safe_name(ODD_NAME)}
    assert files[-1] == tmp_path / "all" / "index.html"  # the folder's list of studies


# --- the ecosystem: Optuna's CLI, reading without writing, reading a live run ---------------


def test_optunas_cli_reads_the_same_studies_trials_values_and_params(studies: Studies) -> None:
    listed = subprocess.run(
        [str(BIN / "optuna"), "studies", "--storage", studies.url, "-f", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    ours = json.loads(hpsearch("studies", "-s", studies.url, "-f", "json").stdout)
    assert {s["name"]: s["n_trials"] for s in json.loads(listed.stdout)} == {
        s["name"]: sum(s["trials"].values()) for s in ours
    }
    for name in ("tiny", ODD_NAME):
        theirs = json.loads(
            subprocess.run(
                [
                    str(BIN / "optuna"),
                    "trials",
                    "--study-name",
                    name,
                    "--storage",
                    studies.url,
                    "-f",
                    "json",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        exported = json.loads(ok("export", name, "-s", studies.url))["trials"]
        assert [(t["number"], t["value"], t["params"]) for t in theirs] == [
            (t["number"], t["value"], t["params"]) for t in exported
        ]
        assert [t["state"] for t in theirs] == [
            "COMPLETE" if t["state"] in ("complete", "diverged") else t["state"].upper()
            for t in exported
        ]


def dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as connection:
        return list(connection.iterdump())


def test_reading_never_changes_the_database(studies: Studies, tmp_path: Path) -> None:
    before = dump(studies.path)
    s = ("-s", studies.url)
    for args in (
        ("studies",),
        ("show", "tiny"),
        ("trials", "tiny", "--top", "3"),
        ("best", "tiny", "-f", "json"),
        ("export", "tiny", "-f", "csv"),
        ("plot", "tiny", "-k", "importances", "-o", str(tmp_path / "i.png")),
        ("report", "tiny", "-o", str(tmp_path / "r")),
    ):
        ok(*args, *s)
    assert dump(studies.path) == before


def test_a_study_being_run_reads_as_running_then_interrupted(tmp_path: Path) -> None:
    (tmp_path / "live.toml").write_text(LIVE)
    url = f"sqlite:///{tmp_path / 'live.db'}"
    run = subprocess.Popen(
        [str(BIN / "hpsearch"), "run", "live.toml", "-s", url, "-j", "1", "-q"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and run.poll() is None:
            result = cli("studies", "-s", url, "-f", "json")
            if result.exit_code == 0 and (rows := json.loads(result.stdout)):
                seen = rows[0]
                if seen["state"] == "running" and seen["trials"]["complete"] >= 1:
                    trials = json.loads(ok("trials", "live", "-s", url, "-f", "json"))
                    assert len(trials) >= 2  # the live state: finished and queued trials
                    break
            time.sleep(0.05)
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=60)
    assert seen.get("state") == "running", seen
    assert seen["trials"]["complete"] < 10
    after = json.loads(ok("studies", "-s", url, "-f", "json"))[0]
    assert after["state"] == "interrupted", (after, run.stderr.read() if run.stderr else "")
    # Unclaimed trials wait with the parameters they were enqueued with. Whether the stop left
    # any depends on its timing: enqueue one more as the coordinator does.
    study = stored(url, "live")
    study.enqueue_trial({"lr": 0.01, "weight_decay": 1e-5}, user_attrs={"round": 0})
    waiting = json.loads(ok("trials", "live", "-s", url, "--state", "waiting", "-f", "json"))
    enqueued = {
        t.number: t.system_attrs["fixed_params"]
        for t in study.get_trials(states=(TrialState.WAITING,))
    }
    assert waiting and {r["trial"]: r["params"] for r in waiting} == enqueued
    assert all(None not in r["params"].values() for r in waiting)


@pytest.mark.postgres
def test_the_read_commands_read_postgresql_too(
    postgres_url: str, studies: Studies, tmp_path: Path
) -> None:
    done = hpsearch("run", str(studies.folder / "odd.toml"), "-s", postgres_url, "-j", "1",
                    "-q")  # fmt: skip
    assert done.returncode == 0, done.stderr
    [row] = json.loads(ok("studies", "-s", postgres_url, "-f", "json"))
    assert (row["name"], row["state"], row["trials"]["complete"]) == (ODD_NAME, "complete", 2)
    exported = json.loads(ok("export", "-s", postgres_url))["trials"]
    assert [len(t["curves"]["val_accuracy"]) for t in exported] == [2, 2]
    assert "Best-1" in ok("show", "-s", postgres_url)
    ok("plot", "-s", postgres_url, "-k", "history", "-o", str(tmp_path / "h.png"))


# --- bad input: one line on stderr, exit 1 or 2 ---------------------------------------------


def one_line_error(result: Result, code: int, *words: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stderr.startswith("hpsearch: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr and result.stdout == ""
    for word in words:
        assert word in result.stderr, result.stderr


def test_storages_that_hold_no_studies_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "text.db").write_text("not a database\n")
    (tmp_path / "empty.db").write_bytes(b"")
    with sqlite3.connect(tmp_path / "other.db") as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    with sqlite3.connect(tmp_path / "bare.db") as connection:
        connection.execute("CREATE TABLE t (x)")
        connection.execute("DROP TABLE t")
    cases = [
        ("text.db", "not a SQLite database"),
        ("empty.db", "empty file"),
        ("other.db", "another application"),
        ("bare.db", "no Optuna tables"),
        ("missing.db", "no such database file"),
    ]
    for command in ("studies", "show", "trials", "best", "export", "plot", "report"):
        extra = ["-o", str(tmp_path / "out")] if command == "report" else []
        for file, words in cases:
            one_line_error(cli(command, "-s", str(tmp_path / file), *extra), 1, words)
    one_line_error(cli("studies", "-s", "redis://localhost/0"), 1, "unknown storage kind")
    assert not (tmp_path / "missing.db").exists()


def test_unknown_or_missing_study_names_list_the_studies(studies: Studies) -> None:
    for command in ("show", "trials", "best", "export", "plot", "report"):
        extra = ("-o", str(studies.folder / "unused")) if command == "report" else ()
        one_line_error(
            cli(command, "nope", "-s", studies.url, *extra),
            1,
            "no study named 'nope'",
            "tiny",
            ODD_NAME,
        )
        one_line_error(cli(command, "-s", studies.url, *extra), 2, "name one", "tiny")
    assert not (studies.folder / "unused").exists()


def test_bad_options_are_usage_errors(studies: Studies, tmp_path: Path) -> None:
    s = ("-s", studies.url)
    one_line_error(
        cli("plot", "tiny", *s, "--kind", "pie"), 2, "unknown plot kind 'pie'", ", ".join(KINDS)
    )
    one_line_error(
        cli("plot", "tiny", *s, "-o", str(tmp_path / "no" / "x.png")), 2, "does not exist"
    )
    one_line_error(cli("plot", "tiny", *s, "-o", str(tmp_path / "x.gif")), 2, ".png")
    one_line_error(
        cli("export", "tiny", *s, "-o", str(tmp_path / "no" / "x.csv")), 2, "does not exist"
    )
    one_line_error(cli("export", "tiny", *s, "-f", "table"), 2, "json, csv")
    one_line_error(cli("studies", *s, "-f", "xml"), 2, "table, json, csv")
    one_line_error(cli("trials", "tiny", *s, "--state", "done"), 2, "diverged")
    one_line_error(cli("trials", "tiny", *s, "--sort", "colour"), 2, "val_accuracy", "lr")


def test_every_read_command_has_help() -> None:
    text = ok("--help")
    for command in ("studies", "show", "trials", "best", "export", "plot", "report"):
        assert command in text
        assert "Usage" in ok(command, "--help")
    assert all(kind in ok("plot", "--help") for kind in KINDS)
    # Rich reads "[train]" as markup unless escaped, and drops it from the help.
    assert "[train]" in ok("best", "--help")
