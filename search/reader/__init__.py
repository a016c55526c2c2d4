"""The reader: a small cross-encoder that scores how likely a passage answers a question.

Trained by `search.reader.train` on SQuAD 2.0 (see MODEL_CARD.md); inference is ONNX Runtime
on CPU with sha256-checked weights, so importing this package never pulls in torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from search.reader.model import MODEL_NAME, OnnxReader, ReaderWeightsError, load_reader
from search.reader.windows import sentence_spans, window


@runtime_checkable
class Reader(Protocol):
    """What the ranking pipeline needs from a reader."""

    name: str

    def score(self, question: str, passages: Sequence[str]) -> np.ndarray: ...


__all__ = ["MODEL_NAME", "OnnxReader", "Reader", "ReaderWeightsError", "load_reader",
           "sentence_spans", "window"]
