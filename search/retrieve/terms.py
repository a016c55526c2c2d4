"""How much a word weighs in this index (IDF) and how much of a question's rare-word weight a
passage covers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

from search.words import STOPWORDS, WORD, stem, terms


def idf(df: int, n: int) -> float:
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def coverage(query_terms: Sequence[str], passage: str, weights: dict[str, float]) -> float:
    """Share of the question's IDF weight whose words occur in the passage: 1.0 when every
    rare word of the question is there, near 0 when only common ones are."""
    total = sum(weights.get(t, 0.0) for t in query_terms)
    if total <= 0:
        return 0.0
    lowered = passage.lower()
    return sum(weights.get(t, 0.0) for t in query_terms if has_stem(lowered, t)) / total


def has_stem(lowered: str, target: str) -> bool:
    """Whether a content word of `lowered` (a lower-cased text) stems to `target`, as `terms`
    would find it, without stemming the whole text: a search weighs some 80 passages and
    sentences that way, and stemming each word of each took ~5 ms at a million passages.
    A Porter stem differs from its word's beginning in the last letter at most ("happi" from
    "happy", "hope" from "hoping"; tests/test_terms.py checks 330,000 words), so only words
    starting with all but the stem's last letter are stemmed."""
    head = target[:-1]
    if len(head) < 2:  # a one- or two-letter stem: too many words start with its head
        return target in stems_of(lowered)
    at = lowered.find(head)
    while at != -1:
        if at and _is_word_char(lowered[at - 1]):  # inside a word: not where a word starts
            at = lowered.find(head, at + 1)
            continue
        match = WORD.match(lowered, at)
        assert match is not None  # head is word characters, so a word starts here
        word = match.group()
        if word not in STOPWORDS and stem(word) == target:
            return True
        at = lowered.find(head, match.end())
    return False


def _is_word_char(char: str) -> bool:
    """What `\\w` matches in a str pattern: a letter, digit or number of any script, or '_'."""
    return char.isalnum() or char == "_"


@lru_cache(maxsize=4096)
def stems_of(text: str) -> frozenset[str]:
    """A text's stems, kept for the next question (short stems are looked up here)."""
    return frozenset(terms(text))


def term_weights(query_terms: Sequence[str], doc_freq: Callable[[str], int],
                 n: int) -> dict[str, float]:
    return {t: idf(doc_freq(t), n) for t in query_terms}
