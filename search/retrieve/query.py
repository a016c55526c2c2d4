"""From a question to ranked chunk ids: semantic, lexical or hybrid retrieval, fusion that
weighs the lexical list by the evidence for it, a final ranking stage over the top candidates,
then de-duplication. Knows nothing of files; reads one index snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from search.config import prune_above
from search.records import Filters
from search.retrieve import ranking
from search.retrieve.terms import coverage, term_weights
from search.store import ReadView, StoredChunk
from search.words import STOPWORDS, WORD, terms, words_by_term

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


@dataclass(frozen=True)
class QueryTerms:
    """A question's content-word stems with their IDF in this index (unseen words weigh most)."""

    terms: list[str]
    weights: dict[str, float]

    @classmethod
    def of(cls, snap: ReadView, query: str) -> QueryTerms:
        stems, words = terms(query), words_by_term(query)
        return cls(stems, term_weights(stems, lambda t: snap.doc_freq(words.get(t, t)),
                                       max(1, snap.count)))

    def coverage(self, text: str) -> float:
        return coverage(self.terms, text, self.weights)


@dataclass
class Retrieved:
    """What retrieval found, with the evidence the confidence model reads."""

    candidates: list[Candidate]
    query_terms: QueryTerms
    lexical_trust: float = 0.0
    agreement: float = 0.0  # share of the top 10 both lists hold


def retrieve(snap: ReadView, query_vector: np.ndarray, query: str, k: int, mode: str,
             filters: Filters | None, fusion: Fusion) -> Retrieved:
    """Up to k candidates, best first, with overlapping passages collapsed to the best one."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
    depth = max(50, 3 * k)
    # A single mode still reads the other list's top 10: their agreement feeds confidence.
    dense = snap.search_vectors(query_vector, depth if mode != "lexical" else AGREE, filters)
    lexical = snap.search_lexical(lexical_query(snap, query),
                                  depth if mode != "semantic" else AGREE, filters)
    qt = QueryTerms.of(snap, query)
    trust = 0.0
    agreement = ranking.agreement([i for i, _ in dense], [i for i, _ in lexical], AGREE)
    if mode == "semantic":
        fused, lexical = dense, []
    elif mode == "lexical":
        fused, dense = lexical, []
    elif fusion.method == "adaptive":
        top_rows = snap.chunks([i for i, _ in lexical[:1]])
        top_coverage = qt.coverage(top_rows[lexical[0][0]].text) if top_rows else 0.0
        trust = ranking.lexical_trust(top_coverage, agreement)
        fused = ranking.weighted_rrf(dense, lexical, 1.0, trust)
    else:
        fused = fuse(dense, lexical, fusion)
    reranking = fusion.rerank and mode == "hybrid"
    spare = k + max(10, k // 2)  # spare ones replace passages that collapse away
    top = fused[: max(spare, RERANK_DEPTH) if reranking else spare]
    ids = [i for i, _ in top]
    similarity = dict(dense)
    missing = [i for i in ids if i not in similarity]
    if missing:
        vectors = snap.vectors_of(missing)
        similarity.update(zip(missing, (vectors @ query_vector).tolist(), strict=True))
    rows = snap.chunks(ids)
    stored = snap.sentences(ids)
    candidates = []
    for i, score in top:
        if i not in rows:
            continue
        cand = Candidate(i, score, float(similarity[i]), rows[i])
        sentences = stored.get(i)
        if sentences is not None and len(sentences.spans):
            cosines = (sentences.vectors @ query_vector).tolist()
            cand.sentence_scores = list(zip(sentences.spans, cosines, strict=True))
            cand.sentence = max(cosines)
        else:
            cand.sentence = cand.similarity
        cand.coverage = qt.coverage(rows[i].text)
        candidates.append(cand)
    if reranking:
        candidates = rerank(candidates, qt, trust)
    return Retrieved(collapse(candidates)[:k], qt, trust, agreement)


def rerank(candidates: list[Candidate], qt: QueryTerms, trust: float) -> list[Candidate]:
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
        heading=np.array(heading), trust=trust)
    for cand, score in zip(candidates, scores.tolist(), strict=True):
        cand.score = score
    return sorted(candidates, key=lambda c: (-c.score, c.id))


def lexical_query(snap: ReadView, query: str) -> str:
    """The question's words for BM25; in a large index, without its very common words."""
    total = snap.count
    if total <= prune_above():
        return query
    words = list(dict.fromkeys(w for w in WORD.findall(query.lower()) if w not in STOPWORDS))
    freq = {w: snap.doc_freq(w) for w in words}
    keep = [w for w in words if freq[w] <= COMMON_FRACTION * total]
    return " ".join(keep or sorted(words, key=freq.__getitem__)[:2]) or query


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
