"""Shared by the reliability tests: subprocess CLI runs and index fingerprints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from search import Index

ROOT = Path(__file__).resolve().parents[2]
TRIALS = int(os.environ.get("STRESS_TRIALS", "3"))  # `make stress` raises it
LOAD_SECONDS = float(os.environ.get("STRESS_LOAD_SECONDS", "10"))


def cli(*args: str, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "search", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=timeout,
                          env={**os.environ, **(env or {})})


def start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "search", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def indexed(index_dir: Path) -> set[str]:
    """The documents of the live index, after checking that a query works."""
    index = Index(index_dir)
    assert index.search("wellbeing support for staff", k=3)
    return {d.doc_id for d in index.documents()}


def add_bulk(corpus: Path, n: int, paragraphs: int = 25, tag: str = "extra") -> set[str]:
    """Enough new text that embedding takes a few seconds; returns the new doc ids."""
    for i in range(n):
        (corpus / f"{tag}-{i}.txt").write_text("\n\n".join(
            f"Station {i} paragraph {p}: crews asked for more time to decompress after "
            f"difficult calls, and managers trialled debriefs number {p}."
            for p in range(paragraphs)))
    return {f"{corpus.name}/{tag}-{i}.txt" for i in range(n)}
