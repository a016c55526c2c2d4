"""Scanned PDFs: real page images read by the real Tesseract, found by search, cited by page,
and labelled as OCR text; what OCR cannot read is a clear reason or note, never lost work."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from search import Index
from search.ingest import ocr
from search.ingest.loaders import load_file
from search.records import Hit
from search.web.render import card_html, to_csv
from tests.conftest import CORPUS, FIRE, MAYOR, PDFS, ROOT
from tests.scans import noise_image, page_image, page_texts, scanned_pdf, write_pdf

MAYOR_PAGES = page_texts((CORPUS / MAYOR).read_text(encoding="utf-8"), 10)
TRAINING = next(i for i, p in enumerate(MAYOR_PAGES) if "Training will be evaluated" in p)
SCANNED = MAYOR_PAGES[:TRAINING + 1]  # the letter's pages up to the one about training


def scan_corpus(root: Path) -> Path:
    """The fire committee's text plus the mayor's letter as a scan with no text layer."""
    root.mkdir(parents=True)
    shutil.copy(CORPUS / FIRE, root / FIRE)
    scanned_pdf(root / "mayor-letter-scan.pdf", SCANNED)
    return root


def test_a_scanned_letter_is_read_found_and_cited_by_page(tmp_path: Path, store_at):
    corpus = scan_corpus(tmp_path / "corpus")
    index = Index(store_at(tmp_path / "index"))
    stages: list[tuple[str, int, int]] = []
    report = index.refresh([corpus], on_progress=lambda *a: stages.append(a))
    assert report.ok and not report.notes, (report.failed, report.notes)
    n = len(SCANNED)
    assert ("OCR mayor-letter-scan.pdf", n, n) in stages  # progress counts scanned pages

    # the letter's own words, read back from the page image, find the passage
    top = index.search("training evaluated by an on-the-day assessment and a 3-month survey",
                       k=3)[0]
    assert top.doc_id.endswith("mayor-letter-scan.pdf")
    assert "Training will be evaluated through an on-the-day assessment" in top.text
    assert top.page == TRAINING + 1 and f", p. {TRAINING + 1}" in top.citation
    assert top.ocr
    fire = index.search("London Ambulance Service wellbeing support vehicles", k=3)
    assert fire[0].doc_id.endswith(FIRE) and not fire[0].ocr


def test_an_image_only_pdf_from_the_wild_is_read(tmp_path: Path):
    """A real 1-bit image-only PDF from pypdf's test files: its words come from OCR."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(PDFS / "pypdf-resources/issue-3850-1bit-indexed-flate.pdf", corpus / "fax.pdf")
    index = Index(tmp_path / "index")
    report = index.refresh([corpus])
    assert report.ok, report.failed
    hit = index.search("decode repro", k=1)[0]
    assert "repro" in hit.text.lower() and hit.ocr and hit.page == 1


def test_a_page_of_noise_or_a_picture_says_ocr_found_nothing(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_pdf(corpus / "noise.pdf", [noise_image()], dpi=150)
    shutil.copy(PDFS / "pypdf-resources/git.pdf", corpus / "logo.pdf")  # a picture, no words
    shutil.copy(CORPUS / FIRE, corpus / FIRE)
    index = Index(tmp_path / "index")
    report = index.refresh([corpus])
    failed = {Path(p).name: why for p, why in report.failed}
    for name in ("noise.pdf", "logo.pdf"):
        assert failed[name] == "no text: page 1: OCR found no readable words (noise, a " \
                               "picture or a blank page?)"
    assert [Path(d.doc_id).name for d in index.documents()] == [FIRE]  # the rest indexes


def mixed_pdf(path: Path) -> Path:
    """A real text PDF (4 pages) with one scanned page appended: page 5 has no text layer."""
    writer = PdfWriter()
    writer.append(PdfReader(PDFS / "sample-files/004-pdflatex-4-pages/pdflatex-4-pages.pdf"))
    scan = io.BytesIO()
    page_image(MAYOR_PAGES[TRAINING]).save(scan, "PDF", resolution=300)
    writer.append(PdfReader(scan))
    with path.open("wb") as out:
        writer.write(out)
    return path


def test_without_tesseract_scanned_pages_are_a_note_and_the_rest_indexes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    mixed_pdf(corpus / "mixed.pdf")
    scanned_pdf(corpus / "scan-only.pdf", MAYOR_PAGES[:1], dpi=150)
    monkeypatch.setenv("EVIDENCE_SEARCH_TESSERACT", str(tmp_path / "no-such-tesseract"))
    result = subprocess.run(
        [sys.executable, "-m", "search", "index", str(corpus), "--index",
         str(tmp_path / "index"), "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert any(x.endswith("mixed.pdf: 1 scanned page not read: Tesseract OCR is not "
                          "installed (install it with: apt install tesseract-ocr "
                          "tesseract-ocr-eng)") and x.startswith("note: ") for x in lines)
    assert any(x.startswith("failed: ") and "scan-only.pdf: no text: 1 scanned page not "
               "read: Tesseract OCR is not installed" in x for x in lines), lines
    docs = Index(tmp_path / "index").documents()
    assert [Path(d.doc_id).name for d in docs] == ["mixed.pdf"]
    assert docs[0].page_count == 4


def test_a_long_scan_is_capped_with_progress_and_a_note(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch):
    """500 scanned pages: OCR stops at the cap, says which pages are unread, indexes the rest."""
    monkeypatch.setenv("EVIDENCE_SEARCH_OCR_MAX_PAGES", "4")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    first = page_image(MAYOR_PAGES[TRAINING], dpi=150)
    write_pdf(corpus / "archive-scan.pdf", [first] * 500, dpi=150)
    shutil.copy(CORPUS / FIRE, corpus / FIRE)
    index = Index(tmp_path / "index")
    stages: list[tuple[str, int, int]] = []
    report = index.refresh([corpus], on_progress=lambda *a: stages.append(a))
    assert report.ok, report.failed
    assert report.notes == [(str(corpus / "archive-scan.pdf"),
                             "OCR read the first 4 of 500 scanned pages (limit "
                             "EVIDENCE_SEARCH_OCR_MAX_PAGES=4); pages 5-500 are not searchable")]
    assert [s for s in stages if s[0].startswith("OCR")][-1] == ("OCR archive-scan.pdf", 4, 4)
    hits = index.search("survey of line managers and partner agencies", k=8)
    scan_pages = {h.page for h in hits if h.doc_id.endswith("archive-scan.pdf")}
    assert scan_pages and scan_pages <= {1, 2, 3, 4}


def test_garbage_text_layers_are_recognised():
    assert ocr.is_garbage("")
    assert ocr.is_garbage("  12  ")  # a page number alone
    assert ocr.is_garbage("(cid:12)(cid:7)(cid:44)(cid:3) (cid:9)(cid:12)(cid:7)(cid:44)")
    assert ocr.is_garbage("\ufffd\ufffd\ufffd \ufffd\ufffd \ufffd\ufffd\ufffd\ufffd\ufffd\ufffd "
                          "ab\ufffd\ufffd\ufffd\ufffd")
    assert ocr.is_garbage("~~^^## ||| }{}{ <<>> ~~~^^^ ||| ###")
    assert not ocr.is_garbage("Officers are offered peer support after a traumatic incident.")
    assert not ocr.is_garbage("Table 3: 62% (2019/20), £4.2m — see p. 12.")


def test_layout_words_keeps_lines_and_paragraphs_and_counts_confident_words():
    data = {"text": ["Peer", "support", "", "is", "offered.", "Page", "2"],
            "conf": [95, 91, -1, 88, 30, 90, 96],
            "block_num": [1, 1, 1, 1, 1, 2, 2], "par_num": [1, 1, 1, 1, 1, 1, 1],
            "line_num": [1, 1, 1, 2, 2, 1, 1]}
    text, confident = ocr.layout_words(data)
    assert text == "Peer support\nis offered.\n\nPage 2"
    assert confident == 4  # "offered." read at 30 and the digit do not count


def test_ocr_text_is_labelled_on_the_card_and_in_exports():
    hit = Hit(text="<b>Training</b> will be evaluated", score=1.0, doc_id="scan.pdf",
              title="Scan", path="scan.pdf", page=3, section="", start=0, end=10,
              citation="Scan, p. 3", rank=1, ocr=True)
    card = card_html(hit)
    assert "from OCR" in card and "&lt;b&gt;Training" in card
    assert "from OCR" not in card_html(Hit(**{**hit.to_dict(), "ocr": False}))
    assert next(csv.DictReader(io.StringIO(to_csv([hit]))))["ocr"] == "True"


def test_loaded_scan_knows_its_ocr_pages():
    raw = load_file(PDFS / "pypdf-resources/issue-3850-1bit-indexed-flate.pdf")
    assert raw.ocr_pages == [1] and raw.notes == []
