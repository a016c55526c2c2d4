"""OpenVINO for embedding passages: the locally exported ONNX model (onnx_runtime.export)
compiled for this CPU, in bfloat16 where the CPU has it (avx512_bf16 or AMX), else fp32.

Measured on 2 cores (AMD EPYC, avx512_bf16, no AMX), 469 SciFact passages in batches of 8-16:
MiniLM 57 passages/s against PyTorch bf16's 45-47, fp32 32 against 26; mpnet 9.8 against
8.2; vectors within cosine 0.9998 of PyTorch fp32 (benchmarks/bench_indexing.py). Questions
stay on ONNX Runtime, faster for one short text.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from search.embed.onnx_runtime import ExportedEncoder, export


class OpenVinoEncoder(ExportedEncoder):
    """The exported model compiled by OpenVINO for this CPU (bf16 or fp32)."""

    def __init__(self, st_model: Any, model_dir: Path, bf16: bool,
                 threads: int | None = None) -> None:
        import openvino as ov

        super().__init__(st_model, model_dir)
        core = ov.Core()
        config = {"INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32",
                  "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_NUM_THREADS": str(threads or os.cpu_count() or 1)}
        model = core.read_model(str(export(st_model, model_dir, False)))
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.inputs = {port.get_any_name() for port in self.compiled.inputs}

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        return np.array(self.request.infer(feed)[0], dtype=np.float32)
