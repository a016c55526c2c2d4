"""How much a word weighs in this index (IDF) and how much of a question's rare-word weight a
passage covers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

from search.words import term_set


def idf(df: int, n: int) -> float:
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def coverage(query_terms: Sequence[str], passage: str, weights: dict[str, float]) -> float:
    """Share of the question's IDF weight whose words occur in the passage: 1.0 when every
    rare word of the question is there, near 0 when only common ones are."""
    total = sum(weights.get(t, 0.0) for t in query_terms)
    if total <= 0:
        return 0.0
    present = stems_of(passage)
    return sum(weights.get(t, 0.0) for t in query_terms if t in present) / total


@lru_cache(maxsize=4096)
def stems_of(text: str) -> frozenset[str]:
    """A passage's or sentence's stems, kept for the next question: one search weighs the
    same candidates' words in retrieval, ranking, confidence and highlighting (about 80
    texts), and the next question usually meets many of them again."""
    return term_set(text)


def term_weights(query_terms: Sequence[str], doc_freq: Callable[[str], int],
                 n: int) -> dict[str, float]:
    return {t: idf(doc_freq(t), n) for t in query_terms}
