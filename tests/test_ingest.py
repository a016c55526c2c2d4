"""Ingestion: page numbers recovered from running headers, headers kept out, markup as structure."""

from __future__ import annotations

import shutil
from pathlib import Path

from search.ingest.loaders import load_file
from search.ingest.structure import build_document
from tests.conftest import CORPUS, FIRE, MAYOR, PDFS


def doc_for(path: Path):
    return build_document(load_file(path), path.name, path.name)


def page_of(doc, needle: str) -> int | None:
    offset = doc.text.index(needle)
    return next(p.number for p in doc.pages if p.start <= offset < p.end)


def test_fire_committee_pages_match_its_contents_page():
    doc = doc_for(CORPUS / FIRE)
    assert [p.number for p in doc.pages] == list(range(1, 9))
    # The document's own contents page: LAS on page 3, MPS on page 6.
    assert page_of(doc, "London Ambulance Service\n\n1. What cooperation") == 3
    assert page_of(doc, "Metropolitan Police Service\n\n1. What cooperation") == 6
    assert page_of(doc, "Circa 11,000 officers") == 7
    assert page_of(doc, "Wellbeing Support Vehicles") == 5


def test_running_headers_are_removed_from_text():
    fire = doc_for(CORPUS / FIRE)
    assert "LONDON ASSEMBLY" not in fire.text
    assert "January 2026\n" not in fire.text
    mayor = doc_for(CORPUS / MAYOR)
    assert "MAYOR OF LONDON" not in mayor.text
    assert [p.number for p in mayor.pages] == [1, 2, 3, 4]
    assert page_of(mayor, "Training will be evaluated") == 3
    # The signature's "Mayor of London" is body text, not the page header.
    assert "Sadiq Khan\nMayor of London" in mayor.text


def test_markup_is_structure_not_text():
    fire = doc_for(CORPUS / FIRE)
    mayor = doc_for(CORPUS / MAYOR)
    assert "**" not in fire.text and "**" not in mayor.text
    assert "# " not in mayor.text
    headings = [mayor.text[b.start:b.end] for b in mayor.blocks if b.kind == "heading"]
    assert "Training for officers" in headings
    assert "Improving the Met's response to mental health" in headings
    assert "Psychological Monitoring Programme – Circa 11,000" in fire.text


def test_title_from_sidecar_then_heading_then_filename(tmp_path: Path):
    assert doc_for(CORPUS / FIRE).title == \
        "London Assembly Fire Committee written evidence (Jan 2026)"
    md = tmp_path / "notes_on-rota.md"
    md.write_text("# Shift patterns and fatigue\n\nCrews on nights report poor sleep.\n")
    assert doc_for(md).title == "Shift patterns and fatigue"
    plain = tmp_path / "crew_debrief-notes.txt"
    plain.write_text("crews said the debrief helped.\n")
    assert doc_for(plain).title == "Crew debrief notes"


def test_printed_page_numbers_win_over_counting(tmp_path: Path):
    body = "\n\n".join(
        f"Paragraph on page {n} about rest breaks for control room staff.\n\nPage {n}"
        for n in range(11, 15))
    path = tmp_path / "report.txt"
    path.write_text(body)
    doc = doc_for(path)
    assert [p.number for p in doc.pages] == [11, 12, 13, 14]
    assert "Page 12" not in doc.text
    assert page_of(doc, "page 13 about") == 13


def test_pdf_pages_carry_their_numbers(tmp_path: Path):
    pdf = tmp_path / "four.pdf"
    shutil.copy(PDFS / "sample-files/004-pdflatex-4-pages/pdflatex-4-pages.pdf", pdf)
    doc = doc_for(pdf)
    assert [p.number for p in doc.pages] == [1, 2, 3, 4]
    # Bare page numbers at the page foot are stripped from the text.
    assert all(not line.strip().isdigit() for line in doc.text.splitlines())


def test_pdf_running_header_stripped():
    doc = doc_for(PDFS / "pypdf-resources/GeoBase_NHNC1_Data_Model_UML_EN.pdf")
    assert doc.page_count == 19
    assert "National Hydro Network, Data Model – Edition 1.0 2004-06" not in doc.text
