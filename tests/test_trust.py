"""What the page says about a result must be right: labels for keyword searches, boilerplate
that is never a strong match, marks only on sentences that carry content, labels that follow
the order — on the real corpus, model and index."""

from __future__ import annotations

import pytest

from search import Index
from search.records import Hit
from search.retrieve import boilerplate
from search.retrieve.confidence import results_weak
from search.web.render import passage_html

RANK = {"weak match": 0, "possible match": 1, "strong match": 2}


@pytest.fixture(params=["fast", "default"])
def index(request: pytest.FixtureRequest) -> Index:
    """The seed corpus indexed with the fast model, and with the default (quality) one."""
    name = "corpus_index" if request.param == "fast" else "default_index"
    return request.getfixturevalue(name)


@pytest.mark.parametrize(("query", "term"), [
    ("EMDR", "EMDR"), ("TIPT", "TIPT"), ("section 136", "section 136"),
    ("Oscar Kilo", "Oscar Kilo"), ("Liaison and Diversion", "Liaison and Diversion"),
])
def test_a_keyword_search_for_a_term_the_documents_hold_is_not_called_weak(
        index: Index, query: str, term: str):
    hits = index.search(query, k=5)
    assert term.lower() in hits[0].text.lower()
    assert not hits[0].weak and not results_weak(hits), (hits[0].match, hits[0].confidence)
    a, b = hits[0].highlights[0]
    assert term.lower().split()[0] in hits[0].text[a:b].lower()  # the mark holds the term


@pytest.mark.parametrize("query", ["Grenfell", "sertraline", "Schwartz Rounds"])
def test_a_keyword_search_for_a_term_no_document_holds_is_weak(index: Index,
                                                                query: str):
    assert results_weak(index.search(query, k=5))


QUESTIONS = ["How are ambulance call handlers supported?",
             "What peer support do Met officers get after a traumatic incident?",
             "Who wrote the letter about the Met's response to mental health?",
             "How does the Mayor want the Met to work with the NHS?",
             "TIPT", "Wellbeing Cafes", "How much does the Occupational Health contract cost?"]


@pytest.mark.parametrize("question", QUESTIONS)
def test_labels_never_rise_down_the_list(index: Index, question: str):
    hits = index.search(question, k=10)
    confidences = [h.confidence for h in hits]
    assert confidences == sorted(confidences, reverse=True)
    labels = [RANK[h.match] for h in hits]
    assert labels == sorted(labels, reverse=True)


@pytest.mark.parametrize("question", QUESTIONS)
def test_marks_never_fall_on_a_signature_address_heading_or_question(index: Index,
                                                                      question: str):
    for hit in index.search(question, k=10):
        assert len(hit.highlights) <= 2
        for a, b in hit.highlights:
            sentence = hit.text[a:b]
            assert not boilerplate.is_fragment(sentence), sentence
            assert not boilerplate.is_question(sentence), sentence


def test_an_introduction_listing_the_questions_asked_is_not_a_strong_answer(
        index: Index):
    """The Fire Committee's introduction only repeats the questions put to the services."""
    hits = index.search("How are ambulance call handlers supported?", k=10)
    intro = [h for h in hits if h.text.startswith("In January 2026, the London Assembly Fire "
                                                  "Committee received written evidence")]
    assert intro, "the introduction is among the top 10, as before this change"
    assert all(h.match != "strong match" for h in intro)


def test_a_weak_match_shows_its_closest_sentence_as_that_not_as_an_answer():
    hit = Hit(text="Crews rest in cafes. Budgets are set yearly.", score=0.1, doc_id="d",
              title="T", path="d.txt", page=None, section="", start=0, end=44, citation="T",
              weak=True, match="weak match", highlights=[(0, 20)])
    html = passage_html(hit)
    assert 'class="closest"' in html and 'class="answer' not in html
    hit.weak, hit.match = False, "strong match"
    assert '<mark class="answer best">Crews rest in cafes.</mark>' in passage_html(hit)


class Reordering:
    """A reader with the shape of the real one that prefers what the ranking put lower, or
    returns one score too few."""

    name = "test-reader"

    def __init__(self, broken: bool = False) -> None:
        self.broken = broken

    def score(self, question, passages):
        import numpy as np

        n = len(passages) - 1 if self.broken else len(passages)
        return np.arange(n, dtype=np.float64)


def test_the_reader_reorders_the_top_and_a_broken_one_is_ignored(corpus_index: Index):
    from dataclasses import replace

    from search.retrieve.pipeline import Searcher

    question = "How are ambulance staff supported?"
    with corpus_index.snapshot() as view:
        base = corpus_index.searcher(view.manifest)
        weights = replace(base.weights, reader=5.0, reader_depth=6)
        query = corpus_index.query(question, k=6)
        plain = base.run(view, query).hits
        read = Searcher(base.encoder, base.calibration, Reordering(), weights).run(
            view, query).hits
        broken = Searcher(base.encoder, base.calibration, Reordering(broken=True),
                          weights).run(view, query).hits
    place = {(h.doc_id, h.start): h.rank for h in plain}
    assert place.get((read[0].doc_id, read[0].start), 99) >= 4  # the reader's choice leads
    assert [(h.doc_id, h.start) for h in broken] == [(h.doc_id, h.start) for h in plain]
