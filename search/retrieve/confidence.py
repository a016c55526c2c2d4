"""How strong the evidence is: a calibrated probability that a passage answers the question.

A logistic model over signals read relative to the question's own result list, not absolute
cosine alone (whose scale differs by model and by corpus):
- `similarity`: the passage's best cosine to the question (its best sentence's, or its own);
- `lift`: how far that stands above the rest of the list (the median of the other candidates):
  an answer stands out, a near-miss for a question nothing answers does not;
- `coverage`: the share of the question's rare-word weight found in the passage;
- `agreement`: the share of the top 10 that the meaning and the word lists both hold.
Coefficients per model come from `eval/calibrate.py` (dev questions plus SciFact);
docs/EVALUATION.md has the reliability table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from search.retrieve.query import Retrieved

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
WEAK_BELOW = 0.5
FEATURES = ("similarity", "lift", "coverage", "agreement")
# Words for a confidence, as the page and the CLI show it.
STRONG_FROM = 0.8
LABELS = ("weak match", "possible match", "strong match")


@dataclass(frozen=True)
class Calibration:
    bias: float
    similarity: float
    lift: float
    coverage: float
    agreement: float
    calibrated: bool = True

    def confidences(self, found: Retrieved) -> list[float]:
        """One probability per candidate of the result list."""
        x = features(found)
        if not len(x):
            return []
        z = self.bias + x @ np.array([self.similarity, self.lift, self.coverage,
                                      self.agreement])
        return (1.0 / (1.0 + np.exp(-z))).tolist()


def features(found: Retrieved) -> np.ndarray:
    """(similarity, lift, coverage, agreement) for each candidate, in list order."""
    cands = found.candidates
    if not cands:
        return np.zeros((0, len(FEATURES)))
    sims = np.array([max(c.similarity, c.sentence) for c in cands])
    rows = []
    for n, c in enumerate(cands):
        others = np.delete(sims, n)
        lift = float(sims[n] - np.median(others)) if len(others) else 0.0
        rows.append((float(sims[n]), lift, c.coverage, found.agreement))
    return np.array(rows)


# Used for a model nobody has calibrated: MiniLM's shape, marked as uncalibrated.
FALLBACK = Calibration(bias=-9.0, similarity=14.0, lift=4.0, coverage=3.0, agreement=0.0,
                       calibrated=False)


def calibration_key(model: str, reader: str | None) -> str:
    """Where calibration.json keeps a (model, reader) pair's coefficients."""
    return f"{model} + {reader}" if reader else model


@lru_cache(maxsize=8)
def calibration_for(model: str, reader: str | None = None) -> Calibration:
    """The fitted coefficients for this model with this reader (or none)."""
    try:
        table = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return FALLBACK
    entry = table.get(calibration_key(model, reader))
    names = [f.name for f in fields(Calibration) if f.name != "calibrated"]
    if not isinstance(entry, dict) or any(n not in entry for n in names):
        return FALLBACK
    return Calibration(**{n: float(entry[n]) for n in names})


def label(confidence: float) -> str:
    """A confidence in words: "strong match", "possible match" or "weak match"."""
    if confidence < WEAK_BELOW:
        return LABELS[0]
    return LABELS[2] if confidence >= STRONG_FROM else LABELS[1]


def results_weak(hits: list) -> bool:
    """A result list is weak when no passage in it is likely to answer the question."""
    return not hits or all(h.weak for h in hits)
