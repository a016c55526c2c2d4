"""Validation figures: AUC and SQuAD 2.0 exact match / F1 (the official normalisation)."""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Sequence

import numpy as np


def auc(pos: Sequence[float], neg: Sequence[float]) -> float:
    """Probability that a positive outscores a negative (ties count half)."""
    p, n = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    if not len(p) or not len(n):
        return float("nan")
    wins = (p[:, None] > n[None, :]).sum() + 0.5 * (p[:, None] == n[None, :]).sum()
    return float(wins / (len(p) * len(n)))


def _normalise(s: str) -> str:
    s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", s).split())


def _f1(pred: str, gold: str) -> float:
    p, g = _normalise(pred).split(), _normalise(gold).split()
    if not p or not g:
        return float(p == g)
    common = sum((collections.Counter(p) & collections.Counter(g)).values())
    if not common:
        return 0.0
    prec, rec = common / len(p), common / len(g)
    return 2 * prec * rec / (prec + rec)


def squad_em_f1(pred: str, answers: Sequence[str]) -> tuple[float, float]:
    """EM and F1 of one prediction against its gold answers ("" for an unanswerable one)."""
    golds = [a for a in answers if _normalise(a)] or [""]
    return (max(float(_normalise(pred) == _normalise(g)) for g in golds),
            max(_f1(pred, g) for g in golds))
