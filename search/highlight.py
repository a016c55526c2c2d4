"""Which sentences of a passage answer the question: one to three spans, best first."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .embedder import Embedder
from .lexical import coverage
from .text import sentence_spans

MAX_SENTENCES = 3
MAX_CANDIDATES = 16  # sentences per passage considered (passages are at most ~200 tokens)
LEXICAL_BONUS = 0.25  # exact rare words ("TIPT", "136") lift a sentence that names them
WITHIN = 0.08  # further sentences must score within this of the best one


def highlight(embedder: Embedder, query_vector: np.ndarray, query_terms: Sequence[str],
              weights: dict[str, float], texts: Sequence[str]) -> list[list[tuple[int, int]]]:
    """Character spans into each text; all sentences are embedded in one batch."""
    spans = [sentence_spans(t)[:MAX_CANDIDATES] for t in texts]
    flat = [(n, a, b) for n, ss in enumerate(spans) for a, b in ss if len(ss) > 1]
    vectors = embedder.encode([texts[n][a:b] for n, a, b in flat]) if flat else None
    scored: dict[int, list[tuple[float, tuple[int, int]]]] = {}
    for row, (n, a, b) in enumerate(flat):
        assert vectors is not None
        score = float(vectors[row] @ query_vector)
        score += LEXICAL_BONUS * coverage(query_terms, texts[n][a:b], weights)
        scored.setdefault(n, []).append((score, (a, b)))
    out: list[list[tuple[int, int]]] = []
    for n, ss in enumerate(spans):
        if len(ss) <= 1:
            out.append(list(ss))
            continue
        ranked = sorted(scored[n], key=lambda item: -item[0])
        best = ranked[0][0]
        out.append([span for score, span in ranked[:MAX_SENTENCES] if score >= best - WITHIN])
    return out
