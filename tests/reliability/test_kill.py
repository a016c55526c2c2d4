"""kill -9 at random moments of a re-index: the index always opens, every query works, and
its documents are exactly the old set or exactly the new one. `make stress` runs 20 trials."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

from search import Index
from tests.conftest import copy_corpus
from tests.reliability.helpers import TRIALS, add_bulk, indexed, start_cli


def wait_until(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.002)


def test_kill_9_during_reindex_leaves_old_or_new_index(tmp_path: Path):
    corpus = copy_corpus(tmp_path / "corpus")
    index_dir = tmp_path / "index"
    Index(index_dir).refresh([corpus])
    old = indexed(index_dir)
    new = old | add_bulk(corpus, 12)
    rng = random.Random(20261122)
    live = lambda: (index_dir / "CURRENT").read_text().strip()  # noqa: E731
    moments = [
        ("while reading and embedding", lambda: len(list(index_dir.glob("gen-*"))) > 1),
        ("while writing the new generation",
         lambda: any((g / "vectors.faiss").exists() for g in index_dir.glob("gen-*")
                     if g.name != live())),
    ]
    outcomes = []
    for trial in range(TRIALS):
        label, condition = moments[trial] if trial < len(moments) else ("at random", None)
        proc = start_cli("index", str(corpus), "--index", str(index_dir), "-q")
        if condition is None:
            time.sleep(rng.uniform(0.5, 8.0))
        else:
            wait_until(condition)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        now = indexed(index_dir)
        assert now in (old, new), f"trial {trial} ({label}): a mixed index"
        outcomes.append(now == new)
        if now == new:  # the writer finished first: go back to the old set for the next try
            Index(index_dir).remove(sorted(new - old))
    report = Index(index_dir).refresh([corpus])
    assert report.ok and len(report.added) == len(new - old)
    assert indexed(index_dir) == new
    assert len(list(index_dir.glob("gen-*"))) <= 2  # abandoned generations are cleaned up
    print(f"{TRIALS} kills: {outcomes.count(False)} left the old set, "
          f"{outcomes.count(True)} the new one")
