"""The ONNX Runtime backends, exported locally from the packaged model: same vectors as
PyTorch (fp32) or close to them (int8), usable for a whole index."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from search import Index, IndexMismatch
from search.config import FAST_MODEL as DEFAULT_MODEL  # the model the suite indexes with
from search.embed import embedder as embedder_module
from search.embed.embedder import (
    EMBEDDERS,
    Embedder,
    query_embedder,
    resolve_model,
)
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


def test_onnx_int8_stays_close_but_no_longer_builds_an_index(reference, tmp_path: Path,
                                                            monkeypatch):
    """int8 still embeds questions for indexes built with it before; new passages are
    PyTorch's, and asking for int8 says so in one line, before anything is read."""
    monkeypatch.setenv("EVIDENCE_SEARCH_CACHE", str(tmp_path / "cache"))
    int8 = Embedder(backend="onnx-int8")
    assert np.min(np.sum(int8.encode(TEXTS) * reference, axis=1)) > 0.97
    assert (tmp_path / "cache" / "onnx").is_dir()  # exported here, not downloaded
    corpus = copy_corpus(tmp_path / "corpus")
    with pytest.raises(IndexMismatch, match="backend 'onnx-int8' no longer embeds passages"):
        Index(tmp_path / "index", backend="onnx-int8").refresh([corpus])
    assert not (tmp_path / "index" / "CURRENT").exists()  # nothing was built


QUESTIONS = ["What peer support do Met officers get after a traumatic incident?",
             "How many officers are in regular psychological monitoring?",
             "wellbeing support for 999 call handlers"]


def test_questions_go_through_onnx_and_find_what_torch_finds(corpus_index, monkeypatch):
    """Questions through ONNX Runtime fp32 find the same passages, scores and highlighted
    sentences as PyTorch."""
    monkeypatch.setenv("EVIDENCE_SEARCH_QUERY_BACKEND", "onnx")
    assert query_embedder(DEFAULT_MODEL).runtime == "onnx fp32"
    fast = [corpus_index.search(q, k=5) for q in QUESTIONS]
    monkeypatch.setenv("EVIDENCE_SEARCH_QUERY_BACKEND", "torch")
    assert query_embedder(DEFAULT_MODEL).runtime.startswith("torch")
    slow = [corpus_index.search(q, k=5) for q in QUESTIONS]
    for a, b in zip(fast, slow, strict=True):
        assert [(h.doc_id, h.start) for h in a] == [(h.doc_id, h.start) for h in b]
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-3)
        assert [h.highlights for h in a] == [h.highlights for h in b]


def test_int8_questions_find_what_fp32_questions_find(corpus_index, monkeypatch):
    """Questions with int8 weights (EVIDENCE_SEARCH_QUERY_BACKEND=onnx-int8, about half the
    time of fp32 for MiniLM on a VNNI CPU) rank the same passages first as fp32 questions
    here, with the same highlighted sentences."""
    monkeypatch.setenv("EVIDENCE_SEARCH_QUERY_BACKEND", "onnx-int8")
    assert query_embedder(DEFAULT_MODEL).runtime == "onnx int8"
    int8 = [corpus_index.search(q, k=3) for q in QUESTIONS]
    monkeypatch.setenv("EVIDENCE_SEARCH_QUERY_BACKEND", "onnx")
    fp32 = [corpus_index.search(q, k=3) for q in QUESTIONS]
    for a, b in zip(int8, fp32, strict=True):
        assert [(h.doc_id, h.start) for h in a] == [(h.doc_id, h.start) for h in b]
        assert [h.score for h in a] == pytest.approx([h.score for h in b], rel=0.03)
        assert [h.highlights for h in a] == [h.highlights for h in b]


def test_a_failed_onnx_export_falls_back_to_torch(corpus_index, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("EVIDENCE_SEARCH_QUERY_BACKEND", "onnx")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("the cache path is a file, so the export cannot be written")
    monkeypatch.setenv("EVIDENCE_SEARCH_CACHE", str(blocker))
    monkeypatch.setattr(embedder_module, "_no_onnx", set())
    EMBEDDERS.clear()
    with caplog.at_level(logging.WARNING, logger="search.embed.embedder"):
        hits = corpus_index.search(QUESTIONS[1], k=3)
    assert any("Circa 11,000" in h.text for h in hits)
    assert "embedded with PyTorch" in caplog.text and "not-a-folder" in caplog.text
    assert query_embedder(DEFAULT_MODEL).backend == "torch"  # decided once, not per query


def test_questions_run_on_the_runtime_measured_fastest_with_pytorchs_vectors(tmp_path,
                                                                            monkeypatch):
    """By default each runtime that gives PyTorch's question vectors is timed on single
    questions and the fastest kept (recorded beside the passage choice)."""
    import json

    monkeypatch.setenv("EVIDENCE_SEARCH_CACHE", str(tmp_path))
    EMBEDDERS.clear()
    try:
        chosen = query_embedder(DEFAULT_MODEL)
        record = json.loads((tmp_path / "runtime-choice.json").read_text())
        (choice,) = [v for k, v in record.items() if k.endswith("| questions")]
        timed = choice["passages_per_second"]
        assert chosen.runtime == choice["label"] == max(timed, key=timed.get)
        assert {"onnx fp32", "openvino fp32"} <= set(timed)
        reference = Embedder(DEFAULT_MODEL).encode(QUESTIONS)
        assert np.min(np.sum(chosen.encode(QUESTIONS) * reference, axis=1)) > 0.999
    finally:
        EMBEDDERS.clear()


def test_a_model_the_export_cannot_represent_stays_on_torch(tmp_path, monkeypatch, caplog):
    """A Dense head after pooling is not in the exported transformer: ONNX vectors would be
    wrong, so questions stay on PyTorch and the log says why."""
    from sentence_transformers import SentenceTransformer, models

    monkeypatch.setenv("EVIDENCE_SEARCH_CACHE", str(tmp_path / "cache"))
    base = resolve_model(DEFAULT_MODEL)
    word = models.Transformer(base)
    pooling = models.Pooling(384, "mean")
    dense = models.Dense(384, 384)
    SentenceTransformer(modules=[word, pooling, dense], device="cpu").save(str(tmp_path / "m"))
    with caplog.at_level(logging.WARNING, logger="search.embed.embedder"):
        chosen = query_embedder(str(tmp_path / "m"))
    assert chosen.backend == "torch"
    assert "Pooling → Dense" in caplog.text


def test_openvino_reuses_what_it_compiled_and_passes_over_a_damaged_cache(
        reference, tmp_path: Path, monkeypatch):
    """A fresh process opens the model from OpenVINO's cache of compiled blobs instead of
    compiling it again; a damaged entry or a cache that cannot be written costs a compile,
    never a wrong vector or a crash."""
    import shutil

    from search.embed.openvino_runtime import COMPILED_CACHE

    monkeypatch.setenv("EVIDENCE_SEARCH_CACHE", str(tmp_path))
    first = Embedder(runtime="openvino")
    assert first.runtime.startswith("openvino")
    assert not first.encoder.compiled.get_property("LOADED_FROM_CACHE")
    blobs = [f for f in tmp_path.rglob(f"{COMPILED_CACHE}/*") if f.is_file()]
    assert blobs and all(f.stat().st_size > 0 for f in blobs)
    second = Embedder(runtime="openvino")
    assert second.encoder.compiled.get_property("LOADED_FROM_CACHE")
    assert np.min(np.sum(second.encode(TEXTS) * reference, axis=1)) > 0.999
    for blob in blobs:
        blob.write_bytes(b"\x00damaged\xff" * 64)
    damaged = Embedder(runtime="openvino")
    assert np.min(np.sum(damaged.encode(TEXTS) * reference, axis=1)) > 0.999
    folder = blobs[0].parent
    shutil.rmtree(folder)
    folder.write_text("a file where the cache folder goes")
    unwritable = Embedder(runtime="openvino")
    assert np.min(np.sum(unwritable.encode(TEXTS) * reference, axis=1)) > 0.999
