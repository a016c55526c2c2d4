"""Word documents (.docx) as Markdown-like text: headings become `#` lines (so sections work as
for Markdown), list items stay `- ` lines under their lead-in, table rows become lines of cells,
footnotes follow under their own heading. DOCX has no fixed pages: passages cite by section.

The document's title is its core title property, unless that is one of the placeholders Word
and converters leave there, else its Title-style line. That line names the document: it is not
a heading (the sections under it would all cite it twice) and not a passage of its own.

A .docx is a zip file, so it is checked before python-docx opens it: an encrypted document (an
OLE container, not a zip), a file that is not a zip, and a decompression bomb are refused with
a reason.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from search.ingest.errors import LoadError

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted .docx (and old .doc) files
MAX_UNPACKED = 200 * 1024 * 1024  # bytes the zip may unpack to
MAX_RATIO = 100  # unpacked bytes per packed byte, beyond which it is a bomb
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def check_zip(path: Path, data: bytes, kind: str = "a Word document",
              required: str = "word/document.xml") -> zipfile.ZipFile:
    """The document's zip, or a LoadError saying why it cannot be one."""
    if data.startswith(OLE_MAGIC):
        raise LoadError(path, f"encrypted or old-format {kind.split(' ', 1)[-1]}: save it as "
                              f"{path.suffix.lower() or '.docx'} without a password")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise LoadError(path, f"not {kind} (not a zip file)") from exc
    unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > MAX_UNPACKED or unpacked > MAX_RATIO * max(1, len(data)):
        raise LoadError(path, f"refused: unpacks to {unpacked:,} bytes from {len(data):,} "
                              "(a decompression bomb?)")
    if required not in archive.namelist():
        raise LoadError(path, f"not {kind} (no {required} inside)")
    return archive


def docx_text(path: Path, data: bytes) -> tuple[str, str | None]:
    """Markdown-like text and the document's title (core properties), or a LoadError."""
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    archive = check_zip(path, data)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many kinds on broken parts
        raise LoadError(path, f"unreadable Word document ({type(exc).__name__}: {exc})") from exc
    lines: list[str] = []
    title_line: list[str] = []  # the first run of Title-style paragraphs
    taking_title = True
    for element in document.element.body.iterchildren():
        if element.tag == f"{_W}p":
            paragraph = Paragraph(element, document)
            if taking_title and _is_title(paragraph):
                title_line.append(" ".join(paragraph.text.split()))
                continue
            line = _paragraph(paragraph)
            taking_title = taking_title and not line  # only a Title run that opens the file
            if line:
                lines.append(line)
        elif element.tag == f"{_W}tbl":  # one block, a row a line (Markdown hard breaks)
            rows = _table(Table(element, document))
            if rows:
                lines.append("  \n".join(rows))
    notes = _footnotes(archive)
    if notes:
        lines.append("## Footnotes")
        lines += notes
    text = "\n\n".join(lines)
    if not text.strip():
        raise LoadError(path, "no text in the Word document")
    core = " ".join((document.core_properties.title or "").split())
    title = core if not placeholder_title(core, path) else " ".join(title_line)
    return text, title or None


# What Word, converters and templates leave in the title property when nobody set it.
_PLACEHOLDER = re.compile(r"(?:title|untitled|document|doc|new document|word document|"
                          r"microsoft word document|slide|presentation)\s*\d*|"
                          r"microsoft word\s*-.*", re.IGNORECASE)


def placeholder_title(title: str, path: Path) -> bool:
    """Whether a core title property names nothing: empty, a placeholder ("Title",
    "Document1", "Microsoft Word - draft.docx") or the file's own name."""
    title = title.strip()
    return (not title or _PLACEHOLDER.fullmatch(title) is not None
            or title.casefold() in (path.name.casefold(), path.stem.casefold()))


def _is_title(paragraph: object) -> bool:
    style = paragraph.style  # type: ignore[attr-defined]
    return style is not None and "Title" in (style.name, style.style_id) and bool(
        paragraph.text.strip())  # type: ignore[attr-defined]


def _paragraph(paragraph: object) -> str:
    text = " ".join(paragraph.text.split())  # type: ignore[attr-defined]
    if not text:
        return ""
    style = (paragraph.style.name if paragraph.style is not None else "") or ""  # type: ignore[attr-defined]
    heading = re.fullmatch(r"Heading (\d)", style)
    if heading:
        return "#" * min(6, int(heading.group(1))) + " " + text
    if style == "Title":  # a later Title line (the first is the document's title): a part
        return "# " + text
    numbered = paragraph._p.pPr is not None and paragraph._p.pPr.numPr is not None  # type: ignore[attr-defined]
    if style.startswith("List") or numbered:
        return "- " + text
    return text


def _table(table: object) -> list[str]:
    rows = []
    for row in table.rows:  # type: ignore[attr-defined]
        cells = [" ".join(cell.text.split()) for cell in row.cells]
        unique = list(dict.fromkeys(c for c in cells if c))  # merged cells repeat their text
        if unique:
            rows.append(" | ".join(unique))
    return rows


def _footnotes(archive: zipfile.ZipFile) -> list[str]:
    """Footnote texts in order, as `[n] text` lines (python-docx does not read them)."""
    if "word/footnotes.xml" not in archive.namelist():
        return []
    from lxml import etree

    root = etree.fromstring(archive.read("word/footnotes.xml"),
                            parser=etree.XMLParser(resolve_entities=False, no_network=True))
    out = []
    for note in root.iter(f"{_W}footnote"):
        number = note.get(f"{_W}id")
        if number is None or int(number) <= 0:  # separators
            continue
        text = " ".join("".join(t.text or "" for t in note.iter(f"{_W}t")).split())
        if text:
            out.append(f"[{number}] {text}")
    return out
