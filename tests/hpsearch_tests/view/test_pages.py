"""The report as a web page: `index.html` of a study, of a folder of studies, escaping, and
serving from a static web server. Studies written by a real `hpsearch run --report`."""

from __future__ import annotations

import functools
import html.parser
import json
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import hpsearch
from selenium.webdriver.common.by import By
from serving import chromium, wait_for_text

from hpsearch.study.toml import toml_value
from hpsearch.view.text import safe_name

BOOK = """
name = "small book"
seed = 2
[data]
dataset = "digits"
[train]
hidden_sizes = [20]
epochs = 3
[search]
rounds = 2
trials_per_round = 4
min_top = 2
[search.params.lr]
low = 1e-3
high = 1.0
log = true
[search.params.weight_decay]
low = 1e-6
high = 1e-2
log = true
"""
# A name and a study-file string that are HTML, scripts and attributes among them.
HOSTILE_NAME = """<script>document.title='pwned'</script><img src=x onerror="alert(1)">&amp;"""
HOSTILE_DIR = """</pre><script>document.title='pwned'</script><b title='x" onmouseover="y'>"""
HOSTILE = f"""
name = {json.dumps(HOSTILE_NAME)}
[data]
dataset = "digits"
data_dir = {json.dumps(HOSTILE_DIR)}
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


@dataclass
class Site:
    root: Path  # the --report folder
    url: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """Two studies run by one `hpsearch run --report DIR`, as the nightly job runs them."""
    folder = tmp_path_factory.mktemp("pages")
    (folder / "book.toml").write_text(BOOK)
    (folder / "hostile.toml").write_text(HOSTILE)
    url = f"sqlite:///{folder / 'studies.db'}"
    done = hpsearch(
        "run", "book.toml", "hostile.toml", "-s", url, "-j", "2", "-q", "--report", "site",
        cwd=folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return Site(folder / "site", url)


@dataclass
class Page(html.parser.HTMLParser):
    """What a browser would build from a page: elements with attributes, and the text."""

    elements: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)
    texts: dict[str, list[str]] = field(default_factory=dict)
    open: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag not in ("img", "meta", "br"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        for tag in set(self.open):
            self.texts.setdefault(tag, []).append(data)

    def text(self, tag: str) -> str:
        return "".join(self.texts.get(tag, []))

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.elements if name == tag]


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_the_report_page_shows_state_rounds_best_trials_test_score_file_and_figures(
    site: Site,
) -> None:
    folder = site.root / safe_name("small book")
    summary = json.loads((folder / "summary.json").read_text())
    page = parse(folder / "index.html")
    assert page.text("title").startswith("Study small book") and page.text("h1") == "small book"
    body = page.text("body")
    assert "complete" in body and "8 trials" in body and "rounds 2/2" in body
    assert summary["top"][0]["trial"] is not None and "Best-1 (val acc" in page.text("pre")
    test = summary["test"]
    assert f"Best configuration (trial {test['trial']})" in body
    assert f"test acc {test['test_accuracy']:.3f}" in body
    assert 'name = "small book"' in body and "[search.params.lr]" in body  # the study file
    rows = [r for r in page.text("tbody").splitlines() if r.strip()]
    assert len(rows) == 2 and "the file's ranges" in page.text("tbody")
    assert "lr" in page.text("thead") and "weight decay" in page.text("thead")
    images = [img["src"] for img in page.all("img")]
    assert sorted(images) == sorted(summary["plots"].values())  # every figure, inline
    links = {a["href"] for a in page.all("a")}
    for image in images:
        assert image in links and (folder / str(image)).is_file()  # linked, in the same folder
    # Nothing to run and nothing fetched from elsewhere: no script, no stylesheet link, no URL.
    assert not page.all("script") and not page.all("link")
    assert not [v for _, a in page.elements for v in a.values() if v and "//" in v]


def test_study_names_and_study_files_holding_html_are_shown_as_text(site: Site) -> None:
    folder = site.root / safe_name(HOSTILE_NAME)
    text = (folder / "index.html").read_text()
    page = parse(folder / "index.html")
    assert page.text("h1") == HOSTILE_NAME  # shown exactly, as text
    assert HOSTILE_NAME in page.text("title")
    assert f"data_dir = {toml_value(HOSTILE_DIR)}" in page.text("pre")  # the study file
    assert not page.all("script") and not [a for a in page.all("img") if "onerror" in a]
    assert not page.all("b"), "an element from the study file became markup"
    assert "<script" not in text
    for _tag, attrs in page.elements:  # attributes hold the name as a value, never as markup
        assert not {"onerror", "onmouseover"} & set(attrs)
    listing = parse(site.root / "index.html")
    assert HOSTILE_NAME in listing.text("tbody") and not listing.all("script")


def test_a_folder_of_several_studies_lists_each_with_state_and_best_score(site: Site) -> None:
    listing = parse(site.root / "index.html")
    links = [a["href"] for a in listing.all("a")]
    expected = {safe_name(n) for n in ("small book", HOSTILE_NAME)}
    assert {str(href).split("/")[0] for href in links} == expected
    for href in links:
        assert (site.root / str(href)).is_file()
    rows = listing.text("tbody")
    for name in ("small book", HOSTILE_NAME):
        summary = json.loads((site.root / safe_name(name) / "summary.json").read_text())
        best = summary["overview"]["best"]
        assert name in rows and f"{best:.3f}" in rows
    assert rows.count("complete") == 2 and "2 studies" in listing.text("body")


def test_the_folder_listing_keeps_studies_reported_before_and_skips_foreign_folders(
    site: Site, tmp_path: Path
) -> None:
    from hpsearch.view.pages import write_folder_index

    (site.root / "notes").mkdir(exist_ok=True)
    (site.root / "notes" / "summary.json").write_text("not json")  # someone else's folder
    write_folder_index(site.root)
    listing = parse(site.root / "index.html")
    assert len([r for r in listing.all("a")]) == 2 and "notes" not in listing.text("tbody")


@pytest.fixture
def static_server(site: Site) -> Iterator[str]:
    """Any static web server: Python's own, serving the report folder on loopback."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site.root))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


def test_a_static_web_server_serves_the_pages_and_every_figure(
    site: Site, static_server: str
) -> None:
    listing = urllib.request.urlopen(static_server, timeout=10).read().decode()
    assert "small book" in listing
    folder = safe_name("small book")
    page = urllib.request.urlopen(f"{static_server}{folder}/", timeout=10).read().decode()
    parsed = Page()
    parsed.feed(page)
    for image in parsed.all("img"):
        with urllib.request.urlopen(f"{static_server}{folder}/{image['src']}", timeout=10) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "image/png"
            assert r.read(8) == b"\x89PNG\r\n\x1a\n"


# --- in a real browser: headless Chromium ---------------------------------------------------

IMAGES = "return [...document.images].map(i => [i.getAttribute('src'), i.naturalWidth])"


def test_chromium_shows_the_report_page_from_disk_with_every_figure(
    site: Site, tmp_path: Path
) -> None:
    folder = site.root / safe_name("small book")
    with chromium() as browser:
        browser.get((folder / "index.html").as_uri())
        body = wait_for_text(browser, "Best-1")
        assert browser.find_element(By.TAG_NAME, "h1").text == "small book"
        assert "8 trials" in body and "Rounds" in body and "test acc" in body
        images = browser.execute_script(IMAGES)
        assert len(images) == len(json.loads((folder / "summary.json").read_text())["plots"])
        assert all(width > 0 for _, width in images), images  # every figure loaded
        browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_chromium_runs_nothing_from_a_hostile_study_and_lists_the_folder_over_http(
    site: Site, static_server: str, tmp_path: Path
) -> None:
    with chromium() as browser:
        browser.get((site.root / safe_name(HOSTILE_NAME) / "index.html").as_uri())
        assert browser.find_element(By.TAG_NAME, "h1").text == HOSTILE_NAME
        assert browser.title == f"Study {HOSTILE_NAME} - hpsearch"  # the script would set it
        assert browser.execute_script("return document.scripts.length") == 0
        browser.get(static_server)  # the folder's listing, from a web server this time
        body = wait_for_text(browser, "small book")
        assert HOSTILE_NAME in body and body.count("complete") == 2
        browser.find_element(By.LINK_TEXT, "small book").click()
        wait_for_text(browser, "Best-1")
        assert all(width > 0 for _, width in browser.execute_script(IMAGES))
        browser.save_screenshot(str(tmp_path / "served.png"))
    assert (tmp_path / "served.png").stat().st_size > 10_000
