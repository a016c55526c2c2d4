"""Words as every stage sees them: the fast paths (ASCII tokens, the stem table, unordered
stems) give exactly what the plain definitions give, on any text."""

from __future__ import annotations

import re

import pytest
import Stemmer
from hypothesis import given
from hypothesis import strategies as st

from search import words
from search.words import STOPWORDS, stem, term_set, terms, tokens
from tests.test_properties import SETTINGS

PORTER = Stemmer.Stemmer("porter")
UNICODE_WORD = re.compile(r"\w+")

texts = st.one_of(st.text(max_size=200),
                  st.text(alphabet="abcdefghij KLMNOP_0123.,'-é", max_size=200),
                  st.sampled_from(["Café staff's welfare_check, ÉCOLE 42", "Straße über",
                                   "the and of", ""]))


@SETTINGS
@given(text=texts)
def test_tokens_terms_and_term_set_match_their_definitions(text: str):
    expected_tokens = UNICODE_WORD.findall(text.lower())
    assert tokens(text) == expected_tokens
    expected_terms = list(dict.fromkeys(PORTER.stemWord(w) for w in expected_tokens
                                        if w not in STOPWORDS))
    assert terms(text) == expected_terms
    assert term_set(text) == frozenset(expected_terms)


def test_terms_keep_order_and_drop_stopwords():
    assert terms("The officers' counselling and the officer counselled") == [
        "offic", "counsel"]


def test_a_full_stem_table_starts_afresh_and_stays_right(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(words, "STEMS_KEPT", 3)
    monkeypatch.setattr(words, "_STEMS", words._Stems())
    found = [stem(w) for w in ("running", "officers", "stations", "welfare", "running")]
    assert found == ["run", "offic", "station", "welfar", "run"]
    assert len(words._STEMS) <= 3
