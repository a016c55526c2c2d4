"""The engines and the Ray runner side by side, in one run:

- SciFact nDCG@10, Recall@100 and MRR@10 per mode through the local engine and Milvus Lite,
  with warm query latency (p50/p95, k=10, all 300 claims) for each;
- indexing passages/s into each engine, from the same N SciFact abstracts written as files;
- the same files indexed on a private local Ray instance against local indexing.

The Milvus SciFact index is filled from the local index's stored passages, vectors and
sentence vectors (the same model and passage input): the comparison isolates the engines,
and re-embedding SciFact (~40 min here) would measure the model again, not the store.

    python benchmarks/bench_stores.py [--docs 300]   # writes artifacts/bench/stores.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.data import SCIFACT  # noqa: E402

OUT = ROOT / "artifacts" / "bench" / "stores.json"


def copy_into(source, target) -> float:  # noqa: ANN001 - two search.store.Store
    """Every document of one store written into another, vectors as stored; seconds taken."""
    from search.records import Chunk, Document, SentenceVectors

    started = time.perf_counter()
    with source.open() as view:
        ids, vectors = view.live_vectors()
        by_id = dict(zip(ids.tolist(), vectors, strict=True))
        rows = view.chunks(ids.tolist())
        sentences = view.sentences(ids.tolist())
        per_doc: dict[str, list[int]] = {}
        for i in sorted(rows):
            per_doc.setdefault(rows[i].doc_id, []).append(i)
        with target.writer(view.manifest, rebuild=True) as writer:
            for stored in view.documents():
                chunk_ids = per_doc.get(stored.doc_id, [])
                doc = Document(stored.doc_id, stored.path, stored.title,
                               view.document_text(stored.doc_id) or "", [], [], stored.sha256,
                               stored.meta)
                chunks = [Chunk(rows[i].doc_id, rows[i].ordinal, rows[i].text, rows[i].start,
                                rows[i].end, rows[i].page_start, rows[i].page_end,
                                rows[i].section) for i in chunk_ids]
                writer.add(doc, chunks, np.array([by_id[i] for i in chunk_ids]),
                           [sentences.get(i, SentenceVectors([], np.zeros((0, 1))))
                            for i in chunk_ids])
            writer.commit()
    return time.perf_counter() - started


def latency(index, queries: list[str]) -> dict[str, float]:  # noqa: ANN001 - an Index
    index.search("warm up", k=10)
    times = []
    for q in queries:
        started = time.perf_counter()
        index.search(q, k=10)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1)}


def write_files(docs, folder: Path) -> None:  # noqa: ANN001 - BEIR Documents
    folder.mkdir(parents=True)
    for doc in docs:
        (folder / f"{doc.doc_id}.txt").write_text(doc.text + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=300, help="abstracts for indexing speed")
    args = parser.parse_args()
    from search import Index
    from search.config import Settings
    from search.evaluate import beir_index, evaluate_beir, load_beir
    from search.store import open_store

    data = load_beir(SCIFACT)
    result: dict = {"scifact": {}, "latency": {}, "indexing": {}}
    local, built = beir_index(data, SCIFACT, ROOT / "index", Settings(), progress=True)
    with tempfile.TemporaryDirectory() as tmp:
        milvus_store = open_store(f"milvus://{tmp}/scifact.db")
        copied = copy_into(local.store, milvus_store)
        milvus = Index(store=milvus_store)
        result["milvus_filled_seconds"] = round(copied, 1)
        for name, index in (("local", local), ("milvus", milvus)):
            result["scifact"][name] = {
                mode: {k: round(v, 4) for k, v in evaluate_beir(index, data, mode).items()
                       if k != "queries"} for mode in ("semantic", "lexical", "hybrid")}
            result["latency"][name] = latency(index, list(data.queries.values()))
            print(name, result["scifact"][name], result["latency"][name], flush=True)
        milvus_store.close()

        files = Path(tmp) / "files"
        write_files(data.documents[: args.docs], files)
        runs = {"local": (f"{tmp}/speed-local", None),
                "milvus": (f"milvus://{tmp}/speed.db", None),
                "local, on ray": (f"{tmp}/speed-ray", True)}
        for name, (where, ray) in runs.items():
            report = Index(where).refresh([files], ray=ray)
            result["indexing"][name] = {
                "passages": report.chunks_embedded, "seconds": round(report.seconds, 1),
                "passages_per_s": round(report.chunks_embedded / report.seconds, 1)}
            print(name, result["indexing"][name], flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
