"""Embedding runtimes side by side in one run: PyTorch, ONNX Runtime fp32, ONNX int8
(dynamic, per-channel, MatMul only). Query latency for one short text, passages per second
for 256 real abstracts, and mean cosine to the PyTorch vectors.

    python benchmarks/bench_backends.py   # writes artifacts/bench/backends.json
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.data import SCIFACT  # noqa: E402


def main() -> None:
    from search.embed.embedder import Embedder

    with open(SCIFACT / "queries.jsonl") as handle:
        queries = [json.loads(line)["text"] for line in handle][:100]
    with open(SCIFACT / "corpus.jsonl") as handle:
        passages = [json.loads(line)["text"][:900] for line, _ in zip(handle, range(256),
                                                                       strict=False)]
    reference = None
    rows = {}
    for backend in ("torch", "onnx", "onnx-int8"):
        embedder = Embedder("all-MiniLM-L6-v2", backend)
        embedder.encode(["warm up"])
        times = []
        for q in queries:
            started = time.perf_counter()
            embedder.encode([q])
            times.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        vectors = embedder.encode(passages)
        rate = len(passages) / (time.perf_counter() - started)
        reference = vectors if reference is None else reference
        rows[backend] = {"query_ms_p50": round(statistics.median(times), 2),
                         "passages_per_s": round(rate, 1),
                         "cosine_to_torch": round(float(np.mean(np.sum(vectors * reference,
                                                                       axis=1))), 4)}
        print(backend, rows[backend], flush=True)
    out = ROOT / "artifacts" / "bench" / "backends.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
