"""Which sentences of a passage answer the question: one to three spans, best first.

Sentences are scored by meaning (embedded, cosine to the question) plus a bonus for the
question's rare words. Embedding costs time in proportion to the text embedded, so only a
bounded budget of candidate sentences is embedded per query — best-ranked passages first, and
within a passage the sentences richest in the question's words first; the others are scored
by their words alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .embedder import Embedder
from .lexical import coverage
from .text import sentence_spans

MAX_SENTENCES = 3
MAX_CANDIDATES = 16  # sentences per passage considered
EMBED_BUDGET_CHARS = 300  # ≈ 65 word-pieces embedded per query (docs/EVALUATION.md)
LEXICAL_BONUS = 0.25  # exact rare words ("TIPT", "136") lift a sentence that names them
WITHIN = 0.08  # further sentences must score within this of the best one


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
