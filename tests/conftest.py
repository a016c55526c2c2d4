"""Shared fixtures: the real model, real FAISS and real SQLite, built once per test session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from search import Index
from search.embedder import Embedder, get_embedder

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
SHARED = Path(os.environ.get("EVIDENCE_SEARCH_SHARED", ROOT.parent / "shared"))
PDFS = SHARED / "pdfs"
FIRE = "2026-01_london-assembly-fire-committee_written-evidence-las-mps.txt"
MAYOR = "2019-04_mayor-of-london_improving-the-mets-response-to-mental-health.txt"


def copy_corpus(target: Path) -> Path:
    """A private copy of the seed corpus (documents and sidecars) that a test may change."""
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return get_embedder()


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    """The seed corpus indexed once, read-only for the tests that use it."""
    base = tmp_path_factory.mktemp("corpus_index")
    corpus = copy_corpus(base / "corpus")
    index = Index(base / "index")
    report = index.refresh([corpus])
    assert report.ok, report.failed
    return index
