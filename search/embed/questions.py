"""The question encoder, started without PyTorch or sentence-transformers.

Importing sentence-transformers costs about 5 s on 2 cores (torch, transformers, sklearn),
most of a fresh process's first search, yet a question is embedded by an exported runtime
(ONNX Runtime or OpenVINO) that needs neither. So the first time a model's question runtime
is loaded the full way, what that runtime needs is written down beside the export, a
"bundle": the tokenizer (tokenizer.json), the pooling, the sequence limit, which runtime won
on this CPU and the fp32 PyTorch vectors of encoders.PROBE. Later processes load the bundle
with `tokenizers` and the runtime alone, and check its vectors against those recorded ones at
load — the same check, against the same reference, as the full load makes. Anything amiss (a
changed model, CPU or library version, a failed check) means: the full load, as before.

    <cache>/questions/<key>/bundle.json     what the runtime needs, and the reference vectors
    <cache>/questions/<key>/tokenizer.json  the model's fast tokenizer, as Hugging Face saves it
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from search import config
from search.embed.coalesce import Coalescer
from search.embed.encoders import AGREEMENT, PROBE
from search.embed.onnx_runtime import ExportedEncoder
from search.embed.runtime_choice import cpu_info

log = logging.getLogger(__name__)
BUNDLE, TOKENIZER = "bundle.json", "tokenizer.json"
FORMAT = 1


@dataclass(frozen=True)
class Bundle:
    """What an exported question runtime needs to start, as written by `save`."""

    format: int
    model: str  # canonical name
    location: str  # where the weights were loaded from
    runtime: str  # the encoder's label: "onnx fp32", "openvino bf16", "openvino fp32"
    source: str  # the exported file it runs
    source_size: int  # ... and its size and mtime, so a re-export is noticed
    source_mtime_ns: int
    pooling: str
    max_length: int
    dimension: int
    threads: int
    pad_id: int
    reference: list[list[float]]  # fp32 PyTorch vectors of encoders.PROBE


@functools.lru_cache(maxsize=1)
def signature() -> str:
    """This CPU and the runtime libraries as a bundle depends on them (no torch import).
    Read once per process: every search finds its bundle by it (three package-metadata
    reads and /proc/cpuinfo took ~3 ms a search)."""
    name, flags = cpu_info()
    wanted = [f for f in ("avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni") if f in flags]
    versions = []
    for package in ("onnxruntime", "openvino", "tokenizers"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return " | ".join([name, " ".join(wanted), *versions])


def folder_for(model: str, location: str, choice: str) -> Path:
    """Where a bundle lives: per model, weights, choice (a precision for the measured
    runtime, or a named ONNX backend), CPU and library versions."""
    key = f"{model} @ {location} | {choice} | {signature()} | format {FORMAT}"
    return config.cache_dir() / "questions" / hashlib.sha256(key.encode()).hexdigest()[:16]


class Tokenizer:
    """A saved fast tokenizer called as ExportedEncoder calls Hugging Face's: a batch in,
    padded int64 arrays out (input_ids, attention_mask, token_type_ids, offset_mapping)."""

    def __init__(self, path: Path, pad_id: int) -> None:
        from tokenizers import Tokenizer as Fast

        self.fast = Fast.from_file(str(path))
        self.fast.no_padding()
        self.fast.no_truncation()
        self.pad_id = pad_id
        self._lock = threading.Lock()  # a fast tokenizer is not to be shared across threads

    def __call__(self, texts: Sequence[str], padding: bool = True, truncation: bool = True,
                 max_length: int = 512, return_offsets_mapping: bool = False,
                 return_tensors: str = "np") -> dict[str, np.ndarray]:
        with self._lock:
            if truncation:
                self.fast.enable_truncation(max_length)
            encoded = self.fast.encode_batch(list(texts))
        width = max((len(e.ids) for e in encoded), default=0)
        out = {name: np.zeros((len(encoded), width), dtype=np.int64)
               for name in ("input_ids", "attention_mask", "token_type_ids")}
        out["input_ids"][:] = self.pad_id
        offsets = np.zeros((len(encoded), width, 2), dtype=np.int64)
        for row, e in enumerate(encoded):
            n = len(e.ids)
            out["input_ids"][row, :n] = e.ids
            out["attention_mask"][row, :n] = e.attention_mask
            out["token_type_ids"][row, :n] = e.type_ids
            offsets[row, :n] = e.offsets
        if return_offsets_mapping:
            out["offset_mapping"] = offsets
        return out


def save(model: str, location: str, choice: str, st_model: Any, encoder: Any,
         threads: int) -> Path | None:
    """Write the bundle of a loaded exported question encoder (None when it is not one)."""
    source = getattr(encoder, "source", None)
    tokenizer = getattr(st_model, "tokenizer", None)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if not isinstance(encoder, ExportedEncoder) or source is None or backend is None:
        return None
    folder = folder_for(model, location, choice)
    folder.mkdir(parents=True, exist_ok=True)
    reference = st_model.encode(list(PROBE), normalize_embeddings=True, convert_to_numpy=True,
                                show_progress_bar=False)
    stat = Path(source).stat()
    bundle = Bundle(FORMAT, model, location, encoder.runtime, str(source), stat.st_size,
                    stat.st_mtime_ns, encoder.pooling, encoder.max_length,
                    int(reference.shape[1]), threads,
                    int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0),
                    np.asarray(reference, dtype=np.float64).round(7).tolist())
    tmp = folder / f"{TOKENIZER}.{os.getpid()}.tmp"
    backend.save(str(tmp))
    os.replace(tmp, folder / TOKENIZER)
    tmp = folder / f"{BUNDLE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(asdict(bundle)), encoding="utf-8")
    os.replace(tmp, folder / BUNDLE)  # written last: a bundle is whole or absent
    return folder


def load(model: str, location: str, choice: str) -> ExportedEncoder | None:
    """The bundled question encoder, checked against its reference vectors; None (and the
    full load) when there is no bundle, it is stale, or it does not give those vectors."""
    folder = folder_for(model, location, choice)
    try:
        raw = json.loads((folder / BUNDLE).read_text(encoding="utf-8"))
        bundle = Bundle(**raw)
        stat = Path(bundle.source).stat()
    except (OSError, ValueError, TypeError):
        return None
    if (bundle.format != FORMAT or bundle.model != model or bundle.location != location
            or (stat.st_size, stat.st_mtime_ns) != (bundle.source_size, bundle.source_mtime_ns)):
        return None
    try:
        encoder = _open(bundle, folder)
        worst = float(np.min(np.sum(encoder.encode(list(PROBE))
                                    * np.asarray(bundle.reference, dtype=np.float32), axis=1)))
    except Exception as exc:  # noqa: BLE001 - any failure means the full load
        log.warning("%s: the question bundle at %s did not load (%s: %s); loading the model",
                    model, folder, type(exc).__name__, exc)
        return None
    if worst <= AGREEMENT["int8" if "int8" in bundle.runtime else "fp32"]:
        log.warning("%s: the bundled %s gives other vectors than the model (cosine %.4f); "
                    "loading the model", model, bundle.runtime, worst)
        return None
    return encoder


def _open(bundle: Bundle, folder: Path) -> ExportedEncoder:
    tokenizer = Tokenizer(folder / TOKENIZER, bundle.pad_id)
    if bundle.runtime.startswith("onnx"):
        from search.embed.onnx_runtime import OnnxEncoder

        onnx = OnnxEncoder.__new__(OnnxEncoder)
        ExportedEncoder.__init__(onnx, tokenizer, bundle.max_length, bundle.pooling)
        onnx.open(Path(bundle.source), bundle.threads)
        return onnx
    if bundle.runtime.startswith("openvino") and "int8" not in bundle.runtime:
        from search.embed.openvino_runtime import OpenVinoEncoder

        vino = OpenVinoEncoder.__new__(OpenVinoEncoder)
        ExportedEncoder.__init__(vino, tokenizer, bundle.max_length, bundle.pooling)
        vino.open(Path(bundle.source), "bf16" in bundle.runtime, bundle.threads)
        return vino
    raise ValueError(f"runtime {bundle.runtime} is not bundled")


class QuestionEmbedder:
    """What the search path asks of an Embedder (name, dimension, encode), over a bundled
    encoder: no PyTorch in the process."""

    def __init__(self, name: str, encoder: ExportedEncoder, dimension: int) -> None:
        self.name = name
        self.backend = "torch"  # the index was built with PyTorch; only questions differ
        self.encoder = encoder
        self.runtime = encoder.runtime
        self.precision = "bf16" if "bf16" in self.runtime else "fp32"
        self.dimension = dimension
        self._batches = Coalescer(lambda texts: encoder.encode(texts, batch_size=32))

    def encode(self, texts: Sequence[str], batch_size: int = 32,
               progress: bool = False) -> np.ndarray:
        """Unit vectors; texts other threads ask for meanwhile run in the same batch."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.ascontiguousarray(self._batches(texts), dtype=np.float32)
