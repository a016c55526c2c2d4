"""End-to-end indexing speed per model and runtime: chunk, embed passages (their sentence
vectors come from the same pass), write.

    .venv/bin/python benchmarks/bench_indexing.py [--models fast,quality] [--docs 400,100]
        [--runtimes torch-fp32,torch-bf16,openvino-bf16,openvino-int8,auto]

Indexes the first N SciFact abstracts into a temporary index through `add_documents` (the
same path as `evidence-search index`, model load excluded) once per runtime, and prints
passages per second and the speed-up over the model's own fp32. `bf16` runs only on CPUs with
native bfloat16 (avx512_bf16 or AMX); `torch-*` force PyTorch, `openvino-*` OpenVINO in that
precision (int8: NNCF-quantised); `auto` is what the product picks on this CPU, by
measuring. (ONNX Runtime fp32 and int8 no longer embed passages: bench_backends.py.) Search
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

from benchmarks.data import PDFS, SCIFACT  # noqa: E402
from search.config import ENV_PRECISION, Settings  # noqa: E402
from search.embed.embedder import EMBEDDERS, cpu_has_bf16, get_embedder  # noqa: E402
from search.evaluate import load_beir  # noqa: E402
from search.indexing.refresh import add_documents  # noqa: E402

RUNTIMES = {  # name: (passage runtime, precision setting)
    "torch-fp32": ("torch", "fp32"),
    "torch-bf16": ("torch", "bf16"),
    "openvino-fp32": ("openvino", "fp32"),
    "openvino-bf16": ("openvino", "bf16"),
    "openvino-int8": ("openvino-int8", "fp32"),  # int8 layers, the rest fp32 (as auto tries it)
    "auto": ("auto", "auto"),  # what the product picks on this CPU (runtime_choice.py)
}


def run(model: str, runtime: str, docs: list) -> tuple[int, float, float]:
    settings = Settings(model=model)
    use(runtime, settings.model)
    with tempfile.TemporaryDirectory() as tmp:
        report = add_documents(Path(tmp) / "index", docs, settings)
    return report.chunks_embedded, report.seconds, report.embed_seconds


def use(runtime: str, model: str) -> str:
    """Make the next index embed with `runtime`; the model is loaded now (not timed). Returns
    what actually runs (e.g. "openvino bf16")."""
    engine, precision = RUNTIMES[runtime]
    os.environ[ENV_PRECISION] = precision
    os.environ["EVIDENCE_SEARCH_PASSAGE_RUNTIME"] = engine
    EMBEDDERS.clear()
    return get_embedder(model, "index").runtime


def run_files(paths: list[Path], runtime: str) -> tuple[int, float]:
    """Index real files through Index.refresh (extraction, chunking, embedding, writing)."""
    from search import Index

    use(runtime, Settings().model)
    with tempfile.TemporaryDirectory() as tmp:
        report = Index(Path(tmp) / "index").refresh(paths)
    assert report.ok, report.failed
    return report.chunks_embedded, report.seconds


def files_table(runtimes: list[str]) -> None:
    pdf = PDFS / "pypdf-resources/GeoBase_NHNC1_Data_Model_UML_EN.pdf"
    print("\nReal files, default model, through `Index.refresh`\n")
    print("| files | runtime | passages | seconds | passages/s | × torch fp32 |")
    print("|---|---|---|---|---|---|")
    for label, paths in (("seed corpus (2 documents)", [ROOT / "corpus"]),
                         ("a 19-page PDF (GeoBase data model)", [pdf])):
        base = None
        for runtime in runtimes:
            if "bf16" in runtime and not cpu_has_bf16():
                continue
            passages, seconds = run_files(paths, runtime)
            rate = passages / seconds
            base = rate if runtime == "torch-fp32" else base
            print(f"| {label} | {runtime} | {passages} | {seconds:.1f} | {rate:.1f} | "
                  f"{f'{rate / base:.2f}' if base else ''} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beir", type=Path, default=SCIFACT)
    parser.add_argument("--models", default="fast,quality")
    parser.add_argument("--docs", default="400,100", help="abstracts per model, in order")
    parser.add_argument("--runtimes",
                        default="torch-fp32,torch-bf16,openvino-bf16,openvino-int8,auto")
    args = parser.parse_args()
    data = load_beir(args.beir)
    print(f"CPU bfloat16: {'yes' if cpu_has_bf16() else 'no'}; threads: {os.cpu_count()}\n")
    print("| model | runtime | abstracts | passages | seconds | embedding s | "
          "passages/s end to end | × torch fp32 |")
    print("|---|---|---|---|---|---|---|---|")
    for model, n in zip(args.models.split(","), map(int, args.docs.split(",")), strict=True):
        base = None
        for runtime in args.runtimes.split(","):
            if "bf16" in runtime and not cpu_has_bf16():
                print(f"| {model} | {runtime} | | | | | no native bfloat16 here | |")
                continue
            passages, seconds, embedding = run(model, runtime, data.documents[:n])
            rate = passages / seconds
            base = rate if runtime == "torch-fp32" else base
            label = f"{runtime} ({get_embedder(Settings(model=model).model, 'index').runtime})"
            print(f"| {Settings(model=model).model} | {label} | {n} | {passages} | "
                  f"{seconds:.1f} | {embedding:.1f} | {rate:.1f} | "
                  f"{f'{rate / base:.2f}' if base else ''} |", flush=True)
    files_table(args.runtimes.split(","))


if __name__ == "__main__":
    main()
