"""The Python API end to end: real model, FAISS and SQLite."""

from __future__ import annotations

import pytest

import search as search_pkg
from search import Hit, Index, QueryError, search
from search.embed.embedder import EMBEDDERS
from tests.conftest import FIRE


def test_psychological_monitoring_question_finds_circa_11000(any_corpus_index: Index):
    corpus_index = any_corpus_index
    hits = corpus_index.search("How many Met officers are in regular psychological monitoring?",
                               k=3)
    found = [h for h in hits if "Circa 11,000" in h.text]
    assert found, [h.text[:80] for h in hits]
    hit = found[0]
    assert hit.page == 7
    assert hit.section.startswith("Metropolitan Police Service › 2. Does the MPS have examples")
    assert hit.citation == ("London Assembly Fire Committee written evidence (Jan 2026), p. 7 "
                            "— Metropolitan Police Service › 2. Does the MPS have examples of "
                            "effective approaches it has adopted to support its staff "
                            "experiencing mental health challenges, what worked and what has "
                            "the impact of that been?")
    assert hit.doc_id.endswith(FIRE)


def test_hits_are_complete_and_ranked(any_corpus_index: Index):
    corpus_index = any_corpus_index
    hits = corpus_index.search("what peer support do Met officers get after a traumatic incident?",
                               k=5)
    assert len(hits) == 5
    assert all(isinstance(h, Hit) for h in hits)
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert "Trauma Peer Support Programme" in hits[0].text
    with corpus_index.snapshot() as snap:
        for h in hits:
            assert snap.document_text(h.doc_id)[h.start:h.end] == h.text  # citation checkable
            assert h.title and h.path and h.citation.startswith(h.title)
            assert h.highlights and h.match


def test_empty_query_is_a_clear_error(any_corpus_index: Index):
    corpus_index = any_corpus_index
    for bad in ("", "   ", "\n\t"):
        with pytest.raises(QueryError, match="query is empty"):
            corpus_index.search(bad)


def test_search_function_opens_once_and_reuses_model(corpus_index: Index, monkeypatch):
    monkeypatch.setenv("EVIDENCE_SEARCH_INDEX", str(corpus_index.directory))
    first = search("Wellbeing Support Vehicles cafes for crews", k=2)
    loads = EMBEDDERS.loads
    second = search("EMDR therapy for officers", k=2)
    assert EMBEDDERS.loads == loads  # no model load per query
    assert search_pkg.open_index() is search_pkg.open_index(corpus_index.directory)
    assert first and second
    assert any("Wellbeing Support Vehicles" in h.text for h in first)
    # index= overrides the environment
    other = search("EMDR therapy for officers", k=2, index=corpus_index.directory)
    assert [h.text for h in other] == [h.text for h in second]


def test_stats_report_what_the_index_holds(any_corpus_index: Index):
    stats = any_corpus_index.stats()
    assert stats.documents == 2
    assert stats.pages == 12
    assert stats.chunks == sum(d.chunks for d in any_corpus_index.documents())
    assert stats.model == "all-MiniLM-L6-v2" and stats.dimension == 384
    assert stats.size_bytes > 0 and stats.built_at
    assert stats.engine == ("milvus" if stats.location.startswith("milvus:") else "local")


def test_search_function_takes_a_store_uri(any_corpus_index: Index):
    hits = search("peer support after a traumatic incident", k=2,
                  store=any_corpus_index.location)
    assert [h.text for h in hits] == [h.text for h in any_corpus_index.search(
        "peer support after a traumatic incident", k=2)]


def test_citations_name_every_heading_of_the_section_whole():
    from search.retrieve.pipeline import citation

    long = ("3. What cooperation is there between the services on staff welfare and what "
            "does each of them contribute?")
    assert citation("Report", 3, 4, ["Support", long]) == f"Report, pp. 3–4 — Support › {long}"
    assert citation("Report", None, None, ["Support"]) == "Report — Support"


def test_a_documents_passages_sections_and_context_read_alike_on_every_engine(
        any_corpus_index: Index):
    """What the reader and the contents list read: a document's passages in order, their
    section paths without text, and a passage with its document from one view."""
    hit = any_corpus_index.search("How many Met officers are in regular psychological "
                                  "monitoring?", k=1)[0]
    chunks = any_corpus_index.document_chunks(hit.doc_id)
    assert [c.ordinal for c in chunks] == sorted(c.ordinal for c in chunks)
    assert any_corpus_index.section_paths()[hit.doc_id] == [c.section for c in chunks]
    context = any_corpus_index.in_context(hit.doc_id, hit.start, hit.end)
    assert context is not None and context.hit is not None
    assert context.text[hit.start:hit.end] == hit.text == context.hit.text
    assert context.path.name == hit.path.split("/")[-1] and context.sha256
    moved = any_corpus_index.in_context(hit.doc_id, hit.start + 1, hit.end)
    assert moved is not None and moved.hit is None  # no passage at those offsets
    assert any_corpus_index.in_context("corpus/none.txt", 0, 5) is None
