"""Defaults and the environment variables that override them, in one place."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_MODEL = "all-MiniLM-L6-v2"
ENV_INDEX = "EVIDENCE_SEARCH_INDEX"
ENV_MODEL = "EVIDENCE_SEARCH_MODEL"
DEFAULT_INDEX_DIR = "index"
DEFAULT_CORPUS_DIR = "corpus"
SUPPORTED_SUFFIXES = (".pdf", ".txt", ".md")
SIDECAR_SUFFIX = ".meta.json"


@dataclass(frozen=True)
class Settings:
    """Everything that changes the vectors: an index built with other settings must be rebuilt."""

    model: str = DEFAULT_MODEL
    chunk_tokens: int = 200  # word-pieces per chunk, checked with the model's tokenizer
    overlap_sentences: int = 1  # sentences repeated when a long paragraph is split
    backend: str = "torch"  # "torch", "onnx" or "onnx-int8" (see docs/PERFORMANCE.md)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def default_index_dir() -> Path:
    return Path(os.environ.get(ENV_INDEX) or DEFAULT_INDEX_DIR)


def default_model() -> str:
    return os.environ.get(ENV_MODEL) or DEFAULT_MODEL


def default_backend() -> str:
    return os.environ.get("EVIDENCE_SEARCH_BACKEND") or Settings.backend
