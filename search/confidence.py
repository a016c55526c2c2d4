"""How strong the evidence is: a calibrated probability that a passage answers the question.

A logistic model over two signals: the cosine similarity between question and passage, and the
share of the question's rare-word weight that the passage contains. Coefficients per model come
from `eval/calibrate.py` (answerable vs. unanswerable questions on the corpus query set, and
SciFact claims vs. off-topic and shuffled ones); see docs/EVALUATION.md.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
WEAK_BELOW = 0.5


@dataclass(frozen=True)
class Calibration:
    bias: float
    similarity: float
    coverage: float
    calibrated: bool = True

    def confidence(self, similarity: float, coverage: float) -> float:
        z = self.bias + self.similarity * similarity + self.coverage * coverage
        return 1.0 / (1.0 + math.exp(-z))


# Used for a model nobody has calibrated: MiniLM's shape, marked as uncalibrated.
FALLBACK = Calibration(bias=-9.0, similarity=14.0, coverage=3.0, calibrated=False)


@lru_cache(maxsize=8)
def calibration_for(model: str) -> Calibration:
    try:
        table = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return FALLBACK
    entry = table.get(model)
    if not isinstance(entry, dict):
        return FALLBACK
    return Calibration(float(entry["bias"]), float(entry["similarity"]),
                       float(entry["coverage"]))


def results_weak(hits: list) -> bool:
    """A result list is weak when no passage in it is likely to answer the question."""
    return not hits or all(h.weak for h in hits)
