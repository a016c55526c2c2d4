"""Reader inference: the shipped int8 ONNX model on CPU through ONNX Runtime (no torch).

The weights are checked against SHA256SUMS before anything is loaded, so a damaged or swapped
file is refused instead of silently scoring with it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from search.reader.scoring import combine, passage_mask, span_margins

MODEL_NAME = "reader-minilm-l6-squad2-window-int8-v1"
WEIGHTS = Path(__file__).resolve().parent / "weights"
REQUIRED = ("reader.onnx", "tokenizer.json", "score.json")


class ReaderWeightsError(RuntimeError):
    """The weights folder is incomplete or a file does not match its recorded sha256."""


def verify(folder: Path) -> None:
    """Check every file listed in SHA256SUMS (and that the needed ones are listed)."""
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        raise ReaderWeightsError(f"{sums}: missing; refusing to load unverified reader weights")
    listed: dict[str, str] = {}
    for line in sums.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            listed[name.strip().lstrip("*")] = digest
    for name in REQUIRED:
        if name not in listed:
            raise ReaderWeightsError(f"{folder / name}: not listed in {sums}")
    for name, digest in listed.items():
        path = folder / name
        if not path.is_file():
            raise ReaderWeightsError(f"{path}: missing (listed in {sums})")
        h = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != digest:
            raise ReaderWeightsError(f"{path}: sha256 mismatch, refusing to load the reader")


class OnnxReader:
    """Scores (question, passage) pairs; one ONNX Runtime session shared by all threads
    (`InferenceSession.run` is thread-safe, and the tokenizer is configured once here)."""

    def __init__(self, folder: Path = WEIGHTS, threads: int = 2, max_len: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        verify(folder)
        cfg = json.loads((folder / "score.json").read_text())
        self.name = MODEL_NAME
        self.span_weight = float(cfg["span_weight"])
        self.max_len = int(max_len or cfg.get("max_len", 96))
        self._tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # longest_first: a question longer than the window must not fail the search
        self._tok.enable_truncation(self.max_len, strategy="longest_first")
        self._tok.enable_padding(pad_id=0, pad_token="[PAD]")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(folder / "reader.onnx"), opts,
                                             providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()  # guards only the tokenizer's shared padding state

    def score(self, question: str, passages: Sequence[str]) -> np.ndarray:
        """One logit per passage (higher: more likely to answer the question). Pass short
        windows (a passage's best sentence or two) to stay within the latency budget."""
        if not len(passages):
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            encs = self._tok.encode_batch([(question, p) for p in passages])
        ids = np.array([e.ids for e in encs], dtype=np.int64)
        types = np.array([e.type_ids for e in encs], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
        rel, start, end = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
        margin, _ = span_margins(start, end, passage_mask(types, mask))
        return combine(rel, margin, self.span_weight)


@functools.lru_cache(maxsize=4)
def _cached(folder: Path, threads: int, max_len: int | None) -> OnnxReader:
    return OnnxReader(folder, threads, max_len)


def load_reader(folder: Path | str | None = None, threads: int = 2,
                max_len: int | None = None) -> OnnxReader:
    """The reader for `folder` (default: the shipped weights), loaded once per process."""
    return _cached(Path(folder or WEIGHTS).resolve(), threads, max_len)
