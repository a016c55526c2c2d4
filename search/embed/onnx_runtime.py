"""ONNX Runtime backend for the embedding model: exported locally from the PyTorch weights
(no download), optionally quantised to int8 with dynamic quantisation.

sentence-transformers' own `backend="onnx"` needs Optimum, whose releases pin transformers
below the version Gradio 6 needs; exporting with torch.onnx and running with onnxruntime
directly avoids that conflict. Pooling and normalisation follow the model's own config.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from search import config

BACKENDS = ("torch", "onnx", "onnx-int8")


def cache_dir() -> Path:
    return config.cache_dir() / "onnx"


def pooling_of(st_model: Any, model_dir: Path) -> str:
    """The pooling the export must reproduce, or a ValueError naming what it cannot: the
    export covers the transformer, then mean or CLS pooling and normalisation, nothing else."""
    kinds = [type(module).__name__ for module in st_model]
    extra = [k for k in kinds[1:] if k not in ("Pooling", "Normalize")]
    if not kinds or kinds[0] != "Transformer" or "Pooling" not in kinds or extra:
        raise ValueError(f"{model_dir}: layers {' → '.join(kinds)}; the ONNX backend supports "
                         "Transformer → Pooling (→ Normalize) only")
    pooling = st_model[kinds.index("Pooling")]
    mode = getattr(pooling, "pooling_mode", None)
    if not isinstance(mode, str):  # sentence-transformers before 6
        mode = pooling.get_pooling_mode_str()
    if mode not in ("mean", "cls"):
        raise ValueError(f"{model_dir}: {mode} pooling; the ONNX backend supports mean or CLS")
    return mode


def export(st_model: Any, model_dir: Path, quantize: bool) -> Path:
    """The model's transformer as ONNX (fp32, and int8 when asked), cached by content."""
    import torch

    key = hashlib.sha256(str(model_dir.resolve()).encode()).hexdigest()[:12]
    folder = cache_dir() / f"{model_dir.name}-{key}"
    fp32, int8 = folder / "model.onnx", folder / "model-int8.onnx"
    target = int8 if quantize else fp32
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    if not fp32.is_file():
        transformer = st_model[0].auto_model.eval()
        sample = st_model.tokenizer(["an example sentence"], return_tensors="pt")
        names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
        dynamic = {n: {0: "batch", 1: "sequence"} for n in names}
        dynamic["last_hidden_state"] = {0: "batch", 1: "sequence"}
        tmp = fp32.with_suffix(f".{os.getpid()}.tmp")  # two processes may export at once

        class Hidden(torch.nn.Module):  # keyword arguments only: forward()'s order varies
            def __init__(self) -> None:
                super().__init__()
                self.inner = transformer

            def forward(self, *tensors: Any) -> Any:
                kwargs = dict(zip(names, tensors, strict=True))
                return self.inner(**kwargs).last_hidden_state

        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's opset notes are not the user's concern
            torch.onnx.export(Hidden(), tuple(sample[n] for n in names), str(tmp),
                              input_names=names, output_names=["last_hidden_state"],
                              dynamic_axes=dynamic, opset_version=17, dynamo=False)
        os.replace(tmp, fp32)
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = int8.with_suffix(f".{os.getpid()}.tmp")
        quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
        os.replace(tmp, int8)
    return target


def pool(hidden: np.ndarray, attention: np.ndarray, mode: str) -> np.ndarray:
    """The model's pooling (mean over real tokens, or the first token), as unit vectors."""
    if mode == "cls":
        pooled = hidden[:, 0]
    else:
        mask = attention[..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
    pooled = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
    return pooled.astype(np.float32)


class ExportedEncoder:
    """What every runtime of the exported model shares: tokenise, run the transformer
    (`_run`, per runtime), pool and normalise as the model's own config says."""

    def __init__(self, tokenizer: Any, max_length: int, pooling: str) -> None:
        """tokenizer: the model's (a Hugging Face fast tokenizer, or questions.Tokenizer)."""
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.pooling = pooling
        self.inputs: set[str] = set()
        self.runtime = "exported"
        self.source: Path | None = None  # the exported file it runs (questions.py bundles it)
        self._lock = threading.Lock()

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """The transformer's last hidden state (float32) for one tokenised batch."""
        raise NotImplementedError

    def _forward(self, texts: list[str], offsets: bool) -> tuple[Any, np.ndarray]:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_offsets_mapping=offsets, return_tensors="np")
        spans = batch.pop("offset_mapping") if offsets else None
        feed = {k: v.astype(np.int64) for k, v in batch.items() if k in self.inputs}
        with self._lock:
            hidden = self._run(feed)
        return (batch["attention_mask"], spans), hidden

    def hidden(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                np.ndarray]:
        """Token embeddings, attention mask, character offsets and pooled unit vectors of one
        batch, as Embedder.encode_with_sentences wants them."""
        (mask, offsets), hidden = self._forward(texts, offsets=True)
        return hidden, mask, offsets, pool(hidden, mask, self.pooling)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths pad least
        out = np.zeros((len(texts), 0), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            (mask, _), hidden = self._forward([texts[i] for i in idx], offsets=False)
            pooled = pool(hidden, mask, self.pooling)
            if not out.shape[1]:
                out = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
            out[idx] = pooled
        return out


class OnnxEncoder(ExportedEncoder):
    """The exported model on ONNX Runtime (questions; fp32, or int8 for old indexes)."""

    def __init__(self, st_model: Any, model_dir: Path, quantize: bool,
                 threads: int | None = None) -> None:
        super().__init__(st_model.tokenizer, int(st_model.max_seq_length),
                         pooling_of(st_model, model_dir))
        self.open(export(st_model, model_dir, quantize), threads)
        self.runtime = f"onnx {'int8' if quantize else 'fp32'}"

    def open(self, path: Path, threads: int | None) -> None:
        """Start an ONNX Runtime session on an exported file."""
        import onnxruntime as ort

        self.source = path
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads sleep instead of spinning: on 2 cores a spinning thread starves the
        # FAISS, SQLite and highlight work that follows each query (semantic search 15 → 9.5 ms).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.runtime = f"onnx {'int8' if path.stem.endswith('int8') else 'fp32'}"

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(["last_hidden_state"], feed)[0]
