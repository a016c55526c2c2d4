"""HTTP endpoints that show documents: the source file itself (corpus files only) and the
reader, which shows a passage in its place — a PDF page drawn with the passage's lines marked,
or the section of a text, Markdown, Word or web document with the passage marked."""

from __future__ import annotations

import base64
from collections.abc import Callable
from html import escape
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from search.index import Index
from search.ingest.errors import LoadError
from search.ingest.sandbox import page_drawer
from search.records import KeptPassage, printed_page
from search.web.pdfpage import NOTE_NOT_FOUND, PageImage, ReaderError
from search.web.reader import section_view

# How each kind of source opens: PDFs and text in the browser; a saved web page shown with
# scripts, frames and remote loads blocked (CSP sandbox); Word and OpenDocument files download.
SERVED = {
    ".pdf": ("application/pdf", "inline"),
    ".txt": ("text/plain; charset=utf-8", "inline"),
    ".md": ("text/plain; charset=utf-8", "inline"),
    ".html": ("text/html; charset=utf-8", "inline"),
    ".htm": ("text/html; charset=utf-8", "inline"),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
              "attachment"),
    ".odt": ("application/vnd.oasis.opendocument.text", "attachment"),
}


def corpus_file(index: Index, corpus_dir: Path, doc_id: str) -> Path:
    """The file a document came from, if it lies in the corpus folder; 404 otherwise."""
    try:
        path = index.source_path(doc_id).resolve()
    except KeyError:
        raise HTTPException(404, "no such document") from None
    if not path.is_relative_to(corpus_dir.resolve()) or not path.is_file():
        raise HTTPException(404, "not a corpus file")
    return path


def document_router(index: Index, corpus_dir: Path,
                    kept: Callable[[int], KeptPassage | None] | None = None) -> APIRouter:
    """/doc and /reader. `kept(item id)` finds a pack's kept passage, so the reader can find
    it again in a document that changed since it was kept."""
    router = APIRouter()

    @router.get("/doc/{doc_id:path}")
    def source_document(doc_id: str) -> FileResponse:
        """A corpus file, by doc id; nothing outside the corpus folder is ever served."""
        path = corpus_file(index, corpus_dir, doc_id)
        media, disposition = SERVED.get(path.suffix.lower(), SERVED[".txt"])
        policy = "sandbox; default-src 'none'"
        if media == "application/pdf":
            policy += "; plugin-types application/pdf"
        elif media.startswith("text/html"):
            policy += "; style-src 'unsafe-inline'"  # a saved page keeps its look, runs nothing
        return FileResponse(path, media_type=media, headers={
            "X-Content-Type-Options": "nosniff", "Content-Security-Policy": policy,
            "Content-Disposition": f"{disposition}; filename=\"{ascii_name(path.name)}\""})

    @router.get("/reader", response_class=HTMLResponse)
    def reader(doc: str, start: int, end: int, page: int | None = None,
               item: int | None = None) -> str:
        """The reader's HTML for one passage: its PDF page (or `page`) as an image with the
        passage marked, or its section with the passage marked. `item`: a pack's kept
        passage, looked for by its text when the document changed since."""
        passage = kept(item) if kept is not None and item is not None else None
        return reader_html(index, corpus_dir, doc, start, end, page, passage)

    return router


def reader_html(index: Index, corpus_dir: Path, doc_id: str, start: int, end: int,
                page: int | None = None, kept: KeptPassage | None = None) -> str:
    """The reader for one passage, from one view of the index. When the document no longer
    has the passage, a kept passage's text is looked for instead; failing that the reader
    says so and marks nothing (old offsets would point at other text)."""
    path = corpus_file(index, corpus_dir, doc_id)
    found = index.in_context(doc_id, start, end)
    if found is None:
        raise HTTPException(404, "no such document")
    hit = found.hit
    wanted = hit.text if hit else (kept.text if kept and kept.doc_id == doc_id else "")
    cite = hit.citation if hit else (kept.citation if kept else found.title)
    head = (
        f'<div class="reader-view" data-doc="{escape(doc_id)}" data-start="{start}" '
        f'data-end="{end}" role="document">'
        f'<header><h3 class="reader-title">{escape(cite)}</h3>'
        '<button type="button" class="reader-close" aria-label="Close the reader">×</button>'
        '</header><div class="reader-bar">'
        '<button type="button" class="reader-hit" data-step="-1">‹ Previous hit</button>'
        '<button type="button" class="reader-hit" data-step="1">Next hit ›</button>'
        + ('<button type="button" class="keep reader-keep">Keep</button>' if hit else "")
        + f'<a class="source" href="/doc/{quote(doc_id, safe="")}" target="_blank" '
        'rel="noopener noreferrer">Open the file</a></div>')
    if not wanted:
        return (head + '<p class="reader-note">This passage is no longer in the index (its '
                "document was re-indexed or removed): search again.</p></div>")
    if hit is None:
        head += ('<p class="reader-note">The document changed since this passage was kept: '
                 "it is looked for by its text.</p>")
    if path.suffix.lower() == ".pdf":
        first = hit.page if hit else (kept.page if kept else None)
        return (head + _pdf_body(path, found.title, page or first or 1, wanted, first,
                                 found.page_labels) + "</div>")
    view = section_view(found.text, found.chunks, start, end, passage=wanted)
    # each heading once: the text opens with the section's own heading (<h4>), so the line
    # above it names only the sections around it
    parents = view.heading.rsplit(" › ", 1)[0] if " › " in view.heading else ""
    heading = f'<p class="reader-section">{escape(parents)}</p>' if parents else ""
    if view.note:
        heading += f'<p class="reader-note">{escape(view.note)}</p>'
    more = '<p class="reader-more">…</p>'
    return (head + heading + '<div class="reader-text">' + (more if view.before else "")
            + view.html + (more if view.after else "") + "</div></div>")


def draw_page(path: Path, page: int, passage: str, width: int = 900) -> PageImage:
    """A PDF page drawn in a worker process under the extraction limits (memory, time): a
    hostile or broken PDF costs that worker, never the web server. ReaderError says why a
    page could not be drawn."""
    try:
        reply = page_drawer().render(path, page, passage, width)
    except LoadError as exc:
        raise ReaderError(exc.reason) from None
    fields = {k: v for k, v in reply.items() if k not in ("status", "png")}
    return PageImage(png=base64.b64decode(reply["png"]), **fields)


def _pdf_body(path: Path, title: str, page: int, passage: str,
              home: int | None = None, labels: tuple[str, ...] = ()) -> str:
    """The page drawn with the passage marked; `home` is the passage's own page, named (by
    the number printed on it) when another page is shown: turning pages is no failure to
    find it."""
    try:
        image = draw_page(path, page, passage)
    except ReaderError as exc:
        return f'<p class="reader-note">{escape(str(exc))}</p>'
    prev = (f'<button type="button" class="reader-page" data-page="{image.page - 1}">'
            "‹ Page</button>" if image.page > 1 else "")
    nxt = (f'<button type="button" class="reader-page" data-page="{image.page + 1}">'
           "Page ›</button>" if image.page < image.pages else "")
    extra = image.note
    if passage and image.marked:
        note = "The passage is marked in yellow."
    elif passage and home is not None and image.page != home:
        note = f"The passage is on p. {printed_page(labels, home)}."
        extra = "" if extra == NOTE_NOT_FOUND else extra
    elif passage:
        note = "The passage is not on this page." if not image.note else ""
    else:
        note = ""
    note = " ".join(n for n in (note, extra) if n)
    data = base64.b64encode(image.png).decode("ascii")
    return (f'<div class="reader-pages" data-page="{image.page}" data-pages="{image.pages}">'
            f'{prev}<span>{escape(page_position(labels, image.page, image.pages))}</span>'
            f'{nxt}</div>'
            + (f'<p class="reader-note">{escape(note)}</p>' if note else "")
            + f'<img class="reader-page-image" width="{image.width}" height="{image.height}" '
            f'data-mark-top="{image.mark_top}" '
            f'alt="Page {image.page} of {escape(title)}" src="data:image/png;base64,{data}">')


def page_position(labels: tuple[str, ...], page: int, pages: int) -> str:
    """Where the reader is, by the number printed on the page (what a citation gives), and
    by its place in the file where the two differ ("Page 17 (20 of 117 in the file)")."""
    printed = printed_page(labels, page)
    if printed == str(page):
        return f"Page {page} of {pages}"
    return f"Page {printed} ({page} of {pages} in the file)"


def ascii_name(name: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_"
                   for c in name)
