"""Page texts, title, printed page labels and headings of a PDF with pypdf, in this process
(sandbox.py runs it in a child).

Headings come from evidence in the text layer, never from a line being short: a line set
larger than the body text, a whole line in a bold face, or a line the PDF's own outline
(bookmarks) names on that page. Only a PDF whose text is all one size and weight falls back
to numbering ("2.3 Staffing") as the evidence.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search.ingest.errors import LoadError

_BOLD_FONT = re.compile(r"bold|black|heavy|semibold|demi|-bd\b|,bd\b|\+?cmbx|\bcmb\d",
                        re.IGNORECASE)
FORCE_BOLD = 1 << 18  # font descriptor flag 19: paint glyphs bold
# a contents line: dot leaders (or a wide gap) before a page number
_TOC_LINE = re.compile(r"(?:\.\s*){3,}\s*[\divxlc]{1,5}\s*$|(?:…|\s{3,}|\t)\s*\d{1,4}\s*$",
                       re.IGNORECASE)
_NUMBERED = re.compile(r"^(\d{1,3}(?:\.\d{1,3})*)[.)]?\s+\S")
_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
MAX_HEADING_CHARS = 160
LARGER = 1.15  # a line at least this much above the body size is set as a heading


@dataclass(frozen=True)
class PdfHeading:
    """One line of a page that the text layer shows to be a heading (1-based page)."""

    page: int
    text: str
    level: int


@dataclass
class PdfPages:
    """What pypdf reads from a PDF: page texts, the title, the printed page labels (empty when
    the PDF has none) and the heading lines."""

    pages: list[str]
    title: str | None
    labels: list[str] = field(default_factory=list)
    headings: list[PdfHeading] = field(default_factory=list)


@dataclass(frozen=True)
class _Line:
    page: int  # 1-based
    text: str
    size: float  # the size most of its characters are set in, in points
    bold: float  # share of its characters in a bold face
    letters: int = -1  # how many letters it holds (counted here when not given)

    def __post_init__(self) -> None:
        if self.letters < 0:
            object.__setattr__(self, "letters", len(_LETTERS.findall(self.text)))


def pdf_pages_unsandboxed(path: Path, data: bytes) -> PdfPages:
    """Page texts, title, labels and headings of a PDF, in this process: call it through
    sandbox.Extractor. Pages without a text layer come back empty; the sandbox decides which
    to OCR."""
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if b"%PDF" not in data[:1024]:
        raise LoadError(path, "not a PDF (no %PDF header)")
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception as exc:  # unsupported crypto, broken encryption dict
                raise LoadError(path, f"encrypted PDF that cannot be opened ({exc})") from exc
            if not ok:
                raise LoadError(path, "encrypted PDF: needs a password")
        n_pages = len(reader.pages)
        title = _pdf_title(reader)
    except LoadError:
        raise
    except (PdfReadError, Exception) as exc:  # pypdf raises many types on broken files
        raise LoadError(path, f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})") from exc
    if n_pages == 0:
        raise LoadError(path, "PDF has no pages")
    pages: list[str] = []
    lines: list[_Line] = []
    for i in range(n_pages):
        text, page_lines = _page_text(reader.pages[i], i + 1)
        pages.append(text)
        lines.extend(page_lines)
    outline = _outline(reader)
    headings = find_headings(lines, outline)
    if title is None:
        title = _title_from_type(lines)
    return PdfPages(pages, title, page_labels(reader, n_pages), headings)


def _page_text(page: Any, number: int) -> tuple[str, list[_Line]]:
    """The page's text as pypdf extracts it, and its lines with the size and weight of their
    type (read from the same pass: the visitor sees exactly the text extract_text returns)."""
    pieces: list[tuple[str, float, bool]] = []
    bold: dict[int, bool] = {}  # by font dictionary: a page uses a handful, thousands of times

    def visit(text: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
        if text:
            key = id(font)
            if key not in bold:
                bold[key] = _is_bold(font)
            pieces.append((text, _effective_size(size, cm, tm), bold[key]))

    try:
        text = page.extract_text(visitor_text=visit) or ""
    except Exception:  # the visitor met something odd: the text without its type
        try:
            return (page.extract_text() or "").replace("\x00", ""), []
        except Exception:  # one bad page must not lose the rest of the document
            return "", []
    text = text.replace("\x00", "")
    if "".join(p[0] for p in pieces).replace("\x00", "") != text:
        return text, []  # cannot tell which type each line is set in: no evidence
    return text, _lines(pieces, number)


def _effective_size(size: Any, cm: Any, tm: Any) -> float:
    """The font size as printed: Tf size scaled by the text and current matrices."""
    try:
        a = tm[0] * cm[0] + tm[1] * cm[2]
        b = tm[0] * cm[1] + tm[1] * cm[3]
        c = tm[2] * cm[0] + tm[3] * cm[2]
        d = tm[2] * cm[1] + tm[3] * cm[3]
        return round(float(size) * math.sqrt(abs(a * d - b * c)), 1)
    except (TypeError, IndexError, ValueError):
        return 0.0


def _is_bold(font: Any) -> bool:
    """Bold by the font's name (…-Bold, CMBX10), its descriptor's weight, or ForceBold."""
    try:
        name = str((font or {}).get("/BaseFont", ""))
        if _BOLD_FONT.search(name):
            return True
        descriptor = (font or {}).get("/FontDescriptor")
        if not descriptor:
            return False
        descriptor = descriptor.get_object()
        flags = int(descriptor.get("/Flags", 0) or 0)
        return float(descriptor.get("/FontWeight", 0) or 0) >= 600 or bool(flags & FORCE_BOLD)
    except Exception:  # a broken font dictionary (a weight that is a name…) says nothing
        return False


def _lines(pieces: list[tuple[str, float, bool]], page: int) -> list[_Line]:
    """Split the visited pieces into lines; each line's size is the one most of its letters
    are set in, its weight the share of letters in bold."""
    out: list[_Line] = []
    chars: Counter[float] = Counter()
    bold = 0
    text = ""

    def close() -> None:
        nonlocal chars, bold, text
        total = sum(chars.values())
        if text.strip() and total:
            out.append(_Line(page, text.strip(), chars.most_common(1)[0][0], bold / total,
                             total))
        chars, bold, text = Counter(), 0, ""

    for piece, size, is_bold in pieces:
        parts = piece.split("\n")
        for n, part in enumerate(parts):
            if n:
                close()
            text += part
            letters = len(_LETTERS.findall(part))
            if letters:
                chars[size] += letters
                bold += letters if is_bold else 0
    close()
    return out


def find_headings(lines: list[_Line], outline: list[tuple[int, str, int]] | None = None
                  ) -> list[PdfHeading]:
    """Heading lines by the evidence of the type: larger than the body, all bold, or named by
    the outline on its page. Levels follow size (larger is higher; bold body type lowest),
    then numbering depth ("1.5" under "1"), so one heading's wrapped lines share a level."""
    outline = outline or []
    body = body_size(lines)
    if not body:
        return []
    bold_share = sum(x.letters for x in lines if x.bold >= 0.9) / sum(x.letters for x in lines)
    named: dict[int, set[str]] = {}
    for page, title, _depth in outline:
        named.setdefault(page, set()).add(heading_key(title))
    found: list[tuple[_Line, float, bool]] = []  # line, size rank key, named by the outline
    for line in lines:
        if not _could_be_heading(line.text):
            continue
        if heading_key(line.text) in named.get(line.page, ()):
            found.append((line, max(line.size, body), True))
        elif line.size >= body * LARGER:
            found.append((line, line.size, False))
        elif line.bold >= 0.9 and line.size >= body * 0.95 and bold_share < 0.3:
            found.append((line, body - 0.01, False))  # bold body type: the lowest level
    if not found:  # all one type: numbered lines are the only evidence left
        found = [(x, body, False) for x in lines if _could_be_heading(x.text)
                 and _NUMBERED.match(x.text) and x.text[-1] not in ".,;"]
    first = [x for x in lines if x.page == 1]
    if any(x.page > 1 for x in lines) and _is_cover(first, body):
        # a cover holds the title, the publisher, the edition: not sections
        found = [f for f in found if f[0].page != 1 or f[2]]
    sizes = sorted({key for _, key, _ in found}, reverse=True)
    headings: list[PdfHeading] = []
    for line, key, _ in found:
        m = _NUMBERED.match(line.text)
        depth = m.group(1).count(".") if m else 0  # "1.5" under "1" at the same size
        headings.append(PdfHeading(line.page, line.text, 10 * (1 + sizes.index(key)) + depth))
    return headings


def body_size(lines: list[_Line]) -> float:
    """The size most letters are set in: the body text's (0.0 for no text)."""
    letters = Counter[float]()
    for line in lines:
        letters[line.size] += line.letters
    return letters.most_common(1)[0][0] if letters else 0.0


def _is_cover(page: list[_Line], body: float) -> bool:
    """A page with almost no text at the body's size: a cover or title page."""
    return sum(x.letters for x in page if abs(x.size - body) <= 0.5) < 300


def _is_contents(page: list[_Line]) -> bool:
    """A contents page: most of its lines end in a page number ("1 Foo 2", "Scope .... 4")."""
    ending = sum(bool(_TOC_LINE.search(x.text) or re.search(r"\D\s+\d{1,4}$", x.text))
                 for x in page)
    return ending >= 3 and ending >= len(page) / 2


def _could_be_heading(text: str) -> bool:
    """A heading holds words, opens with a letter or a number, and is neither a sentence
    running on nor a contents line ("3 Model ........ 8")."""
    letters = _LETTERS.findall(text)
    return (len(text) <= MAX_HEADING_CHARS and len(letters) >= 3 and text[:1].isalnum()
            and text[-1] not in ",;" and not text.endswith(("-", "–"))
            and not _TOC_LINE.search(text))


def heading_key(text: str) -> str:
    """How a heading line found in the type is matched to a line of the page text."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def _outline(reader: Any) -> list[tuple[int, str, int]]:
    """(1-based page, title, depth) for each bookmark that points at a page."""
    out: list[tuple[int, str, int]] = []

    def walk(items: Any, depth: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
                continue
            try:
                page = reader.get_destination_page_number(item)
                title = str(item.title or "").strip()
            except Exception:  # a bookmark to nowhere is no evidence
                continue
            if title and page is not None and page >= 0:
                out.append((page + 1, title, depth))

    try:
        walk(reader.outline, 1)
    except Exception:  # a broken outline: the type is evidence enough
        return []
    return out


MAX_LABEL_CHARS = 40


def page_labels(reader: Any, n_pages: int) -> list[str]:
    """The numbers printed on the pages ("i", "ii", "1", "S-1", …) when the PDF defines them
    (/PageLabels), else [] and the page's position is its number. A label is at most
    MAX_LABEL_CHARS (a prefix gone wild is cut, not believed whole)."""
    try:
        if "/PageLabels" not in reader.trailer["/Root"]:
            return []
        labels = [str(x) for x in reader.page_labels]
    except Exception:  # a broken number tree: positions it is
        return []
    if len(labels) != n_pages or labels == [str(i + 1) for i in range(n_pages)]:
        return []
    return [" ".join(label.split())[:MAX_LABEL_CHARS] or str(i + 1)
            for i, label in enumerate(labels)]


def _title_from_type(lines: list[_Line]) -> str | None:
    """With no title in the metadata, the largest type on the first page, when it stands out
    from the body (a cover or title line)."""
    first = [x for x in lines if x.page == 1]
    if not first or _is_contents(first):
        return None  # no text on the first page, or it is a contents page
    body = body_size(lines)
    top = max(first, key=lambda x: x.size)
    if body <= 0 or top.size < body * 1.4 or not _could_be_heading(top.text):
        return None
    same = [x.text for x in first if x.size == top.size]
    title = " ".join(same) if len(" ".join(same)) <= MAX_HEADING_CHARS else top.text
    return title if len(_LETTERS.findall(title)) >= 3 else None


def _pdf_title(reader: object) -> str | None:
    """The document's own title, unless it is a placeholder a word processor left behind."""
    try:
        title = (reader.metadata or {}).get("/Title")  # type: ignore[attr-defined]
    except Exception:
        return None
    if not isinstance(title, str):
        return None
    title = re.sub(r"^Microsoft (Word|PowerPoint) - ", "", title.strip())
    if len(title) < 3 or title.lower() in {"untitled", "title", "document", "slide 1"} \
            or re.fullmatch(r"[\w\- ]+\.(docx?|pdf|pptx?|odt|tex|dvi)", title, re.I):
        return None
    return title
