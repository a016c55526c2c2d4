"""Turning the network's outputs into one score per passage (numpy only, shared by the
training script's validation and by inference, so both compute the very same number)."""

from __future__ import annotations

import numpy as np

MAX_ANSWER_TOKENS = 30


def span_margins(
    start: np.ndarray,
    end: np.ndarray,
    passage_mask: np.ndarray,
    max_tokens: int = MAX_ANSWER_TOKENS,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: best answer span's start+end logit minus the [CLS] (no-answer) one, and the
    best span's token indices (i, j). Only passage tokens may hold an answer."""
    b, t = start.shape
    neg = np.float32(-1e9)
    s = np.where(passage_mask, start, neg).astype(np.float32)
    e = np.where(passage_mask, end, neg).astype(np.float32)
    pair = s[:, :, None] + e[:, None, :]
    i, j = np.ogrid[:t, :t]
    band = (j >= i) & (j - i < max_tokens)
    pair = np.where(band[None], pair, neg).reshape(b, -1)
    flat = pair.argmax(axis=1)
    best = pair[np.arange(b), flat]
    null = start[:, 0] + end[:, 0]
    return (best - null).astype(np.float32), np.stack([flat // t, flat % t], axis=1)


def combine(relevance: np.ndarray, margin: np.ndarray, span_weight: float) -> np.ndarray:
    """The shipped logit: relevance plus a weighted span margin (weight chosen on held-out
    articles by the training script and stored next to the weights)."""
    return (relevance + span_weight * margin).astype(np.float32)


def passage_mask(token_type_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """Tokens of the passage segment, without its closing [SEP]."""
    mask = (token_type_ids == 1) & (attention_mask == 1)
    last = attention_mask.sum(axis=1) - 1
    mask[np.arange(len(mask)), last] = False
    return mask
