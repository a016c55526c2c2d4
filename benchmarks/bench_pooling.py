"""How many pooled IVF-PQ candidates an index of several IVF-PQ segments re-scores: recall@10
against exact search and the vector search's latency for each `pq_rerank_more` (the pool's
re-scored candidates are pq_rerank + pq_rerank_more for each IVF-PQ segment past the first).

    python benchmarks/bench_pooling.py index/bench/synthetic-10000000 [--values 0,50,100,300]

Real SciFact questions, the index's own vectors; exact search streams every segment once.
Results go to artifacts/bench/pooling.json (docs/PERFORMANCE.md shows them).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_scale import exact_top, machine, questions, recall_at_10  # noqa: E402
from benchmarks.results import save  # noqa: E402

WARM_UP = 50


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("index", type=Path)
    parser.add_argument("--values", default="0,50,100,200,300")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    from search import Index
    from search.embed.embedder import get_embedder
    from search.store.local.segments import IVFPQ, pooled_depth

    every = get_embedder().encode(questions(args.queries + WARM_UP))
    queries, others = every[:args.queries], every[args.queries:]
    rows = []
    with Index(args.index).snapshot() as snap:
        pooled = sum(p.kind == IVFPQ for p in snap.segments)
        started = time.perf_counter()
        exact = exact_top(snap, queries)
        exact_s = time.perf_counter() - started
        base = snap.vector_settings
        for value in [int(v) for v in args.values.split(",")]:
            snap.vector_settings = dataclasses.replace(base, pq_rerank_more=value)
            for q in others:
                snap.search_vectors(q, 50)
            got, times = [], []
            for q in queries:
                t = time.perf_counter()
                found = snap.search_vectors(q, 50)  # the depth a search reads (k=5)
                times.append((time.perf_counter() - t) * 1000)
                got.append([i for i, _ in found[:10]])
            times.sort()
            rows.append({"pq_rerank_more": value,
                         "re_scored": pooled_depth(snap.vector_settings, 50, pooled),
                         "recall_at_10": recall_at_10(exact, got),
                         "p50_ms": round(statistics.median(times), 2),
                         "p95_ms": round(times[int(0.95 * len(times))], 2)})
            print(rows[-1], flush=True)
        chunks = snap.count
    save({"index": str(args.index), "chunks": chunks, "ivfpq_segments": pooled,
          "pq_rerank": base.pq_rerank, "queries": len(queries), "rows": rows,
          "exact_search_s": round(exact_s, 1), "machine": machine()},
         ROOT / "artifacts" / "bench" / "pooling.json")


if __name__ == "__main__":
    main()
