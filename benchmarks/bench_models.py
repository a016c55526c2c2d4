"""The two models — all-MiniLM-L6-v2 ("fast") and all-mpnet-base-v2 ("quality") — in fp32 and
bfloat16 on this CPU, with ONNX Runtime fp32 (the default question runtime) beside them.

Per model and runtime: passages per second (real SciFact abstracts cut to 200 word-pieces,
batches of 8, the indexing batch), one question's latency (p50/p90, warm, SciFact claims),
and cosine agreement with the PyTorch fp32 vectors (min/mean, passages and questions).
Runtimes take turns batch by batch and question by question, so a neighbour's load on the
machine falls on all of them alike. Then, end to end: the seed corpus indexed from scratch
(load, chunk, embed passages and their sentences, write) per model and precision, in turns,
twice, the faster run kept. Passages per second is from the median batch time (the total,
skewed by any neighbour's burst on a shared machine, is in the JSON). The CPU share other
processes took meanwhile (from /proc/stat) is printed with the table, with a warning above 5%:
PyTorch's OpenMP threads slow down many-fold when anything else runs on these cores.

    python benchmarks/bench_models.py            # writes artifacts/bench/models.json
    python benchmarks/bench_models.py --passages 32 --questions 40 --repeats 0

"torch bf16" is the runtime search/embedder.py uses: weights cast to bfloat16;
"torch bf16-autocast" keeps fp32 weights under torch.autocast(bfloat16), which casts them on
every call (measured for comparison, not used).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.data import SCIFACT  # noqa: E402

PASSAGE_TOKENS = 200  # Settings.chunk_tokens
BATCH = 8  # search.indexing.refresh.MODEL_BATCH


def passages(tokenizer, count: int) -> list[str]:
    """The first `count` SciFact abstracts of at least 200 word-pieces, cut after the 200th."""
    out = []
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as handle:
        for line in handle:
            text = json.loads(line)["text"]
            enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True,
                            verbose=False)
            if len(enc["input_ids"]) >= PASSAGE_TOKENS:
                out.append(text[:enc["offset_mapping"][PASSAGE_TOKENS - 1][1]])
            if len(out) == count:
                return out
    return out


def cpu_seconds() -> tuple[float, float, float] | None:
    """(busy CPU seconds of the whole machine, of this process, wall clock), or None off Linux.
    What the machine spent beyond this process is what neighbours took from the measurement."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            ticks = [int(v) for v in handle.readline().split()[1:9]]
    except OSError:
        return None
    own = os.times()
    busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait
    return busy, own.user + own.system, time.monotonic()


def others_share(before: tuple[float, float, float] | None) -> float | None:
    """The share of all cores that other processes used since `before`."""
    after = cpu_seconds()
    if before is None or after is None:
        return None
    others = (after[0] - before[0]) - (after[1] - before[1])
    return max(0.0, others) / ((after[2] - before[2]) * (os.cpu_count() or 1))


def questions(count: int) -> list[str]:
    with open(SCIFACT / "queries.jsonl", encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line, _ in zip(handle, range(count), strict=False)]


def runtimes(name: str) -> dict:
    import torch

    from search.embed.embedder import Embedder, cpu_has_bf16

    found = {"torch fp32": Embedder(name, "torch", "fp32")}
    if cpu_has_bf16():
        found["torch bf16"] = Embedder(name, "torch", "bf16")
        found["torch bf16-autocast"] = autocast = Embedder(name, "torch", "fp32")
        autocast.model.forward = torch.autocast("cpu", dtype=torch.bfloat16)(
            autocast.model.forward)
    found["onnx fp32"] = Embedder(name, "onnx")
    return found


def measure(name: str, texts: list[str], asks: list[str]) -> dict[str, dict]:
    found = runtimes(name)
    order = list(found)
    for embedder in found.values():  # warm-up: first calls allocate and pick kernels
        embedder.encode(texts[:BATCH], batch_size=BATCH)
        for ask in asks[:5]:
            embedder.encode([ask])
    spent: dict[str, list[float]] = {r: [] for r in order}  # seconds per batch
    vectors: dict[str, list[np.ndarray]] = {r: [] for r in order}
    for n, start in enumerate(range(0, len(texts), BATCH)):
        batch = texts[start:start + BATCH]
        for runtime in order[n % len(order):] + order[:n % len(order)]:
            began = time.perf_counter()
            vectors[runtime].append(found[runtime].encode(batch, batch_size=BATCH))
            spent[runtime].append(time.perf_counter() - began)
    latency: dict[str, list[float]] = {r: [] for r in order}
    answers: dict[str, list[np.ndarray]] = {r: [] for r in order}
    for n, ask in enumerate(asks):
        for runtime in order[n % len(order):] + order[:n % len(order)]:
            began = time.perf_counter()
            answers[runtime].append(found[runtime].encode([ask])[0])
            latency[runtime].append((time.perf_counter() - began) * 1000)
    def unit(rows: list[np.ndarray]) -> np.ndarray:  # autocast's are normalised in bf16
        stacked = np.vstack(rows).astype(np.float64)
        return stacked / np.linalg.norm(stacked, axis=1, keepdims=True)

    reference_p, reference_q = unit(vectors["torch fp32"]), unit(answers["torch fp32"])
    rows = {}
    for runtime in order:
        cos_p = np.sum(unit(vectors[runtime]) * reference_p, axis=1)
        cos_q = np.sum(unit(answers[runtime]) * reference_q, axis=1)
        rows[runtime] = {
            # the median batch: a neighbour's burst on a shared machine skews a total
            "passages_per_s": round(BATCH / statistics.median(spent[runtime]), 2),
            "passages_per_s_overall": round(len(texts) / sum(spent[runtime]), 2),
            "query_p50_ms": round(statistics.median(latency[runtime]), 1),
            "query_p90_ms": round(float(np.percentile(latency[runtime], 90)), 1),
            "agree_passages_min": round(float(cos_p.min()), 5),
            "agree_passages_mean": round(float(cos_p.mean()), 5),
            "agree_questions_min": round(float(cos_q.min()), 5),
            "agree_questions_mean": round(float(cos_q.mean()), 5),
            "dimension": found[runtime].dimension,
        }
    return rows


def end_to_end(name: str, precision: str) -> dict:
    """The seed corpus indexed from scratch with this model, timed after the model loaded."""
    from search import Index
    from search.embed.embedder import EMBEDDERS, get_embedder

    before = os.environ.get("EVIDENCE_SEARCH_PRECISION")
    os.environ["EVIDENCE_SEARCH_PRECISION"] = precision
    EMBEDDERS.clear()
    try:
        get_embedder(name, "index")  # loading the model is not indexing
        with tempfile.TemporaryDirectory() as tmp:
            corpus = shutil.copytree(ROOT / "corpus", Path(tmp) / "corpus")
            index = Index(Path(tmp) / "index", model=name)
            report = index.refresh([corpus])
            index.wait_for_merges()
            chunks = index.stats().chunks
    finally:
        os.environ.pop("EVIDENCE_SEARCH_PRECISION")
        if before is not None:
            os.environ["EVIDENCE_SEARCH_PRECISION"] = before
        EMBEDDERS.clear()
    return {"chunks": chunks, "seconds": round(report.seconds, 2),
            "embed_seconds": round(report.embed_seconds, 2),
            "passages_per_s": round(chunks / report.seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=64)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2,
                        help="end-to-end runs per model and precision, best kept (0: none)")
    args = parser.parse_args()

    import torch

    from search.config import FAST_MODEL, QUALITY_MODEL
    from search.embed.embedder import Embedder, cpu_has_bf16

    load = os.getloadavg()
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16": cpu_has_bf16(), "cores": os.cpu_count(),
            "machine": platform.processor() or platform.machine(),
            "loadavg_before": [round(x, 2) for x in load]}
    print(json.dumps(info), flush=True)
    started = cpu_seconds()
    texts = passages(Embedder(FAST_MODEL).tokenizer, args.passages)
    asks = questions(args.questions)
    results: dict[str, dict] = {"info": info, "models": {}, "end_to_end": {}}
    for name in (FAST_MODEL, QUALITY_MODEL):
        results["models"][name] = measure(name, texts, asks)
        print(f"measured {name}", flush=True)
    precisions = ("fp32", "bf16") if cpu_has_bf16() else ("fp32",)
    for _ in range(args.repeats):  # in turns; the faster run of each is kept
        for name in (FAST_MODEL, QUALITY_MODEL):
            for precision in precisions:
                run = end_to_end(name, precision)
                key = f"{name} {precision}"
                print(f"indexed with {key}: {run}", flush=True)
                best = results["end_to_end"].get(key)
                if best is None or run["seconds"] < best["seconds"]:
                    results["end_to_end"][key] = run
    info["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    share = others_share(started)
    info["other_processes_cpu_share"] = None if share is None else round(share, 3)

    print(f"\n{len(texts)} passages of {PASSAGE_TOKENS} word-pieces in batches of {BATCH}; "
          f"{len(asks)} single questions; torch {info['torch']}, {info['threads']} threads, "
          f"native bf16: {info['native_bf16']}; other processes used "
          f"{'?' if share is None else f'{share:.1%}'} of the CPU meanwhile\n")
    if share is not None and share > 0.05:
        print(f"WARNING: other processes used {share:.1%} of the CPU during the measurement; "
              "PyTorch's OpenMP threads slow down many-fold when they do (ONNX Runtime far "
              "less). Run again on an idle machine.\n")
    print("| model | runtime | passages/s | question p50 ms | p90 ms | agreement passages "
          "min / mean | agreement questions min / mean |")
    print("|---|---|---:|---:|---:|---|---|")
    for name, rows in results["models"].items():
        for runtime, r in rows.items():
            print(f"| {name} | {runtime} | {r['passages_per_s']:.1f} | {r['query_p50_ms']:.1f} | "
                  f"{r['query_p90_ms']:.1f} | {r['agree_passages_min']:.4f} / "
                  f"{r['agree_passages_mean']:.4f} | {r['agree_questions_min']:.4f} / "
                  f"{r['agree_questions_mean']:.4f} |")
    if results["end_to_end"]:
        print(f"\nEnd to end: corpus/ indexed from scratch (chunk, embed passages and their "
              f"sentences, write), best of {args.repeats}\n")
        print("| model | precision | passages | seconds | embedding s | passages/s |")
        print("|---|---|---:|---:|---:|---:|")
        for key, r in results["end_to_end"].items():
            name, precision = key.rsplit(" ", 1)
            print(f"| {name} | {precision} | {r['chunks']} | {r['seconds']:.1f} | "
                  f"{r['embed_seconds']:.1f} | {r['passages_per_s']:.1f} |")
    out = ROOT / "artifacts" / "bench" / "models.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
