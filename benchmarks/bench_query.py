"""Warm search latency at 12k passages (SciFact), per model, with and without the reader.

    .venv/bin/python benchmarks/bench_query.py [--models quality,fast] [--queries 200]

Each model's SciFact index is the one `evidence-search eval --beir` caches under index/ (built
here when missing: about 20 minutes for the quality model on 2 cores). `Index.search(k=5)`
with highlighting, as the page asks, over SciFact claims after 20 warm-up claims; p50 and p95
in milliseconds, plus the CPU it ran on. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.data import SCIFACT  # noqa: E402
from benchmarks.results import save  # noqa: E402
from search import Index  # noqa: E402
from search.config import Settings  # noqa: E402
from search.embed.runtime_choice import cpu_signature  # noqa: E402
from search.evaluate import beir_index, load_beir  # noqa: E402

WARM = 20


def timings(index: Index, claims: list[str]) -> list[float]:
    for claim in claims[:WARM]:
        index.search(claim, k=5)
    out = []
    for claim in claims[WARM:]:
        started = time.perf_counter()
        index.search(claim, k=5)
        out.append((time.perf_counter() - started) * 1000)
    return out


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="quality,fast")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--beir", type=Path, default=SCIFACT)
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts/bench/query.json")
    args = parser.parse_args()
    data = load_beir(args.beir)
    claims = list(data.queries.values())[:args.queries + WARM]
    result: dict[str, object] = {}
    for model in args.models.split(","):
        settings = Settings(model=model)
        index, _ = beir_index(data, args.beir, ROOT / "index", settings, progress=False)
        for label, reader in (("no reader", None), ("reader", False)):
            if reader is False:
                try:
                    from search.reader import load_reader

                    reader = load_reader()
                except Exception as exc:  # noqa: BLE001 - report what is missing
                    result[f"{settings.model}, reader"] = f"not measured ({exc})"
                    continue
            searched = Index(store=index.store, reader=reader)
            ms = timings(searched, claims)
            result[f"{settings.model}, {label}: p50 / p95 ms"] = (
                f"{statistics.median(ms):.1f} / {percentile(ms, 0.95):.1f}")
        result[f"{settings.model}: passages"] = index.stats().chunks
    result["machine"] = cpu_signature()
    save(result, args.out, width=44)


if __name__ == "__main__":
    main()
