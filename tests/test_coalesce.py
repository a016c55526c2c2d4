"""Coalescer: texts asked for by concurrent threads run in shared batches, and each
thread gets its own rows back (or the failure of the batch it was in)."""

from __future__ import annotations

import threading
import time

import numpy as np

from search.embed.coalesce import MAX_TEXTS, Coalescer


def _slow_encoder(calls: list[list[str]], delay: float = 0.02):
    def encode(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        time.sleep(delay)  # long enough for other threads to queue behind this batch
        return np.array([[float(len(t)), float(hash(t) % 997)] for t in texts])
    return encode


def _expected(texts: list[str]) -> np.ndarray:
    return np.array([[float(len(t)), float(hash(t) % 997)] for t in texts])


def test_one_caller_gets_its_vectors_in_one_batch():
    calls: list[list[str]] = []
    coalesce = Coalescer(_slow_encoder(calls, delay=0))
    out = coalesce(["a", "bb", "ccc"])
    np.testing.assert_array_equal(out, _expected(["a", "bb", "ccc"]))
    assert calls == [["a", "bb", "ccc"]] and coalesce.batches == 1


def test_concurrent_callers_share_batches_and_get_their_own_rows():
    calls: list[list[str]] = []
    coalesce = Coalescer(_slow_encoder(calls))
    asks = [[f"question {i}", f"sentence {i} " * (i % 3 + 1)] for i in range(24)]
    results: dict[int, np.ndarray] = {}
    start = threading.Barrier(len(asks))

    def ask(i: int) -> None:
        start.wait()
        results[i] = coalesce(asks[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(asks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    for i, texts in enumerate(asks):
        np.testing.assert_array_equal(results[i], _expected(texts))
    assert coalesce.batches < len(asks)  # some threads' texts ran together
    assert sorted(t for c in calls for t in c) == sorted(t for a in asks for t in a)
    assert max(len(c) for c in calls) <= MAX_TEXTS


def test_a_failing_batch_raises_in_every_thread_in_it_and_the_next_batch_runs():
    release = threading.Event()
    failing = {"on": True}

    def encode(texts: list[str]) -> np.ndarray:
        if failing["on"]:
            release.wait(5)
            raise RuntimeError("encoder broke")
        return _expected(texts)

    coalesce = Coalescer(encode)
    errors: list[str] = []

    def ask(text: str) -> None:
        try:
            coalesce([text])
        except RuntimeError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=ask, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.2)  # all four are waiting: one runs the first batch, three queue
    release.set()
    for t in threads:
        t.join(10)
    assert errors == ["encoder broke"] * 4
    failing["on"] = False
    np.testing.assert_array_equal(coalesce(["after"]), _expected(["after"]))


def test_more_than_a_batch_of_texts_from_one_caller_still_runs():
    coalesce = Coalescer(lambda texts: _expected(texts))
    texts = [f"t{i}" for i in range(MAX_TEXTS + 5)]
    np.testing.assert_array_equal(coalesce(texts), _expected(texts))


def test_empty_request():
    coalesce = Coalescer(lambda texts: np.zeros((len(texts), 2)))
    assert coalesce([]).shape == (0, 2)


def test_one_callers_bad_text_fails_only_that_caller():
    started = threading.Event()
    release = threading.Event()

    def encode(texts: list[str]) -> np.ndarray:
        if texts == ["first"]:  # holds the encoder while the others queue into one batch
            started.set()
            release.wait(5)
        if "bad" in texts:
            raise ValueError("cannot embed 'bad'")
        return _expected(texts)

    coalesce = Coalescer(encode)
    results: dict[str, object] = {}

    def ask(text: str) -> None:
        try:
            results[text] = coalesce([text])
        except ValueError as exc:
            results[text] = exc

    first = threading.Thread(target=ask, args=("first",))
    first.start()
    started.wait(5)
    others = [threading.Thread(target=ask, args=(t,)) for t in ("good", "bad", "fine")]
    for t in others:
        t.start()
    time.sleep(0.2)
    release.set()
    for t in [first, *others]:
        t.join(10)
    assert isinstance(results["bad"], ValueError)
    for text in ("first", "good", "fine"):
        np.testing.assert_array_equal(results[text], _expected([text]))
    assert coalesce.batches == 2  # the three queued ones shared a batch (then ran alone)
