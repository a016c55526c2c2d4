"""OpenVINO for embedding passages: the locally exported ONNX model (onnx_runtime.export)
compiled for this CPU, in bfloat16 where the CPU has it (avx512_bf16 or AMX), else fp32, or
quantised to int8 (NNCF post-training quantisation: VNNI/AMX int8 kernels).

Which of them embeds passages on a given CPU is measured, not assumed (runtime_choice.py):
on an AMD EPYC (avx512_bf16, VNNI, no AMX) MiniLM runs fastest on OpenVINO bf16 and mpnet on
OpenVINO int8 (benchmarks/bench_indexing.py, docs/EVALUATION.md). Questions are chosen the same
way among ONNX Runtime and OpenVINO fp32/bf16, never int8.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from search.embed.onnx_runtime import ExportedEncoder, export, pooling_of

# int8 needs example inputs to set its activation ranges: general English prose, shipped
# with the package (calibration.txt: Wikipedia paragraphs from SQuAD 2.0, CC BY-SA 4.0), so
# that every machine quantises a model the same way whatever it indexes.
CALIBRATION_TEXT = Path(__file__).with_name("calibration.txt")
CALIBRATION_VERSION = "1"
COMPILED_CACHE = "openvino-cache"  # beside the exported model: compiled blobs per CPU/settings


class OpenVinoEncoder(ExportedEncoder):
    """The exported model compiled by OpenVINO for this CPU (bf16, fp32 or int8)."""

    def __init__(self, st_model: Any, model_dir: Path, bf16: bool,
                 threads: int | None = None, int8: bool = False) -> None:
        super().__init__(st_model.tokenizer, int(st_model.max_seq_length),
                         pooling_of(st_model, model_dir))
        source = export(st_model, model_dir, False)
        self.open(quantised(self, source) if int8 else source, bf16, threads)
        self.runtime = "openvino int8" if int8 else f"openvino {'bf16' if bf16 else 'fp32'}"

    def open(self, path: Path, bf16: bool, threads: int | None) -> None:
        """Compile an exported file (ONNX, or OpenVINO's own int8 XML) for this CPU. The
        compiled model is cached beside the file (OpenVINO's CACHE_DIR, keyed by model, CPU
        and settings): mpnet then opens in 0.4 s where reading and compiling took 1.9 s,
        most of a fresh process's first search. OpenVINO itself recompiles over a damaged
        entry and goes without a cache it cannot write; any other failure to use the cache
        compiles the model as without one."""
        import openvino as ov

        self.source = path
        config = {"INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32",
                  "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_NUM_THREADS": str(threads or os.cpu_count() or 1)}
        core = ov.Core()
        try:
            core.set_property({"CACHE_DIR": str(path.parent / COMPILED_CACHE)})
            self.compiled = core.compile_model(str(path), "CPU", config)
        except RuntimeError:
            core = ov.Core()
            self.compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.inputs = {port.get_any_name() for port in self.compiled.inputs}
        self.runtime = f"openvino {'bf16' if bf16 else 'fp32'}"

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        return np.array(self.request.infer(feed)[0], dtype=np.float32)


def calibration_texts() -> list[str]:
    """The calibration paragraphs (the file's first paragraph says what they are)."""
    blocks = CALIBRATION_TEXT.read_text(encoding="utf-8").split("\n\n")
    return [b for b in blocks[1:] if b.strip()]


def quantised(encoder: ExportedEncoder, source: Path) -> Path:
    """The int8 model beside the fp32 export, made once (about 10 s for MiniLM, 40 s for
    mpnet on 2 cores) and cached; written to a temporary name and renamed into place."""
    target = source.with_name(f"model-ov-int8-{CALIBRATION_VERSION}.xml")
    if target.is_file() and target.with_suffix(".bin").is_file():
        return target
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(source))
    names = {port.get_any_name() for port in model.inputs}
    samples = []
    for text in calibration_texts():
        batch = encoder.tokenizer([text], truncation=True, max_length=encoder.max_length,
                                  return_tensors="np")
        samples.append({k: v.astype(np.int64) for k, v in batch.items() if k in names})
    nncf.set_log_level(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        quantized = nncf.quantize(model, nncf.Dataset(samples),  # its progress bars are noise
                                  model_type=nncf.ModelType.TRANSFORMER,
                                  subset_size=len(samples))
    tmp = target.with_name(f"{target.stem}.{os.getpid()}.tmp.xml")
    ov.save_model(quantized, str(tmp))
    os.replace(tmp.with_suffix(".bin"), target.with_suffix(".bin"))
    os.replace(tmp, target)
    return target
