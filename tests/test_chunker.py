"""Chunk invariants on the real corpus with the real tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.ingest.chunker import chunk_document
from search.ingest.loaders import load_file
from search.ingest.structure import build_document
from tests.conftest import CORPUS, FIRE, MAYOR


@pytest.fixture(scope="module", params=[FIRE, MAYOR])
def doc_and_chunks(request, embedder):
    path = CORPUS / request.param
    doc = build_document(load_file(path), path.name, path.name)
    return doc, chunk_document(doc, embedder.count_tokens, 200)


def test_offsets_point_at_the_chunk_text(doc_and_chunks):
    doc, chunks = doc_and_chunks
    assert chunks
    for chunk in chunks:
        assert doc.text[chunk.start:chunk.end] == chunk.text


def test_budget_respected_with_the_models_tokenizer(doc_and_chunks, embedder):
    _, chunks = doc_and_chunks
    counts = embedder.count_tokens([c.text for c in chunks])
    assert max(counts) <= 200
    inputs = [embedder.passage_input(c.text, c.section) for c in chunks]
    assert max(embedder.count_tokens(inputs)) + 2 <= embedder.max_seq_length


def test_no_heading_only_or_header_chunks(doc_and_chunks):
    doc, chunks = doc_and_chunks
    headings = {doc.text[b.start:b.end] for b in doc.blocks if b.kind == "heading"}
    for chunk in chunks:
        assert chunk.text.strip() not in headings
        assert chunk.text.strip() not in {"LONDON ASSEMBLY", "January 2026", "MAYOR OF LONDON"}
        assert len(chunk.text.split()) >= 3


def test_chunks_cover_the_body_text_in_order(doc_and_chunks):
    doc, chunks = doc_and_chunks
    starts = [c.start for c in chunks]
    assert starts == sorted(starts)
    body = [b for b in doc.blocks if b.kind in ("para", "item")]
    for block in body:
        assert any(c.start <= block.start and block.end <= c.end for c in chunks) or any(
            c.start < block.end and block.start < c.end for c in chunks), \
            doc.text[block.start:block.end][:60]


def test_section_paths_and_pages():
    path = CORPUS / FIRE
    doc = build_document(load_file(path), path.name, path.name)
    from search.embed.embedder import get_embedder

    chunks = chunk_document(doc, get_embedder().count_tokens, 200)
    circa = next(c for c in chunks if "Circa 11,000" in c.text)
    assert circa.section[0] == "Metropolitan Police Service"
    assert circa.section[1].startswith("2. Does the MPS have examples of effective approaches")
    assert (circa.page_start, circa.page_end) == (7, 7)
    # A paragraph that runs over a page break keeps both pages.
    spanning = next(c for c in chunks if "implement initiatives such as psychological screening"
                    in c.text)
    assert (spanning.page_start, spanning.page_end) == (4, 5)


def test_bullet_list_stays_with_its_lead_in():
    path = CORPUS / FIRE
    doc = build_document(load_file(path), path.name, path.name)
    from search.embed.embedder import get_embedder

    chunks = chunk_document(doc, get_embedder().count_tokens, 200)
    lead = next(c for c in chunks if "The MPS takes part in a number of local" in c.text)
    assert "- Professional Responders Working Group" in lead.text
    first = next(c for c in chunks if "The questions put to these organisations were:" in c.text)
    assert "- What cooperation / collaboration exists" in first.text


def test_long_paragraph_splits_at_sentences_with_overlap(tmp_path: Path, embedder):
    sentences = [f"Sentence number {n} describes a separate wellbeing initiative for crews."
                 for n in range(60)]
    path = tmp_path / "long.txt"
    path.write_text("Long section\n\n" + " ".join(sentences) + "\n")
    doc = build_document(load_file(path), "long", "long")
    chunks = chunk_document(doc, embedder.count_tokens, 100, overlap_sentences=1)
    assert len(chunks) > 2
    for chunk in chunks:
        assert chunk.text.endswith("crews.")  # cut at a sentence boundary
        assert embedder.count_tokens([chunk.text])[0] <= 100
    for a, b in zip(chunks, chunks[1:], strict=False):
        last = a.text.rsplit("Sentence", 1)[1]
        assert b.text.startswith("Sentence" + last)  # one sentence of overlap
