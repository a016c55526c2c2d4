"""What executes an embedding model: one small class per runtime behind `Encoder`, made by
`load_encoder`. PyTorch lives here; ONNX Runtime and OpenVINO run the locally exported graph
(onnx_runtime.py, openvino_runtime.py). Every exported runtime is checked against the fp32
PyTorch vectors when it loads, so a wrong export is never searched silently."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import numpy as np

PROBE = ("Peer support for officers after a traumatic incident.",
         "Ambulance staff sickness absence rose in 2023, mostly from stress and anxiety.")
# How close an exported runtime's vectors must be to fp32 PyTorch's (cosine, worst probe).
AGREEMENT = {"fp32": 0.999, "bf16": 0.999, "int8": 0.97}
RUNTIMES = ("torch", "onnx", "onnx-int8", "openvino", "openvino-int8")
log = logging.getLogger(__name__)


class Encoder(Protocol):
    """Runs the model over a batch of texts. `runtime` says what runs, in words
    ("torch bf16", "openvino int8", "onnx fp32")."""

    runtime: str

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit vectors, one per text, in input order."""
        ...

    def hidden(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                np.ndarray]:
        """(token embeddings float32, attention mask, character offsets per token, pooled
        unit vectors) of one batch: sentence vectors are pooled from these."""
        ...


class TorchEncoder:
    """The SentenceTransformer itself, in fp32 or with its weights cast to bfloat16 once (faster
    than autocast, which casts every weight again on each call)."""

    def __init__(self, st_model: Any, precision: str = "fp32") -> None:
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16 (got {precision!r})")
        self.model = st_model
        self.precision = precision
        self.runtime = f"torch {precision}"
        if precision == "bf16":
            import torch

            st_model.to(torch.bfloat16)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        vectors = self.model.encode(list(texts), batch_size=batch_size,
                                    normalize_embeddings=True, convert_to_numpy=True,
                                    show_progress_bar=False)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.precision == "bf16":  # unit length in fp32 again
            vectors /= np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
        return vectors

    def hidden(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                np.ndarray]:
        import torch

        features = self.model.tokenizer(texts, padding=True, truncation=True,
                                        max_length=int(self.model.max_seq_length),
                                        return_offsets_mapping=True, return_tensors="pt")
        offsets = features.pop("offset_mapping").numpy()
        with torch.inference_mode():
            out = self.model.forward(dict(features))
        return (out["token_embeddings"].float().numpy(), features["attention_mask"].numpy(),
                offsets, out["sentence_embedding"].float().numpy())


def load_encoder(st_model: Any, location: Path, runtime: str, precision: str = "fp32",
                 threads: int | None = None) -> Encoder:
    """The encoder for `runtime` ("torch", "onnx", "onnx-int8", "openvino",
    "openvino-int8"), in `precision` where the runtime has a choice. Exported runtimes must
    give the fp32 PyTorch vectors (int8: close to them) on PROBE, or this raises ValueError;
    call it before any bf16 cast of `st_model`, which is the reference."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)} (got {runtime!r})")
    if runtime == "torch":
        return TorchEncoder(st_model, precision)
    if runtime in ("onnx", "onnx-int8"):
        from search.embed.onnx_runtime import OnnxEncoder

        encoder: Encoder = OnnxEncoder(st_model, location, quantize=runtime == "onnx-int8",
                                       threads=threads)
    else:
        from search.embed.openvino_runtime import OpenVinoEncoder

        encoder = OpenVinoEncoder(st_model, location, precision == "bf16", threads=threads,
                                  int8=runtime == "openvino-int8")
    check(encoder, st_model)
    return encoder


def check(encoder: Encoder, st_model: Any) -> None:
    """ValueError unless `encoder` gives the PyTorch fp32 model's vectors on PROBE."""
    reference = st_model.encode(list(PROBE), normalize_embeddings=True, convert_to_numpy=True,
                                show_progress_bar=False)
    worst = float(np.min(np.sum(encoder.encode(list(PROBE)) * reference, axis=1)))
    floor = AGREEMENT["int8" if "int8" in encoder.runtime else "fp32"]
    if worst <= floor:
        raise ValueError(f"{encoder.runtime}: its vectors differ from the PyTorch model's "
                         f"(cosine {worst:.4f}, needs > {floor})")
