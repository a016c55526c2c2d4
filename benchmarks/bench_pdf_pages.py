"""What reading printed page labels and headings from the type costs a long PDF.

    .venv/bin/python benchmarks/bench_pdf_pages.py [--repeat 3] [--out FILE.json]

The 117-page GeoTopo lecture notes (page labels i, ii, iii, 1, 2, …; an outline) are read
`--repeat` times each way, in this process, alternating so that load on the machine falls on
both alike:
- **plain**: pypdf's `extract_text()` on every page, what extraction did before issue 21;
- **with type**: `pdf_pages_unsandboxed` — the same text read with a visitor that records each
  piece's size and weight, the outline, the page labels, and the heading lines found in them.
Then the whole file is indexed end to end with the fast model (`Index.refresh`: sandbox,
structure, chunks, embedding). Target (issue 21): within 10 % of plain extraction.
Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.data import PDFS  # noqa: E402
from benchmarks.results import save  # noqa: E402
from search.embed.runtime_choice import cpu_signature  # noqa: E402
from search.ingest.pdf import pdf_pages_unsandboxed  # noqa: E402

SHARED = PDFS
PDF = SHARED / "sample-files/009-pdflatex-geotopo/GeoTopo-komprimiert.pdf"


def plain(data: bytes) -> list[str]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    return [page.extract_text() or "" for page in reader.pages]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts/bench/pdf_pages.json")
    args = parser.parse_args()
    data = PDF.read_bytes()
    times: dict[str, list[float]] = {"plain": [], "type": []}
    read = None
    for _ in range(args.repeat):
        for name in ("plain", "type"):
            started = time.perf_counter()
            if name == "plain":
                plain(data)
            else:
                read = pdf_pages_unsandboxed(PDF, data)
            times[name].append(time.perf_counter() - started)
    assert read is not None
    base, typed = statistics.median(times["plain"]), statistics.median(times["type"])

    from search import Index

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        shutil.copy(PDF, corpus)
        index = Index(Path(tmp) / "index", model="fast")
        started = time.perf_counter()
        report = index.refresh([corpus])
        end_to_end = time.perf_counter() - started
    save({
        "pdf": PDF.name, "pages": len(read.pages), "repeat": args.repeat,
        "plain_extract_s": round(base, 3), "with_type_s": round(typed, 3),
        "overhead": f"{typed / base - 1:+.1%}",
        "labels": " ".join(read.labels[:6]) + " …", "headings": len(read.headings),
        "index_end_to_end_s": round(end_to_end, 2), "chunks": report.chunks_embedded,
        "embed_s": round(report.embed_seconds, 2),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"{cpu_signature()}",
    }, args.out)


if __name__ == "__main__":
    main()
