"""kill -9 at random moments of a re-index: the index always opens, every query works, and
its documents are exactly the old set or exactly the new one. `make stress` runs 20 trials."""

from __future__ import annotations

import fcntl
import os
import random
import signal
import time
from pathlib import Path

from search import Index
from search.store.local import LocalStore
from tests.conftest import copy_corpus
from tests.reliability.helpers import TRIALS, add_bulk, indexed, start_cli


def wait_until(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.002)


def writer_running(index_dir: Path) -> bool:
    with open(index_dir / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def segment_files(index_dir: Path) -> set[str]:
    live = index_dir / (index_dir / "CURRENT").read_text().strip()
    return {p.name for p in live.glob("seg-*")}


def listed_segments(index_dir: Path) -> set[str]:
    return LocalStore(index_dir).listed_segments()


def test_kill_9_during_reindex_leaves_old_or_new_index(tmp_path: Path):
    corpus = copy_corpus(tmp_path / "corpus")
    index_dir = tmp_path / "index"
    Index(index_dir).refresh([corpus])
    old = indexed(index_dir)
    new = old | add_bulk(corpus, 12)
    rng = random.Random(20261122)
    moments = [
        ("while reading and embedding", lambda: writer_running(index_dir)),
        ("while writing the new segment",
         lambda: len(segment_files(index_dir)) > len(listed_segments(index_dir))),
    ]
    outcomes = []
    for trial in range(TRIALS):
        label, condition = moments[trial] if trial < len(moments) else ("at random", None)
        proc = start_cli("index", str(corpus), "--index", str(index_dir), "-q")
        if condition is None:
            time.sleep(rng.uniform(0.5, 8.0))
        else:
            wait_until(lambda c=condition, p=proc: c() or p.poll() is not None)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        now = indexed(index_dir)
        assert now in (old, new), f"trial {trial} ({label}): a mixed index"
        outcomes.append(now == new)
        if now == new:  # the writer finished first: go back to the old set for the next try
            undo = Index(index_dir)
            undo.remove(sorted(new - old))
            undo.wait_for_merges()  # a background merge's file is not an orphan
    final = Index(index_dir)
    report = final.refresh([corpus])
    final.wait_for_merges()
    assert report.ok and len(report.added) == len(new - old)
    assert indexed(index_dir) == new
    assert len(list(index_dir.glob("gen-*"))) <= 2  # abandoned generations are cleaned up
    assert {name.split(".")[0] for name in segment_files(index_dir)} <= listed_segments(
        index_dir)  # and segments written by killed writers
    assert not any(name.endswith(".tmp") for name in segment_files(index_dir))
    print(f"{TRIALS} kills: {outcomes.count(False)} left the old set, "
          f"{outcomes.count(True)} the new one")


def test_kill_9_during_a_merge_loses_nothing_and_leaves_no_files(tmp_path: Path):
    """A merge builds its segment off the writer lock, under a reserved name: killed then,
    the index is as it was, and the next writer removes what the merge left."""
    corpus = copy_corpus(tmp_path / "corpus")
    index_dir = tmp_path / "index"
    Index(index_dir).refresh([corpus])
    live = index_dir / (index_dir / "CURRENT").read_text().strip()
    killed_mid_merge = attempts = 0
    while killed_mid_merge < TRIALS and attempts < 4 * TRIALS:
        attempts += 1
        add_bulk(corpus, 4, tag=f"batch{attempts}")
        second = Index(index_dir)
        second.refresh([corpus])  # a second segment to merge
        second.wait_for_merges()
        before = indexed(index_dir)
        proc = start_cli("optimize", "--full", "--index", str(index_dir),
                         env={"EVIDENCE_SEARCH_APPROX_ABOVE": "50"})  # an HNSW build
        wait_until(lambda p=proc: any(live.glob("seg-*.merging")) or p.poll() is not None)
        killed_mid_merge += proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert indexed(index_dir) == before, f"attempt {attempts}: documents changed"
    assert killed_mid_merge, f"none of {attempts} kills landed while a merge was running"
    (corpus / "after.txt").write_text("A later document about decompression time for crews.")
    after = Index(index_dir)
    report = after.refresh([corpus])
    after.wait_for_merges()
    assert report.ok and report.added
    assert {name.split(".")[0] for name in segment_files(index_dir)} <= listed_segments(
        index_dir)
    assert not any(name.endswith((".tmp", ".merging")) for name in segment_files(index_dir))
