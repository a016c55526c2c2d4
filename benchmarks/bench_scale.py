"""Scale benchmark: query latency, memory and size at 10k (real), 100k and 1M passages;
indexing throughput on real text; cold start; the cost of adding one PDF to a big index.

    python benchmarks/bench_scale.py [--sizes 100000,1000000] [--queries 200]

100k and 1M indexes hold real sentences (SciFact abstracts, recombined) as passage text and
random unit vectors in place of embeddings; the query path is the real one (encode, FAISS
search, FTS5, metadata fetch, highlight). Each measurement runs in a fresh process so its
peak RSS is its own. Results go to artifacts/bench/scale.json and docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SCIFACT = ROOT.parent / "shared" / "bench" / "scifact"
WORK = ROOT / "index" / "bench"
PDF = ROOT.parent / "shared" / "pdfs" / "pypdf-resources" / "GeoBase_NHNC1_Data_Model_UML_EN.pdf"


def sentences() -> list[str]:
    from search.text import sentence_spans

    out = []
    with open(SCIFACT / "corpus.jsonl") as handle:
        for line in handle:
            text = json.loads(line)["text"]
            out += [text[a:b] for a, b in sentence_spans(text)]
    return [s for s in out if 40 <= len(s) <= 400]


def questions(n: int) -> list[str]:
    with open(SCIFACT / "queries.jsonl") as handle:
        rows = [json.loads(line)["text"] for line in handle]
    return rows[:n]


def build_synthetic(directory: Path, n_chunks: int, seed: int = 7) -> float:
    """An index of n_chunks passages of real sentences with random unit vectors."""
    from search.config import Settings
    from search.records import Block, Chunk, Document, Page
    from search.store import Writer

    if directory.exists():
        shutil.rmtree(directory)
    rng = random.Random(seed)
    vectors_rng = np.random.default_rng(seed)
    pool = sentences()
    started = time.perf_counter()
    writer = Writer(directory, {**Settings().to_dict(), "dimension": 384, "sources": []},
                    rebuild=True)
    per_doc = 1000
    for d in range(0, n_chunks, per_doc):
        texts = [" ".join(rng.sample(pool, 3)) for _ in range(min(per_doc, n_chunks - d))]
        text, chunks, blocks, offset = "", [], [], 0
        for i, t in enumerate(texts):
            start = offset
            text += ("\n\n" if text else "") + t
            start = len(text) - len(t)
            blocks.append(Block("para", start, len(text)))
            chunks.append(Chunk(f"synthetic/{d // per_doc:05d}", i, t, start, len(text),
                                1 + i // 10, 1 + i // 10, (f"Section {i // 50}",)))
            offset = len(text)
        doc = Document(f"synthetic/{d // per_doc:05d}", f"synthetic/{d // per_doc:05d}.txt",
                       f"Synthetic report {d // per_doc}", text,
                       [Page(1 + p, 0, len(text)) for p in range(1)], blocks)
        vecs = vectors_rng.standard_normal((len(chunks), 384)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        writer.add(doc, chunks, vecs)
    writer.commit()
    return time.perf_counter() - started


def measure(directory: Path, n_queries: int) -> dict:
    """Runs in a fresh process: cold first search, warm latency per mode, peak RSS."""
    from search import Index

    started = time.perf_counter()
    index = Index(directory)
    first = index.search("cold start question about cell biology", k=5)
    cold = time.perf_counter() - started
    assert first
    result: dict = {"cold_first_search_s": round(cold, 2)}
    qs = questions(n_queries)
    for mode in ("semantic", "hybrid"):
        times = []
        for q in qs:
            t = time.perf_counter()
            index.search(q, k=5, mode=mode)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        result[mode] = {f"p{p}": round(times[min(len(times) - 1, int(p / 100 * len(times)))], 1)
                        for p in (50, 95, 99)}
    encode = []
    from search.embedder import get_embedder

    for q in qs[:50]:
        t = time.perf_counter()
        get_embedder().encode([q])
        encode.append((time.perf_counter() - t) * 1000)
    result["encode_ms_p50"] = round(statistics.median(encode), 1)
    stats = index.stats()
    result["chunks"] = stats["chunks"]
    result["size_bytes"] = stats["size_bytes"]
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return result


def in_fresh_process(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def info_seconds(directory: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "search", "info", "--index", str(directory)],
                   check=True, cwd=ROOT, capture_output=True)
    return round(time.perf_counter() - started, 2)


def add_one_pdf(directory: Path) -> dict:
    from search import Index

    inbox = directory.parent / "inbox"
    inbox.mkdir(exist_ok=True)
    target = inbox / "added-report.pdf"
    shutil.copy(PDF, target)
    index = Index(directory)
    started = time.perf_counter()
    report = index.add([target])
    total = time.perf_counter() - started
    return {"pages": 19, "chunks": report.chunks_embedded, "total_s": round(total, 2),
            "embedding_s": round(report.embed_seconds, 2),
            "beyond_embedding_s": round(total - report.embed_seconds, 2)}


def indexing_throughput() -> dict:
    """End-to-end on real text: the seed corpus and SciFact, model already loaded."""
    from search import Index
    from search.config import Settings
    from search.embedder import get_embedder
    from search.evaluate import load_beir
    from search.indexer import add_documents

    get_embedder(role="index")
    out = {}
    target = WORK / "throughput-corpus"
    shutil.rmtree(target, ignore_errors=True)
    report = Index(target).refresh([ROOT / "corpus"])
    out["corpus"] = {"chunks": report.chunks_embedded, "seconds": round(report.seconds, 2),
                     "chunks_per_s": round(report.chunks_embedded / report.seconds, 1),
                     "embedding_share": round(report.embed_seconds / report.seconds, 2)}
    data = load_beir(SCIFACT)
    target = WORK / "throughput-scifact"
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    report = add_documents(target, data.documents, Settings())
    seconds = time.perf_counter() - started
    out["scifact"] = {"documents": len(data.documents), "chunks": report.chunks_embedded,
                      "seconds": round(seconds, 1),
                      "chunks_per_s": round(report.chunks_embedded / seconds, 1),
                      "embedding_share": round(report.embed_seconds / seconds, 2)}
    return out


def machine() -> dict:
    import faiss
    import sentence_transformers
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "torch": torch.__version__, "faiss": faiss.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            "date": time.strftime("%Y-%m-%d")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.queries)))
        return
    WORK.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": machine(), "sizes": {}}
    previous = ROOT / "artifacts" / "bench" / "scale.json"
    if args.skip_throughput and previous.exists():  # keep the last measured throughput
        results["indexing"] = json.loads(previous.read_text()).get("indexing", {})
    if not args.skip_throughput:
        results["indexing"] = indexing_throughput()
        print(json.dumps(results["indexing"]), flush=True)
    real = WORK / "throughput-scifact"
    if (real / "CURRENT").exists():
        row = in_fresh_process("--measure", str(real), "--queries", str(args.queries))
        row.update(kind="real SciFact vectors", info_s=info_seconds(real))
        results["sizes"][str(row["chunks"])] = row
        print(json.dumps(row), flush=True)
    for size in [int(s) for s in args.sizes.split(",") if s]:
        directory = WORK / f"synthetic-{size}"
        build = build_synthetic(directory, size)
        row = in_fresh_process("--measure", str(directory), "--queries", str(args.queries))
        row.update(kind="random vectors, real text", build_s=round(build, 1),
                   info_s=info_seconds(directory), add_pdf=add_one_pdf(directory))
        results["sizes"][str(size)] = row
        print(json.dumps(row), flush=True)
    out = ROOT / "artifacts" / "bench" / "scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "report.py"), str(out)],
                   check=True)


if __name__ == "__main__":
    main()
