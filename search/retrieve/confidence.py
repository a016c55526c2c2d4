"""How strong the evidence is: a calibrated probability that a passage answers the question.

A logistic model over signals read relative to the question's own result list, not absolute
cosine alone (whose scale differs by model and by corpus), for every kind of query:
- `similarity`: the passage's best cosine to the question (its best sentence's, or its own);
- `lift`: how far that stands above the rest of the list (the median of the other candidates);
- `coverage`: the share of the question's rare-word weight found in the passage;
- `agreement`: the share of the top 10 that the meaning and the word lists both hold;
- `keyword` and `keyword_coverage`: the query is a keyword search (a few words, no question),
  and such a search's rare words are in the passage — for "EMDR" or "section 136" that is
  the evidence, not a cosine between a word and a paragraph;
- `position`: log of the rank (a passage the ranking puts lower is less likely the answer);
- `boilerplate`: the share of the passage that is signatures, addresses, contents lines, the
  questions asked, or repeats the document's headings (boilerplate.py);
- `type_miss`: the question asks for a sum, a number, a date or a name and the passage's best
  sentences hold none (answer_type.py);
- `reader`: the reader model's logit, where a reader read the passage (0 elsewhere).
Coefficients per (model, reader) come from `eval/calibrate.py` (dev questions, dev keyword
searches, SciFact); docs/EVALUATION.md has the reliability table. Down a result list the
confidence never rises (`monotone`): the labels agree with the order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from search.ingest.text import sentence_spans
from search.retrieve import answer_type, boilerplate, fitted
from search.words import WORD

if TYPE_CHECKING:
    from search.retrieve.query import Candidate, Retrieved

WEAK_BELOW = 0.5
FEATURES = ("similarity", "lift", "coverage", "agreement", "keyword", "keyword_coverage",
            "position", "boilerplate", "type_miss", "reader")
# Words for a confidence, as the page and the CLI show it.
STRONG_FROM = 0.8
LABELS = ("weak match", "possible match", "strong match")
MOSTLY = 0.5  # a passage at least this much boilerplate is at best a possible match
BELOW_STRONG = STRONG_FROM - 0.01
KEYWORD_WORDS = 4  # a query of at most this many words that is not a question is a keyword search
_QUESTION_START = re.compile(r"^\s*(?:how|what|which|who|whom|whose|when|where|why|is|are|"
                             r"was|were|do|does|did|can|could|should|would|will|has|have|"
                             r"had)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Calibration:
    bias: float
    weights: dict[str, float] = field(default_factory=dict)  # by FEATURES name; missing: 0
    calibrated: bool = True

    def confidences(self, found: Retrieved, question: str) -> list[float]:
        """One probability per candidate of the result list, never rising down it."""
        return probabilities(features(found, question), self.bias,
                             np.array([self.weights.get(name, 0.0) for name in FEATURES]))


def probabilities(x: np.ndarray, bias: float, weights: np.ndarray) -> list[float]:
    """The logistic model over FEATURES rows in list order: a passage that is mostly
    boilerplate is at best a possible match, and no confidence rises down the list."""
    if not len(x):
        return []
    p = 1.0 / (1.0 + np.exp(-(bias + x @ weights)))
    mostly_boilerplate = x[:, FEATURES.index("boilerplate")] >= MOSTLY
    p[mostly_boilerplate] = np.minimum(p[mostly_boilerplate], BELOW_STRONG)
    return monotone(p.tolist())


def monotone(confidences: Sequence[float]) -> list[float]:
    """Each confidence at most the one above it: a list whose labels rise down the page
    says the ranking is wrong, and a reader trusts the order."""
    out, ceiling = [], 1.0
    for c in confidences:
        ceiling = min(ceiling, float(c))
        out.append(ceiling)
    return out


def is_keyword_search(question: str) -> bool:
    """A few words that are not a question: "EMDR", "section 136", "peer support"."""
    words = WORD.findall(question)
    return 0 < len(words) <= KEYWORD_WORDS and "?" not in question \
        and not _QUESTION_START.match(question)


def features(found: Retrieved, question: str) -> np.ndarray:
    """FEATURES for each candidate, in list order."""
    cands = found.candidates
    if not cands:
        return np.zeros((0, len(FEATURES)))
    sims = np.array([max(c.similarity, c.sentence) for c in cands])
    lifts = sims - medians_of_others(sims) if len(sims) > 1 else np.zeros(len(sims))
    keyword = float(is_keyword_search(question))
    kind = answer_type.expected(question)
    rows = []
    for n, c in enumerate(cands):
        rows.append((float(sims[n]), float(lifts[n]), c.coverage, found.agreement, keyword,
                     keyword * c.coverage, math.log(n + 1),
                     boilerplate_share(c, found.sections),
                     float(kind is not None and not answers(question, kind, c)),
                     c.reader or 0.0))
    return np.array(rows)


def medians_of_others(values: np.ndarray) -> np.ndarray:
    """For each value, the median of all the others, from one sort (np.median over each
    leave-one-out copy was 3 % of the page's CPU under load)."""
    n = len(values)
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)

    def others_at(j: int) -> np.ndarray:  # position j among the others, for every value
        return ranked[np.where(j < rank, j, j + 1)]

    m = n - 1
    middle = others_at(m // 2)
    return middle if m % 2 else (others_at(m // 2 - 1) + middle) / 2


def boilerplate_share(cand: Candidate, sections: dict[str, list[tuple[str, ...]]]) -> float:
    row = cand.row
    assert row is not None
    headings = boilerplate.heading_stems(sections.get(row.doc_id, []), row.section)
    return boilerplate.share(row.text, sentence_spans(row.text), headings)


def answers(question: str, kind: str, cand: Candidate, best: int = 2) -> bool:
    """Whether the candidate's best sentences for the question hold an answer of the kind."""
    row = cand.row
    assert row is not None
    ranked = sorted(cand.sentence_scores, key=lambda item: -item[1])[:best]
    texts = [row.text[a:b] for (a, b), _ in ranked] or [row.text]
    return answer_type.answers_kind(question, kind, texts)


# Used for a model nobody has calibrated: MiniLM's shape, marked as uncalibrated.
FALLBACK = Calibration(bias=-9.0, weights={"similarity": 14.0, "lift": 4.0, "coverage": 3.0,
                                          "keyword_coverage": 6.0, "boilerplate": -3.0,
                                          "type_miss": -2.0}, calibrated=False)


@lru_cache(maxsize=8)
def calibration_for(model: str, reader: str | None = None) -> Calibration:
    """The fitted coefficients for this model with this reader (or none); FALLBACK, marked
    as uncalibrated, for a pair nobody fitted."""
    entry = (fitted.entry(model, reader) or {}).get("confidence")
    if not isinstance(entry, dict) or not isinstance(entry.get("weights"), dict):
        return FALLBACK
    return Calibration(float(entry.get("bias", 0.0)),
                       {n: float(v) for n, v in entry["weights"].items() if n in FEATURES})


def label(confidence: float) -> str:
    """A confidence in words: "strong match", "possible match" or "weak match"."""
    if confidence < WEAK_BELOW:
        return LABELS[0]
    return LABELS[2] if confidence >= STRONG_FROM else LABELS[1]


def results_weak(hits: list) -> bool:
    """A result list is weak when no passage in it is likely to answer the question."""
    return not hits or all(h.weak for h in hits)
