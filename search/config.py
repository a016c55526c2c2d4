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


@dataclass(frozen=True)
class VectorSettings:
    """How stored vectors are searched. None of this changes a vector, so it needs no
    re-embedding: a new value applies to the next segment written or merged (docs/SCALING.md).
    Environment variables override each field, for users tuning a large index."""

    approx_above: int = 50_000  # a segment this large is approximate, smaller ones exact
    approx_kind: str = "hnsw"  # "hnsw" (graph over 8-bit codes) or "ivf" (inverted lists)
    nprobe: int = 64  # IVF lists visited per query
    hnsw_m: int = 32  # HNSW graph links per vector
    # Graph quality, paid once per build: at 1M near-duplicate-heavy vectors efConstruction 40
    # gave recall@10 0.85 (efSearch 128), 120 gives 0.99 (efSearch 256) for 2.6x the build
    # time; searching wider on a poor graph (efSearch 512 at 40) reached only 0.94.
    ef_construction: int = 120
    ef_search: int = 256  # HNSW candidates per query: ~1.2 ms at 1M (docs/PERFORMANCE.md)
    rerank: int = 50  # approximate candidates re-scored with the exact (float16) vectors
    max_segments: int = 8  # more than this and the smallest are merged

    @classmethod
    def from_env(cls) -> VectorSettings:
        values: dict[str, int | str] = {}
        for name in cls.__dataclass_fields__:
            raw = os.environ.get(f"EVIDENCE_SEARCH_{name.upper()}")
            if not raw:
                continue
            if name == "approx_kind":
                if raw not in ("ivf", "hnsw"):
                    raise ValueError(f"EVIDENCE_SEARCH_APPROX_KIND: 'ivf' or 'hnsw', not {raw!r}")
                values[name] = raw
                continue
            try:
                values[name] = int(raw)
            except ValueError:
                raise ValueError(f"EVIDENCE_SEARCH_{name.upper()}: not a whole number "
                                 f"({raw!r})") from None
        return cls(**values)


def default_index_dir() -> Path:
    return Path(os.environ.get(ENV_INDEX) or DEFAULT_INDEX_DIR)


def default_model() -> str:
    return os.environ.get(ENV_MODEL) or DEFAULT_MODEL


def default_backend() -> str:
    return os.environ.get("EVIDENCE_SEARCH_BACKEND") or Settings.backend
