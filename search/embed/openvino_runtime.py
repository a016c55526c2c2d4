"""OpenVINO for embedding passages: the locally exported ONNX model (onnx_runtime.export)
compiled for this CPU, in bfloat16 where the CPU has it (avx512_bf16 or AMX), else fp32.

Measured on 2 cores (AMD EPYC, avx512_bf16, no AMX), 469 SciFact passages in batches of 8-16:
MiniLM 57 passages/s against PyTorch bf16's 45-47, fp32 32 against 26; mpnet 9.8 against
8.2; vectors within cosine 0.9998 of PyTorch fp32 (benchmarks/bench_indexing.py). Questions
stay on ONNX Runtime, faster for one short text.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from search.embed.onnx_runtime import _pooling, export, pool


class OpenVinoEncoder:
    """Tokenise, run the compiled transformer, return token embeddings and pooled vectors."""

    def __init__(self, st_model: Any, model_dir: Path, bf16: bool,
                 threads: int | None = None) -> None:
        import openvino as ov

        self.tokenizer = st_model.tokenizer
        self.max_length = int(st_model.max_seq_length)
        self.pooling = _pooling(st_model, model_dir)
        core = ov.Core()
        config = {"INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32",
                  "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_NUM_THREADS": str(threads or os.cpu_count() or 1)}
        self.compiled = core.compile_model(core.read_model(str(export(st_model, model_dir,
                                                                      False))), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.inputs = {port.get_any_name() for port in self.compiled.inputs}
        self.precision = "bf16" if bf16 else "fp32"
        self._lock = threading.Lock()

    def hidden(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                np.ndarray]:
        """Token embeddings, attention mask, character offsets and pooled unit vectors."""
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_offsets_mapping=True, return_tensors="np")
        offsets = batch.pop("offset_mapping")
        feed = {k: v.astype(np.int64) for k, v in batch.items() if k in self.inputs}
        with self._lock:
            hidden = np.array(self.request.infer(feed)[0], dtype=np.float32)
        mask = batch["attention_mask"]
        return hidden, mask, offsets, pool(hidden, mask, self.pooling)

    def encode(self, texts: list[str], batch_size: int = 16) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), 0), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            pooled = self.hidden([texts[i] for i in idx])[3]
            if not out.shape[1]:
                out = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
            out[idx] = pooled
        return out
