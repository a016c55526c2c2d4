"""Embedding throughput on 2 cores as the indexer embeds (one pass per passage, sentence
vectors pooled from it, in the precision the product picks): batch size, torch threads, and
sorting a whole re-index by length before slicing it (else only within each slice).

    python benchmarks/bench_batching.py   # writes artifacts/bench/batching.json

Passages are real SciFact chunks as the indexer embeds them (section prefix included), in
corpus order; each setting embeds the same passages once after a warm-up.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.data import SCIFACT  # noqa: E402

Passage = tuple[str, int, list[tuple[int, int]]]  # passage_input, heading length, sentences


def passages(n: int) -> list[Passage]:
    from search.embed.embedder import get_embedder
    from search.evaluate import load_beir
    from search.ingest.chunker import chunk_document
    from search.ingest.text import scoring_sentences

    embedder = get_embedder(role="index")
    out: list[Passage] = []
    for doc in load_beir(SCIFACT).documents:
        for c in chunk_document(doc, embedder.count_tokens, 200, 1):
            text = embedder.passage_input(c.text, c.section)
            out.append((text, len(text) - len(c.text), scoring_sentences(c.text)))
        if len(out) >= n:
            break
    return out[:n]


def embed(items: list[Passage], batch: int, slice_size: int, global_sort: bool) -> float:
    from search.embed.embedder import get_embedder

    embedder = get_embedder(role="index")
    order = (sorted(range(len(items)), key=lambda i: -len(items[i][0])) if global_sort
             else list(range(len(items))))
    started = time.perf_counter()
    parts = []
    for s in range(0, len(order), slice_size):
        part = [items[i] for i in order[s:s + slice_size]]
        parts.append(embedder.encode_with_sentences([p[0] for p in part], [p[1] for p in part],
                                                    [p[2] for p in part], batch_size=batch)[0])
    seconds = time.perf_counter() - started
    vectors = np.concatenate(parts)
    assert vectors.shape[0] == len(items)
    return len(items) / seconds


def main() -> None:
    import torch

    texts = passages(int(os.environ.get("BENCH_PASSAGES", "768")))
    embed(texts[:64], 32, 128, False)  # warm-up
    rows = []
    for threads in (2, 1):
        torch.set_num_threads(threads)
        for batch in (8, 16, 32):
            for global_sort in (False, True):
                rate = embed(texts, batch, 256, global_sort)
                rows.append({"threads": threads, "batch": batch, "sorted": global_sort,
                             "passages_per_s": round(rate, 1)})
                print(json.dumps(rows[-1]), flush=True)
    out = ROOT / "artifacts" / "bench" / "batching.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"passages": len(texts), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
