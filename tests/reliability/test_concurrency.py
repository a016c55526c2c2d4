"""Searches from many threads while the index changes under them; the web app under load."""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from search import Index
from tests.browser.conftest import start_server, stop_server
from tests.reliability.helpers import LOAD_SECONDS, add_bulk, start_cli

VERSION_DOCS = 6


def write_version(corpus: Path, word: str) -> None:
    for n in range(VERSION_DOCS):
        (corpus / f"rota-{n}.txt").write_text(
            f"Rota review {n}. The {word} marker rota gives call handlers protected breaks "
            f"after difficult calls.\n\n" + "\n\n".join(
                f"Paragraph {p} of review {n} on the {word} marker rota and crew fatigue."
                for p in range(12)))


def test_eight_threads_search_while_a_reindex_runs(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_version(corpus, "alpha")
    index = Index(tmp_path / "index")
    index.refresh([corpus])
    stop = threading.Event()
    seen: list[tuple[float, str]] = []  # (when the search started, which version it saw)
    errors: list[BaseException] = []

    def searcher() -> None:
        reader = Index(tmp_path / "index")  # each thread its own handle, as separate users
        while not stop.is_set():
            try:
                started = time.monotonic()
                hits = reader.search("marker rota protected breaks", k=10, mode="lexical")
                words = {"alpha" if "alpha" in h.text else "beta" for h in hits}
                assert hits and len(words) == 1, f"mixed versions in one result: {words}"
                seen.append((started, words.pop()))
                shared = index.search("marker rota", k=5)  # one handle shared by all threads
                assert shared
            except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
                errors.append(exc)
                return

    threads = [threading.Thread(target=searcher) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    write_version(corpus, "beta")  # every document changes in one re-index
    report = index.refresh([corpus])
    swapped = time.monotonic()
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(60)
    assert not errors, errors[0]
    assert len(report.changed) == VERSION_DOCS
    versions = [word for _, word in seen]
    assert "alpha" in versions and "beta" in versions  # searches ran before and after the swap
    after = [word for started, word in seen if started > swapped]
    assert after and set(after) == {"beta"}  # every search begun after the swap sees it


def test_web_app_under_load_while_reindexing(tmp_path: Path):
    """20 concurrent API clients on a loopback server; a CLI re-index runs meanwhile."""
    from gradio_client import Client

    server = start_server(tmp_path)
    latencies: list[float] = []
    failures: list[str] = []
    try:
        deadline = time.monotonic() + LOAD_SECONDS
        questions = ["What peer support do Met officers get?", "section 136",
                     "Where can crews unwind between jobs?", "How many officers are monitored?"]

        def client_loop(n: int) -> None:
            client = Client(server.url, verbose=False)
            i = n
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    result = client.predict(questions[i % len(questions)], 5, "hybrid", None,
                                            api_name="/search")
                    assert result["hits"], "no hits"
                    latencies.append(time.perf_counter() - started)
                except Exception as exc:  # noqa: BLE001 - every failure is counted
                    failures.append(repr(exc))
                i += 1

        add_bulk(server.corpus, 6)
        reindex = start_cli("index", str(server.corpus), "--index", str(server.index), "-q")
        with ThreadPoolExecutor(max_workers=20) as pool:
            list(pool.map(client_loop, range(20)))
        assert reindex.wait(timeout=300) == 0
        fresh = Client(server.url, verbose=False).predict("Station 3 paragraph 7 debriefs", 3,
                                                          "lexical", None, api_name="/search")
        assert any("extra-3" in h["doc_id"] for h in fresh["hits"])  # new documents visible
    finally:
        stop_server(server)
    assert not failures, failures[:3]
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p95 = latencies[int(0.95 * (len(latencies) - 1))] * 1000
    print(f"\nweb load: {len(latencies)} requests from 20 clients in {LOAD_SECONDS:.0f} s, "
          f"0 failed, p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    assert len(latencies) > 20
