"""End-to-end indexing speed per model and runtime: chunk, embed passages (their sentence
vectors come from the same pass), write.

    .venv/bin/python benchmarks/bench_indexing.py [--models fast,quality] [--docs 400,100]
        [--runtimes fp32,bf16]

Indexes the first N SciFact abstracts into a temporary index through `add_documents` (the
same path as `evidence-search index`, model load excluded) once per runtime, and prints
passages per second and the speed-up over the model's own fp32. `bf16` runs only on CPUs with
native bfloat16 (avx512_bf16 or AMX); `auto` is what the product picks on this CPU. (ONNX
Runtime fp32 and int8 no longer embed passages: benchmarks/bench_backends.py.) Search
quality per runtime: `evidence-search eval --beir ... --model M` with
EVIDENCE_SEARCH_PRECISION=fp32 or bf16 (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from search.config import ENV_PRECISION, Settings  # noqa: E402
from search.embed.embedder import cpu_has_bf16, get_embedder, precision_for  # noqa: E402
from search.evaluate import load_beir  # noqa: E402
from search.indexing.refresh import add_documents  # noqa: E402

RUNTIMES = {  # name: (backend, precision setting)
    "fp32": ("torch", "fp32"),
    "bf16": ("torch", "bf16"),
    "auto": ("torch", "auto"),
}


def run(model: str, runtime: str, docs: list) -> tuple[int, float, float]:
    backend, precision = RUNTIMES[runtime]
    os.environ[ENV_PRECISION] = precision
    get_embedder.cache_clear()
    settings = Settings(model=model, backend=backend)
    get_embedder(settings.model, "index", backend)  # model load is not indexing time
    with tempfile.TemporaryDirectory() as tmp:
        report = add_documents(Path(tmp) / "index", docs, settings)
    return report.chunks_embedded, report.seconds, report.embed_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beir", type=Path, default=ROOT.parent / "shared/bench/scifact")
    parser.add_argument("--models", default="fast,quality")
    parser.add_argument("--docs", default="400,100", help="abstracts per model, in order")
    parser.add_argument("--runtimes", default="fp32,bf16")
    args = parser.parse_args()
    data = load_beir(args.beir)
    print(f"CPU bfloat16: {'yes' if cpu_has_bf16() else 'no'}; threads: {os.cpu_count()}\n")
    print("| model | runtime | abstracts | passages | seconds | embedding s | "
          "passages/s end to end | × fp32 |")
    print("|---|---|---|---|---|---|---|---|")
    for model, n in zip(args.models.split(","), map(int, args.docs.split(",")), strict=True):
        base = None
        for runtime in args.runtimes.split(","):
            if runtime == "bf16" and not cpu_has_bf16():
                print(f"| {model} | bf16 | | | | | no native bfloat16 here | |")
                continue
            passages, seconds, embedding = run(model, runtime, data.documents[:n])
            rate = passages / seconds
            base = rate if runtime == "fp32" else base
            label = runtime if runtime != "auto" else \
                f"auto ({precision_for(model, 'index')})"
            print(f"| {Settings(model=model).model} | {label} | {n} | {passages} | "
                  f"{seconds:.1f} | {embedding:.1f} | {rate:.1f} | "
                  f"{f'{rate / base:.2f}' if base else ''} |", flush=True)


if __name__ == "__main__":
    main()
