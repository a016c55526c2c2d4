"""End-to-end indexing speed per model: chunk, embed passages and their sentences, write.

    .venv/bin/python benchmarks/bench_indexing.py [--models fast,quality] [--docs 400,100]

Indexes the first N SciFact abstracts into a temporary index through `add_documents` (the
same path as `evidence-search index`, model load excluded) and prints passages per second.
The default model must index at least 10 passages/s here (docs/EVALUATION.md).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from search.config import Settings  # noqa: E402
from search.embed.embedder import get_embedder  # noqa: E402
from search.evaluate import load_beir  # noqa: E402
from search.indexing.refresh import add_documents  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beir", type=Path, default=ROOT.parent / "shared/bench/scifact")
    parser.add_argument("--models", default="fast,quality")
    parser.add_argument("--docs", default="400,100", help="abstracts per model, in order")
    args = parser.parse_args()
    data = load_beir(args.beir)
    print("| model | abstracts | passages | seconds | embedding s | passages/s end to end |")
    print("|---|---|---|---|---|---|")
    for model, n in zip(args.models.split(","), map(int, args.docs.split(",")), strict=True):
        settings = Settings(model=model)
        get_embedder(settings.model, "index")  # model load is not indexing time
        with tempfile.TemporaryDirectory() as tmp:
            report = add_documents(Path(tmp) / "index", data.documents[:n], settings)
        print(f"| {settings.model} | {n} | {report.chunks_embedded} | {report.seconds:.1f} | "
              f"{report.embed_seconds:.1f} | {report.chunks_embedded / report.seconds:.1f} |")


if __name__ == "__main__":
    main()
