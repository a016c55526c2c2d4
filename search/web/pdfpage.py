"""One PDF page as a PNG for the in-page reader, with the cited passage's lines marked.

The passage comes from the index, whose PDF text was read by pypdf and cleaned (pages.py,
structure.py), so it never equals pdfium's text layer character for character. Both sides
are cut into normalised words (NFKC, casefold, punctuation dropped, line-end hyphens joined)
and the passage's word sequence is matched against the page's (`match_words`); the matched
words' character boxes, merged one box per text line, are painted translucent yellow.
Scanned pages have no text layer, so nothing can be marked there: the result says so.
"""

from __future__ import annotations

import ctypes
import io
import math
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

MAX_SIDE = 2000  # pixels on either side of the image: a poster-sized page cannot eat memory
MIN_WIDTH = 200  # pixels: narrower asks are widened (a page must stay legible)
PNG_LEVEL = 1  # zlib level: 1 is several times faster than Pillow's 6 for ~10 % more bytes
MARK_RGBA = (255, 214, 0, 110)  # translucent yellow over the marked lines
MIN_RUN = 3  # a match must hold a run of this many consecutive words...
ENOUGH = 8  # ...and this many matched words (or half of a short passage)
EDGE_WORDS = 40  # a part at a page's edge may be shorter: headers and footers around it
LINE_GAP = 3  # line heights of blank space that part two boxes on one line
MIN_TEXT_CHARS = 20  # fewer letters than this on a page: no text layer, a scan
OCR_TIMEOUT = 20  # seconds for Tesseract to read one drawn page for the reader
NOTE_OCR = ("scanned page: the passage is marked where OCR read it on the page image; the "
            "marks may be a little off")
NOTE_SCANNED = ("scanned page: it has no text layer, so the passage cannot be marked on the "
                "image")
NOTE_UNREADABLE = ("this page's text layer cannot be read (no character map), so the passage "
                   "cannot be marked on the image")
NOTE_NOT_FOUND = "the passage was not found on this page"

_HYPHENS = "-\u00ad\u2010\u2011\x02"  # \x02: pdfium's mark for a soft hyphen at a line end
_WORD = re.compile(r"[^\W_]+")
Box = tuple[int, int, int, int]  # left, top, right, bottom in pixels
_PDFIUM = threading.RLock()  # pdfium is not thread-safe: one call at a time per process


class ReaderError(ValueError):
    """A page that cannot be shown: the message names the file (and page) and says why."""


@dataclass(frozen=True)
class PageImage:
    """A rendered page and what was marked on it."""

    png: bytes
    page: int  # 1-based page shown
    pages: int  # pages in the document
    width: int
    height: int
    marked: int  # line boxes marked (0: the passage is not on this page, or none was asked)
    note: str = ""  # why nothing could be marked, when a passage was asked for
    mark_top: float = 0.0  # where the first marked line starts, as a share of the height


def normalise(word: str) -> str:
    """A word as compared: NFKC (ligatures, full-width forms), casefolded, letters and digits
    only, so "Officers," and "ofﬁcers" compare equal."""
    return "".join(_WORD.findall(unicodedata.normalize("NFKC", word).casefold()))


def passage_words(text: str) -> list[str]:
    """The passage's words, normalised; soft hyphens dropped and words broken by a hyphen at
    a line end joined, as the index's cleaning does for pypdf lines."""
    text = unicodedata.normalize("NFKC", text.replace("\u00ad", ""))
    text = re.sub(r"(\w)[-\u2010]\s*\n\s*(?=[a-z])", r"\1", text)
    return _WORD.findall(text.casefold())


def match_words(page_words: Sequence[str], passage_words: Sequence[str]) -> list[int]:
    """Indices of the page words that belong to the passage, in order; [] when it is not on
    the page.

    Words are normalised here too, and a word split in two on one side ("recom-", "mendation")
    matches its whole on the other. Matching blocks are chained along both sequences; the
    best chain must hold a run of MIN_RUN words and ENOUGH matched words (half of a short
    passage), unless it sits at the page's edge holding the passage's start or end (a passage
    split across two pages), so scattered common words are never marked. The gaps between the
    chain's blocks are included: they are the passage's words that read differently.
    """
    page_norm = [normalise(w) for w in page_words]
    want = [w for w in (normalise(w) for w in passage_words) if w]
    if not want or not any(page_norm):
        return []
    page_items, page_index = _merge_split_words(page_norm, set(want))
    want, _ = _merge_split_words(want, set(page_items))
    # Empty page words (punctuation) never match anything: give each a unique sentinel.
    page_items = [w or f"\x00{i}" for i, w in enumerate(page_items)]
    blocks = [b for b in SequenceMatcher(None, page_items, want, autojunk=False)
              .get_matching_blocks() if b.size]
    chain = _best_chain(blocks, len(page_items), len(want))
    if not chain:
        return []
    first, last = chain[0].a, chain[-1].a + chain[-1].size - 1
    return sorted({i for item in range(first, last + 1) for i in page_index[item]})


def _merge_split_words(words: list[str], other: set[str]) -> tuple[list[str], list[list[int]]]:
    """Join neighbours whose concatenation is a word of the other side (hyphenation, "can not"
    against "cannot"); returns the joined words and, for each, the indices it came from."""
    out: list[str] = []
    index: list[list[int]] = []
    i = 0
    while i < len(words):
        w = words[i]
        if (w and i + 1 < len(words) and words[i + 1] and w not in other
                and w + words[i + 1] in other):
            out.append(w + words[i + 1])
            index.append([i, i + 1])
            i += 2
            continue
        out.append(w)
        index.append([i])
        i += 1
    return out, index


def _best_chain(blocks: list[Any], n_page: int, n_passage: int) -> list[Any]:
    """The heaviest run of matching blocks that follow each other closely on both sides (a
    gap on one side about as long as on the other: words that read differently), if it is
    strong enough to be the passage (see match_words)."""
    chains: list[list[Any]] = []
    for block in blocks:
        if chains:
            prev = chains[-1][-1]
            page_gap = block.a - (prev.a + prev.size)
            passage_gap = block.b - (prev.b + prev.size)
            if page_gap <= 2 * passage_gap + 3 and passage_gap <= 2 * page_gap + 3:
                chains[-1].append(block)
                continue
        chains.append([block])
    best: list[Any] = []
    best_score = 0
    for chain in chains:
        score = sum(b.size for b in chain)
        if score > best_score and _strong(chain, score, n_page, n_passage):
            best, best_score = chain, score
    return best


def _strong(chain: list[Any], score: int, n_page: int, n_passage: int) -> bool:
    """Whether a chain is the passage (or the part of it on this page), not chance matches:
    it holds a run of MIN_RUN words, matches at least half of the words it spans on both
    sides, and has ENOUGH words, or is a dense start or end of the passage at the page's edge.
    """
    if n_passage < MIN_RUN:
        return score == n_passage and len(chain) == 1
    if max(b.size for b in chain) < MIN_RUN:
        return False
    page_span = chain[-1].a + chain[-1].size - chain[0].a
    passage_span = chain[-1].b + chain[-1].size - chain[0].b
    if score < 0.5 * page_span or score < 0.5 * passage_span:
        return False  # matches thinly spread: not one passage
    if score >= min(ENOUGH, math.ceil(n_passage / 2)):
        return True
    if score < 0.8 * max(page_span, passage_span):
        return False
    starts_passage = chain[0].b == 0 and n_page - (chain[-1].a + chain[-1].size) <= EDGE_WORDS
    ends_passage = (chain[-1].b + chain[-1].size == n_passage
                    and chain[0].a <= EDGE_WORDS)
    return starts_passage or ends_passage


def render_page(path: Path, page: int, passage: str = "", width: int = 900,
                ocr: bool = False) -> PageImage:
    """Page `page` (1-based) of the PDF at `path` as a PNG about `width` pixels wide (never
    more than MAX_SIDE on a side), with the lines holding `passage`'s words on this page
    marked. Raises ReaderError when the file is not a readable PDF or the page does not exist.
    """
    path = Path(path)
    name = path.name
    try:
        with path.open("rb") as f:
            head = f.read(1024)
    except OSError as exc:
        raise ReaderError(f"{name}: cannot be read ({exc.strerror or exc})") from exc
    if b"%PDF" not in head:
        raise ReaderError(f"{name}: not a PDF (no %PDF header)")
    with _PDFIUM:  # pdfium's part only; painting and PNG encoding run outside the lock
        try:
            pdf = pdfium.PdfDocument(path)
        except pdfium.PdfiumError as exc:
            if "password" in str(exc).lower():
                raise ReaderError(f"{name}: encrypted PDF that needs a password") from exc
            raise ReaderError(f"{name}: unreadable PDF ({exc})") from exc
        try:
            pages = len(pdf)
            if not 1 <= page <= pages:
                raise ReaderError(f"{name}: page {page} is out of range (the document has "
                                  f"{pages} page{'s' if pages != 1 else ''})")
            try:
                image, boxes, note = _rasterise(pdf, page, passage, width, ocr)
            except pdfium.PdfiumError as exc:
                raise ReaderError(f"{name}: page {page} cannot be rendered ({exc})") from exc
            if image is None:
                raise ReaderError(f"{name}: page {page} has no size")
        finally:
            pdf.close()
    marked = _paint(image, boxes)
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=PNG_LEVEL)
    top = min((min(y0, y1) for _, y0, _, y1 in boxes), default=0)
    return PageImage(png=out.getvalue(), page=page, pages=pages, width=image.width,
                     height=image.height, marked=marked, note=note,
                     mark_top=round(top / image.height, 4) if marked else 0.0)


def _rasterise(pdf: Any, number: int, passage: str, width: int, ocr: bool = False
               ) -> tuple[Any, list[Box], str]:
    """The page as a Pillow image (its own copy of the pixels), the pixel boxes of the
    passage's lines on it and a note; (None, [], "") for a page without a size. Runs under
    the pdfium lock."""
    page = pdf[number - 1]
    try:
        w, h = page.get_size()
        if w <= 0 or h <= 0:
            return None, [], ""
        width = max(MIN_WIDTH, min(int(width), MAX_SIDE))
        # pdfium rounds pixel sizes up: a hair under keeps 900 at 900, not 901
        scale = min((width - 0.01) / w, (MAX_SIDE - 0.01) / h)
        bitmap = page.render(scale=scale, rev_byteorder=True)
        image = bitmap.to_pil().convert("RGB")  # a copy: the bitmap's memory goes with it
        boxes: list[Box] = []
        note = ""
        if passage.strip():
            lines, note = _passage_boxes(page, passage)
            if lines:
                conv = bitmap.get_posconv(page)
                boxes = [_to_device(conv, line) for line in lines]
            elif note == NOTE_SCANNED and ocr:
                boxes, note = ocr_boxes(image, passage)
        return image, boxes, note
    finally:
        page.close()


@dataclass
class _PageWord:
    text: str
    chars: list[int]  # character indices in pdfium's text page


def _page_words(textpage: Any) -> list[_PageWord]:
    """The page's words in pdfium's reading order, each with its character indices; a word
    broken by a hyphen at a line end before a lower-case letter is one word, as in the index.
    """
    raw = textpage.raw
    count = pdfium_c.FPDFText_CountChars(raw)
    chars = [pdfium_c.FPDFText_GetUnicode(raw, i) for i in range(max(count, 0))]
    words: list[_PageWord] = []
    text: list[str] = []
    indices: list[int] = []

    def flush() -> None:
        if indices:
            words.append(_PageWord("".join(text), list(indices)))
        text.clear()
        indices.clear()

    i = 0
    while i < len(chars):
        ch = _char(chars[i])
        if ch.isalnum() or (ch and unicodedata.category(ch).startswith("M")):
            text.append(ch)
            indices.append(i)
        elif ch in _HYPHENS and indices and _continues(chars, i):
            i = _next_word_char(chars, i)
            continue
        else:
            flush()
        i += 1
    flush()
    return words


def _char(code: int) -> str:
    return chr(code) if 0 < code < 0x110000 and not 0xD800 <= code < 0xE000 else ""


def _next_word_char(chars: list[int], i: int) -> int:
    j = i + 1
    while j < len(chars) and _char(chars[j]).isspace():
        j += 1
    return j


def _continues(chars: list[int], i: int) -> bool:
    """Whether the hyphen at i ends a line inside a word: a soft hyphen, or a hyphen followed
    by a line break and a lower-case letter (the index's cleaning joins exactly those)."""
    if chars[i] in (0x02, 0xAD):
        return True
    j = _next_word_char(chars, i)
    between = "".join(_char(c) for c in chars[i + 1:j])
    return ("\n" in between or "\r" in between) and j < len(chars) and _char(chars[j]).islower()


def _passage_boxes(page: Any, passage: str) -> tuple[list[tuple[float, float, float, float]],
                                                     str]:
    """Line boxes (page coordinates: left, bottom, right, top) of the passage's words on the
    page, or [] and a note saying why none could be found."""
    textpage = page.get_textpage()
    try:
        words = _page_words(textpage)
        found = match_words([w.text for w in words], passage_words(passage))
        if not found:
            if sum(len(w.text) for w in words) < MIN_TEXT_CHARS:
                return [], NOTE_SCANNED
            count = max(pdfium_c.FPDFText_CountChars(textpage.raw), 1)
            errors = sum(pdfium_c.FPDFText_HasUnicodeMapError(textpage.raw, i) == 1
                         for i in range(count))
            if errors > 0.1 * count:
                return [], NOTE_UNREADABLE
            return [], NOTE_NOT_FOUND
        first, last = words[found[0]].chars[0], words[found[-1]].chars[-1]
        return _line_boxes(textpage, first, last), ""
    finally:
        textpage.close()


def _line_boxes(textpage: Any, first: int, last: int) -> list[tuple[float, float, float, float]]:
    """One box per text line over the characters first..last: consecutive characters whose
    boxes overlap vertically by half their height share a line, unless a gap wider than a few
    line heights parts them (the next column at the same height)."""
    raw = textpage.raw
    lines: list[list[float]] = []
    rect = pdfium_c.FS_RECTF()
    for i in range(first, last + 1):
        code = pdfium_c.FPDFText_GetUnicode(raw, i)
        if pdfium_c.FPDFText_IsGenerated(raw, i) == 1 or _char(code).isspace() or not code:
            continue
        box = _char_box(raw, i, rect)
        if box is None:
            continue
        left, bottom, right, top = box
        if lines:
            line = lines[-1]
            overlap = min(top, line[3]) - max(bottom, line[1])
            height = min(top - bottom, line[3] - line[1])
            if overlap >= 0.5 * height and left - line[2] <= LINE_GAP * height:
                line[0], line[1] = min(line[0], left), min(line[1], bottom)
                line[2], line[3] = max(line[2], right), max(line[3], top)
                continue
        lines.append([left, bottom, right, top])
    return [(a, b, c, d) for a, b, c, d in lines]


def _char_box(raw: Any, i: int, rect: Any) -> tuple[float, float, float, float] | None:
    """A character's box (left, bottom, right, top): the font's full line height (so every
    line's mark is as tall), or the glyph's own box when a broken font claims far more."""
    if not pdfium_c.FPDFText_GetLooseCharBox(raw, i, ctypes.byref(rect)):
        return None
    left, right = sorted((rect.left, rect.right))
    bottom, top = sorted((rect.bottom, rect.top))
    size = pdfium_c.FPDFText_GetFontSize(raw, i)
    if size > 0 and top - bottom > 2.5 * size:
        x0, x1, y0, y1 = (ctypes.c_double() for _ in range(4))
        if pdfium_c.FPDFText_GetCharBox(raw, i, x0, x1, y0, y1):  # left, right, bottom, top
            left, right = sorted((x0.value, x1.value))
            bottom, top = sorted((y0.value, y1.value))
    if right - left <= 0 or top - bottom <= 0:
        return None
    return left, bottom, right, top


def _to_device(conv: Any, box: tuple[float, float, float, float]) -> Box:
    """A page-space box as pixel coordinates on the rendered bitmap (rotation included)."""
    left, bottom, right, top = box
    xs, ys = [], []
    for x, y in ((left, bottom), (left, top), (right, bottom), (right, top)):
        dx, dy = conv.to_bitmap(x, y)
        xs.append(dx)
        ys.append(dy)
    return min(xs), min(ys), max(xs), max(ys)


def ocr_boxes(image: Any, passage: str) -> tuple[list[Box], str]:
    """On a scanned page (no text layer), the passage's lines found by reading the drawn
    page with Tesseract: its words and boxes are matched like pdfium's, one box per line.
    Only where OCR may run (the extraction worker: Tesseract's thread setting must stay out
    of the web process); ([], NOTE_SCANNED) without Tesseract or a match."""
    try:
        import pytesseract

        data = pytesseract.image_to_data(image.convert("L"), lang="eng", timeout=OCR_TIMEOUT,
                                         output_type=pytesseract.Output.DICT)
    except Exception:  # noqa: BLE001 - no Tesseract, a timeout, an odd image: leave unmarked
        return [], NOTE_SCANNED
    words = [(str(t).strip(), n) for n, t in enumerate(data["text"]) if str(t).strip()]
    found = match_words([w for w, _ in words], passage_words(passage))
    if not found:
        return [], NOTE_SCANNED
    lines: dict[tuple[int, int, int], Box] = {}
    for n in (words[i][1] for i in range(found[0], found[-1] + 1)):
        key = (data["block_num"][n], data["par_num"][n], data["line_num"][n])
        x0, y0 = int(data["left"][n]), int(data["top"][n])
        x1, y1 = x0 + int(data["width"][n]), y0 + int(data["height"][n])
        if key in lines:
            a, b, c, d = lines[key]
            x0, y0, x1, y1 = min(a, x0), min(b, y0), max(c, x1), max(d, y1)
        lines[key] = (x0, y0, x1, y1)
    return list(lines.values()), NOTE_OCR


def _paint(image: Any, boxes: list[Box]) -> int:
    """Blend translucent yellow over each box (a little padded); returns how many were
    painted."""
    painted = 0
    for x0, y0, x1, y1 in boxes:
        pad = max(1, round(min(x1 - x0, y1 - y0) * 0.08))  # of the line's height, turned
        x0, y0 = max(0, x0 - pad), max(0, y0 - pad)
        x1, y1 = min(image.width, x1 + pad), min(image.height, y1 + pad)
        if x1 <= x0 or y1 <= y0:
            continue
        region = image.crop((x0, y0, x1, y1)).convert("RGBA")
        overlay = Image.new("RGBA", region.size, MARK_RGBA)
        image.paste(Image.alpha_composite(region, overlay).convert("RGB"), (x0, y0))
        painted += 1
    return painted
