"""Core numbers: corpus index build time, chunks per second, warm query latency, index size.

    python benchmarks/bench_core.py [--corpus corpus] [--queries 100] [--out artifacts/bench]

Writes a JSON result and prints a table. Not part of `make test`: speed is measured here,
never asserted in unit tests.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.results import save  # noqa: E402


def machine() -> dict[str, object]:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in
                   Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    import faiss
    import sentence_transformers
    import torch

    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "torch": torch.__version__, "faiss": faiss.__version__,
            "sentence_transformers": sentence_transformers.__version__}


def questions(index, n: int) -> list[str]:
    """Distinct questions: the opening words of every passage, cycled to n."""
    with index.snapshot() as snap:
        ids = sorted(int(i) for i in snap.live_vectors()[0])
        found = snap.chunks(ids)
        rows = [found[i].text for i in ids]
    base = [" ".join(t.replace("-", " ").split()[:10]) for t in rows]
    return [base[i % len(base)] + ("?" if i >= len(base) else "") for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "bench")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-core-"))
    try:
        # 1. Cold build through the CLI: process start, model load, ingest, embed, write.
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "search", "index", str(args.corpus), "--index",
                        str(work / "cold"), "-q"], check=True, cwd=ROOT)
        cold_build = time.perf_counter() - started

        # 2. Warm build in-process (model already loaded): the indexing pipeline itself.
        from search import Index
        from search.embed.embedder import get_embedder

        get_embedder()
        index = Index(work / "warm")
        started = time.perf_counter()
        report = index.refresh([args.corpus])
        warm_build = time.perf_counter() - started
        stats = index.stats()

        # 3. Warm query latency through the Python API.
        qs = questions(index, args.queries)
        index.search("warm up", k=5)
        latencies = []
        for q in qs:
            t = time.perf_counter()
            index.search(q, k=5)
            latencies.append((time.perf_counter() - t) * 1000)
        latencies.sort()
        result = {
            "machine": machine(),
            "corpus": str(args.corpus), "documents": stats.documents,
            "chunks": stats.chunks, "pages": stats.pages,
            "cold_build_seconds_cli": round(cold_build, 2),
            "warm_build_seconds": round(warm_build, 3),
            "chunks_per_second_warm": round(stats.chunks / warm_build, 1),
            "query_ms_median": round(statistics.median(latencies), 2),
            "query_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
            "queries": len(latencies),
            "index_bytes": stats.size_bytes,
            "report": report.summary(),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    save(result, args.out / "core.json", 24)


if __name__ == "__main__":
    main()
