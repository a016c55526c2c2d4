"""Citations cite what is printed on the page: PDF page labels, and sections only from
headings the PDF's type shows to be headings (issue 21, items 1 and 2)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from pypdf import PdfWriter
from pypdf.constants import PageLabelStyle

from search import Index
from search.ingest.chunker import section_paths
from search.ingest.loaders import load_file
from search.ingest.pdf import _Line, find_headings
from search.ingest.structure import build_document
from search.records import printed_page
from search.web.document_routes import page_position
from tests.conftest import PDFS

GEOTOPO = PDFS / "sample-files/009-pdflatex-geotopo/GeoTopo-komprimiert.pdf"  # i, ii, iii, 1, …
VICKSBURG = PDFS / "pypdf-resources/Seige_of_Vicksburg_Sample_OCR.pdf"  # a diary, one type
FOUR_PAGES = PDFS / "sample-files/004-pdflatex-4-pages/pdflatex-4-pages.pdf"


def headings(doc) -> list[str]:
    return [doc.text[b.start:b.end] for b in doc.blocks if b.kind == "heading"]


@pytest.fixture(scope="module")
def geotopo():
    return build_document(load_file(GEOTOPO), GEOTOPO.name, GEOTOPO.name)


def test_printed_page_is_the_label_else_the_position():
    assert printed_page(("i", "ii", "1"), 3) == "1"
    assert printed_page(("i", "ii", "1"), 1) == "i"
    assert printed_page((), 7) == "7"
    assert printed_page(("i",), 5) == "5"  # beyond the labels: its position
    assert printed_page(("i",), None) is None


def test_reader_says_the_printed_page_and_the_place_in_the_file():
    assert page_position(("i", "ii", "1", "2"), 4, 4) == "Page 2 (4 of 4 in the file)"
    assert page_position((), 2, 4) == "Page 2 of 4"


def test_pdf_page_labels_are_read(geotopo):
    assert geotopo.page_labels[:5] == ("i", "ii", "iii", "1", "2")
    assert geotopo.page_labels[19] == "17"  # the 20th page is printed 17
    assert len(geotopo.page_labels) == 117


def test_pdf_headings_come_from_type_not_short_lines(geotopo):
    found = headings(geotopo)
    assert "1.5 Kompaktheit" in found
    assert "2 Mannigfaltigkeiten und Simplizialkomplexe" in found  # a heading wrapped in 2 lines
    assert all(len(h) > 2 for h in found), [h for h in found if len(h) <= 2]  # not "X", "K"
    # the passages of the 20th page sit under the chapter and section they are printed in
    paths = section_paths(geotopo)
    page20 = next(p for p in geotopo.pages if p.number == 20)
    on_page = [path for block, path in zip(geotopo.blocks, paths, strict=True)
               if page20.start <= block.start < page20.end and block.kind != "heading"]
    assert on_page and all(path[-1] == "1.5 Kompaktheit" for path in on_page), on_page
    assert all(path[0].startswith("1 Topologische Grundbegri") for path in on_page)


def test_a_diary_in_one_type_has_no_false_sections():
    doc = build_document(load_file(VICKSBURG), VICKSBURG.name, VICKSBURG.name)
    assert not any(h.startswith("A report creeps into camp") for h in headings(doc)), \
        headings(doc)
    assert headings(doc) == []


def line(text: str, size: float = 10.0, bold: float = 0.0, page: int = 1) -> _Line:
    return _Line(page, text, size, bold)


def test_find_headings_takes_evidence_of_size_weight_and_outline():
    body = [line("Body text that runs on across the page and says things.") for _ in range(40)]
    lines = [line("Annual report", 18), *body[:10], line("Staffing and rotas", 12),
             *body[10:20], line("X"), line("Support after incidents", bold=1.0), *body[20:],
             line("Named by the outline", page=2)]
    found = {h.text: h.level for h in find_headings(lines, [(2, "Named by the outline", 1)])}
    assert set(found) == {"Annual report", "Staffing and rotas", "Support after incidents",
                          "Named by the outline"}
    assert found["Annual report"] < found["Staffing and rotas"] < found["Support after incidents"]


def test_find_headings_falls_back_to_numbering_only_in_one_type():
    body = [line("Body text that runs on across the page and says things.") for _ in range(20)]
    plain = [*body, line("2.3 Staffing and rotas"), line("Short line")]
    assert [h.text for h in find_headings(plain)] == ["2.3 Staffing and rotas"]
    varied = [*plain, line("Title", 20)]
    assert [h.text for h in find_headings(varied)] == ["Title"]


def test_citations_cards_and_links_use_printed_page_numbers(tmp_path: Path):
    """A PDF printed i, ii, 1, 2 cites its third page as p. 1, and opens the file at page 3."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    writer = PdfWriter(clone_from=FOUR_PAGES)
    writer.set_page_label(0, 1, style=PageLabelStyle.LOWERCASE_ROMAN, start=1)
    writer.set_page_label(2, 3, style=PageLabelStyle.DECIMAL, start=1)
    pdf = corpus / "labelled.pdf"
    with pdf.open("wb") as out:
        writer.write(out)
    index = Index(tmp_path / "index")
    assert index.refresh([corpus]).ok
    printed = {1: "i", 2: "ii", 3: "1", 4: "2"}
    hits = index.search("information about the selected font, how the letters are written",
                        k=10)
    assert {h.page for h in hits} & {3, 4}, "no passage from the numbered pages"
    for hit in hits:
        assert hit.page_label == printed[hit.page]
        assert f"p. {printed[hit.page]}" in hit.citation  # "p. 1" or "pp. 1–2"
    from search.web.render import card_html, doc_url

    hit = next(h for h in hits if h.page in (3, 4))
    assert f"Read in context, p. {printed[hit.page]}" in card_html(hit)
    assert doc_url(hit).endswith(f"#page={hit.page}")  # the file opens at its own page
    # kept into a pack, the printed pages follow into the exports' citations and sources
    from search.packs import PackStore
    from search.packs.export import sources, to_csv, to_markdown

    store = PackStore(tmp_path / "packs.sqlite3")
    pack = store.create("Labels")
    kept = store.keep(pack.id, hit, "question", "hybrid", "")
    assert kept.page == hit.page and kept.page_label == printed[hit.page]
    again = store.items(pack.id)[0]  # read back from SQLite
    assert again.page_label == printed[hit.page]
    line = sources([again])[hit.doc_id].pages_text()
    assert line.startswith(("p. ", "pp. ")) and printed[hit.page] in line
    assert str(hit.page) not in line.replace(printed[hit.page], "")
    assert f"p. {printed[hit.page]}" in to_markdown(store.get(pack.id), [again])
    row = next(csv.DictReader(io.StringIO(to_csv(store.get(pack.id), [again]))))
    assert row["page"] == printed[hit.page]


def test_a_font_weight_that_is_not_a_number_loses_no_text(tmp_path: Path):
    """A font descriptor whose /FontWeight is a name: the type is no evidence, the text stays."""
    from pypdf.generic import NameObject

    from search.ingest.pdf import pdf_pages_unsandboxed

    writer = PdfWriter(clone_from=FOUR_PAGES)
    for page in writer.pages:
        for font in page["/Resources"]["/Font"].values():
            descriptor = font.get_object().get("/FontDescriptor")
            if descriptor is not None:
                descriptor.get_object()[NameObject("/FontWeight")] = NameObject("/Bold")
    odd = tmp_path / "odd-weight.pdf"
    with odd.open("wb") as out:
        writer.write(out)
    plain = pdf_pages_unsandboxed(FOUR_PAGES, FOUR_PAGES.read_bytes())
    read = pdf_pages_unsandboxed(odd, odd.read_bytes())
    assert [len(p) for p in read.pages] == [len(p) for p in plain.pages]
    assert all(read.pages)


def test_a_long_page_label_is_cut_not_refused(tmp_path: Path):
    from search.packs import PackStore
    from search.records import Hit

    store = PackStore(tmp_path / "packs.sqlite3")
    pack = store.create("Labels")
    long = "Supplementary appendix S-1 to the annual report of the trust"
    hit = Hit(text="A passage.", score=1.0, doc_id="a.pdf", title="A", path="a.pdf", page=3,
              section="", start=0, end=10, citation=f"A, p. {long}", page_label=long)
    kept = store.keep(pack.id, hit, "q")
    assert kept.page_label == long[:40]


def test_contents_and_cover_lines_are_not_titles_or_sections():
    from search.ingest.pdf import pdf_pages_unsandboxed

    outline = PDFS / "sample-files/006-pdflatex-outline/pdflatex-outline.pdf"  # p. 1: contents
    read = pdf_pages_unsandboxed(outline, outline.read_bytes())
    assert read.title is None  # not "Contents": the file names it
    geobase = PDFS / "pypdf-resources/GeoBase_NHNC1_Data_Model_UML_EN.pdf"  # a cover page
    read = pdf_pages_unsandboxed(geobase, geobase.read_bytes())
    found = [h.text for h in read.headings]
    assert read.title == "National Hydro Network, Canada, Level 1 Data Model Edition 1.0"
    assert not any(h.page == 1 for h in read.headings)  # the cover's lines: its title
    assert not any("...." in h or ". . ." in h for h in found)  # contents lines
    assert not any(h[:1] in "(-–" for h in found)
