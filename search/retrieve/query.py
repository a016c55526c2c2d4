"""From a question's vector and words to ranked candidates: semantic, lexical or hybrid
retrieval, fusion that weighs the lexical list by the evidence for it, the final ranking
stage over the top candidates, and de-duplication (pipeline.Searcher runs them in order).
Knows nothing of files; reads one index view."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from search.config import prune_above
from search.records import Filters, StoredChunk
from search.retrieve import ranking
from search.retrieve.terms import coverage, term_weights
from search.store import ReadView
from search.words import could_be_typo, terms, words_by_term

MODES = ("semantic", "lexical", "hybrid")
# In a large index, words found in over a tenth of all passages add little to BM25 (low IDF)
# but make FTS5 score most of the index; they are left out of the lexical query there.
COMMON_FRACTION = 0.1
RERANK_DEPTH = 30  # fused candidates the final ranking stage looks at
AGREE = 10  # top places of the two lists compared for their agreement


@dataclass(frozen=True)
class Fusion:
    """How hybrid mode merges the two ranked lists.

    `adaptive` (default): per question, the lexical list counts as much as the evidence says
    it helps (ranking.lexical_trust), then the final ranking stage re-orders the top ones.
    `rrf`: reciprocal rank fusion with a fixed weight, score = sum of weight / (rrf_k + rank).
    `weighted`: min-max normalise each list's scores, then weight * semantic + (1 - weight) *
    lexical. docs/EVALUATION.md compares them.
    """

    method: str = "adaptive"
    rrf_k: int = 60
    weight: float = 0.5  # semantic share, for rrf and weighted
    rerank: bool = True  # the final ranking stage (sentence evidence, rare words, headings)


@dataclass
class Candidate:
    id: int
    score: float
    similarity: float  # cosine between question and passage, whatever the mode
    row: StoredChunk | None = None
    sentence: float = 0.0  # best sentence's cosine (the passage's when none are stored)
    sentence_scores: list[tuple[tuple[int, int], float]] = field(default_factory=list)
    coverage: float = 0.0  # share of the question's rare-word weight in the passage
    reader: float | None = None  # the reader's logit, where it read this passage


@dataclass(frozen=True)
class QueryTerms:
    """A question's words as retrieval sees them, tokenised once: content-word stems, the
    index's passage count for each (read once), and their IDF weights (unseen words weigh
    most)."""

    terms: list[str]
    weights: dict[str, float]
    words: dict[str, str] = field(default_factory=dict)  # stem -> a word of the question
    doc_freq: dict[str, int] = field(default_factory=dict)
    corrections: dict[str, str] = field(default_factory=dict)  # misspelt word -> index's word

    @classmethod
    def of(cls, snap: ReadView, query: str) -> QueryTerms:
        """The question's terms; a word no passage holds is read as the index's word a typo
        away from it, when there is one ("councelling" → "counselling")."""
        stems, words = terms(query), words_by_term(query)
        freq = {t: snap.doc_freq(words.get(t, t)) for t in stems}
        corrections = {}
        for t in stems:
            word = words.get(t, t)
            if not freq[t] and could_be_typo(word) and (fix := snap.similar_word(word)):
                corrections[word] = fix
        if corrections:
            query = correct(query, corrections)
            stems, words = terms(query), words_by_term(query)
            freq = {t: snap.doc_freq(words.get(t, t)) for t in stems}
        return cls(stems, term_weights(stems, freq.__getitem__, max(1, snap.count)), words,
                   freq, corrections)

    def corrected(self, query: str) -> str:
        """The question as searched: misspelt words replaced by the index's words."""
        return correct(query, self.corrections) if self.corrections else query

    def coverage(self, text: str) -> float:
        return coverage(self.terms, text, self.weights)

    def lexical_query(self, query: str, total: int) -> str:
        """The question's words for BM25; in a large index, without its very common words
        (counted once, in `doc_freq`)."""
        if total <= prune_above() or not self.terms:
            return query
        keep = [self.words.get(t, t) for t in self.terms
                if self.doc_freq.get(t, 0) <= COMMON_FRACTION * total]
        rarest = sorted(self.terms, key=lambda t: self.doc_freq.get(t, 0))[:2]
        return " ".join(keep or [self.words.get(t, t) for t in rarest]) or query


def correct(text: str, corrections: dict[str, str]) -> str:
    """`text` with each whole word in `corrections` (any case) replaced."""
    if not corrections:
        return text
    pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in corrections) + r")\b",
                         re.IGNORECASE)
    return pattern.sub(lambda m: corrections[m.group(1).lower()], text)


@dataclass
class Retrieved:
    """What retrieval found, ranked, with the evidence the confidence model reads."""

    candidates: list[Candidate]
    query_terms: QueryTerms
    lexical_trust: float = 0.0
    agreement: float = 0.0  # share of the top 10 both lists hold
    # section paths of every passage read, by document: which headings a passage repeats
    sections: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)


def retrieve(snap: ReadView, query_vector: np.ndarray, query: str, qt: QueryTerms, k: int,
             mode: str, filters: Filters | None, fusion: Fusion,
             weights: ranking.Weights = ranking.WEIGHTS) -> Retrieved:
    """Candidates for up to k hits, best first (overlapping passages not yet collapsed): both
    lists, fusion, one read of the candidates' rows and vectors, the final ranking stage."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
    depth = max(50, 3 * k)
    # A single mode still reads the other list's top 10: their agreement feeds confidence.
    dense, lexical = snap.search_both(query_vector, depth if mode != "lexical" else AGREE,
                                      qt.lexical_query(query, snap.count),
                                      depth if mode != "semantic" else AGREE, filters)
    agreement = ranking.agreement([i for i, _ in dense], [i for i, _ in lexical], AGREE)
    reranking = fusion.rerank and mode == "hybrid"
    spare = k + max(10, k // 2)  # spare ones replace passages that collapse away
    keep = max(spare, RERANK_DEPTH) if reranking else spare
    # One read for every passage that can reach the fused top `keep` (fusion's order depends
    # on the best word hit's text, so it is read before fusing): each list's top `keep`, and
    # whatever both lists hold — a passage in one list only, below its top `keep`, has at
    # least `keep` passages of that list above it after fusion.
    if mode == "semantic":
        pool = [i for i, _ in dense[:keep]]
    elif mode == "lexical":
        pool = [i for i, _ in lexical[:keep]]
    else:
        both = {i for i, _ in dense} & {i for i, _ in lexical}
        pool = [i for i, _ in dense[:keep] + lexical[:keep]] + sorted(both)
    stored = snap.candidates(list(dict.fromkeys(pool)))
    trust = 0.0
    if mode == "semantic":
        fused = dense
    elif mode == "lexical":
        fused = lexical
    elif fusion.method == "adaptive":
        top = stored.get(lexical[0][0]) if lexical else None
        trust = ranking.lexical_trust(qt.coverage(top.chunk.text) if top else 0.0, agreement,
                                      weights)
        fused = ranking.weighted_rrf(dense, lexical, 1.0, trust, weights.rrf_k)
    else:
        fused = fuse(dense, lexical, fusion)
    similarity = dict(dense)
    candidates = []
    for i, score in fused:
        found = stored.get(i)
        if found is None:
            continue
        cosine = similarity[i] if i in similarity else float(found.vector @ query_vector)
        cand = Candidate(i, score, float(cosine), found.chunk)
        if found.sentences is not None and len(found.sentences.spans):
            cosines = (found.sentences.vectors @ query_vector).tolist()
            cand.sentence_scores = list(zip(found.sentences.spans, cosines, strict=True))
            cand.sentence = max(cosines)
        else:
            cand.sentence = cand.similarity
        cand.coverage = qt.coverage(found.chunk.text)
        candidates.append(cand)
        if len(candidates) == keep:
            break
    if reranking:
        candidates = rerank(candidates, qt, trust, weights)
    sections: dict[str, list[tuple[str, ...]]] = {}
    for found in stored.values():
        sections.setdefault(found.chunk.doc_id, []).append(found.chunk.section)
    return Retrieved(candidates, qt, trust, agreement, sections)


def rerank(candidates: list[Candidate], qt: QueryTerms, trust: float,
           weights: ranking.Weights = ranking.WEIGHTS) -> list[Candidate]:
    """The final ranking stage: passage and best-sentence meaning, rare words, headings."""
    if not candidates:
        return candidates
    heading = [qt.coverage(" ".join([c.row.title, *c.row.section])) if c.row else 0.0
               for c in candidates]
    scores = ranking.final_scores(
        passage=np.array([c.similarity for c in candidates]),
        sentence=np.array([c.sentence for c in candidates]),
        fused=np.array([c.score for c in candidates]),
        coverage=np.array([c.coverage for c in candidates]),
        heading=np.array(heading), trust=trust, w=weights)
    for cand, score in zip(candidates, scores.tolist(), strict=True):
        cand.score = score
    return sorted(candidates, key=lambda c: (-c.score, c.id))


def fuse(dense: list[tuple[int, float]], lexical: list[tuple[int, float]],
         fusion: Fusion) -> list[tuple[int, float]]:
    """The fixed-weight fusions, kept for comparison (docs/EVALUATION.md)."""
    if fusion.method == "rrf":
        return ranking.weighted_rrf(dense, lexical, 2 * fusion.weight, 2 * (1 - fusion.weight),
                                    fusion.rrf_k)
    if fusion.method == "weighted":
        scores: dict[int, float] = {}
        for weight, ranked in ((fusion.weight, dense), (1 - fusion.weight, lexical)):
            if not ranked:
                continue
            values = [s for _, s in ranked]
            low, high = min(values), max(values)
            for i, s in ranked:
                norm = (s - low) / (high - low) if high > low else 1.0
                scores[i] = scores.get(i, 0.0) + weight * norm
        return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    raise ValueError(f"fusion method must be 'adaptive', 'rrf' or 'weighted' "
                     f"(got {fusion.method!r})")


def collapse(candidates: list[Candidate]) -> list[Candidate]:
    """Never show the same text twice: a passage overlapping a better one in the same
    document, or with the same words as a better one anywhere, is dropped."""
    kept: list[Candidate] = []
    seen_text: set[str] = set()
    spans: dict[str, list[tuple[int, int]]] = {}
    for cand in candidates:
        row = cand.row
        assert row is not None
        key = " ".join(row.text.split()).lower()
        taken = spans.setdefault(row.doc_id, [])
        if key in seen_text or any(s < row.end and row.start < e for s, e in taken):
            continue
        kept.append(cand)
        seen_text.add(key)
        taken.append((row.start, row.end))
    return kept
