"""Which sentences of a passage answer the question: one or two spans, best first.

Sentences are scored by meaning (cosine to the question) plus a bonus for the question's rare
words. An index stores each sentence's vector, so this is arithmetic at query time
(`answer_spans`); passages without stored sentence vectors fall back to embedding a bounded
budget of candidate sentences per query (`highlight`) — best-ranked passages first, and within
a passage the sentences richest in the question's words first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from search.embed.embedder import Embedder
from search.ingest.text import sentence_spans
from search.retrieve import boilerplate
from search.retrieve.query import Candidate
from search.retrieve.terms import coverage

MAX_SENTENCES = 2  # more, and a highlight stops pointing at anything
MAX_CANDIDATES = 16  # sentences per passage considered
EMBED_BUDGET_CHARS = 300  # ≈ 65 word-pieces embedded per query (docs/EVALUATION.md)
LEXICAL_BONUS = 0.25  # exact rare words ("TIPT", "136") lift a sentence that names them
WITHIN = 0.04  # a second sentence must score within this of the best one


def highlight(embedder: Embedder, query_vector: np.ndarray, query_terms: Sequence[str],
              weights: dict[str, float], texts: Sequence[str]) -> list[list[tuple[int, int]]]:
    """Character spans into each text, ranked."""
    spans = [sentence_spans(t)[:MAX_CANDIDATES] for t in texts]
    lexical = [[coverage(query_terms, texts[n][a:b], weights) for a, b in ss]
               for n, ss in enumerate(spans)]
    chosen: list[tuple[int, int]] = []  # (passage, sentence) pairs to embed
    budget = EMBED_BUDGET_CHARS
    for n, ss in enumerate(spans):
        if len(ss) <= 1:
            continue
        for i in sorted(range(len(ss)), key=lambda i: (-lexical[n][i], i)):
            size = ss[i][1] - ss[i][0]
            if size > budget:
                continue
            chosen.append((n, i))
            budget -= size
        if budget < 80:
            break
    semantic: dict[tuple[int, int], float] = {}
    if chosen:
        vectors = embedder.encode([texts[n][spans[n][i][0]:spans[n][i][1]] for n, i in chosen])
        semantic = dict(zip(chosen, (vectors @ query_vector).tolist(), strict=True))
    out: list[list[tuple[int, int]]] = []
    for n, ss in enumerate(spans):
        if len(ss) <= 1:
            out.append(list(ss))
            continue
        floor = min((v for (m, _), v in semantic.items() if m == n), default=0.0)
        scored = [(semantic.get((n, i), floor - 0.05) + LEXICAL_BONUS * lexical[n][i], span)
                  for i, span in enumerate(ss)]
        scored.sort(key=lambda item: -item[0])
        best = scored[0][0]
        out.append([span for score, span in scored[:MAX_SENTENCES] if score >= best - WITHIN])
    return out


def answer_spans(embedder: Embedder, query_vector: np.ndarray, query_terms: Sequence[str],
                 weights: dict[str, float], candidates: Sequence[Candidate],
                 weak: Sequence[bool], sections: dict[str, list[tuple[str, ...]]] | None = None,
                 keyword: bool = False) -> list[list[tuple[int, int]]]:
    """Highlights for ranked candidates: from stored sentence scores where the index has
    them, else by embedding sentences now. Only sentences that carry content are marked —
    never a signature, an address, a contents line, a question or a repeated heading
    (boilerplate.py) — and for a keyword search only sentences that hold its words, where
    any does. A weak match marks at most its closest sentence (shown as that, not as an
    answer)."""
    out: list[list[tuple[int, int]]] = [[] for _ in candidates]
    fallback = [n for n, c in enumerate(candidates) if not c.sentence_scores and c.row]
    if fallback:
        texts = [candidates[n].row.text for n in fallback]  # type: ignore[union-attr]
        for n, spans in zip(fallback, highlight(embedder, query_vector, query_terms, weights,
                                                texts), strict=True):
            out[n] = spans
    for n, cand in enumerate(candidates):
        row = cand.row
        if row is None:
            continue
        headings = boilerplate.heading_stems((sections or {}).get(row.doc_id, []), row.section)
        if cand.sentence_scores:
            scored = [(span, cos, coverage(query_terms, row.text[span[0]:span[1]], weights))
                      for span, cos in cand.sentence_scores]
        else:
            scored = [(span, 1.0 - i, coverage(query_terms, row.text[span[0]:span[1]], weights))
                      for i, span in enumerate(out[n])]
        content = [item for item in scored
                   if not boilerplate.not_content(row.text[item[0][0]:item[0][1]], headings)]
        if keyword and any(cov > 0 for _, _, cov in content):
            content = [item for item in content if item[2] > 0]
        out[n] = pick([(span, cos + LEXICAL_BONUS * cov) for span, cos, cov in content])
        if weak[n]:
            out[n] = out[n][:1]
    return out


def pick(scored: Sequence[tuple[tuple[int, int], float]]) -> list[tuple[int, int]]:
    """The best sentence, and the runner-up only when it scores nearly as well; never every
    sentence of a passage that has several."""
    ranked = sorted(scored, key=lambda item: -item[1])
    if not ranked:
        return []
    limit = min(MAX_SENTENCES, max(1, len(ranked) - 1))
    best = ranked[0][1]
    return [span for span, score in ranked[:limit] if score >= best - WITHIN]
