"""Rare-word coverage finds a question's stems in a passage without stemming the whole passage;
it must agree with stemming every word, on real prose and on any Unicode text."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wordfreq import top_n_list

from search.retrieve.terms import coverage, has_stem
from search.words import STOPWORDS, WORD, stem, terms

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
SETTINGS = settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "200")),
                    deadline=None, database=None,
                    derandomize=os.environ.get("HYPOTHESIS_RANDOM") is None)


def slow_coverage(query_terms: list[str], passage: str, weights: dict[str, float]) -> float:
    """The definition: every content word of the passage stemmed."""
    total = sum(weights.get(t, 0.0) for t in query_terms)
    present = set(terms(passage))
    return (sum(weights.get(t, 0.0) for t in query_terms if t in present) / total
            if total > 0 else 0.0)


def test_a_porter_stem_keeps_all_but_its_last_letter_of_the_word():
    """What has_stem relies on, over wordfreq's whole English list (~320,000 words)."""
    broken = [(w, stem(w)) for w in top_n_list("en", 1_000_000) if WORD.fullmatch(w)
              and not w.startswith(stem(w)[:-1])]
    assert broken == []


def test_coverage_agrees_with_stemming_every_word_on_the_corpus():
    texts = [p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.txt"))]
    paragraphs = [b for t in texts for b in t.split("\n\n") if b.strip()]
    vocabulary = sorted({t for p in paragraphs for t in terms(p)})
    assert len(paragraphs) > 50 and len(vocabulary) > 500
    checked = 0
    for n, paragraph in enumerate(paragraphs):
        own = terms(paragraph)
        query = own[:3] + vocabulary[n * 7 % len(vocabulary):][:4]  # present and absent
        weights = {t: 1.0 + len(t) for t in query}
        assert coverage(query, paragraph, weights) == pytest.approx(
            slow_coverage(query, paragraph, weights)), paragraph[:80]
        checked += 1
    assert checked == len(paragraphs)


words = st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N", "Pc", "Zs",
                                                                     "Po", "Mn")),
                max_size=12)


@SETTINGS
@given(text=st.lists(st.one_of(words, st.sampled_from(
    ["happy", "hoping", "officers", "OFFICE", "İstanbul", "ability", "the", "being", "_x",
     "x_officer", "9officers", "officer's", "ﬁre", "Straße"])), max_size=30).map(" ".join),
       extra=st.lists(st.sampled_from(["happi", "hope", "offic", "abil", "be", "fire",
                                       "istanbul", "x", "9offic", "strass"]), max_size=4))
def test_coverage_agrees_on_any_text(text, extra):
    query = list(dict.fromkeys(terms(text)[:4] + extra))
    weights = {t: 1.0 for t in query}
    assert coverage(query, text, weights) == pytest.approx(slow_coverage(query, text, weights))


def test_a_stem_is_found_only_as_a_whole_content_word():
    assert has_stem("peer support for officers", "offic")
    assert not has_stem("peer support for nonofficers", "offic")  # inside another word
    assert "be" in STOPWORDS and not has_stem("to be there", "be")  # a stopword: no
    assert has_stem("the being there", "be")  # a content word with the same stem: yes
    assert has_stem("we were hoping", "hope")
