"""Words as every stage sees them: tokens, stopwords, Porter stems. Shared by ranking (rare-word
coverage) and the engines (how a question becomes a BM25 query), so it sits below both."""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

WORD = re.compile(r"\w+", re.UNICODE)
# Words too common to help BM25 pick a passage; dropped from lexical queries.
STOPWORDS = frozenset([
    "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did",
    "do", "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is",
    "it", "its", "me", "my", "of", "on", "or", "our", "should", "so", "such", "than", "that",
    "the", "their", "them", "then", "there", "these", "they", "this", "those", "to", "was",
    "we", "were", "what", "when", "where", "which", "who", "whom", "why", "will", "with",
    "would", "you", "your",
])
_stemmer = Stemmer.Stemmer("porter")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return _stemmer.stemWord(word)


def query_words(text: str, limit: int = 64) -> list[str]:
    """A question's distinct words for a BM25 engine: stopwords dropped (unless that leaves
    nothing), nothing else, so no engine's query syntax is ever interpreted."""
    words = list(dict.fromkeys(WORD.findall(text.lower())))
    content = [w for w in words if w not in STOPWORDS]
    return (content or words)[:limit]


def words_by_term(text: str) -> dict[str, str]:
    """A word of the text for each of its stems (engines that stem differently need it)."""
    return {stem(w): w for w in reversed(WORD.findall(text.lower())) if w not in STOPWORDS}


def terms(text: str) -> list[str]:
    """Distinct content-word stems of a text, in order."""
    words = [w for w in WORD.findall(text.lower()) if w not in STOPWORDS]
    return list(dict.fromkeys(stem(w) for w in words))
