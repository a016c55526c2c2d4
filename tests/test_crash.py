"""A kill -9 during re-index leaves the previous index usable: exactly the old or the new set."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from search import Index
from tests.conftest import ROOT, copy_corpus


def start_reindex(corpus: Path, index_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "search", "index", str(corpus), "--index", str(index_dir), "-q"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_until(condition, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.002)
    return False


def live_set(index_dir: Path) -> set[str]:
    index = Index(index_dir)
    assert index.search("wellbeing support for staff", k=3)  # every query still works
    return {d.doc_id for d in index.documents()}


def test_kill_during_reindex_leaves_old_or_new_index(tmp_path: Path):
    corpus = copy_corpus(tmp_path / "corpus")
    index_dir = tmp_path / "index"
    Index(index_dir).refresh([corpus])
    old = live_set(index_dir)
    for n in range(12):  # enough new text that embedding takes a few seconds
        (corpus / f"extra-{n}.txt").write_text(
            "\n\n".join(f"Station {n} paragraph {p}: crews asked for more time to decompress "
                        f"after difficult calls, and managers trialled debriefs number {p}."
                        for p in range(25)))
    rng = random.Random(7)
    moments = [
        ("while reading and embedding",
         lambda: len(list(index_dir.glob("gen-*"))) > 1),
        ("at a random moment", None),
        ("while writing the new generation",
         lambda: any((g / "vectors.faiss").exists() for g in index_dir.glob("gen-*")
                     if g.name != (index_dir / "CURRENT").read_text().strip())),
    ]
    for label, condition in moments:
        proc = start_reindex(corpus, index_dir)
        if condition is None:
            time.sleep(rng.uniform(1.0, 6.0))
        else:
            wait_until(condition)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        now = live_set(index_dir)
        new = old | {f"corpus/extra-{n}.txt" for n in range(12)}
        assert now in (old, new), label
        if now == new:  # the writer finished first: start again from the old set
            for n in range(12):
                Index(index_dir).remove([f"corpus/extra-{n}.txt"])
    report = Index(index_dir).refresh([corpus])
    assert report.ok and len(report.added) == 12
    assert len(list(index_dir.glob("gen-*"))) <= 2  # abandoned generations are cleaned up
