"""The question encoder from its bundle (search/embed/questions.py): a fresh process searches
without importing PyTorch, with the tokenizer and the vectors of the full load; a bundle that
no longer gives the model's vectors is not used."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from search.config import FAST_MODEL, QUALITY_MODEL
from search.embed import questions
from search.embed.embedder import EMBEDDERS, Embedder, query_embedder, resolve_model
from search.embed.questions import QuestionEmbedder
from tests.conftest import ROOT

TEXTS = ["What peer support do Met officers get after a traumatic incident?", "EMDR",
         "Ambulance crews' “wellbeing cafés” – 24/7, £1.2m; naïve façade résumé 🚑",
         "section 136 (Mental Health Act 1983) detentions",
         " ".join(["Occupational health referrals rose sharply among call handlers."] * 60)]


@pytest.mark.parametrize("model", [FAST_MODEL, QUALITY_MODEL])
def test_the_bundled_tokenizer_reads_text_as_the_models_own(model, tmp_path):
    """Same ids, mask, type ids and character offsets as Hugging Face's tokenizer, padding
    and truncation included (the last text is cut at the model's limit)."""
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(resolve_model(model))
    hf.backend_tokenizer.save(str(tmp_path / "tokenizer.json"))
    ours = questions.Tokenizer(tmp_path / "tokenizer.json", hf.pad_token_id)
    want = hf(TEXTS, padding=True, truncation=True, max_length=128,
              return_offsets_mapping=True, return_tensors="np")
    got = ours(TEXTS, max_length=128, return_offsets_mapping=True)
    assert got["input_ids"].shape[1] == 128
    for key in ("input_ids", "attention_mask", "offset_mapping"):
        assert np.array_equal(got[key], want[key]), key
    if "token_type_ids" in want:
        assert np.array_equal(got["token_type_ids"], want["token_type_ids"])


def test_questions_load_from_the_bundle_with_the_models_vectors(corpus_index):
    """After one full load has written the bundle, the next load comes from it and gives the
    PyTorch model's vectors."""
    corpus_index.search("warm up", k=1)  # the full load, which writes the bundle
    EMBEDDERS.clear()
    try:
        bundled = query_embedder(FAST_MODEL)
        assert isinstance(bundled, QuestionEmbedder)
        reference = Embedder(FAST_MODEL).encode(TEXTS)
        assert np.min(np.sum(bundled.encode(TEXTS) * reference, axis=1)) > 0.999
    finally:
        EMBEDDERS.clear()


@pytest.mark.parametrize("backend", ["auto", "onnx-int8"])
def test_a_fresh_process_searches_without_pytorch(corpus_index, backend, monkeypatch):
    """The first search of a new process (the CLI's only one) loads no torch, no
    sentence-transformers, and finds what the full load finds: with the measured question
    runtime, and with a named one (EVIDENCE_SEARCH_QUERY_BACKEND=onnx-int8)."""
    monkeypatch.setenv("EVIDENCE_SEARCH_QUERY_BACKEND", backend)
    corpus_index.search("warm up", k=1)
    location = corpus_index.store.location
    script = (
        "import json, sys\n"
        "from search import Index\n"
        f"hits = Index({str(location)!r}).search('peer support after a traumatic incident')\n"
        "print(json.dumps({'ids': [[h.doc_id, h.start] for h in hits],\n"
        "  'torch': 'torch' in sys.modules,\n"
        "  'st': 'sentence_transformers' in sys.modules}))\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, check=True, env={**_env(), "EVIDENCE_SEARCH_MODEL": "fast"})
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert not seen["torch"] and not seen["st"], seen
    here = corpus_index.search("peer support after a traumatic incident")
    assert seen["ids"] == [[h.doc_id, h.start] for h in here]


def test_a_bundle_that_gives_other_vectors_is_not_used(corpus_index, tmp_path, monkeypatch,
                                                       caplog):
    """Reference vectors that the bundled runtime does not reproduce (a changed model, a
    broken export) mean the full load, and the log says why."""
    import logging

    corpus_index.search("warm up", k=1)
    location = resolve_model(FAST_MODEL)
    precision = next(p for p in ("fp32", "bf16")
                     if (questions.folder_for(FAST_MODEL, location, p) / "bundle.json").is_file())
    real = questions.folder_for(FAST_MODEL, location, precision)
    fake = tmp_path / "bundle"
    fake.mkdir()
    (fake / "tokenizer.json").write_bytes((real / "tokenizer.json").read_bytes())
    bundle = json.loads((real / "bundle.json").read_text())
    bundle["reference"] = [list(reversed(v)) for v in bundle["reference"]]
    (fake / "bundle.json").write_text(json.dumps(bundle))
    monkeypatch.setattr(questions, "folder_for", lambda *args: fake)
    EMBEDDERS.clear()
    try:
        with caplog.at_level(logging.WARNING, logger="search.embed.questions"):
            assert questions.load(FAST_MODEL, location, precision) is None
            chosen = query_embedder(FAST_MODEL)
        assert not isinstance(chosen, QuestionEmbedder)
        assert "gives other vectors than the model" in caplog.text
    finally:
        EMBEDDERS.clear()


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}


def test_a_bundle_of_another_export_is_stale(corpus_index, tmp_path, monkeypatch):
    """A bundle names the export it runs by size and mtime: a re-export makes it stale,
    and so does another CPU or library version (another folder)."""
    corpus_index.search("warm up", k=1)
    location = resolve_model(FAST_MODEL)
    precision = next(p for p in ("fp32", "bf16")
                     if (questions.folder_for(FAST_MODEL, location, p) / "bundle.json").is_file())
    real = questions.folder_for(FAST_MODEL, location, precision)
    fake = tmp_path / "bundle"
    fake.mkdir()
    (fake / "tokenizer.json").write_bytes((real / "tokenizer.json").read_bytes())
    bundle = json.loads((real / "bundle.json").read_text())
    (fake / "bundle.json").write_text(json.dumps(bundle))
    monkeypatch.setattr(questions, "folder_for", lambda *args: fake)
    assert questions.load(FAST_MODEL, location, precision) is not None
    bundle["source_mtime_ns"] += 1
    (fake / "bundle.json").write_text(json.dumps(bundle))
    assert questions.load(FAST_MODEL, location, precision) is None
    monkeypatch.undo()
    monkeypatch.setattr(questions, "signature", lambda: "another CPU | onnxruntime 0.1")
    assert questions.folder_for(FAST_MODEL, location, precision) != real


def test_warm_loads_what_the_first_search_needs(corpus_index):
    """Index.warm() (the page calls it while starting) leaves nothing for the first search
    to load: no encoder made, the word lists in memory."""
    EMBEDDERS.clear()
    try:
        corpus_index.warm()
        made = (EMBEDDERS.loads, len(EMBEDDERS.bundled))
        assert made != (0, 0)
        assert "wordfreq" in sys.modules
        assert corpus_index.search("peer suport for officers")  # a typo: the word lists
        assert (EMBEDDERS.loads, len(EMBEDDERS.bundled)) == made
    finally:
        EMBEDDERS.clear()


def test_a_stale_bundle_is_written_again_by_the_full_load(corpus_index, monkeypatch,
                                                          tmp_path):
    """An export replaced after its bundle was written (two processes exporting at once)
    leaves the bundle stale; the full load that follows writes it again, so later processes
    start without PyTorch instead of loading it every time."""
    # a cache of its own: the suite's other worker would mend the shared one meanwhile
    monkeypatch.setenv("EVIDENCE_SEARCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EVIDENCE_SEARCH_QUERY_BACKEND", "onnx-int8")
    EMBEDDERS.clear()
    try:
        corpus_index.search("warm up", k=1)
        location = resolve_model(FAST_MODEL)
        folder = questions.folder_for(FAST_MODEL, location, "onnx-int8")
        source = json.loads((folder / questions.BUNDLE).read_text())["source"]
        assert source.startswith(str(tmp_path))
        os.utime(source, ns=(1, 1))  # another process's export replaced it
        assert questions.load(FAST_MODEL, location, "onnx-int8") is None
        EMBEDDERS.clear()
        corpus_index.search("peer support after a traumatic incident", k=1)
        assert questions.load(FAST_MODEL, location, "onnx-int8") is not None
    finally:
        EMBEDDERS.clear()
