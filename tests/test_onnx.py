"""The ONNX Runtime backends, exported locally from the packaged model: same vectors as
PyTorch (fp32) or close to them (int8), usable for a whole index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from search import Index, IndexMismatch
from search.embedder import Embedder
from tests.conftest import copy_corpus

TEXTS = ["Peer support after a traumatic incident.", "Wellbeing cafes for call handlers",
         "Circa 11,000 officers in identified high risk roles receive regular monitoring."]


@pytest.fixture(scope="module")
def reference(embedder) -> np.ndarray:
    return embedder.encode(TEXTS)


def test_onnx_fp32_gives_the_same_vectors(reference, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EVIDENCE_SEARCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    vectors = Embedder(backend="onnx").encode(TEXTS)
    assert np.min(np.sum(vectors * reference, axis=1)) > 0.9999


def test_onnx_int8_stays_close_and_indexes(reference, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("EVIDENCE_SEARCH_CACHE", str(tmp_path / "cache"))
    int8 = Embedder(backend="onnx-int8")
    assert np.min(np.sum(int8.encode(TEXTS) * reference, axis=1)) > 0.97
    assert (tmp_path / "cache" / "onnx").is_dir()  # exported here, not downloaded
    corpus = copy_corpus(tmp_path / "corpus")
    index = Index(tmp_path / "index", backend="onnx-int8")
    index.refresh([corpus])
    assert index.stats()["chunks"] > 0
    hits = Index(tmp_path / "index").search(
        "How many Met officers are in regular psychological monitoring?", k=3)
    assert any("Circa 11,000" in h.text for h in hits)
    with pytest.raises(IndexMismatch, match="backend"):
        Index(tmp_path / "index", backend="torch").refresh([corpus])
