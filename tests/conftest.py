"""Shared fixtures: the real model, real FAISS and real SQLite, built once per test session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from search import Index
from search.embed.embedder import Embedder, get_embedder

# The suite indexes with the fast model: about four times quicker to embed, which keeps the
# suite inside CI's time. The product's default (the quality model) has tests of its own on
# `default_index` (tests/test_trust.py, tests/test_models.py).
os.environ.setdefault("EVIDENCE_SEARCH_MODEL", "fast")
ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
SHARED = Path(os.environ.get("EVIDENCE_SEARCH_SHARED", ROOT.parent / "shared"))
PDFS = SHARED / "pdfs"
FIRE = "2026-01_london-assembly-fire-committee_written-evidence-las-mps.txt"
MAYOR = "2019-04_mayor-of-london_improving-the-mets-response-to-mental-health.txt"


def pytest_sessionstart(session: pytest.Session) -> None:
    """The suite reads real PDFs and benchmark data from the shared data folder: without it,
    one line naming the folder instead of dozens of failing tests."""
    if not (PDFS.is_dir() and (SHARED / "bench").is_dir()):
        pytest.exit(f"{SHARED}: the shared data folder (pdfs/, bench/) is not there; put it "
                    "beside the clone or set EVIDENCE_SEARCH_SHARED to its path", returncode=4)


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


@pytest.fixture(scope="session")
def default_index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    """The seed corpus indexed once with the product's default model, as a user gets it."""
    from search.config import DEFAULT_MODEL

    base = tmp_path_factory.mktemp("default_index")
    corpus = copy_corpus(base / "corpus")
    index = Index(base / "index", model=DEFAULT_MODEL)
    report = index.refresh([corpus])
    assert report.ok, report.failed
    return index


BACKENDS = ("local", "milvus")


def location(backend: str, folder: Path) -> str:
    """Where a test's index lives: a folder for the local engine, a Milvus Lite file (a real
    embedded Milvus, started in this process) for the Milvus engine."""
    return str(folder) if backend == "local" else f"milvus://{folder}.db"


@pytest.fixture(params=BACKENDS)
def store_at(request: pytest.FixtureRequest):
    """Runs a test once per engine: store_at(folder) is the index location to use."""
    return lambda folder: location(request.param, Path(folder))


@pytest.fixture(scope="session", params=BACKENDS)
def any_corpus_index(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory) -> Index:
    """The seed corpus indexed once per engine, read-only for the tests that use it."""
    base = tmp_path_factory.mktemp(f"corpus_{request.param}")
    corpus = copy_corpus(base / "corpus")
    index = Index(location(request.param, base / "index"))
    report = index.refresh([corpus])
    assert report.ok, report.failed
    return index
