"""The in-page reader: a cited PDF page rendered with the passage's lines marked where its
words are, and a text document's section with the passage marked, escaped. Real PDFs from
/work/shared/pdfs and real documents indexed end to end."""

from __future__ import annotations

import html
import io
import re
import shutil
import threading
from pathlib import Path

import docx
import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter

from search import Index
from search.records import StoredChunk
from search.web.pdfpage import (
    MAX_SIDE,
    NOTE_NOT_FOUND,
    PageImage,
    ReaderError,
    match_words,
    passage_words,
    render_page,
)
from search.web.reader import (
    MAX_CHARS,
    NOTE_GONE,
    NOTE_MOVED,
    NOTE_OUTSIDE,
    SectionView,
    section_view,
)
from tests.conftest import PDFS
from tests.scans import scanned_pdf, write_pdf

VICKSBURG = PDFS / "pypdf-resources" / "Seige_of_Vicksburg_Sample_OCR.pdf"  # 6 pages of prose
GEOBASE = PDFS / "pypdf-resources" / "GeoBase_NHNC1_Data_Model_UML_EN.pdf"  # 19-page report
ENCRYPTED = PDFS / "pypdf-resources" / "crazyones-encrypted-256.pdf"  # needs a password
EMPTY_PASSWORD = PDFS / "pypdf-resources" / "encryption" / "r2-empty-password.pdf"
BROKEN = PDFS / "sample-files" / "017-unreadable-meta-data" / "unreadablemetadata.pdf"
SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'


def marks(view: SectionView) -> list[str]:
    """The marked pieces of a view, as the reader shows them (unescaped)."""
    found = re.findall(r'<mark class="passage"(?: id="passage")?>(.*?)</mark>', view.html,
                       flags=re.S)
    return [html.unescape(m.replace("<br>\n", "\n")) for m in found]


def make_docx(path: Path) -> None:
    document = docx.Document()
    document.add_heading("Station wellbeing review", 0)
    document.add_heading("Rest between calls", level=1)
    document.add_paragraph("Crews said the rest rooms at three stations were too noisy to use "
                           "between calls, so most sat in their vehicles instead.")
    document.add_paragraph("The review found that a quiet room with a kettle and a closed door "
                           "was used on nine shifts out of ten once it was offered.")
    document.add_paragraph(f"A visitor typed {IMG} into the feedback form.")
    document.add_heading("Peer support", level=1)
    document.add_paragraph("Peer supporters are trained for two days and meet monthly.")
    document.save(path)


MARKDOWN = f"""# Control room review

## Breaks for call handlers

Call handlers reported that breaks were often cancelled when queues were long.

The service now protects a twenty minute break in every four hours of a shift, and a
supervisor covers the console so the break is taken.

The intranet page about breaks showed {SCRIPT} as its title for a week.

## Decompression sessions

A trained colleague offers a decompression session within 72 hours of a distressing call.
"""

PAGE = f"""<html><head><title>Fire station survey</title></head><body><main>
<h1>Fire station survey</h1>
<h2>Sleep and night shifts</h2>
<p>Firefighters on night shifts slept an average of four hours and ten minutes.</p>
<p>Stations with blackout blinds in the dormitories reported an hour more sleep per night
than stations without them.</p>
<p>One respondent wrote {html.escape(SCRIPT)} in the comments box.</p>
<h2>Fitness</h2><p>Fitness tests are held twice a year.</p>
</main></body></html>"""


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Index, Path]:
    """Two real PDFs, a Word file, a Markdown file and a web page, indexed end to end."""
    base = tmp_path_factory.mktemp("reader")
    corpus = base / "corpus"
    corpus.mkdir()
    shutil.copy(VICKSBURG, corpus / VICKSBURG.name)
    shutil.copy(GEOBASE, corpus / GEOBASE.name)
    make_docx(corpus / "review.docx")
    (corpus / "breaks.md").write_text(MARKDOWN, encoding="utf-8")
    (corpus / "survey.html").write_text(PAGE, encoding="utf-8")
    index = Index(base / "index")
    report = index.refresh([corpus])
    assert report.ok and len(report.added) == 5, report.failed
    return index, corpus


def document(index: Index, doc_id: str) -> tuple[str, list[StoredChunk]]:
    """A document's clean text and its passages in order, as the reader gets them."""
    with index.snapshot() as snap:
        text = snap.document_text(doc_id)
        found = snap.chunks(list(range(1, snap.manifest.next_chunk_id)))
    assert text is not None
    chunks = sorted((c for c in found.values() if c.doc_id == doc_id), key=lambda c: c.ordinal)
    return text, chunks


def source(corpus: Path, hit_path: str) -> Path:
    return corpus / Path(hit_path).name


def pixels(page: PageImage) -> np.ndarray:
    image = Image.open(io.BytesIO(page.png))
    assert image.format == "PNG" and image.size == (page.width, page.height)
    return np.asarray(image.convert("RGB")).astype(int)


def pdfium_rows(path: Path, number: int, first: str, last: str, height: int) -> list[range]:
    """Pixel rows of pdfium's own text rectangles from the phrase `first` to the end of the
    phrase `last` (pdfium's search and rects, not the reader's word matching)."""
    pdf = pdfium.PdfDocument(path)
    try:
        page = pdf[number - 1]
        assert page.get_rotation() == 0
        scale = height / page.get_height()
        textpage = page.get_textpage()
        start = textpage.search(first).get_next()
        end = textpage.search(last).get_next()
        assert start and end, "phrases not on the page"
        count = end[0] + end[1] - start[0]
        rects = [textpage.get_rect(i) for i in range(textpage.count_rects(start[0], count))]
        top = page.get_height()
        return [range(int((top - t) * scale), int((top - b) * scale) + 1)
                for _, b, _, t in rects]
    finally:
        pdf.close()


# --- PDF pages ---------------------------------------------------------------------------

def test_cited_pdf_page_marks_the_passage_lines_where_its_words_are(library):
    index, corpus = library
    hit = index.search("the heat of the sun increases and we must improve our quarters", k=1)[0]
    assert hit.path.endswith(VICKSBURG.name) and hit.page == 1
    assert hit.text.startswith("JUNE 10TH") and hit.text.endswith("sides of the hills.")
    path = source(corpus, hit.path)

    marked = render_page(path, hit.page, hit.text)
    plain = render_page(path, hit.page)
    assert marked.page == 1 and marked.pages == 6 and marked.note == ""
    assert plain.marked == 0 and plain.note == ""
    assert marked.width == 900 and marked.height > marked.width  # a portrait page
    # The passage's 14 lines, from "JUNE 10TH.—The heat" to "...sides of the hills."
    assert marked.marked == 14

    changed = np.abs(pixels(marked) - pixels(plain)).sum(axis=2) > 0
    rows = set(np.nonzero(changed.any(axis=1))[0].tolist())
    lines = pdfium_rows(path, 1, "heat of the sun increases", "sides of the hills",
                        marked.height)
    # pdfium's rects are tight around the words; a mark spans the font's full line height
    allowed = {y for line in lines for y in range(line.start - max(4, len(line) // 3),
                                                   line.stop + max(4, len(line) // 3))}
    assert rows and rows <= allowed  # nothing painted outside the passage's lines
    for line in lines:  # and every line of it painted
        assert rows & set(line), f"line at rows {line} not marked"
    # the reader scrolls to the first marked line: mark_top says where it starts
    assert abs(marked.mark_top * marked.height - min(rows)) <= 6 and plain.mark_top == 0
    r, g, b = (pixels(marked)[changed].T)
    assert (b < r - 40).mean() > 0.95 and (b < g - 40).mean() > 0.95  # yellow over the text


def test_a_page_without_the_passage_marks_nothing(library):
    index, corpus = library
    hit = index.search("the heat of the sun increases and we must improve our quarters", k=1)[0]
    other = render_page(source(corpus, hit.path), 5, hit.text)
    assert other.marked == 0 and other.note == NOTE_NOT_FOUND
    unrelated = render_page(source(corpus, hit.path), 1,
                            "The data model describes hydrographic network features for GeoBase.")
    assert unrelated.marked == 0


def test_pdf_hits_mark_their_pages_and_a_passage_across_two_pages_marks_both(library):
    index, corpus = library
    for question in ("Grant will march us there and seize the prize",
                     "network linear elements and their attributes",
                     "shells exploding over the city at night"):
        for hit in index.search(question, k=3):
            if hit.page is None:
                continue
            page = render_page(source(corpus, hit.path), hit.page, hit.text)
            assert page.marked >= 1, (hit.path, hit.page, hit.text[:80])
    _, chunks = document(index, f"corpus/{VICKSBURG.name}")
    across = [c for c in chunks if c.page_start and c.page_end == c.page_start + 1]
    assert across, "no passage of the book crosses a page"
    for chunk in across:
        path = corpus / VICKSBURG.name
        first = render_page(path, chunk.page_start, chunk.text)
        second = render_page(path, chunk.page_end, chunk.text)
        assert first.marked >= 1 and second.marked >= 1, chunk.text[:80]


def test_marks_follow_a_page_turned_by_its_rotate_entry(tmp_path: Path):
    """A page stored sideways (/Rotate 90) shows turned; its marks must turn with it."""
    writer = PdfWriter()
    writer.add_page(PdfReader(VICKSBURG).pages[0])
    writer.pages[0].rotate(90)
    turned = tmp_path / "turned.pdf"
    writer.write(turned)
    passage = ("Johnston is coming with fifty thousand men to raise the siege, but I do not "
               "believe it. We have often heard that Richmond had fallen")
    upright = render_page(VICKSBURG, 1, passage, width=900)
    sideways = render_page(turned, 1, passage, width=upright.height)  # the same scale
    assert upright.marked == sideways.marked == 5
    mask_upright = np.abs(pixels(upright) - pixels(render_page(VICKSBURG, 1))).sum(axis=2) > 0
    mask_sideways = np.abs(pixels(sideways) - pixels(render_page(turned, 1, width=upright.height))
                           ).sum(axis=2) > 0
    expected = np.rot90(mask_upright, k=-1)  # turned a quarter clockwise
    assert expected.shape == mask_sideways.shape
    overlap = (expected & mask_sideways).sum() / (expected | mask_sideways).sum()
    assert overlap > 0.9


def test_page_out_of_range_and_unreadable_files_say_which_and_why(tmp_path: Path):
    with pytest.raises(ReaderError, match=r"page 7 is out of range \(the document has 6 pages"):
        render_page(VICKSBURG, 7, "anything")
    with pytest.raises(ReaderError, match=r"Seige_of_Vicksburg_Sample_OCR.pdf: page 0 "):
        render_page(VICKSBURG, 0)
    with pytest.raises(ReaderError, match=r"crazyones-encrypted-256.pdf: .*needs a password"):
        render_page(ENCRYPTED, 1)
    with pytest.raises(ReaderError, match=r"unreadablemetadata.pdf: unreadable PDF"):
        render_page(BROKEN, 1)
    fake = tmp_path / "notes.pdf"
    fake.write_text("just some words", encoding="utf-8")
    with pytest.raises(ReaderError, match=r"notes.pdf: not a PDF"):
        render_page(fake, 1)
    with pytest.raises(ReaderError, match=r"gone.pdf: cannot be read"):
        render_page(tmp_path / "gone.pdf", 1)
    opened = render_page(EMPTY_PASSWORD, 1)  # encrypted, but with the empty password: opens
    assert opened.pages == 1 and pixels(opened).size


def test_scanned_page_is_shown_unmarked_with_a_note(tmp_path: Path):
    words = ("Crews are offered a hot debrief after every serious incident and a TRiM "
             "assessment within three days.")
    path = scanned_pdf(tmp_path / "scan.pdf", [words], dpi=100)
    page = render_page(path, 1, words)
    assert page.marked == 0 and page.note.startswith("scanned page")
    assert page.pages == 1 and pixels(page).mean() < 255  # the scan itself is shown


def test_image_size_is_capped_whatever_the_page_or_the_width_asked(tmp_path: Path):
    tall = write_pdf(tmp_path / "tall.pdf", [Image.new("L", (400, 4000), 255)], dpi=10)
    page = render_page(tall, 1, width=900)  # 40 x 400 inch page: height wins
    assert max(page.width, page.height) <= MAX_SIDE and page.height >= MAX_SIDE - 2
    wide = render_page(VICKSBURG, 2, width=10_000)
    assert max(wide.width, wide.height) <= MAX_SIDE
    small = render_page(VICKSBURG, 2, width=1)
    assert small.width >= 100


def test_pages_render_the_same_from_many_threads(library):
    """pdfium is not thread-safe: the web server's threads must not crash it."""
    index, corpus = library
    hit = index.search("the heat of the sun increases and we must improve our quarters", k=1)[0]
    path = source(corpus, hit.path)
    expected = render_page(path, 1, hit.text)
    results: list[PageImage | BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                results.append(render_page(path, 1, hit.text))
        except BaseException as exc:  # noqa: BLE001 - reported below
            results.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 12
    assert all(isinstance(r, PageImage) and r.png == expected.png for r in results)


# --- matching words (pure) ---------------------------------------------------------------

def words(text: str) -> list[str]:
    return text.split()


SENTENCE = "the service now protects a twenty minute break in every four hours of a shift"


def test_match_words_finds_the_passage_ignoring_case_and_punctuation():
    page = words("Call handlers said: The Service now protects a twenty-minute break, in every "
                 "FOUR hours of a shift. Supervisors cover.")
    found = match_words(page, SENTENCE.split())
    assert [page[i] for i in found] == page[3:17]
    assert match_words(["ﬁlled", "with", "Lorem", "Ipsum", "text."],
                       passage_words("filled with Lorem Ipsum text")) == [0, 1, 2, 3, 4]


def test_match_words_joins_words_hyphenated_at_a_line_end():
    page = ["the", "recom-", "mendation", "was", "accepted", "by", "the", "board"]
    assert match_words(page, passage_words("the recommendation was accepted by the board")) \
        == list(range(8))
    assert passage_words("the recom-\nmendation was") == ["the", "recommendation", "was"]
    assert passage_words("soft\u00adhyphen") == ["softhyphen"]
    # and the other way round: the page has the whole word, the passage the broken one
    assert match_words(["a", "recommendation", "was", "accepted", "today"],
                       ["a", "recom", "mendation", "was", "accepted"]) == [0, 1, 2, 3]


def test_match_words_tolerates_a_misread_word_inside_the_passage():
    page = words("We have often heard that Eichmond had fallen but it continues")
    passage = words("We have often heard that Richmond had fallen but it continues")
    assert match_words(page, passage) == list(range(len(page)))


def test_match_words_returns_nothing_when_the_passage_is_not_on_the_page():
    page = words("The data model of the network holds the linear elements of the hydrography and "
                 "one of the tables lists the attributes of each of the elements in the model.")
    assert match_words(page, SENTENCE.split()) == []
    # a common three-word phrase of a long passage is not the passage
    long = (SENTENCE + " so one of the supervisors covers the console while the handler "
            "takes the break away from the screens").split()
    assert match_words(page, long) == []
    assert match_words([], SENTENCE.split()) == [] and match_words(page, []) == []
    assert match_words(["of", "the"], ["of", "the"]) == [0, 1]  # a short passage, whole
    assert match_words(["of", "a", "the"], ["of", "the"]) == []


def test_match_words_marks_each_part_of_a_passage_split_across_two_pages():
    passage = words("Stations with blackout blinds in the dormitories reported an hour more "
                    "sleep per night than stations without them and the service will fit blinds "
                    "at every station by the end of the year")
    first_page = words("Sleep and night shifts Firefighters slept four hours") + passage[:14]
    second_page = ["2", "Survey"] + passage[14:] + words("Fitness tests are held twice")
    on_first = match_words(first_page + ["12"], passage)  # a page number after it
    on_second = match_words(second_page, passage)
    assert [first_page[i] for i in on_first] == passage[:14]
    assert [second_page[i] for i in on_second] == passage[14:]
    # a short tail at the top of the next page still counts: it ends the passage
    assert match_words(["3", "end", "of", "the", "year", "Next", "section"], passage) \
        == [1, 2, 3, 4]


# --- sections of text documents ----------------------------------------------------------

def test_every_seed_passage_is_marked_once_intact_in_its_section(corpus_index: Index):
    documents = corpus_index.documents()
    assert len(documents) == 2
    for doc in documents:
        text, chunks = document(corpus_index, doc.doc_id)
        for chunk in chunks:
            view = section_view(text, chunks, chunk.start, chunk.end, passage=chunk.text)
            assert view.note == "" and view.html.count('id="passage"') == 1
            pieces = marks(view)
            assert "\n\n".join(pieces) == re.sub(r"\n[ \t]*\n\s*", "\n\n", chunk.text)
            assert view.heading == " › ".join(chunk.section)
            if chunk.section:
                assert view.html.startswith(f"<h4>{html.escape(chunk.section[-1])}</h4>")
            assert view.start <= chunk.start and chunk.end <= view.end
            assert view.end - view.start <= MAX_CHARS
            assert html.unescape(re.sub(r"<[^>]+>", "", view.html)).count(chunk.text[:60]) >= 1


def test_section_shows_context_paragraphs_around_the_passage(corpus_index: Index):
    hit = corpus_index.search("robust training for frontline officers", k=1)[0]
    text, chunks = document(corpus_index, hit.doc_id)
    full = section_view(text, chunks, hit.start, hit.end)
    assert full.heading.endswith("Training for officers") and not full.before
    assert "<h4>Training for officers</h4>" in full.html
    paragraphs = re.findall(r"<p>(.*?)</p>", full.html, flags=re.S)
    holding = [i for i, p in enumerate(paragraphs) if "<mark" in p]
    assert holding and len(paragraphs) > len(holding)  # the passage and what surrounds it
    assert marks(full) == [hit.text]
    narrow = section_view(text, chunks, hit.start, hit.end, context=0)
    assert re.findall(r"<p>(.*?)</p>", narrow.html, flags=re.S) == [paragraphs[holding[0]]]
    assert narrow.before or narrow.after
    assert narrow.start == hit.start and narrow.end == hit.end


def test_word_markdown_and_web_page_sections_escape_the_document(library):
    index, _ = library
    cases = [("a quiet room with a kettle and a closed door", "review.docx",
              "Rest between calls", IMG),
             ("protected twenty minute break for call handlers", "breaks.md",
              "Control room review › Breaks for call handlers", SCRIPT),
             ("blackout blinds in the dormitories more sleep", "survey.html",
              "Sleep and night shifts", SCRIPT)]
    for question, name, heading, markup in cases:
        hit = next(h for h in index.search(question, k=5) if h.doc_id.endswith(name))
        text, chunks = document(index, hit.doc_id)
        tag = re.match(r"<\w+", markup).group()  # "<script", "<img"
        assert tag in text  # the document really holds the markup, as text
        view = section_view(text, chunks, hit.start, hit.end, passage=hit.text)
        assert view.heading.endswith(heading), (name, view.heading)
        assert "\n\n".join(marks(view)) == hit.text and view.html.count('id="passage"') == 1
        assert "<script" not in view.html and "<img" not in view.html
        assert html.escape(tag) in view.html  # shown as text, inert
        assert len(re.findall(r"<p>", view.html)) >= 2  # paragraphs around the passage


def test_passage_crossing_paragraphs_and_cut_inside_one_is_marked_exactly(corpus_index: Index):
    hit = corpus_index.search("robust training for frontline officers", k=1)[0]
    text, chunks = document(corpus_index, hit.doc_id)
    start = hit.start + hit.text.index("Training will run")  # mid-paragraph...
    end = text.index("3-month survey", hit.end) + len("3-month survey")  # ...into the next
    view = section_view(text, chunks, start, end)
    pieces = marks(view)
    assert len(pieces) == 2 and "\n\n".join(pieces) == text[start:end]
    assert view.html.count('id="passage"') == 1
    assert "followed up with a 3-month survey</mark> to determine" in view.html


def test_changed_document_finds_the_passage_again_or_shows_it_alone(corpus_index: Index):
    hit = corpus_index.search("robust training for frontline officers", k=1)[0]
    text, chunks = document(corpus_index, hit.doc_id)
    edited = "A new opening paragraph was added.\n\n" + text
    moved = section_view(edited, chunks, hit.start, hit.end, passage=hit.text)
    assert moved.note == NOTE_MOVED and marks(moved) == [hit.text]
    rewrapped = edited.replace(hit.text, hit.text.replace(". ", ".\n", 2))
    again = section_view(rewrapped, chunks, hit.start, hit.end, passage=hit.text)
    assert again.note == NOTE_MOVED and " ".join(marks(again)[0].split()) == hit.text
    gone = section_view(text.replace(hit.text, "Rewritten."), chunks, hit.start, hit.end,
                        passage=hit.text + " " + SCRIPT)
    assert gone.note == NOTE_GONE and gone.start == gone.end == 0
    assert marks(gone) == [hit.text + " " + SCRIPT] and "<script" not in gone.html
    nowhere = section_view(text, chunks, len(text) + 10, len(text) + 20)
    assert nowhere.note == NOTE_OUTSIDE and nowhere.html == ""


def chunk(n: int, start: int, end: int, text: str, section: tuple[str, ...]) -> StoredChunk:
    return StoredChunk(id=n + 1, doc_id="long.md", ordinal=n, start=start, end=end,
                       page_start=None, page_end=None, section=section, text=text[start:end],
                       title="Long", path="long.md")


def test_long_sections_show_context_only_and_never_more_than_the_limit():
    paragraphs = [f"Paragraph {i}" + " words about the rota and the breaks" * 9
                  for i in range(200)]
    text = "Long report\n\n" + "\n\n".join(paragraphs)
    chunks, at = [], len("Long report\n\n")
    for i, p in enumerate(paragraphs):
        chunks.append(chunk(i, at, at + len(p), text, ("Long report",)))
        at += len(p) + 2
    target = chunks[100]
    view = section_view(text, chunks, target.start, target.end)
    assert len(re.findall(r"<p>", view.html)) == 9 and view.before and view.after
    assert marks(view) == [target.text] and "Paragraph 96 " in view.html
    assert "Paragraph 95 " not in view.html and "Paragraph 105 " not in view.html
    wide = section_view(text, chunks, target.start, target.end, context=150)
    assert wide.end - wide.start <= MAX_CHARS and marks(wide) == [target.text]
    assert wide.before and wide.after
    first = section_view(text, chunks, chunks[0].start, chunks[0].end)
    assert not first.before and first.after and first.html.startswith("<h4>Long report</h4>")

    huge = " ".join(f"w{i}" for i in range(40_000))  # one 250,000-character paragraph
    start = huge.index("w20000 ")
    end = start + len("w20000 w20001 w20002")
    big = section_view(huge, [chunk(0, 0, len(huge), huge, ())], start, end)
    assert big.end - big.start <= MAX_CHARS and big.before and big.after
    assert marks(big) == ["w20000 w20001 w20002"] and big.heading == ""
    shown = html.unescape(re.sub(r"<[^>]+>", "", big.html))
    assert shown == huge[big.start:big.end] and re.fullmatch(r"w\d+( w\d+)*", shown)


def test_the_web_server_draws_pages_in_a_worker_with_the_same_result(library):
    """The reader's pages are drawn in the extraction worker (memory and time limits), so a
    hostile PDF costs that process, not the server; the picture is the one render_page makes."""
    from search.web.document_routes import draw_page

    index, corpus = library
    hit = index.search("the heat of the sun increases and we must improve our quarters", k=1)[0]
    path = source(corpus, hit.path)
    here, there = render_page(path, hit.page, hit.text), draw_page(path, hit.page, hit.text)
    assert (there.page, there.pages, there.marked, there.mark_top) == \
        (here.page, here.pages, here.marked, here.mark_top)
    assert there.png == here.png
    with pytest.raises(ReaderError, match="needs a password"):
        draw_page(ENCRYPTED, 1, "")
    with pytest.raises(ReaderError, match="out of range"):
        draw_page(path, 99, "")


def test_the_reader_marks_a_passage_on_a_scanned_page_by_reading_it(tmp_path: Path):
    """A scanned page has no text layer: the worker reads the drawn page with Tesseract and
    marks the lines where the passage's words are (the web process never runs OCR)."""
    from search.web.document_routes import draw_page
    from search.web.pdfpage import NOTE_OCR

    letter = ("Dear Chair,\n\nThe brigade now gives every watch a decompression hour after a "
              "fatal fire, led by a trained peer supporter.\n\nWe also fund counselling for "
              "families of injured firefighters through the benevolent fund.\n\nYours "
              "sincerely,\n\nChief Officer")
    path = scanned_pdf(tmp_path / "letter.pdf", [letter])
    passage = ("The brigade now gives every watch a decompression hour after a fatal fire, led "
               "by a trained peer supporter.")
    page = draw_page(path, 1, passage)
    assert page.marked >= 1 and page.note == NOTE_OCR
    other = draw_page(path, 1, "Officers receive annual psychological screening in the "
                               "Territorial Support Group.")
    assert other.marked == 0 and other.note.startswith("scanned page")
    # the mark sits above the second paragraph's first line ("We also fund ...")
    assert 0 < page.mark_top < 0.5
