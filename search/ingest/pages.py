"""Find running page headers and footers, strip them, and use them to recover page numbers.

Text extracted from PDFs keeps each page's header ("LONDON ASSEMBLY / January 2026"); PDFs
themselves repeat headers and footers at page edges. Both are noise in a passage but, in a
text file, they are the only trace of where the pages were.
"""

from __future__ import annotations

import math
import re
from collections import Counter

_MARKUP = re.compile(r"^#{1,6}\s*|\*\*|__")
_DIGITS = re.compile(r"\d+")
_ROMAN_EDGE = re.compile(r"^[ivxlc]{1,6}\b(?=\s)|(?<=\s)\b[ivxlc]{1,6}$")
_PAGE_NUMBER = re.compile(r"^(?:page\s*)?(\d{1,4})(?:\s*(?:of|/)\s*\d{1,4})?$", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•–]|\d+[.)])\s")
MAX_BOILERPLATE_CHARS = 70


def normalize_line(line: str) -> str:
    """Compare lines by shape: no markup or spacing, every number the same. Case counts: a
    running header repeats exactly, while "Mayor of London" in a signature is not "MAYOR OF
    LONDON" in the header."""
    text = _MARKUP.sub("", line.strip()).strip()
    text = re.sub(r"\s+", " ", text)
    text = _ROMAN_EDGE.sub("#", text)  # front-matter page numbers: "GeoBase iii"
    return _DIGITS.sub("#", text)


def _page_number(line: str) -> int | None:
    match = _PAGE_NUMBER.match(_MARKUP.sub("", line.strip()).strip())
    return int(match.group(1)) if match else None


def _could_be_boilerplate(line: str, norm: str) -> bool:
    return (
        0 < len(norm) <= MAX_BOILERPLATE_CHARS
        and norm[-1] not in ".,;:!?"
        and not _BULLET.match(line)
    )


def split_text_pages(text: str) -> list[tuple[int | None, str]]:
    """Split extracted text at running headers/footers; returns (page number, page text).

    A line is boilerplate when it repeats (2+ times) and either opens the document, is in
    capitals (3+ times), or looks like a page number. Each run of boilerplate lines is a page
    break; numbers in the run, when present, give the page number. Without any, the text is
    one page of unknown number.
    """
    lines = text.split("\n")
    norms = [normalize_line(line) for line in lines]
    counts = Counter(n for line, n in zip(lines, norms, strict=True)
                     if _could_be_boilerplate(line, n))
    opening = [n for n in norms if n][:4]
    boiler: set[str] = set()
    for norm, count in counts.items():
        if count < 2:
            continue
        if norm in opening or norm.lower() in {"#", "page #", "page # of #", "# of #", "# / #"}:
            boiler.add(norm)
    boiler |= {n for line, n in zip(lines, norms, strict=True) if n in counts and counts[n] >= 3
               and _is_upper(line)}
    if not boiler:
        return [(None, text)]

    pages: list[tuple[int | None, list[str]]] = []
    current: list[str] = []
    run_numbers: list[int] = []
    in_run = False
    for line, norm in zip(lines, norms, strict=True):
        if norm in boiler:
            if not in_run:
                if any(x.strip() for x in current):
                    pages.append((None, current))
                current, run_numbers, in_run = [], [], True
            number = _page_number(line)
            if number is not None:
                run_numbers.append(number)
            continue
        if in_run and not norm:
            continue  # blank lines inside a header run
        if in_run:
            in_run = False
            if run_numbers:
                pages.append((run_numbers[0], []))  # marker: next page's printed number
        current.append(line)
    if any(x.strip() for x in current):
        pages.append((None, current))
    # A document that opens with the boilerplate has headers: a printed number belongs to the
    # page after it. One that opens with text has footers: the number closes its page.
    headers = bool(opening) and opening[0] in boiler
    return _number_pages(pages, numbers_follow=headers)


def _is_upper(line: str) -> bool:
    letters = [c for c in _MARKUP.sub("", line) if c.isalpha()]
    return bool(letters) and all(c.isupper() for c in letters)


def _number_pages(pages: list[tuple[int | None, list[str]]],
                  numbers_follow: bool) -> list[tuple[int | None, str]]:
    """Turn (marker, lines) runs into numbered pages: printed numbers win, else count from 1."""
    out: list[tuple[int | None, str]] = []
    pending: int | None = None
    for i, (number, lines) in enumerate(pages):
        if not lines:
            if numbers_follow:
                pending = number
            continue
        if pending is not None:
            page_no = pending
        elif (not numbers_follow and i + 1 < len(pages) and not pages[i + 1][1]
              and pages[i + 1][0] is not None):
            page_no = pages[i + 1][0]  # its footer, printed after it
        else:
            page_no = out[-1][0] + 1 if out and out[-1][0] is not None else len(out) + 1
        out.append((page_no, "\n".join(lines).strip("\n")))
        pending = None
    return out


def strip_pdf_boilerplate(pages: list[str], edge: int = 3) -> list[str]:
    """Drop lines that repeat at the top or bottom of many pages, and bare page numbers."""
    split = [p.split("\n") for p in pages]
    if len(split) < 2:
        return pages
    seen: Counter[str] = Counter()
    for lines in split:
        edges = _edge_lines(lines, edge)
        seen.update({normalize_line(lines[i]) for i in edges})
    need = max(2, math.ceil(0.4 * len(split)))
    boiler = {n for n, c in seen.items() if c >= need and 0 < len(n) <= MAX_BOILERPLATE_CHARS}
    cleaned: list[str] = []
    for lines in split:
        drop = {i for i in _edge_lines(lines, edge)
                if normalize_line(lines[i]) in boiler or _page_number(lines[i]) is not None}
        if not any(x.strip() for i, x in enumerate(lines) if i not in drop):
            drop = set()  # a page that is only "boilerplate" is content (slides, forms)
        cleaned.append("\n".join(x for i, x in enumerate(lines) if i not in drop))
    return cleaned


def _edge_lines(lines: list[str], edge: int) -> list[int]:
    filled = [i for i, x in enumerate(lines) if x.strip()]
    return sorted(set(filled[:edge] + filled[-edge:]))
