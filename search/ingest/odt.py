"""OpenDocument text (.odt, LibreOffice's format) as Markdown-like text, like word.py does for
.docx: headings become `#` lines, list items `- ` lines, table rows lines of cells, footnotes
gathered under their own heading. Read with odfpy; no fixed pages, so passages cite by section.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from search.ingest.errors import LoadError
from search.ingest.word import check_zip

_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"


def odt_text(path: Path, data: bytes) -> tuple[str, str | None]:
    """Markdown-like text and the document's title (its metadata), or a LoadError."""
    from odf import teletype
    from odf.opendocument import load

    archive = check_zip(path, data, "an OpenDocument text", "content.xml")
    manifest = "META-INF/manifest.xml"
    if manifest in archive.namelist() and b"encryption-data" in archive.read(manifest):
        raise LoadError(path, "password-protected OpenDocument text: save it without a "
                              "password")
    try:
        document = load(io.BytesIO(data))
    except Exception as exc:  # odfpy raises many kinds on broken parts
        raise LoadError(path, f"unreadable OpenDocument text ({type(exc).__name__}: {exc})") \
            from exc
    lines: list[str] = []
    notes: list[str] = []
    for element in document.text.childNodes:
        _block(element, lines, notes, teletype)
    if notes:
        lines.append("## Footnotes")
        lines += notes
    text = "\n\n".join(lines)
    if not text.strip():
        raise LoadError(path, "no text in the OpenDocument file")
    titles = document.meta.getElementsByType(_title_type())
    title = " ".join(teletype.extractText(titles[0]).split()) if titles else ""
    return text, title or None


def _title_type() -> Any:
    from odf.dc import Title

    return Title


def _block(element: Any, lines: list[str], notes: list[str], teletype: Any,
           item: bool = False) -> None:
    """One body element into lines: its footnotes are cut out of the text and kept apart."""
    name = getattr(element, "qname", None)
    if name == (_TEXT, "h"):
        level = int(element.getAttribute("outlinelevel") or 1)
        text = _words(element, notes, teletype)
        if text:
            lines.append("#" * min(6, level) + " " + text)
    elif name == (_TEXT, "p"):
        text = _words(element, notes, teletype)
        if text:
            lines.append(("- " if item else "") + text)
    elif name in ((_TEXT, "list"), (_TEXT, "list-item"), (_TEXT, "section")):
        for child in element.childNodes:
            _block(child, lines, notes, teletype, item or name != (_TEXT, "section"))
    elif name == (_TABLE, "table"):
        rows = []
        for row in element.getElementsByType(_row_type()):
            cells = [_words(cell, notes, teletype) for cell in row.childNodes
                     if getattr(cell, "qname", None) == (_TABLE, "table-cell")]
            unique = list(dict.fromkeys(c for c in cells if c))
            if unique:
                rows.append(" | ".join(unique))
        if rows:
            lines.append("  \n".join(rows))  # one block, a row a line (Markdown hard breaks)


def _row_type() -> Any:
    from odf.table import TableRow

    return TableRow


def _words(element: Any, notes: list[str], teletype: Any) -> str:
    """The element's text without its footnotes, which go to `notes` as `[n] text`."""
    for note in list(element.getElementsByType(_note_type())):
        citation = next((c for c in note.childNodes
                         if getattr(c, "qname", None) == (_TEXT, "note-citation")), None)
        body = next((c for c in note.childNodes
                     if getattr(c, "qname", None) == (_TEXT, "note-body")), None)
        number = teletype.extractText(citation).strip() if citation is not None else ""
        text = " ".join(teletype.extractText(body).split()) if body is not None else ""
        if text:
            notes.append(f"[{number or len(notes) + 1}] {text}")
        note.parentNode.removeChild(note)
    return " ".join(teletype.extractText(element).split())


def _note_type() -> Any:
    from odf.text import Note

    return Note
