"""ONNX Runtime backend for the embedding model: exported locally from the PyTorch weights
(no download), optionally quantised to int8 with dynamic quantisation.

sentence-transformers' own `backend="onnx"` needs Optimum, whose releases pin transformers
below the version Gradio 6 needs; exporting with torch.onnx and running with onnxruntime
directly avoids that conflict. Pooling and normalisation follow the model's own config.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

BACKENDS = ("torch", "onnx", "onnx-int8")


def cache_dir() -> Path:
    base = os.environ.get("EVIDENCE_SEARCH_CACHE") or Path.home() / ".cache" / "evidence-search"
    return Path(base) / "onnx"


def _pooling(model_dir: Path) -> str:
    config = model_dir / "1_Pooling" / "config.json"
    if not config.is_file():
        return "mean"
    data = json.loads(config.read_text())
    if data.get("pooling_mode_mean_tokens"):
        return "mean"
    if data.get("pooling_mode_cls_token"):
        return "cls"
    raise ValueError(f"{config}: only mean or CLS pooling is supported by the ONNX backend")


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
        tmp = fp32.with_suffix(".tmp")

        class Hidden(torch.nn.Module):  # keyword arguments only: forward()'s order varies
            def __init__(self) -> None:
                super().__init__()
                self.inner = transformer

            def forward(self, *tensors: Any) -> Any:
                kwargs = dict(zip(names, tensors, strict=True))
                return self.inner(**kwargs).last_hidden_state

        with torch.no_grad():
            torch.onnx.export(Hidden(), tuple(sample[n] for n in names), str(tmp),
                              input_names=names, output_names=["last_hidden_state"],
                              dynamic_axes=dynamic, opset_version=17, dynamo=False)
        os.replace(tmp, fp32)
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = int8.with_suffix(".tmp")
        quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
        os.replace(tmp, int8)
    return target


class OnnxEncoder:
    """Tokenise, run the exported transformer, pool, normalise: what encode() returns."""

    def __init__(self, st_model: Any, model_dir: Path, quantize: bool,
                 threads: int | None = None) -> None:
        import onnxruntime as ort

        self.tokenizer = st_model.tokenizer
        self.max_length = int(st_model.max_seq_length)
        self.pooling = _pooling(model_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        path = export(st_model, model_dir, quantize)
        self.session = ort.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self._lock = threading.Lock()

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts])  # similar lengths pad least
        out = np.zeros((len(texts), 0), dtype=np.float32)
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            batch = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="np")
            feed = {k: v.astype(np.int64) for k, v in batch.items() if k in self.inputs}
            with self._lock:
                hidden = self.session.run(["last_hidden_state"], feed)[0]
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = batch["attention_mask"][..., None].astype(np.float32)
                pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            parts.append((idx, pooled.astype(np.float32)))
        if parts:
            out = np.zeros((len(texts), parts[0][1].shape[1]), dtype=np.float32)
            for idx, vectors in parts:
                out[idx] = vectors
        return out
