"""Pure ranking functions: how much to trust the lexical list for a question, fusion of the two
lists, and the final ranking stage's score. No I/O: the tuning script (eval/tune.py) and the
unit tests call these directly.

Every signal is relative to the question's own candidate list (standardised, or a share of the
question's rare-word weight), so the same weights serve any corpus and either model. The
weights were fitted on the dev split of eval/questions.jsonl together with SciFact; see
docs/EVALUATION.md for what each signal is worth.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Weights:
    # lexical trust: sigmoid(bias + coverage * top lexical hit's rare-word coverage
    #                        + agreement * overlap of the two top-10 lists)
    trust_bias: float = -2.0
    trust_coverage: float = 10.0
    trust_agreement: float = 0.0  # measured worthless once coverage is in (docs/EVALUATION.md)
    rrf_k: int = 60
    # final ranking stage, over standardised per-question signals
    passage: float = 0.5  # cosine of question and passage
    sentence: float = 0.25  # cosine of question and the passage's best sentence
    fused: float = 0.5  # the fused score the candidate arrived with
    coverage: float = 3.0  # share of the question's rare-word weight in the passage (x trust)
    heading: float = 1.0  # same, in the document title and section headings (x trust)
    # the reader (search/reader), over the top `reader_depth` candidates, standardised
    reader: float = 0.0
    reader_depth: int = 8


WEIGHTS = Weights()


def weights_for(model: str, reader: str | None = None) -> Weights:
    """The ranking weights fitted for this model (and reader), else the shipped defaults."""
    from search.retrieve import fitted

    values = (fitted.entry(model, reader) or {}).get("ranking")
    if not isinstance(values, dict):
        return WEIGHTS
    known = set(Weights.__dataclass_fields__)
    return replace(WEIGHTS, **{k: v for k, v in values.items() if k in known})


def agreement(dense: Sequence[int], lexical: Sequence[int], top: int = 10) -> float:
    """Share of the top places both lists hold: high when meaning and words agree."""
    if not dense or not lexical:
        return 0.0
    return len(set(dense[:top]) & set(lexical[:top])) / top


def lexical_trust(top_coverage: float, overlap: float, w: Weights = WEIGHTS) -> float:
    """0..1: how much the lexical list should count for this question. A best lexical hit that
    holds most of the question's rare-word weight (an acronym, a figure, a name) earns trust;
    one that shares only common words, while the meaning list disagrees, does not."""
    z = w.trust_bias + w.trust_coverage * top_coverage + w.trust_agreement * overlap
    return 1.0 / (1.0 + math.exp(-z))


def weighted_rrf(dense: Sequence[tuple[int, float]], lexical: Sequence[tuple[int, float]],
                 dense_weight: float, lexical_weight: float,
                 k: int = WEIGHTS.rrf_k) -> list[tuple[int, float]]:
    """Reciprocal rank fusion with a weight per list; ties broken by id."""
    scores: dict[int, float] = {}
    for weight, ranked in ((dense_weight, dense), (lexical_weight, lexical)):
        for rank, (i, _) in enumerate(ranked, start=1):
            scores[i] = scores.get(i, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def standardise(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit spread within one question's candidates (constant -> zeros)."""
    if len(x) < 2:
        return np.zeros_like(x, dtype=np.float64)
    spread = float(np.std(x))
    return (x - float(np.mean(x))) / spread if spread > 1e-9 else np.zeros_like(x, np.float64)


def final_scores(passage: np.ndarray, sentence: np.ndarray, fused: np.ndarray,
                 coverage: np.ndarray, heading: np.ndarray, trust: float,
                 w: Weights = WEIGHTS) -> np.ndarray:
    """One score per candidate; higher is better."""
    return (w.passage * standardise(passage) + w.sentence * standardise(sentence)
            + w.fused * standardise(fused)
            + trust * (w.coverage * coverage + w.heading * heading))
