"""A real app process on a free loopback port over a temporary corpus and index, and headless
Debian Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("EVIDENCE_SEARCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--disable-quic"]
ARTIFACTS = ROOT / "artifacts" / "screenshots"


@dataclass
class Server:
    url: str
    port: int
    corpus: Path
    index: Path
    process: subprocess.Popen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(tmp: Path, env: dict[str, str] | None = None,
                 store: str | None = None) -> Server:
    """The app over a copy of the corpus; its index in tmp/index, or at `store` (a URI)."""
    corpus = tmp / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    port = free_port()
    log = open(tmp / "server.log", "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port), "--corpus", str(corpus),
         "--index", store or str(tmp / "index")], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((tmp / "server.log").read_text())
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        process.kill()
        raise RuntimeError("app did not start: " + (tmp / "server.log").read_text())
    return Server(url, port, corpus, tmp / "index", process)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("web"))
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 1400})
    pg = context.new_page()
    pg.goto(server.url)
    pg.wait_for_selector("#question textarea")
    yield pg
    context.close()


def ask(page: Page, question: str) -> None:
    """Type a question and press Enter; return once the answer to *this* question shows."""
    box = page.locator("#question textarea")
    box.fill(question)
    before = page.evaluate(
        "() => document.querySelector('#results .results')?.dataset.stamp || ''")
    box.press("Enter")
    page.wait_for_function(
        "([q, before]) => { const r = document.querySelector('#results .results');"
        " return r && r.dataset.question === q && r.dataset.stamp !== before; }",
        arg=[" ".join(question.split()), before], timeout=60_000)


def open_options(page: Page) -> None:
    """Unfold the search options (results, mode, documents, section, grouping)."""
    if not page.locator("#mode").is_visible():
        page.locator("#options").get_by_text("Options:").click()
        expect(page.locator("#mode")).to_be_visible()


def summary_text(page: Page) -> str:
    """The index panel's summary as written, without Gradio's progress text over it."""
    return page.locator("#reindex-summary [data-testid=markdown]").inner_text()


def wait_for_new_summary(page: Page, before: str) -> str:
    """After an upload or rescan: the index panel's *new* summary, finished. Gradio shows its
    timer ("processing | 0.1/0.6s") over the old summary while the event runs, so the text alone
    cannot say it is done: wait until the status tracker is hidden and the summary has changed."""
    page.wait_for_function(
        "before => { const root = document.querySelector('#reindex-summary');"
        " const tracker = root?.querySelector('[data-testid=status-tracker]');"
        " const wrapper = root?.querySelector('[data-testid=markdown-wrapper]');"
        " const markdown = root?.querySelector('[data-testid=markdown]');"
        " if (!tracker || !wrapper || !markdown) return false;"
        " return tracker.classList.contains('hide') && !wrapper.classList.contains('pending')"
        " && markdown.innerText !== before && /Done in/.test(markdown.innerText); }",
        arg=before, timeout=120_000)
    return summary_text(page)


def upload(page: Page, path: Path) -> str:
    """Upload and index one file from the Documents tab; the summary of *this* upload."""
    page.get_by_role("tab", name="Documents").click()
    before = summary_text(page)
    page.locator("#upload input[type=file]").set_input_files(str(path))
    expect(page.locator("#upload")).to_contain_text(path.stem)  # uploaded, not a fixed wait
    page.locator("#add-files").click()
    text = wait_for_new_summary(page, before)
    page.get_by_role("tab", name="Ask").click()
    return text
