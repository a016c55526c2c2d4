"""Turn page texts into a Document: clean text, page spans and structural blocks.

Markdown-ish markup (`**bold**`, `#` headings) becomes structure and is removed from the text
that gets indexed; running headers become page numbers (see pages.py).
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from search.ingest.loaders import RawFile
from search.ingest.pages import split_text_pages, strip_pdf_boilerplate
from search.ingest.pdf import heading_key
from search.records import Block, Document, Page

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BOLD_LINE = re.compile(r"^\*\*([^*](?:.*?[^*])?)\*\*\s*$")
_NUMBERED = re.compile(r"^(\d{1,3}(?:\.\d{1,3})*)[.)]?\s+\S")
_ITEM = re.compile(r"^\s*(?:[-*•–▪●◦]|\(?[a-zA-Z]\)|\(?\d{1,3}[.)])\s+\S")
_TOC = re.compile(r"(?:\t+|\.{3,}|\s{3,}|…+)\s*\d{1,4}\s*$")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)")
_TERMINAL = ".!?:;,\"'”’)]"


@dataclass
class _Piece:
    kind: str
    text: str
    page: int | None
    level: int = 0
    join: bool = False  # continues the previous paragraph across a page break


def unglue_bold(text: str) -> str:
    """Restore line breaks lost in extraction: `**A****B**` and `x**Date:**` start new lines."""
    out: list[str] = []
    for line in text.split("\n"):
        marks = [m.start() for m in re.finditer(r"\*\*", line)]
        if len(marks) < 2 or len(marks) % 2:
            out.append(line)
            continue
        pieces, last = [], 0
        for n, i in enumerate(marks):
            if n % 2 == 0 and i > 0 and not line[i - 1].isspace() and line[i - 1] not in "([\"'“‘":
                pieces.append(line[last:i].rstrip())
                last = i
        pieces.append(line[last:])
        out.append("\n".join(pieces))
    return "\n".join(out)


def clean_inline(text: str) -> str:
    """Drop emphasis markers and collapse runs of spaces; keeps everything a reader would see."""
    text = _BOLD.sub(lambda m: m.group(1) or m.group(2), text).replace("****", "")
    return re.sub(r"[ \t\u00a0]+", " ", text).strip()


def _is_title_like(line: str) -> bool:
    words = line.split()
    return (
        0 < len(line) <= 80
        and len(words) <= 12
        and line[-1] not in _TERMINAL
        and (line[0].isupper() or line[0].isdigit())
        and any(c.isalpha() for c in line)
    )


def _heading(line: str) -> tuple[int, str] | None:
    """Level and text when a line standing alone is a heading."""
    if m := _MD_HEADING.match(line):
        return len(m.group(1)), clean_inline(m.group(2))
    if m := _BOLD_LINE.match(line.strip()):
        inner = clean_inline(m.group(1))
        if inner and len(inner) <= 150 and inner[-1] not in ".,;":
            return 1, inner
        return None
    text = clean_inline(line)
    if not text:
        return None
    if m := _NUMBERED.match(text):
        if len(text) <= 250 and (text[-1] == "?" or text[-1] not in _TERMINAL):
            return 10 + m.group(1).count("."), text
        return None
    if _ITEM.match(line):
        return None
    return (1, text) if _is_title_like(text) else None


def _join_lines(lines: list[str]) -> str:
    """Soft-wrapped lines join with a space; markdown hard breaks (two spaces) keep a newline."""
    out = ""
    for i, line in enumerate(lines):
        piece = clean_inline(line)
        if not piece:
            continue
        if out:
            out += "\n" if lines[i - 1].endswith("  ") else " "
        out += piece
    return out


def _parse_group(group: str, page: int | None, guess: bool = True) -> list[_Piece]:
    """Blocks of one blank-line-separated group. `guess` reads headings from the text's own
    form (Markdown, a bold line, a short title-like line); PDFs say theirs by their type."""
    lines = [x for x in group.split("\n") if x.strip()]
    if not lines:
        return []
    if guess and len(lines) == 1 and (h := _heading(lines[0])):
        return [_Piece("heading", h[1], page, h[0])]
    pieces: list[_Piece] = []
    para: list[str] = []

    def flush() -> None:
        if para and (text := _join_lines(para)):
            kind = "item" if _ITEM.match(para[0]) else "para"
            pieces.append(_Piece(kind, text, page))
        para.clear()

    for n, line in enumerate(lines):
        closing_bold = guess and n == len(lines) - 1 and n > 0 and _BOLD_LINE.match(line.strip())
        if closing_bold and (h := _heading(line)):
            flush()  # a bold line closing a block introduces what follows: a glued title
            pieces.append(_Piece("heading", h[1], page, h[0]))
        elif _TOC.search(line) and len(line) <= 120:
            flush()
            pieces.append(_Piece("toc", clean_inline(line), page))
        elif guess and _MD_HEADING.match(line):
            flush()
            h = _heading(line)
            assert h is not None
            pieces.append(_Piece("heading", h[1], page, h[0]))
        elif _ITEM.match(line):
            flush()
            para.append(line)
        else:
            para.append(line)
    flush()
    return pieces


def _pdf_paragraphs(page_text: str, marks: dict[str, int]) -> list[tuple[int, str]]:
    """pypdf gives visual lines; rebuild paragraphs, and keep the lines the type showed to be
    headings (`marks`: line → level) apart, a wrapped heading's lines joined. Returns
    (heading level, text) with level 0 for body text."""
    lines = [x.rstrip() for x in page_text.split("\n")]
    filled = [x for x in lines if x.strip()]
    if not filled:
        return []
    typical = statistics.median(len(x) for x in filled) or 1
    out: list[tuple[int, str]] = []
    body: list[str] = []
    para = ""

    def flush_body() -> None:
        nonlocal para
        if para:
            body.append(para)
            para = ""
        if body:
            out.append((0, "\n\n".join(body)))
            body.clear()

    levels = [marks.get(heading_key(x)) if x.strip() else None for x in lines]
    for i, line in enumerate(lines):
        stripped = line.strip()
        level = levels[i]
        if level is not None:
            flush_body()
            if out and out[-1][0] == level and i and levels[i - 1] is not None:
                out[-1] = (level, f"{out[-1][1]} {stripped}")  # a heading wrapped in two lines
            else:
                out.append((level, stripped))
            continue
        if not stripped:
            if para:
                body.append(para)
                para = ""
            continue
        nxt = next((x.strip() for x in lines[i + 1:] if x.strip()), "")
        if _ITEM.match(stripped) and para:
            body.append(para)
            para = ""
        if para.endswith("-") and stripped[:1].islower():
            para = para[:-1] + stripped
        else:
            para = f"{para} {stripped}" if para else stripped
        short = len(stripped) < 0.7 * typical
        ends = stripped[-1] in ".!?:"
        heading_like = short and _is_title_like(stripped) and not para.count(" ") > 12
        if (short and ends) or (heading_like and nxt[:1].isupper()) or _ITEM.match(nxt):
            body.append(para)
            para = ""
    flush_body()
    return out


def _pieces(raw: RawFile) -> list[_Piece]:
    if raw.paged:
        marks: dict[int, dict[str, int]] = {}
        for h in raw.headings:
            marks.setdefault(h.page, {}).setdefault(heading_key(h.text), h.level)
        pages: list[tuple[int | None, list[tuple[int, str]]]] = [
            (i + 1, _pdf_paragraphs(t, marks.get(i + 1, {})))
            for i, t in enumerate(strip_pdf_boilerplate(raw.pages))]
    else:
        pages = [(n, [(0, t)]) for n, t in split_text_pages(unglue_bold(raw.pages[0]))]
    pieces: list[_Piece] = []
    for number, parts in pages:
        page_pieces: list[_Piece] = []
        for level, text in parts:
            if level:
                page_pieces.append(_Piece("heading", clean_inline(text), number, level))
                continue
            page_pieces.extend(p for g in re.split(r"\n[ \t]*\n", text)
                               for p in _parse_group(g, number, guess=not raw.paged))
        if page_pieces and pieces:
            first, prev = page_pieces[0], pieces[-1]
            if (first.kind == "para" and prev.kind in ("para", "item") and first.text[:1].islower()
                    and prev.text[-1:] not in ".!?:"):
                first.join = True
        pieces.extend(page_pieces)
    _demote_empty_headings(pieces)
    return pieces


def _demote_empty_headings(pieces: list[_Piece]) -> None:
    """A heading with nothing under it (a signature line, a closing 'Cc:') is body text."""
    for i, piece in enumerate(pieces):
        if piece.kind != "heading":
            continue
        nxt = next((p for p in pieces[i + 1:] if p.kind != "toc"), None)
        if nxt is None or (nxt.kind == "heading" and nxt.level <= piece.level):
            has_toc = i + 1 < len(pieces) and pieces[i + 1].kind == "toc"
            if not has_toc:
                piece.kind, piece.level = "para", 0


def build_document(raw: RawFile, doc_id: str, path: str) -> Document:
    """Assemble clean text with block and page offsets, so every chunk can cite its page."""
    text = ""
    blocks: list[Block] = []
    page_starts: list[tuple[int | None, int]] = []
    for piece in _pieces(raw):
        if piece.join and blocks:
            text += " "
            if not page_starts or page_starts[-1][0] != piece.page:
                page_starts.append((piece.page, len(text)))
            text += piece.text
            last = blocks[-1]
            blocks[-1] = Block(last.kind, last.start, len(text), last.level)
            continue
        if text:
            text += "\n\n"
        if not page_starts or page_starts[-1][0] != piece.page:
            page_starts.append((piece.page, len(text)))
        start = len(text)
        text += piece.text
        blocks.append(Block(piece.kind, start, len(text), piece.level))
    pages = [Page(num, start, page_starts[i + 1][1] if i + 1 < len(page_starts) else len(text))
             for i, (num, start) in enumerate(page_starts)]
    return Document(doc_id=doc_id, path=path, title=_title(raw, text, blocks), text=text,
                    pages=pages, blocks=blocks, sha256=raw.sha256, meta=dict(raw.meta),
                    ocr_pages=tuple(sorted(raw.ocr_pages)), page_labels=tuple(raw.page_labels))


def _title(raw: RawFile, text: str, blocks: list[Block]) -> str:
    if isinstance(raw.meta.get("title"), str) and raw.meta["title"].strip():
        return raw.meta["title"].strip()
    # A heading that opens a text document. A PDF's title is its metadata's or its largest
    # type on the first page (pdf.py, in meta by then); failing both, its file names it.
    for block in ([] if raw.paged else blocks[:3]):
        if block.kind == "heading" and len(text[block.start:block.end]) <= 150:
            return text[block.start:block.end]
    stem = re.sub(r"[_\-]+", " ", Path(raw.path).stem).strip()
    return stem[:1].upper() + stem[1:] if stem else Path(raw.path).name
