"""Word documents and saved web pages: real files made with python-docx and real HTML, indexed
end to end; bad ones refused with a reason while the rest indexes."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import docx

from search import Index
from search.ingest.errors import LoadError
from search.ingest.loaders import load_file
from search.web.uploads import content_problem

PAGE = """<html><head><title>Committee evidence page</title>
<script>var tracker = "SECRETSCRIPT"; document.write("injected words");</script>
<style>.banner { color: red }</style></head>
<body><nav><a href="/">Home</a> | <a href="/about">About the committee</a></nav>
<div class="cookie-banner">We use cookies. Accept all cookies</div>
<main><h1>Wellbeing of control room staff</h1>
<p>The committee heard that call handlers are offered a decompression session with a trained
colleague within 72 hours of a distressing call.</p>
<h2>Findings</h2><p>Sickness absence among call handlers fell by a fifth after rota changes.</p>
</main><footer>Copyright 2024 The Assembly. All rights reserved.</footer></body></html>"""


def make_docx(path: Path) -> None:
    document = docx.Document()
    document.core_properties.title = "Ambulance trust wellbeing review"
    document.add_heading("Ambulance trust wellbeing review", 0)
    document.add_heading("Support after incidents", level=1)
    document.add_paragraph("After a serious incident crews are offered the following:")
    document.add_paragraph("a hot debrief led by the duty manager", style="List Bullet")
    document.add_paragraph("a TRiM assessment within three days", style="List Bullet")
    document.add_heading("Staffing", level=1)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Year", "Paramedic vacancies"
    table.cell(1, 0).text, table.cell(1, 1).text = "2024", "312"
    document.save(path)


def test_word_and_web_pages_index_with_sections(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    make_docx(corpus / "review.docx")
    (corpus / "page.html").write_text(PAGE, encoding="utf-8")
    index = Index(tmp_path / "index")
    report = index.refresh([corpus])
    assert report.ok and len(report.added) == 2, report.failed
    titles = {Path(d.doc_id).name: d.title for d in index.documents()}
    assert titles == {"review.docx": "Ambulance trust wellbeing review",
                      "page.html": "Wellbeing of control room staff"}  # its main heading

    hit = index.search("what support do crews get after a serious incident?", k=1)[0]
    assert "TRiM assessment within three days" in hit.text
    assert "crews are offered the following" in hit.text  # the list stays with its lead-in
    assert hit.page is None and hit.section.endswith("Support after incidents")
    assert hit.citation == "Ambulance trust wellbeing review — Support after incidents"
    table = index.search("paramedic vacancies in 2024", k=1, mode="lexical")[0]
    assert "2024 | 312" in table.text and table.section.endswith("Staffing")

    web = index.search("how soon do call handlers get a decompression session?", k=1)[0]
    assert web.doc_id.endswith("page.html") and "72 hours" in web.text
    with index.snapshot() as snap:
        page_text = snap.document_text(web.doc_id)
    for dropped in ("SECRETSCRIPT", "injected words", "Accept all cookies", "All rights reserved",
                    "About the committee", "color: red"):
        assert dropped not in page_text
    assert index.search("SECRETSCRIPT tracker", k=3, mode="lexical") == []
    findings = index.search("sickness absence call handlers rota", k=1, mode="lexical")[0]
    assert findings.section.endswith("Findings")


def bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * 20_000_000)
    return out.getvalue()


def test_bad_word_files_and_empty_pages_say_why_and_the_rest_indexes(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    make_docx(corpus / "good.docx")
    (corpus / "notzip.docx").write_bytes(b"this is plain text, not a Word file")
    (corpus / "locked.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 4096)
    (corpus / "bomb.docx").write_bytes(bomb())
    (corpus / "scripts.html").write_text(
        "<html><head><script>alert('x')</script></head><body><script>steal()</script>"
        "<nav><a href='/'>Home</a></nav></body></html>")
    report = Index(tmp_path / "index").refresh([corpus])
    reasons = {Path(p).name: why for p, why in report.failed}
    assert set(reasons) == {"notzip.docx", "locked.docx", "bomb.docx", "scripts.html"}
    assert reasons["notzip.docx"] == "not a Word document (not a zip file)"
    assert "without a password" in reasons["locked.docx"]
    assert "decompression bomb" in reasons["bomb.docx"]
    assert "no main text" in reasons["scripts.html"]
    assert [Path(p).name for p in report.added] == ["good.docx"]
    try:
        load_file(corpus / "locked.docx")
    except LoadError as exc:
        assert str(exc).startswith(str(corpus / "locked.docx")) and "\n" not in str(exc)


def test_uploads_take_word_and_web_pages_by_content():
    assert content_problem(b"PK\x03\x04...", ".docx") is None
    assert content_problem(b"hello", ".docx") == "not a Word document (not a zip file)"
    assert content_problem(b"<html><body>hi</body></html>", ".html") is None


def make_odt(path: Path) -> None:
    """A real OpenDocument text (as LibreOffice saves it), made with odfpy."""
    from odf.dc import Title
    from odf.opendocument import OpenDocumentText
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import H, List, ListItem, Note, NoteBody, NoteCitation, P

    document = OpenDocumentText()
    document.meta.addElement(Title(text="Fire brigade welfare minutes"))
    document.text.addElement(H(outlinelevel=1, text="Decompression after fatal fires"))
    lead = P(text="Watches attending a fatal fire are stood down and offered:")
    note = Note(id="ftn1", noteclass="footnote")
    note.addElement(NoteCitation(text="1"))
    body = NoteBody()
    body.addElement(P(text="Agreed at the welfare board, March 2025."))
    note.addElement(body)
    lead.addElement(note)
    document.text.addElement(lead)
    items = List()
    for words in ("a two-hour decompression period", "a call from the counselling service"):
        item = ListItem()
        item.addElement(P(text=words))
        items.addElement(item)
    document.text.addElement(items)
    document.text.addElement(H(outlinelevel=1, text="Staffing"))
    table = Table()
    table.addElement(TableColumn(numbercolumnsrepeated=2))
    for cells in (("Station", "Vacancies"), ("Lambeth", "14")):
        row = TableRow()
        for words in cells:
            cell = TableCell()
            cell.addElement(P(text=words))
            row.addElement(cell)
        table.addElement(row)
    document.text.addElement(table)
    document.save(str(path))


def test_opendocument_text_indexes_with_sections_lists_tables_and_footnotes(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    make_odt(corpus / "minutes.odt")
    (corpus / "broken.odt").write_bytes(b"PK\x03\x04 not really")
    index = Index(tmp_path / "index")
    report = index.refresh([corpus])
    assert [(Path(p).name, why) for p, why in report.failed] == [
        ("broken.odt", "not an OpenDocument text (not a zip file)")]
    [doc] = index.documents()
    assert doc.title == "Fire brigade welfare minutes"
    hit = index.search("how long are crews stood down after a fatal fire?", k=1)[0]
    assert "two-hour decompression period" in hit.text and "stood down and offered:" in hit.text
    assert hit.section == "Decompression after fatal fires" and hit.page is None
    assert "Agreed at the welfare board" not in hit.text  # the footnote is kept apart ...
    text = load_file(corpus / "minutes.odt").pages[0]
    assert "[1] Agreed at the welfare board, March 2025." in text  # ... under Footnotes
    assert "Lambeth | 14" in text
    assert content_problem(b"PK\x03\x04", ".odt") is None
    assert content_problem(b"%PDF-", ".odt") == "not an OpenDocument text (not a zip file)"



def titled_docx(path: Path, core_title: str, title_line: str | None, intro: str = "",
                first_heading: str = "Support for paramedics") -> None:
    """A Word file as people make them: a Title-style line, headings, body text."""
    document = docx.Document()
    document.core_properties.title = core_title
    if title_line is not None:
        document.add_paragraph(title_line, style="Title")
    if intro:
        document.add_paragraph(intro)
    document.add_heading(first_heading, level=1)
    document.add_paragraph("Paramedics can book counselling sessions through the occupational "
                           "health portal within two working days of a distressing call.")
    document.add_heading("Trauma support", level=1)
    document.add_paragraph("A trained colleague offers a trauma risk assessment within three "
                           "days, and a second one a month later.")
    document.save(path)


def test_a_word_files_title_line_is_its_title_not_a_passage_or_a_section(tmp_path: Path):
    from search.records import Filters

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    # Word leaves the title property empty or a placeholder; the Title-style line names it
    titled_docx(corpus / "counselling.docx", "", "Counselling and trauma support",
                intro="This note sets out the counselling offered to ambulance crews and how "
                      "managers refer staff to it.")
    titled_docx(corpus / "draft.docx", "Microsoft Word - draft.docx", "Wellbeing at work")
    titled_docx(corpus / "review.docx", "Ambulance trust wellbeing review 2024", "Review")
    titled_docx(corpus / "sidecar.docx", "Property title", "Title line")
    (corpus / "sidecar.docx.meta.json").write_text('{"title": "The sidecar title"}')
    titled_docx(corpus / "plain.docx", "", None, first_heading="Staff welfare")
    index = Index(tmp_path / "index")
    report = index.refresh([corpus])
    assert report.ok and len(report.added) == 5, report.failed
    documents = {Path(d.doc_id).name: d for d in index.documents()}
    assert {name: d.title for name, d in documents.items()} == {
        "counselling.docx": "Counselling and trauma support",
        "draft.docx": "Wellbeing at work",  # the property is Word's placeholder
        "review.docx": "Ambulance trust wellbeing review 2024",  # the property wins
        "sidecar.docx": "The sidecar title",  # the sidecar wins over both
        "plain.docx": "Staff welfare"}  # no title anywhere: the first heading, as before

    lines = {"Counselling and trauma support", "Wellbeing at work", "Review", "Title line"}
    for doc in documents.values():
        for chunk in index.document_chunks(doc.doc_id):
            assert not any(line in chunk.text for line in lines)  # no passage, no text
            assert not lines & set(chunk.section)  # no section heading

    def cite(question: str, name: str) -> str:
        only = Filters(documents=[documents[name].doc_id])
        return index.search(question, k=1, filters=only)[0].citation

    assert cite("how are staff referred to counselling?", "counselling.docx") == \
        "Counselling and trauma support"  # the opening text: under no section
    assert cite("how soon can paramedics book counselling?", "counselling.docx") == \
        "Counselling and trauma support — Support for paramedics"
    assert cite("how soon can paramedics book counselling?", "draft.docx") == \
        "Wellbeing at work — Support for paramedics"


def test_placeholder_title_properties_name_nothing():
    from search.ingest.word import placeholder_title

    path = Path("reports/Draft 3.docx")
    for empty in ("", "  ", "Title", "Document1", "Microsoft Word - Draft 3.docx", "draft 3",
                  "Draft 3.docx", "untitled"):
        assert placeholder_title(empty, path), empty
    for real in ("Counselling and trauma support", "Title IX compliance", "Document retention"):
        assert not placeholder_title(real, path), real


def test_a_title_style_line_after_the_opening_is_a_part_not_the_documents_title(
        tmp_path: Path):
    """Only a Title run that opens the file names it; one further in is kept as text."""
    import docx

    from search.ingest.loaders import load_file

    path = tmp_path / "report.docx"
    document = docx.Document()
    document.add_paragraph("The trust's wellbeing service opened in 2021 for all staff.")
    document.add_heading("Background", level=1)
    document.add_paragraph("Crews asked for support after difficult calls.")
    document.add_paragraph("Part two: the response", style="Title")
    document.add_paragraph("Peer supporters were trained in every station.")
    document.save(path)
    raw = load_file(path)
    assert raw.meta.get("title") != "Part two: the response"
    assert "Part two: the response" in raw.pages[0]
