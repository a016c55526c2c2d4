"""Reading speed per format, and how well OCR reads scans.

    .venv/bin/python benchmarks/bench_formats.py [--pages 6] [--docs 40]

- OCR: the seed corpus's text set on page images (tests/scans.py) at 300 and 200 dpi, wrapped
  as image-only PDFs, read back through `load_file` (sandbox, pypdfium2, Tesseract): seconds
  per page and word accuracy against the source text (matched words / source words, case and
  punctuation ignored). The target is at least 95 % on clean 300-dpi pages.
- DOCX and HTML: the seed corpus written as Word files (python-docx) and as saved web pages
  (with navigation, a cookie banner and a footer), read back: documents per second.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import tempfile
import time
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from search.ingest.loaders import load_file  # noqa: E402
from search.ingest.ocr import tesseract_version  # noqa: E402
from search.ingest.sandbox import ocr_workers  # noqa: E402
from tests.scans import page_texts, scanned_pdf  # noqa: E402

CORPUS = ROOT / "corpus"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower().replace("’", "'"))


def word_accuracy(source: str, read: str) -> float:
    a, b = words(source), words(read)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return sum(m.size for m in matcher.get_matching_blocks()) / max(1, len(a))


def corpus_texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.txt"))]


def bench_ocr(tmp: Path, pages: int) -> None:
    texts = [t for source in corpus_texts() for t in page_texts(source, pages // 2)][:pages]
    print(f"\nOCR (Tesseract {tesseract_version()}, {ocr_workers()} pages at a time, "
          f"{len(texts)} pages of the seed corpus)\n")
    print("| dpi | pages | seconds | seconds per page | word accuracy (mean) | worst page |")
    print("|---|---|---|---|---|---|")
    for dpi in (300, 200):
        pdf = scanned_pdf(tmp / f"scan-{dpi}.pdf", texts, dpi=dpi)
        started = time.perf_counter()
        raw = load_file(pdf)
        seconds = time.perf_counter() - started
        accuracy = [word_accuracy(src, got) for src, got in zip(texts, raw.pages, strict=True)]
        print(f"| {dpi} | {len(texts)} | {seconds:.1f} | {seconds / len(texts):.2f} | "
              f"{sum(accuracy) / len(accuracy):.1%} | {min(accuracy):.1%} |")


def write_docx(path: Path, text: str) -> None:
    from docx import Document

    doc = Document()
    for block in text.split("\n\n"):
        block = block.strip()
        if not block:
            continue
        if block.startswith("#"):
            doc.add_heading(block.lstrip("# "), level=min(3, len(block) - len(block.lstrip("#"))))
        else:
            doc.add_paragraph(block.replace("**", ""))
    doc.save(str(path))


def write_html(path: Path, text: str) -> None:
    body = []
    for block in text.split("\n\n"):
        block = block.strip()
        if block.startswith("#"):
            body.append(f"<h2>{escape(block.lstrip('# '))}</h2>")
        elif block:
            body.append(f"<p>{escape(block.replace('**', ''))}</p>")
    path.write_text(
        "<html><head><title>Evidence</title><style>p{margin:0}</style>"
        "<script>var tracking = 'never indexed';</script></head><body>"
        "<nav><a href='/'>Home</a> <a href='/about'>About us</a></nav>"
        "<div class='cookie-banner'>We use cookies. Accept all cookies</div>"
        f"<main><article><h1>Written evidence</h1>{''.join(body)}</article></main>"
        "<footer>Copyright 2026. Privacy policy. Contact us.</footer></body></html>",
        encoding="utf-8")


def bench_documents(tmp: Path, docs: int) -> None:
    sources = corpus_texts()
    print(f"\nWord and web pages ({docs} documents each, made from the seed corpus)\n")
    print("| format | documents | characters read | seconds | documents/s |")
    print("|---|---|---|---|---|")
    for kind, write in (("docx", write_docx), ("html", write_html)):
        files = []
        for n in range(docs):
            path = tmp / f"doc-{n}.{kind}"
            write(path, sources[n % len(sources)])
            files.append(path)
        started = time.perf_counter()
        chars = sum(len(load_file(f).pages[0]) for f in files)
        seconds = time.perf_counter() - started
        print(f"| .{kind} | {docs} | {chars:,} | {seconds:.2f} | {docs / seconds:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=6, help="scanned pages per resolution")
    parser.add_argument("--docs", type=int, default=40, help="documents per format")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if tesseract_version() is None:
            print("OCR: Tesseract is not installed; skipped")
        else:
            bench_ocr(Path(tmp), args.pages)
        bench_documents(Path(tmp), args.docs)


if __name__ == "__main__":
    main()
