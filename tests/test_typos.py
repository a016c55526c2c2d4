"""Typo tolerance in word search (issue 21, item 12): a word no passage holds and no English
text uses is read as the index's word a typo away; real words are searched as written."""

from __future__ import annotations

from search import Index
from search.retrieve.query import QueryTerms, correct
from search.words import closest_word, could_be_typo, typo_distance


def test_closest_word_prefers_fewest_edits_then_most_passages():
    texts = ["Counselling and peer support", "counsellors offer counselling", "cancelling"]
    freq = {"counselling": 5, "cancelling": 9}.get
    assert closest_word("councelling", texts, lambda w: freq(w) or 0) == "counselling"
    assert closest_word("counselilng", texts, lambda w: freq(w) or 0) == "counselling"  # swap
    assert closest_word("xyzzyplugh", texts, lambda w: 0) is None


def test_short_words_and_english_words_are_not_typos():
    assert typo_distance("tipt") == 0  # an unknown acronym is not a typo of another
    assert typo_distance("sectoin") == 1 and typo_distance("psychiatrc") == 2
    assert could_be_typo("councelling") and could_be_typo("ambulence")
    assert not could_be_typo("tight") and not could_be_typo("detentions")  # real words


def test_correct_replaces_whole_words_in_any_case():
    assert correct("Councelling for councelling-staff", {"councelling": "counselling"}) == \
        "counselling for counselling-staff"
    assert correct("recouncelling", {"councelling": "counselling"}) == "recouncelling"


def test_a_misspelt_word_finds_the_passage_the_right_spelling_finds(any_corpus_index: Index):
    corpus_index = any_corpus_index  # the local engine (tantivy fuzzy terms) and Milvus
    right = corpus_index.search("counselling for paramedics", k=3)
    typo = corpus_index.search("councelling for paramedics", k=3)
    assert any("counselling" in h.text.lower() for h in typo[:3])
    assert [h.text for h in typo] == [h.text for h in right]
    assert typo[0].match == right[0].match


def test_real_words_absent_from_the_documents_are_searched_as_written(any_corpus_index: Index):
    corpus_index = any_corpus_index
    terms = corpus_index.read(
        lambda view: QueryTerms.of(view, "Can charities keep up when money is tight?"))
    assert terms.corrections == {}
    terms = corpus_index.read(lambda view: QueryTerms.of(view, "sectoin 136 detentions"))
    assert terms.corrections == {"sectoin": "section"}


def test_the_page_says_what_was_searched(corpus_index: Index):
    from search.web.render import results_html

    searched = corpus_index.run(corpus_index.query("councelling for paramedics", k=3))
    assert searched.corrected == "counselling for paramedics"
    page = results_html(searched.hits, "councelling for paramedics",
                        searched_as=searched.corrected)
    assert "Searched as “counselling for paramedics”" in page
    plain = corpus_index.run(corpus_index.query("counselling for paramedics", k=3))
    assert plain.corrected is None
