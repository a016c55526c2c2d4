"""Scale benchmark: query latency, memory and size at 10k (real), 100k and 1M passages;
indexing throughput on real text; cold start; the cost of adding one PDF to a big index.

    python benchmarks/bench_scale.py [--sizes 100000,1000000] [--queries 200]

100k and 1M indexes hold real sentences (SciFact abstracts, recombined) as passage text and,
in place of embeddings, mixtures of real SciFact passage vectors plus noise (unit length):
neighbourhoods like real ones, unlike uniform random vectors, which no approximate index can
search well. The query path is the real one (encode, FAISS search, tantivy BM25, metadata fetch,
highlight). Recall@10 of the approximate index against exact search is measured with real
SciFact questions at every size, and on real vectors only: 56k SciFact passages and sentences
embedded by the model. Each measurement runs in a fresh process so its peak RSS is its own.
Results go to artifacts/bench/scale.json and docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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

from benchmarks.data import PDFS, SCIFACT  # noqa: E402
from benchmarks.results import cpu_times, steal_share  # noqa: E402

WORK = ROOT / "index" / "bench"
WARM_UP = 100  # questions searched before timing, distinct from the timed ones
PDF = PDFS / "pypdf-resources" / "GeoBase_NHNC1_Data_Model_UML_EN.pdf"


def sentences() -> list[str]:
    from search.ingest.text import sentence_spans

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


def model_name() -> str:
    from search.config import Settings

    return Settings().model


def real_vectors(directory: Path) -> np.ndarray:
    """Every live vector of an index (exact), e.g. the embedded SciFact passages."""
    from search import Index

    with Index(directory).snapshot() as snap:
        return snap.live_vectors()[1]


def sentence_vectors() -> np.ndarray:
    """The SciFact sentences (sentences()) embedded one by one by the model, cached."""
    from search.embed.embedder import get_embedder

    cache = WORK / f"scifact-sentences-{model_name().replace('/', '_')}.npy"
    if not cache.exists():
        vecs = get_embedder(role="index").encode(sentences())
        np.save(cache, vecs.astype(np.float32))
    return np.load(cache)


def synthetic_vectors(rng: np.random.Generator, n: int, real: np.ndarray | None) -> np.ndarray:
    """Unit vectors: a real vector plus half another plus noise, else uniform random."""
    if real is None or not len(real):
        vecs = rng.standard_normal((n, 384)).astype(np.float32)
    else:
        a, b = rng.integers(0, len(real), n), rng.integers(0, len(real), n)
        vecs = real[a] + 0.5 * real[b] + 0.03 * rng.standard_normal((n, real.shape[1]),
                                                                   dtype=np.float32)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


PER_DOC = 1000  # synthetic passages per synthetic document


def synthetic_document(number: int, size: int, pool: list[str], real: np.ndarray | None,
                       pool_vectors: np.ndarray | None, seed: int) -> tuple:
    """Document `number` of a synthetic index: the same for the same seed, whichever run
    makes it, so a build resumed from a checkpoint goes on where the last one stopped.
    Passages are three real sentences; their sentence vectors are those sentences' real
    embeddings, stored as an index stores them for highlighting."""
    from search.records import Block, Chunk, Document, Page, SentenceVectors

    rng = np.random.default_rng([seed, number])
    doc_id = f"synthetic/{number:05d}"
    picks = rng.integers(0, len(pool), (size, 3))
    text, chunks, blocks, sentence_sets = "", [], [], []
    for i, row in enumerate(picks):
        parts = [pool[j] for j in row]
        t = " ".join(parts)
        text += ("\n\n" if text else "") + t
        start = len(text) - len(t)
        blocks.append(Block("para", start, len(text)))
        chunks.append(Chunk(doc_id, i, t, start, len(text), 1 + i // 10, 1 + i // 10,
                            (f"Section {i // 50}",)))
        if pool_vectors is not None:
            spans, at = [], 0
            for part in parts:
                spans.append((at, at + len(part)))
                at += len(part) + 1
            sentence_sets.append(SentenceVectors(spans, pool_vectors[row]))
    doc = Document(doc_id, f"{doc_id}.txt", f"Synthetic report {number}", text,
                   [Page(1, 0, len(text))], blocks)
    return doc, chunks, synthetic_vectors(rng, size, real), sentence_sets or None


def build_synthetic(directory: Path, n_chunks: int, seed: int = 7,
                    real: np.ndarray | None = None, pool_vectors: np.ndarray | None = None,
                    checkpoint: int = 0) -> float:
    """An index of n_chunks passages of real sentences with synthetic vectors, committed
    every `checkpoint` passages (0: once). A build killed part way resumes from its last
    commit (the index as it was then is whole and searchable); returns the build seconds
    of all runs together."""
    from search import Index
    from search.config import Settings
    from search.indexing.refresh import new_manifest
    from search.store import open_store

    progress = directory.parent / f"{directory.name}.progress.json"
    plan = {"target": n_chunks, "seed": seed, "model": model_name(),
            "sentences": pool_vectors is not None}
    done, seconds = 0, 0.0
    if (directory / "CURRENT").exists() and progress.exists():
        state = json.loads(progress.read_text())
        if {k: state.get(k) for k in plan} == plan:
            done, seconds = Index(directory).stats().chunks, state["seconds"]
    if not done and directory.exists():
        shutil.rmtree(directory)
    pool = sentences()
    dimension = real.shape[1] if real is not None else 384
    step = max(PER_DOC, (checkpoint or n_chunks) // PER_DOC * PER_DOC)
    manifest = new_manifest(Settings(), dimension, [])
    while done < n_chunks:
        started = time.perf_counter()
        upto = min(n_chunks, done + step)
        with open_store(directory).writer(manifest, rebuild=not done) as writer:
            for first in range(done, upto, PER_DOC):
                writer.add(*synthetic_document(first // PER_DOC, min(PER_DOC, upto - first),
                                               pool, real, pool_vectors, seed))
            writer.commit()
        done = upto
        seconds += time.perf_counter() - started
        tmp = progress.with_suffix(".tmp")
        tmp.write_text(json.dumps({**plan, "done": done, "seconds": round(seconds, 1)}))
        os.replace(tmp, progress)
        print(json.dumps({"built": done, "of": n_chunks, "seconds": round(seconds, 1)}),
              flush=True)
    return seconds


def build_only(directory: Path, size: int, checkpoint: int, real: Path) -> int:
    """`--build`: the synthetic build alone; a full disk or another write error is one
    line, and the index keeps its last checkpoint."""
    real_vecs = pool_vecs = None
    if (real / "CURRENT").exists():
        real_vecs, pool_vecs = real_vectors(real), sentence_vectors()
    from search import Index
    from search.store import IndexWriteFailed

    try:
        build_synthetic(directory, size, real=real_vecs, pool_vectors=pool_vecs,
                        checkpoint=checkpoint)
    except (OSError, IndexWriteFailed) as exc:
        if isinstance(exc, OSError):
            where = f" {exc.filename}:" if exc.filename else ""
            said = f"{where} could not write the index ({exc.strerror or exc})"
        else:
            said = f" {str(exc).split('; the previous index')[0]}"
        kept = Index(directory).stats().chunks if (directory / "CURRENT").exists() else 0
        print(f"error:{said}; it keeps the {kept:,} passages of its last checkpoint, and "
              "the same command goes on from there", file=sys.stderr)
        return 2
    return 0


def measure(directory: Path, n_queries: int) -> dict:
    """Runs in a fresh process: cold first search, warm latency per mode, peak RSS, and
    the CPU time stolen by the hypervisor meanwhile."""
    from search import Index

    ticks = cpu_times()
    started = time.perf_counter()
    index = Index(directory)
    first = index.search("cold start question about cell biology", k=5)
    cold = time.perf_counter() - started
    assert first
    # Warm means the page cache holds what a server that has answered for a while holds
    # (a paused and resumed VM starts empty): the product's own read-ahead, which the page
    # runs as it starts, brings in the files that fit in half the free memory.
    ahead = index.prefetch()
    result: dict = {"cold_first_search_s": round(cold, 2),
                    "prefetched_mb": round(ahead.bytes / 1e6) if ahead else 0,
                    "prefetch_skipped_mb": round(ahead.skipped / 1e6) if ahead else 0}
    every = questions(n_queries + WARM_UP)
    qs, others = every[:n_queries], every[n_queries:]
    # Warm means the process and the page cache, not the answers: a pass of other questions
    # first (a freshly built index read cold from disk measured 30 ms where warm gave 24).
    for q in others:
        index.search(q, k=5)
    # The default (hybrid with highlighting) goes first, so its questions are unseen: later
    # passes repeat the same 200 questions and find their words' pages already cached.
    for label, mode, highlight in (("hybrid", "hybrid", True), ("semantic", "semantic", True),
                                   ("hybrid_no_highlight", "hybrid", False)):
        times = []
        for q in qs:
            t = time.perf_counter()
            index.search(q, k=5, mode=mode, highlight=highlight)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        result[label] = {f"p{p}": round(times[min(len(times) - 1, int(p / 100 * len(times)))], 1)
                         for p in (50, 95, 99)}
    encode = []
    from search.embed.embedder import query_embedder

    with index.snapshot() as snap:
        embedder = query_embedder(snap.manifest.model, snap.manifest.backend)
    result["query_runtime"] = getattr(embedder, "runtime", embedder.backend)
    for q in qs[:50]:
        t = time.perf_counter()
        embedder.encode([q])
        encode.append((time.perf_counter() - t) * 1000)
    result["encode_ms_p50"] = round(statistics.median(encode), 1)
    stats = index.stats()
    result["chunks"] = stats.chunks
    result["size_bytes"] = stats.size_bytes
    result["segments"] = [f"{s.kind} {s.vectors}" for s in stats.segments]
    result["peak_rss_mb"] = peak_rss_mb()
    result["cpu_steal"] = steal_share(ticks, cpu_times())
    result["mb_per_million"] = footprint(directory)
    return result


def footprint(directory: Path) -> dict:
    """Bytes on disk by part, per million passages: the approximate index, the exact
    float16 rows, sentence vectors (inside meta.sqlite), the rest of meta.sqlite (text,
    metadata) and the lexical index."""
    import sqlite3

    live = directory / (directory / "CURRENT").read_text().strip()
    sizes = {"approximate_index": 0, "exact_float16": 0, "lexical": 0}
    for f in live.rglob("*"):
        if not f.is_file():
            continue
        if f.name.endswith(".f16.npy"):
            sizes["exact_float16"] += f.stat().st_size
        elif f.name.endswith(".faiss"):
            sizes["approximate_index"] += f.stat().st_size
        elif "lexical" in f.relative_to(live).parts:
            sizes["lexical"] += f.stat().st_size
    db = sqlite3.connect(f"file:{live / 'meta.sqlite'}?mode=ro", uri=True)
    try:
        chunks = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        sentence_bytes = db.execute("SELECT coalesce(sum(length(vectors)), 0) "
                                    "FROM sentences").fetchone()[0]
    finally:
        db.close()
    sqlite_bytes = sum(f.stat().st_size for f in live.glob("meta.sqlite*"))
    sizes["sentence_vectors"] = int(sentence_bytes)
    sizes["text_and_metadata"] = max(0, sqlite_bytes - int(sentence_bytes))
    per_million = 1e6 / max(1, chunks)
    return {name: round(value * per_million / 1e6, 1) for name, value in sizes.items()}


def peak_rss_mb() -> int:
    """This process's peak resident memory (VmHWM). Not getrusage's ru_maxrss: Linux carries
    that over fork and exec, so a child of the process that built 1M vectors would report
    the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def exact_top(snap, queries: np.ndarray, k: int = 10) -> np.ndarray:
    """Each question's k best live chunk ids by exact cosine (queries x k). Segments are
    streamed in blocks, so 10M vectors need not fit in memory at once."""
    best = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), k), dtype=np.int64)
    for part in snap.segments:
        for start in range(0, part.size, 500_000):
            rows = np.arange(start, min(part.size, start + 500_000))
            scores = (part.vectors(rows) @ queries.T).T  # queries x rows
            scores[:, np.isin(part.ids[rows], snap.deleted)] = -np.inf  # tombstoned
            ids = np.broadcast_to(part.ids[rows], scores.shape)
            merged = np.concatenate([best, scores], axis=1)
            merged_ids = np.concatenate([best_ids, ids], axis=1)
            top = np.argpartition(-merged, k, axis=1)[:, :k]
            best = np.take_along_axis(merged, top, axis=1)
            best_ids = np.take_along_axis(merged_ids, top, axis=1)
    return best_ids


def recall_at_10(exact: np.ndarray, got: list[list[int]]) -> float:
    return round(float(np.mean([len(set(e.tolist()) & set(g)) / 10
                                for e, g in zip(exact, got, strict=True)])), 4)


def recall_of_index(directory: Path, n_queries: int) -> dict:
    """Recall@10 of the index's vector search against exact search, on real questions."""
    from search import Index
    from search.embed.embedder import get_embedder

    queries = get_embedder().encode(questions(n_queries))
    with Index(directory).snapshot() as snap:
        got = [[i for i, _ in snap.search_vectors(q, 10)] for q in queries]
        exact = exact_top(snap, queries)
        kinds = sorted({p.kind for p in snap.segments})
    return {"recall_at_10": recall_at_10(exact, got), "kinds": kinds, "queries": len(queries)}


def recall_on_real_vectors(real: np.ndarray, n_queries: int) -> dict:
    """Recall@10 of each approximate kind, default settings, over real embedded passages and
    sentences (SciFact), above the approximate threshold, against exact search."""
    from search.config import VectorSettings
    from search.embed.embedder import get_embedder
    from search.store.local import segments

    vectors = np.concatenate([real, sentence_vectors()])
    queries = get_embedder().encode(questions(n_queries))
    ids = np.arange(1, len(vectors) + 1)
    exact = np.argsort(-(vectors @ queries.T), axis=0)[:10].T + 1
    out: dict = {"vectors": len(vectors), "queries": len(queries)}
    for kind in ("ivf", "hnsw", "ivfpq"):
        settings = VectorSettings(approx_kind="ivf" if kind == "ivfpq" else kind,
                                  approx_above=min(VectorSettings().approx_above, len(ids)),
                                  pq_above=len(ids) if kind == "ivfpq" else len(ids) + 1)
        started = time.perf_counter()
        part = segments.build("seg-recall", ids, vectors, settings)
        built = time.perf_counter() - started
        started = time.perf_counter()
        got = [[i for i, _ in part.search(q, 10, settings, None, None)] for q in queries]
        per_query = (time.perf_counter() - started) / len(queries) * 1000
        out[kind] = {"recall_at_10": round(float(np.mean(
            [len(set(g) & set(e.tolist())) / 10 for g, e in zip(got, exact, strict=True)])), 4),
            "build_s": round(built, 1), "ms_per_query": round(per_query, 2)}
    return out


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
    index.search("warm up the model", k=1)
    started = time.perf_counter()
    report = index.add([target])
    total = time.perf_counter() - started
    index.wait_for_merges()
    started = time.perf_counter()
    removed = index.remove([target])
    remove_s = time.perf_counter() - started
    assert removed.removed, removed.failed
    return {"pages": 19, "chunks": report.chunks_embedded, "total_s": round(total, 2),
            "embedding_s": round(report.embed_seconds, 2),
            "beyond_embedding_s": round(total - report.embed_seconds, 2),
            "remove_s": round(remove_s, 2)}


def indexing_throughput() -> dict:
    """End-to-end on real text: the seed corpus and SciFact, model already loaded."""
    from search import Index
    from search.config import Settings
    from search.embed.embedder import get_embedder
    from search.evaluate import load_beir
    from search.indexing.refresh import add_documents

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
    flags = set(next((line.split(":", 1)[1].split() for line in
                      Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), []))
    simd = [name for name, flag in (("AVX-512", "avx512f"), ("VNNI", "avx512_vnni"),
                                    ("bf16", "avx512_bf16"), ("AMX", "amx_tile"))
            if flag in flags] or ["AVX2 only" if "avx2" in flags else "no AVX2"]
    cpu = f"{cpu} ({', '.join(simd)})"
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "torch": torch.__version__, "faiss": faiss.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            "date": time.strftime("%Y-%m-%d")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--recall", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--no-real-recall", action="store_true",
                        help="skip recall on real sentence vectors (embeds ~44k sentences "
                             "when not cached)")
    parser.add_argument("--checkpoint", type=int, default=1_000_000,
                        help="commit a synthetic build every this many passages; a killed "
                             "build resumes from its last commit")
    parser.add_argument("--as-built", action="store_true",
                        help="measure each size's index as far as its checkpoints got, "
                             "building nothing")
    parser.add_argument("--reuse", action="store_true",
                        help="measure synthetic indexes built by an earlier run (keeps its "
                             "build time)")
    parser.add_argument("--real", type=Path, default=WORK / "throughput-scifact",
                        help="an index of the SciFact corpus (default: the one the "
                             "throughput step builds)")
    parser.add_argument("--build", type=Path,
                        help="only build (or resume) a synthetic index of --size passages "
                             "here, committed every --checkpoint")
    parser.add_argument("--size", type=int, default=10_000_000)
    args = parser.parse_args()
    if args.build:
        sys.exit(build_only(args.build, args.size, args.checkpoint, args.real))
    if args.measure:
        print(json.dumps(measure(args.measure, args.queries)))
        return
    if args.recall:
        print(json.dumps(recall_of_index(args.recall, args.queries)))
        return
    WORK.mkdir(parents=True, exist_ok=True)
    previous = ROOT / "artifacts" / "bench" / "scale.json"
    # sizes measured by earlier runs stay (a 10M run need not repeat 1M); each row names
    # the CPU and model it was measured with
    kept = json.loads(previous.read_text()).get("sizes", {}) if previous.exists() else {}
    results: dict = {"machine": machine(), "sizes": kept}
    measured: set[str] = set()
    if args.skip_throughput and previous.exists():  # keep the last measured throughput
        results["indexing"] = json.loads(previous.read_text()).get("indexing", {})
    if not args.skip_throughput:
        results["indexing"] = indexing_throughput()
        print(json.dumps(results["indexing"]), flush=True)
    real = args.real
    real_vecs = pool_vecs = None
    if (real / "CURRENT").exists():
        row = in_fresh_process("--measure", str(real), "--queries", str(args.queries))
        row.update(kind="real SciFact vectors", info_s=info_seconds(real),
                   cpu=results["machine"]["cpu"], model=model_name(),
                   date=results["machine"]["date"])
        results["sizes"][str(row["chunks"])] = row
        measured.add(str(row["chunks"]))
        print(json.dumps(row), flush=True)
        real_vecs = real_vectors(real)
        pool_vecs = sentence_vectors()
        if not args.no_real_recall:
            results["recall_real"] = recall_on_real_vectors(real_vecs, args.queries)
            print(json.dumps(results["recall_real"]), flush=True)
    for size in [int(s) for s in args.sizes.split(",") if s]:
        directory = WORK / f"synthetic-{size}"
        earlier = json.loads(previous.read_text())["sizes"].get(str(size), {}) \
            if previous.exists() else {}
        progress = WORK / f"{directory.name}.progress.json"
        if args.as_built and not (directory / "CURRENT").exists():
            continue
        if args.as_built and (directory / "CURRENT").exists() and progress.exists():
            build = json.loads(progress.read_text())["seconds"]  # measured as far as built
        elif args.reuse and (directory / "CURRENT").exists() and "build_s" in earlier:
            build = earlier["build_s"]
        else:
            build = build_synthetic(directory, size, real=real_vecs,
                                    pool_vectors=pool_vecs, checkpoint=args.checkpoint)
        row = in_fresh_process("--measure", str(directory), "--queries", str(args.queries))
        held = row["chunks"]
        row.update(kind=("mixed real vectors" if real_vecs is not None else "random vectors")
                   + ", real text" + (f" (a {size:,} build stopped at its checkpoint)"
                                      if held < size else ""), build_s=round(build, 1),
                   info_s=info_seconds(directory), add_pdf=add_one_pdf(directory),
                   recall=in_fresh_process("--recall", str(directory), "--queries",
                                           str(args.queries)))
        row.update(cpu=results["machine"]["cpu"], model=model_name(),
                   date=results["machine"]["date"])
        results["sizes"][str(held)] = row
        measured.add(str(held))
        print(json.dumps(row), flush=True)
    out = ROOT / "artifacts" / "bench" / "scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():  # another run may have finished meanwhile: keep what it measured
        earlier = json.loads(out.read_text())
        results["sizes"] = {**earlier.get("sizes", {}), **{
            size: row for size, row in results["sizes"].items() if size in measured}}
        for key in ("indexing", "recall_real"):
            if key not in results and key in earlier:
                results[key] = earlier[key]
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(tmp, out)
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "report.py"), str(out)],
                   check=True)


if __name__ == "__main__":
    main()
