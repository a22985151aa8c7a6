"""`hpsearch dashboard`: optuna-dashboard on hpsearch's storage, read only, on loopback."""

from __future__ import annotations

import json
import sqlite3
import sys
import urllib.error
import urllib.request
from pathlib import Path

import optuna
import pytest
from conftest import hpsearch
from selenium.webdriver.common.by import By
from serving import chromium, running_dashboard, wait_for_text
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.store.readonly import forbid_writes
from hpsearch.view.queries import open_reader

STUDY = """
name = "dash"
seed = 4
[data]
dataset = "digits"
[train]
hidden_sizes = [10]
epochs = 2
[search]
trials_per_round = 3
[search.params.lr]
low = 0.01
high = 0.1
log = true
"""


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("dashboard")
    (folder / "dash.toml").write_text(STUDY)
    url = f"sqlite:///{folder / 'studies.db'}"
    done = hpsearch("run", "dash.toml", "-s", url, "-j", "1", "-q", cwd=folder)
    assert done.returncode == 0, done.stderr
    return url


def dump(url: str) -> list[str]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
        return list(connection.iterdump())


def get_json(address: str) -> dict:
    with urllib.request.urlopen(address, timeout=30) as response:
        return json.loads(response.read())


def test_the_dashboard_answers_api_studies_with_the_study_on_loopback(stored: str) -> None:
    with running_dashboard(stored) as (address, _):
        assert address.startswith("http://127.0.0.1:")  # the default host
        root = address.removesuffix("dashboard/")
        studies = get_json(root + "api/studies")["study_summaries"]
        assert [s["study_name"] for s in studies] == ["dash"]
        study = get_json(f"{root}api/studies/{studies[0]['study_id']}")
        assert len(study["trials"]) == 3
        with urllib.request.urlopen(address, timeout=30) as page:
            assert page.status == 200 and b"<html" in page.read().lower()


def test_the_dashboard_changes_nothing(stored: str) -> None:
    before = dump(stored)
    with running_dashboard(stored) as (address, _):
        root = address.removesuffix("dashboard/")
        for method, path, body in [
            ("POST", "api/studies", {"study_name": "new", "directions": ["maximize"]}),
            ("DELETE", "api/studies/1", {}),
            ("PUT", "api/studies/1/note", {"version": 1, "body": "hi"}),
            ("POST", "api/trials/1/user-attrs", {"user_attrs": {"x": 1}}),
        ]:
            request = urllib.request.Request(
                root + path, data=json.dumps(body).encode(), method=method
            )
            request.add_header("Content-Type", "application/json")
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=30)
            assert refused.value.code == 405, (method, path)
        get_json(root + "api/studies/1")
    assert dump(stored) == before


def test_the_database_itself_refuses_writes_of_a_read_only_storage(stored: str) -> None:
    storage = forbid_writes(open_reader(stored))
    study_id = storage.get_study_id_from_name("dash")
    assert storage.get_study_user_attrs(study_id)  # reading works
    before = dump(stored)
    with pytest.raises(optuna.exceptions.StorageInternalError) as refused:
        storage.set_study_user_attr(study_id, "x", 1)
    assert "readonly database" in str(refused.value.__cause__)  # SQLite's query_only
    assert dump(stored) == before


@pytest.mark.postgres
def test_a_read_only_postgresql_storage_refuses_writes(postgres_url: str) -> None:
    optuna.create_study(storage=postgres_url, study_name="pg")
    storage = forbid_writes(open_reader(postgres_url))
    study_id = storage.get_study_id_from_name("pg")
    with pytest.raises(optuna.exceptions.StorageInternalError) as refused:
        storage.set_study_user_attr(study_id, "x", 1)
    assert "read-only transaction" in str(refused.value.__cause__)
    assert optuna.load_study(study_name="pg", storage=postgres_url).user_attrs == {}


def test_without_the_extra_the_dashboard_says_how_to_install_it(
    stored: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # as if not installed
    result = CliRunner().invoke(app, ["dashboard", "-s", stored])
    assert result.exit_code == 1
    assert result.stderr == (
        "hpsearch: the dashboard needs optuna-dashboard, an optional extra: "
        "pip install 'hpsearch[dashboard]'\n"
    )


def test_the_dashboard_never_shows_a_password() -> None:
    missing = hpsearch("dashboard", "-s", "postgresql://me:secret@127.0.0.1:1/none")
    assert missing.returncode == 1 and "secret" not in missing.stderr + missing.stdout
    assert "me:***@" in missing.stderr and missing.stderr.count("\n") == 1


def test_chromium_shows_the_study_and_its_trials_in_the_dashboard(
    stored: str, tmp_path: Path
) -> None:
    best = optuna.load_study(study_name="dash", storage=stored).best_trial.number
    with running_dashboard(stored) as (address, _), chromium() as browser:
        browser.get(address)
        wait_for_text(browser, "dash")  # the list of studies, drawn by the dashboard's script
        browser.save_screenshot(str(tmp_path / "studies.png"))
        browser.find_element(By.XPATH, "//*[text()='dash' or text()='1. dash']").click()
        body = wait_for_text(browser, f"Best Trial (number={best})")
        assert "dash (id=" in body and "History" in body
        browser.save_screenshot(str(tmp_path / "study.png"))
    assert (tmp_path / "study.png").stat().st_size > 5_000
