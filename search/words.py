"""Words as every stage sees them: tokens, stopwords, Porter stems. Shared by ranking (rare-word
coverage) and the engines (how a question becomes a BM25 query), so it sits below both."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import Stemmer
from rapidfuzz.distance import OSA

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
ASCII_WORD = re.compile(r"\w+", re.ASCII)  # the same words in ASCII text, found faster
_stemmer = Stemmer.Stemmer("porter")
STEMS_KEPT = 65_536  # words whose stems are remembered (~7 MB) before starting afresh


class _Stems(dict[str, str]):
    """Porter stems by word, filled as words are met: a search stems the words of some 60
    passages, and a dict lookup per word is a third of the cost of a cached call."""

    def __missing__(self, word: str) -> str:
        if len(self) >= STEMS_KEPT:
            self.clear()
        found = self[word] = _stemmer.stemWord(word)
        return found


_STEMS = _Stems()


def stem(word: str) -> str:
    return _STEMS[word]


def tokens(text: str) -> list[str]:
    """The text's words, lower-cased, in order."""
    lowered = text.lower()
    return (ASCII_WORD if lowered.isascii() else WORD).findall(lowered)


def query_words(text: str, limit: int = 64) -> list[str]:
    """A question's distinct words for a BM25 engine: stopwords dropped (unless that leaves
    nothing), nothing else, so no engine's query syntax is ever interpreted."""
    words = list(dict.fromkeys(tokens(text)))
    content = [w for w in words if w not in STOPWORDS]
    return (content or words)[:limit]


def words_by_term(text: str) -> dict[str, str]:
    """A word of the text for each of its stems (engines that stem differently need it)."""
    return {stem(w): w for w in reversed(tokens(text)) if w not in STOPWORDS}


def terms(text: str) -> list[str]:
    """Distinct content-word stems of a text, in order."""
    return list(dict.fromkeys(map(_STEMS.__getitem__,
                                  [w for w in tokens(text) if w not in STOPWORDS])))


def term_set(text: str) -> frozenset[str]:
    """The same stems as `terms`, unordered: each distinct word is stemmed once."""
    return frozenset(map(_STEMS.__getitem__, set(tokens(text)).difference(STOPWORDS)))


KNOWN_ZIPF = 1.0  # English uses the word at least once in 100 million words: not a typo


def could_be_typo(word: str) -> bool:
    """A word worth correcting: long enough, all letters, and not an English word (wordfreq's
    frequency lists). A real word absent from a small corpus ("tight", "detentions") is what
    the user meant: reading it as a neighbour ("light", "retention") would change the
    question."""
    if not typo_distance(word):
        return False
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en") < KNOWN_ZIPF


def warm() -> None:
    """Load the word-frequency lists now (0.3 s), not in the first search that needs them."""
    from wordfreq import zipf_frequency

    zipf_frequency("warm", "en")


def typo_distance(word: str) -> int:
    """Edits a misspelt word may be away from the index's word: none for short words (an
    unknown acronym is not a typo of another), one from five letters, two from nine."""
    if len(word) < 5 or not word.isalpha():
        return 0
    return 1 if len(word) < 9 else 2


def edits(a: str, b: str, limit: int) -> int:
    """Edits from a to b (a swap of two neighbours is one), or limit + 1 when over it."""
    return OSA.distance(a, b, score_cutoff=limit)


def closest_word(word: str, texts: Iterable[str], doc_freq: Callable[[str], int]) -> str | None:
    """The word of `texts` a misspelt `word` most likely meant: fewest edits (a swap of two
    letters is one), then the most passages, then alphabetical; None when none is near."""
    limit = typo_distance(word)
    if not limit:
        return None
    word = word.lower()
    near: dict[str, int] = {}
    for text in texts:
        for w in set(tokens(text)):
            if w != word and w not in near and abs(len(w) - len(word)) <= limit and w.isalpha():
                n = edits(word, w, limit)
                if n <= limit:
                    near[w] = n
    if not near:
        return None
    return min(near, key=lambda w: (near[w], -doc_freq(w), w))
