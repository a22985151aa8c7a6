"""Helpers of the tests that serve or browse: a running `hpsearch dashboard`, headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import BIN

ADDRESS = re.compile(r"at (http://\S+/dashboard/);")


@contextmanager
def running_dashboard(url: str, *args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`hpsearch dashboard` as a user starts it, on a free port; yields its address."""
    process = subprocess.Popen(
        [str(BIN / "hpsearch"), "dashboard", "--storage", url, "--port", "0", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()  # printed once the socket listens
        found = ADDRESS.search(line)
        assert found, f"no address in {line!r}; stderr: {process.stderr.read()}"
        yield found.group(1), process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromedriver")


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's headless Chromium through its chromedriver (`make browser` installs both).

    Skips with the reason when either is missing, and fails instead under CI=true.
    """
    missing = [p for p in CHROMIUM if not Path(p).exists() and not shutil.which(Path(p).name)]
    reason = f"{' and '.join(missing)} not installed: `make browser` installs them (as root)"
    if not missing:
        try:
            from selenium import webdriver
            from selenium.webdriver.chrome.service import Service
        except ImportError as error:
            missing, reason = ["selenium"], f"selenium is not installed ({error})"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser tests are required under CI: {reason}")
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,1600"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMIUM[1]))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for_text(driver: Any, text: str, timeout: float = 60) -> str:
    """The page's text, once it holds `text` (a page that builds itself with JavaScript)."""
    deadline = time.monotonic() + timeout
    body = ""
    while time.monotonic() < deadline:
        body = driver.execute_script("return document.body ? document.body.innerText : ''")
        if text in body:
            return body
        time.sleep(0.25)
    raise AssertionError(f"{text!r} never appeared; the page said: {body[:500]!r}")
