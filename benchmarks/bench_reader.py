"""The in-page reader: a cited PDF page rendered with its passage marked, and a text
document's section with the passage marked.

    .venv/bin/python benchmarks/bench_reader.py [--hits 40] [--width 900] [--out artifacts/bench]

Real PDFs from the shared test set (117 pages of German lecture notes, an OCR'd book, a
technical report, two columns, short letters) are indexed; questions made from the opening
words of their passages find hits, and `render_page` opens each hit's cited page with the
passage marked, each call opening the file as the web page will. The cold first call (in a
fresh interpreter: imports and pdfium's start, interpreter start-up excluded; and the first
call in this process) is reported apart, then the median, p90 and max over the hits, beside
the same pages rendered without a passage (what matching and marking add) and the share of
hits whose page got a mark. `section_view` is timed on every passage of the seed corpus and
of the 117-page document. Target: median <= 400 ms for a PDF page. Not part of `make test`:
speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.data import PDFS as SHARED  # noqa: E402

PDFS = ("sample-files/009-pdflatex-geotopo/GeoTopo-komprimiert.pdf",
        "pypdf-resources/Seige_of_Vicksburg_Sample_OCR.pdf",
        "pypdf-resources/GeoBase_NHNC1_Data_Model_UML_EN.pdf",
        "sample-files/026-latex-multicolumn/multicolumn.pdf",
        "sample-files/004-pdflatex-4-pages/pdflatex-4-pages.pdf",
        "sample-files/011-google-doc-document/google-doc-document.pdf",
        "pypdf-resources/crazyones.pdf")
TARGET_MS = 400
COLD = """import json, sys, time
t = time.perf_counter()
from pathlib import Path
from search.web.pdfpage import render_page
path, page, passage, width = json.loads(sys.argv[1])
render_page(Path(path), page, passage, width)
print((time.perf_counter() - t) * 1000)
"""


def summary(ms: list[float]) -> dict[str, float]:
    """Median, p90 and max of a list of milliseconds."""
    ordered = sorted(ms)
    return {"n": len(ordered), "median": round(statistics.median(ordered), 2),
            "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 2),
            "max": round(ordered[-1], 2)}


def questions(index, per_document: int) -> list[str]:
    """Questions from the opening words of passages, spread over every document."""
    with index.snapshot() as snap:
        found = snap.chunks(list(range(1, snap.manifest.next_chunk_id)))
    by_doc: dict[str, list[str]] = {}
    for c in sorted(found.values(), key=lambda c: (c.doc_id, c.ordinal)):
        words = c.text.replace("-", " ").split()
        if len(words) >= 8:
            by_doc.setdefault(c.doc_id, []).append(" ".join(words[:10]))
    out: list[str] = []
    for texts in by_doc.values():
        step = max(1, len(texts) // per_document)
        out.extend(texts[::step][:per_document])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hits", type=int, default=40, help="PDF hits to open (at least 30)")
    parser.add_argument("--width", type=int, default=900)
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "bench")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-reader-"))
    try:
        corpus = work / "pdfs"
        corpus.mkdir()
        for name in PDFS:
            shutil.copy(SHARED / name, corpus / Path(name).name)

        from search import Index

        index = Index(work / "index")
        report = index.refresh([corpus])
        assert report.ok, report.failed
        by_doc: dict[str, list] = {}
        seen = set()
        for question in questions(index, per_document=12):
            for hit in index.search(question, k=2, highlight=False):
                key = (hit.path, hit.page, hit.start)
                if hit.page is not None and key not in seen:
                    seen.add(key)
                    by_doc.setdefault(hit.path, []).append(hit)
        hits = []  # documents in turn, so every PDF is opened
        while len(hits) < args.hits and any(by_doc.values()):
            for found in by_doc.values():
                if found and len(hits) < args.hits:
                    hits.append(found.pop(0))
        assert len(hits) >= 30, f"only {len(hits)} PDF hits"

        first = hits[0]
        first_args = (str(corpus / Path(first.path).name), first.page or 1, first.text,
                      args.width)
        # Cold: a fresh interpreter imports the module and renders once (start-up excluded).
        child = subprocess.run(
            [sys.executable, "-c", COLD, json.dumps(first_args)], cwd=ROOT, check=True,
            capture_output=True, text=True)
        cold_process_ms = float(child.stdout.split()[-1])

        from search.web.pdfpage import render_page

        t = time.perf_counter()
        render_page(Path(first_args[0]), *first_args[1:])
        cold_ms = (time.perf_counter() - t) * 1000

        marked_ms, plain_ms, sizes, notes = [], [], [], {}
        marked_hits = 0
        for hit in hits:
            path, page = corpus / Path(hit.path).name, hit.page or 1
            t = time.perf_counter()
            image = render_page(path, page, hit.text, args.width)
            marked_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            render_page(path, page, "", args.width)
            plain_ms.append((time.perf_counter() - t) * 1000)
            sizes.append(len(image.png))
            marked_hits += image.marked > 0
            if image.note:
                notes[f"{Path(hit.path).name} p{page}"] = image.note

        # Text documents: every passage of the seed corpus in its section.
        from search.web.reader import section_view

        seed = Index(work / "seed")
        assert seed.refresh([ROOT / "corpus"]).ok
        section_ms: dict[str, list[float]] = {}
        for label, where, only in (("seed corpus", seed, None),
                                   ("117-page document", index, Path(PDFS[0]).name)):
            with where.snapshot() as snap:
                found = snap.chunks(list(range(1, snap.manifest.next_chunk_id)))
                docs = {c.doc_id for c in found.values()
                        if only is None or c.doc_id.endswith(only)}
                texts = {d: snap.document_text(d) or "" for d in docs}
            chunks = {d: sorted((c for c in found.values() if c.doc_id == d),
                                key=lambda c: c.ordinal) for d in docs}
            for d in sorted(docs):
                for c in chunks[d]:
                    t = time.perf_counter()
                    section_view(texts[d], chunks[d], c.start, c.end, passage=c.text)
                    section_ms.setdefault(label, []).append((time.perf_counter() - t) * 1000)

        result = {
            "pdfs": [Path(p).name for p in PDFS],
            "pdf_hits": len(hits),
            "documents_hit": len({h.path for h in hits}),
            "width": args.width,
            "render_cold_new_process_ms": round(cold_process_ms, 1),
            "render_first_call_in_process_ms": round(cold_ms, 1),
            "render_marked_ms": summary(marked_ms),
            "render_unmarked_ms": summary(plain_ms),
            "png_kb_median": round(statistics.median(sizes) / 1024, 1),
            "hits_marked": f"{marked_hits}/{len(hits)}",
            "notes": notes,
            "section_view_ms": {k: summary(v) for k, v in section_ms.items()},
            "target_median_ms": TARGET_MS,
            "meets_target": statistics.median(marked_ms) <= TARGET_MS,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "reader.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    for key, value in result.items():
        print(f"{key:>32}: {value}")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
