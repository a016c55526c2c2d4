"""From a question to ranked chunk ids: semantic, lexical or hybrid retrieval, then fusion and
de-duplication. Knows nothing of files; reads one index snapshot."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .lexical import STOPWORDS, WORD, stem
from .records import Filters
from .store import Snapshot, StoredChunk

MODES = ("semantic", "lexical", "hybrid")
# In a large index, words found in over a tenth of all passages add little to BM25 (low IDF)
# but make FTS5 score most of the index; they are left out of the lexical query there.
PRUNE_ABOVE = int(os.environ.get("EVIDENCE_SEARCH_PRUNE_ABOVE", "50000"))
COMMON_FRACTION = 0.1


@dataclass(frozen=True)
class Fusion:
    """How hybrid mode merges the two ranked lists.

    `rrf`: reciprocal rank fusion, score = sum of weight / (rrf_k + rank) — robust, scale-free.
    `weighted`: min-max normalise each list's scores, then weight * semantic + (1 - weight) *
    lexical. docs/EVALUATION.md compares them; the default is the better one there.
    """

    method: str = "rrf"
    rrf_k: int = 60
    weight: float = 0.5  # semantic share, for both methods


@dataclass
class Candidate:
    id: int
    score: float
    similarity: float  # cosine between question and passage, whatever the mode
    row: StoredChunk | None = None


def retrieve(snap: Snapshot, query_vector: np.ndarray, query: str, k: int, mode: str,
             filters: Filters | None, fusion: Fusion) -> list[Candidate]:
    """Up to k candidates, best first, with overlapping passages collapsed to the best one."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
    depth = max(50, 3 * k)
    allowed = snap.allowed_ids(filters) if filters and not filters.is_empty() else None
    dense = snap.search_vectors(query_vector, depth, allowed) if mode != "lexical" else []
    lexical = (snap.search_lexical(lexical_query(snap, query), depth, filters)
               if mode != "semantic" else [])
    if mode == "semantic":
        fused = dense
    elif mode == "lexical":
        fused = lexical
    else:
        fused = fuse(dense, lexical, fusion)
    top = fused[: k + max(10, k // 2)]  # spare ones replace passages that collapse away
    similarity = dict(dense)
    missing = [i for i, _ in top if i not in similarity]
    if missing:
        vectors = snap.vectors_of(missing)
        similarity.update(zip(missing, (vectors @ query_vector).tolist(), strict=True))
    rows = snap.chunks([i for i, _ in top])
    candidates = [Candidate(i, s, float(similarity[i]), rows[i]) for i, s in top if i in rows]
    return collapse(candidates)[:k]


def lexical_query(snap: Snapshot, query: str) -> str:
    """The question's words for BM25; in a large index, without its very common words."""
    total = snap.count
    if total <= PRUNE_ABOVE:
        return query
    words = list(dict.fromkeys(w for w in WORD.findall(query.lower()) if w not in STOPWORDS))
    freq = {w: snap.doc_freq(stem(w), w) for w in words}
    keep = [w for w in words if freq[w] <= COMMON_FRACTION * total]
    return " ".join(keep or sorted(words, key=freq.__getitem__)[:2]) or query


def fuse(dense: list[tuple[int, float]], lexical: list[tuple[int, float]],
         fusion: Fusion) -> list[tuple[int, float]]:
    scores: dict[int, float] = {}
    if fusion.method == "rrf":
        for weight, ranked in ((fusion.weight, dense), (1 - fusion.weight, lexical)):
            for rank, (i, _) in enumerate(ranked, start=1):
                scores[i] = scores.get(i, 0.0) + 2 * weight / (fusion.rrf_k + rank)
    elif fusion.method == "weighted":
        for weight, ranked in ((fusion.weight, dense), (1 - fusion.weight, lexical)):
            if not ranked:
                continue
            values = [s for _, s in ranked]
            low, high = min(values), max(values)
            for i, s in ranked:
                norm = (s - low) / (high - low) if high > low else 1.0
                scores[i] = scores.get(i, 0.0) + weight * norm
    else:
        raise ValueError(f"fusion method must be 'rrf' or 'weighted' (got {fusion.method!r})")
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


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
