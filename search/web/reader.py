"""A passage in its section, as escaped HTML for the in-page reader (text, Markdown, DOCX,
HTML and any document without pages).

The index keeps each document's clean text, in which blocks (headings, paragraphs, list
items) are separated by a blank line (ingest/structure.py), and its passages with their
section paths (ingest/chunker.py). The reader shows the run of passages sharing the cited
passage's section, cut into paragraphs, with the passage marked where it lies. Everything
from a document is escaped: a document is untrusted input.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from search.records import StoredChunk

MAX_CHARS = 20_000  # of document text in one view: a huge section stays readable and light
MAX_OCCURRENCES = 1000  # of the passage, when looking for it again in a changed document
_BREAK = re.compile(r"\n[ \t]*\n\s*")  # between blocks of the clean text
_SPACE = re.compile(r"\s")
NOTE_MOVED = ("the document changed since this passage was cited; it was found again in the "
              "document's current text")
NOTE_GONE = ("this passage is no longer in the document's current text: it is shown on its "
             "own")

NOTE_OUTSIDE = "the cited place lies outside the document's current text"

Span = tuple[int, int]


@dataclass(frozen=True)
class SectionView:
    """The passage's section as the reader shows it."""

    heading: str  # the section path in words, " › "-joined ("" when none)
    html: str  # escaped HTML: <h4> heading, <p> paragraphs, the passage in <mark>
    start: int  # span of the document text shown (0, 0 when the passage is shown alone)
    end: int
    before: bool  # text of the section left out before / after what is shown
    after: bool
    note: str = ""  # set when the passage had to be found again, or could not be


def section_view(text: str, chunks: Sequence[StoredChunk], start: int, end: int,
                 context: int = 4, passage: str = "") -> SectionView:
    """The passage text[start:end] in its section, with `context` paragraphs either side.

    The section is the run of consecutive chunks sharing the section path of the chunk that
    holds the passage (the whole document when none does); a long section shows only
    `context` paragraphs before and after the passage's own, and never more than MAX_CHARS
    characters (paragraphs furthest from the passage go first, then the passage's own
    paragraphs are cut at words). The passage is marked exactly: each paragraph it touches
    gets one <mark class="passage">, the first with id="passage". `before`/`after` say that
    text of the section was left out.

    When `passage` is given and the offsets no longer hold it (the document was re-indexed
    and changed), it is looked for in `text` (the occurrence nearest the old offset, then
    ignoring differences in white space) and shown there with a note; when it is not in the
    text at all, it is shown alone, marked, with a note. Without `passage`, offsets outside
    the text give an empty view with a note; offsets inside it are trusted.
    """
    found = _locate(text, start, end, passage)
    if found is None and not passage:
        return SectionView("", "", 0, 0, False, False, NOTE_OUTSIDE)
    if found is None:
        html = f"<p>{_mark(passage[:MAX_CHARS], first=True)}</p>"
        return SectionView("", html, 0, 0, False, False, NOTE_GONE)
    ps, pe = found
    note = NOTE_MOVED if (ps, pe) != (start, end) else ""
    path, (ss, se) = _section(chunks, ps, pe, len(text))
    ss, se = min(ss, ps), max(se, pe)
    paras = _paragraphs(text, *_window(text, ss, se, ps, pe)) or [(ps, pe)]
    lo, hi, i0, i1 = _around(paras, ps, pe, context)
    shown_start, shown_end = _fit(text, paras, lo, hi, i0, i1, ps, pe)
    headings = {h for c in chunks for h in c.section}
    body = [f"<h4>{_escape(path[-1])}</h4>"] if path else []
    marked = False
    for a, b in paras[lo:hi + 1]:
        a, b = max(a, shown_start), min(b, shown_end)
        if a >= b:
            continue
        holds_passage = a < pe and ps < b
        if not holds_passage and text[a:b] in headings:  # a sub-heading inside the span
            body.append(f"<h4>{_escape(text[a:b])}</h4>")
            continue
        body.append(f"<p>{_paragraph_html(text, a, b, ps, pe, first=not marked)}</p>")
        marked = marked or holds_passage
    return SectionView(heading=" › ".join(path), html="\n".join(body), start=shown_start,
                       end=shown_end, before=shown_start > ss, after=shown_end < se, note=note)


def _locate(text: str, start: int, end: int, passage: str) -> Span | None:
    """Where the passage is in `text`: its offsets when they still hold it, else the
    occurrence nearest `start` (exact, then with any white space between its words)."""
    valid = 0 <= start < end <= len(text)
    if not passage:
        return (start, end) if valid else None
    if valid and text[start:end] == passage:
        return start, end
    found: list[Span] = []
    at = text.find(passage)
    while at >= 0 and len(found) < MAX_OCCURRENCES:
        found.append((at, at + len(passage)))
        at = text.find(passage, at + 1)
    words = passage.split()
    if not found and words:
        pattern = re.compile(r"\s+".join(re.escape(w) for w in words))
        for m in pattern.finditer(text):
            found.append(m.span())
            if len(found) >= MAX_OCCURRENCES:
                break
    if not found:
        return None
    return min(found, key=lambda span: abs(span[0] - start))


def _section(chunks: Sequence[StoredChunk], ps: int, pe: int,
             length: int) -> tuple[tuple[str, ...], Span]:
    """The section path of the chunk holding the passage and the span of the run of
    consecutive chunks sharing it; the whole text when no chunk holds it."""
    ordered = sorted(chunks, key=lambda c: (c.start, c.ordinal))
    best, overlap = -1, 0
    for i, c in enumerate(ordered):
        shared = min(c.end, pe) - max(c.start, ps)
        if shared > overlap:
            best, overlap = i, shared
    if best < 0:
        return (), (0, length)
    path = tuple(ordered[best].section)
    first = last = best
    while first > 0 and tuple(ordered[first - 1].section) == path:
        first -= 1
    while last + 1 < len(ordered) and tuple(ordered[last + 1].section) == path:
        last += 1
    run = ordered[first:last + 1]
    return path, (min(c.start for c in run), max(c.end for c in run))


def _window(text: str, ss: int, se: int, ps: int, pe: int) -> Span:
    """The part of the section worth splitting into paragraphs: whole paragraphs reaching
    MAX_CHARS either side of the passage (nothing further can be shown), so a section as long
    as a 20 MB document costs no more than a short one."""
    lo, hi = max(ss, ps - MAX_CHARS), min(se, pe + MAX_CHARS)
    if lo > ss:
        cut = text.rfind("\n\n", ss, lo)
        lo = cut if cut >= 0 else ss
    if hi < se:
        cut = text.find("\n\n", hi, se)
        hi = cut if cut >= 0 else se
    return lo, hi


def _paragraphs(text: str, lo: int, hi: int) -> list[Span]:
    """Spans of the blocks of text[lo:hi], white space at their edges left out."""
    spans: list[Span] = []
    pos = lo
    for m in _BREAK.finditer(text, lo, hi):
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, hi))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            out.append((a, b))
    return out


def _around(paras: list[Span], ps: int, pe: int, context: int) -> tuple[int, int, int, int]:
    """Paragraph indices: shown from lo to hi, the passage's own from i0 to i1."""
    touching = [i for i, (a, b) in enumerate(paras) if a < pe and ps < b]
    if not touching:  # the passage is only white space between blocks: the nearest one
        touching = [min(range(len(paras)), key=lambda i: abs(paras[i][0] - ps))]
    i0, i1 = touching[0], touching[-1]
    context = max(0, context)
    lo, hi = max(0, i0 - context), min(len(paras) - 1, i1 + context)
    while paras[hi][1] - paras[lo][0] > MAX_CHARS and (lo < i0 or hi > i1):
        if lo < i0 and (i0 - lo >= hi - i1 or hi == i1):
            lo += 1
        else:
            hi -= 1
    return lo, hi, i0, i1


def _fit(text: str, paras: list[Span], lo: int, hi: int, i0: int, i1: int, ps: int,
         pe: int) -> Span:
    """The span shown: paragraphs lo..hi; when even the passage's own paragraphs (then lo ==
    i0 and hi == i1) exceed MAX_CHARS, as much of them around the passage as fits, cut at
    words, shared before and after; a passage longer than MAX_CHARS is itself cut."""
    start, end = paras[lo][0], paras[hi][1]
    if end - start <= MAX_CHARS:
        return start, end
    room = MAX_CHARS - (pe - ps)
    if room <= 0:
        return ps, _word_end(text, ps + MAX_CHARS, ps)
    before_room, after_room = max(0, ps - paras[i0][0]), max(0, paras[i1][1] - pe)
    take_before = min(before_room, room // 2)
    take_after = min(after_room, room - take_before)
    take_before = min(before_room, room - take_after)
    return _word_start(text, ps - take_before, ps), _word_end(text, pe + take_after, pe)


def _word_start(text: str, at: int, limit: int) -> int:
    """`at` moved forward to the start of a word (never past `limit`)."""
    if at > 0 and not text[at - 1].isspace():
        m = _SPACE.search(text, at, limit)
        at = m.end() if m else at
    while at < limit and text[at].isspace():
        at += 1
    return at


def _word_end(text: str, at: int, limit: int) -> int:
    """`at` moved back to the end of a word (never before `limit`)."""
    cut = at
    if at < len(text) and not text[at].isspace():
        while cut > limit and not text[cut - 1].isspace():
            cut -= 1
        if cut == limit:  # one word longer than the room: cut inside it
            return at
    while cut > limit and text[cut - 1].isspace():
        cut -= 1
    return cut


def _paragraph_html(text: str, a: int, b: int, ps: int, pe: int, first: bool) -> str:
    """One paragraph, escaped, with the part of the passage inside it marked."""
    m0, m1 = max(a, ps), min(b, pe)
    if m0 >= m1:
        return _escape(text[a:b])
    return (_escape(text[a:m0]) + _mark(text[m0:m1], first) + _escape(text[m1:b]))


def _mark(piece: str, first: bool) -> str:
    ident = ' id="passage"' if first else ""
    return f'<mark class="passage"{ident}>{_escape(piece)}</mark>'


def _escape(piece: str) -> str:
    """Document text as inert HTML; a line break inside a block stays a line break."""
    return escape(piece, quote=True).replace("\n", "<br>\n")
