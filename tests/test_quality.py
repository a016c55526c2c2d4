"""Search quality aids: hybrid retrieval, lexical index in step, highlights, confidence, filters,
de-duplication, and the eval command."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from search import Filters, Index
from search.embed.embedder import get_embedder
from search.retrieve.confidence import results_weak
from tests.conftest import FIRE, MAYOR, ROOT, copy_corpus


def rank_of(index: Index, question: str, needle: str, mode: str) -> int | None:
    hits = index.search(question, k=20, mode=mode, highlight=False)
    return next((h.rank for h in hits if needle in h.text), None)


def test_hybrid_finds_an_acronym_that_semantic_ranks_low(corpus_index: Index):
    q, answer = "section 136 Mental Health Act", "detained under section 136 of the Mental"
    semantic = rank_of(corpus_index, q, answer, "semantic")
    lexical = rank_of(corpus_index, q, answer, "lexical")
    hybrid = rank_of(corpus_index, q, answer, "hybrid")
    assert lexical == 1
    assert semantic is None or semantic >= 3, semantic
    assert hybrid is not None and hybrid < (semantic or 99) and hybrid <= 2


def test_hybrid_finds_a_paraphrase_that_lexical_ranks_low(corpus_index: Index):
    q = "Do people with mental health conditions feel satisfied with the police?"
    answer = "report lower levels of satisfaction (62%)"
    lexical = rank_of(corpus_index, q, answer, "lexical")
    hybrid = rank_of(corpus_index, q, answer, "hybrid")
    assert lexical is None or lexical >= 5, lexical
    assert hybrid is not None and hybrid <= 2


def test_lexical_index_stays_in_step(tmp_path: Path):
    corpus = copy_corpus(tmp_path / "corpus")
    index = Index(tmp_path / "index")
    index.refresh([corpus])
    note = corpus / "note.txt"
    note.write_text("The zebrafish rota pilot gave crews protected breaks.\n")
    index.refresh([corpus])
    assert "zebrafish" in index.search("zebrafish", k=1, mode="lexical")[0].text
    note.write_text("The kingfisher rota pilot gave crews protected breaks.\n")
    index.refresh([corpus])
    assert index.search("zebrafish", k=3, mode="lexical") == []
    assert "kingfisher" in index.search("kingfisher", k=1, mode="lexical")[0].text
    note.unlink()
    index.refresh([corpus])
    assert index.search("kingfisher", k=3, mode="lexical") == []
    with index.snapshot() as snap:
        vectors = len(snap.live_vectors()[0])
    assert vectors == index.stats().chunks


def test_highlights_point_inside_the_hit_at_the_answer(corpus_index: Index):
    hits = corpus_index.search("How many Met officers are in regular psychological monitoring?",
                               k=3)
    for hit in hits:
        assert 1 <= len(hit.highlights) <= 3
        for start, end in hit.highlights:
            assert 0 <= start < end <= len(hit.text)
            assert hit.text[start:end].strip() == hit.text[start:end]
    best = next(h for h in hits if "Circa 11,000" in h.text)
    start, end = best.highlights[0]
    assert "Circa 11,000" in best.text[start:end]


@pytest.mark.parametrize("question", [
    "Who won the football World Cup in 1998?",
    "How do I bake sourdough bread at home?",
    "Which planets in the solar system have rings?",
])
def test_off_topic_questions_come_out_weak(corpus_index: Index, question: str):
    hits = corpus_index.search(question, k=5)
    assert hits and results_weak(hits)
    assert all(0.0 <= h.confidence < 0.5 for h in hits)


@pytest.mark.parametrize("question", [
    "How many Met officers are in regular psychological monitoring?",
    "where can ambulance crews unwind between jobs?",
    "EMDR therapy",
])
def test_covered_questions_come_out_strong(corpus_index: Index, question: str):
    hits = corpus_index.search(question, k=5)
    assert not results_weak(hits)
    assert max(h.confidence for h in hits) >= 0.5


def test_filters_limit_documents_pages_sections_titles_and_dates(corpus_index: Index):
    q = "mental health training for officers"
    fire = next(d.doc_id for d in corpus_index.documents() if d.doc_id.endswith(FIRE))
    only_fire = corpus_index.search(q, k=10, filters=Filters(documents=[fire]))
    assert only_fire and all(h.doc_id == fire for h in only_fire)
    by_title = corpus_index.search(q, k=10, filters={"title": "mayor of london"})
    assert by_title and all(h.doc_id.endswith(MAYOR) for h in by_title)
    pages = corpus_index.search(q, k=10, filters=Filters(documents=[fire], pages=(6, 7)))
    assert pages and all(6 <= h.page <= 7 or (h.page_end or 0) >= 6 for h in pages)
    assert all(h.page <= 7 for h in pages)
    section = corpus_index.search(q, k=10, mode="lexical",
                                  filters=Filters(section="Training for officers"))
    assert section and all("Training for officers" in h.section for h in section)
    recent = corpus_index.search(q, k=10, filters=Filters(date_from="2020"))
    assert recent and all(h.doc_id == fire for h in recent)
    old = corpus_index.search(q, k=10, filters=Filters(date_to="2019-12"))
    assert old and all(h.doc_id.endswith(MAYOR) for h in old)
    assert corpus_index.search(q, k=5, filters=Filters(documents=["no-such-doc"])) == []


def test_results_never_repeat_the_same_text(tmp_path: Path):
    corpus = copy_corpus(tmp_path / "corpus")
    shutil.copy(corpus / FIRE, corpus / "duplicate-of-fire.txt")
    index = Index(tmp_path / "index")
    index.refresh([corpus])
    for mode in ("hybrid", "semantic", "lexical"):
        hits = index.search("psychological monitoring of officers", k=10, mode=mode)
        texts = [" ".join(h.text.split()) for h in hits]
        assert len(texts) == len(set(texts)), mode
        for a in hits:
            for b in hits:
                if a is not b and a.doc_id == b.doc_id:
                    assert a.end <= b.start or b.end <= a.start


@pytest.mark.parametrize("query", ['"', "*", "NEAR(a b)", "OR", "AND NOT", "text:fire",
                                   "'; DROP TABLE chunks; --", "\x00\x07", "?!.,;"])
def test_query_syntax_is_never_interpreted(corpus_index: Index, query: str):
    try:
        hits = corpus_index.search(query, k=3)
    except Exception as exc:  # only the clear empty-query error is acceptable
        assert "query is empty" in str(exc)
        return
    assert isinstance(hits, list)
    assert corpus_index.stats().chunks > 0


def write_tiny_beir(folder: Path) -> None:
    folder.mkdir()
    (folder / "qrels").mkdir()
    docs = [
        {"_id": "d1", "title": "Mountains", "text": "Hiking trails climb the alpine mountains."},
        {"_id": "d2", "title": "Volcanoes", "text": "A volcano eruption pours out molten lava."},
        {"_id": "d3", "title": "Pasta", "text": "Boil salted water and cook the spaghetti."},
    ]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs))
    queries = [{"_id": "q1", "text": "pasta recipe with boiling water"},
               {"_id": "q2", "text": "volcano eruption and lava flows"}]
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    # q2's relevant document is the pasta one: it must rank last of three.
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td3\t1\n"
                                               "q2\td3\t1\n")


def test_eval_command_computes_known_ndcg(tmp_path: Path):
    write_tiny_beir(tmp_path / "tiny")
    cmd = [sys.executable, "-m", "search", "eval", "--beir", str(tmp_path / "tiny"),
           "--mode", "semantic", "--json", "-q", "--index", str(tmp_path / "cache")]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout[result.stdout.index("{"):])["semantic"]
    # q1: relevant at rank 1 -> 1.0; q2: relevant at rank 3 -> 1/log2(4) = 0.5.
    assert metrics["nDCG@10"] == pytest.approx((1.0 + 1 / math.log2(4)) / 2)
    assert metrics["MRR@10"] == pytest.approx((1.0 + 1 / 3) / 2)
    assert metrics["Recall@100"] == pytest.approx(1.0)
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert "index cached" in again.stdout  # the second run re-uses the index


def test_eval_command_on_corpus_questions(corpus_index: Index):
    result = subprocess.run(
        [sys.executable, "-m", "search", "eval", "--queries", "eval/corpus_queries.jsonl",
         "--mode", "hybrid", "--json", "--index", str(corpus_index.directory)],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    table = json.loads(result.stdout[result.stdout.index("{"):])["hybrid"]
    metrics = table["all"]
    assert metrics["questions"] >= 40
    assert metrics["success@5"] >= 0.8 and metrics["MRR@10"] >= 0.7
    assert {"paraphrase", "acronym"} <= set(table)  # one row per kind of question


def test_sentence_vectors_are_stored_with_their_headings(corpus_index: Index, embedder):
    with corpus_index.snapshot() as snap:
        ids = [i for i, _ in snap.search_lexical("Wellbeing Cafes", 3)]
        rows, stored = snap.chunks(ids), snap.sentences(ids)
    assert set(stored) == set(ids)  # every passage of a real document has its sentences
    for i in ids:
        spans, vectors = stored[i].spans, stored[i].vectors
        row = rows[i]
        assert len(spans) == len(vectors) >= 1
        assert all(0 <= a < b <= len(row.text) for a, b in spans)
        # pooled from the passage's own pass, its headings in front (float16 on disk)
        passage = embedder.passage_input(row.text, row.section)
        _, fresh = get_embedder(embedder.name, "index").encode_with_sentences(
            [passage], [len(passage) - len(row.text)], [spans])
        assert np.min(np.sum(fresh[0] * vectors, axis=1)) > 0.99


def test_removing_a_document_removes_its_sentence_vectors(tmp_path: Path):
    corpus = copy_corpus(tmp_path / "corpus")
    index = Index(tmp_path / "index")
    index.refresh([corpus])
    with index.snapshot() as snap:
        mayor = [i for i, _ in snap.search_lexical("Adebowale", 5)]
    index.remove([str(corpus / MAYOR)])
    with index.snapshot() as snap:
        assert mayor and snap.sentences(mayor) == {}
        assert snap.sentences([i for i, _ in snap.search_lexical("Wellbeing Cafes", 3)])


def test_default_does_not_let_common_words_bury_an_everyday_answer(corpus_index: Index):
    """Words like "officers" and "mental health" match many passages; the default must still
    rank the answer as well as meaning alone does (issue: fixed-weight fusion did not)."""
    q = "Does the mayor think Whitehall should pay more for mental health care?"
    answer = "more investment by central government into mental health services"
    semantic = rank_of(corpus_index, q, answer, "semantic")
    hybrid = rank_of(corpus_index, q, answer, "hybrid")
    assert semantic is not None and hybrid is not None
    assert hybrid <= semantic


def test_highlights_mark_at_most_two_sentences(corpus_index: Index):
    hits = corpus_index.search("Where can ambulance crews unwind between jobs?", k=5)
    assert all(1 <= len(h.highlights) <= 2 for h in hits if not h.weak)
    best = hits[0]
    a, b = best.highlights[0]
    assert "decompress" in best.text[a:b]
