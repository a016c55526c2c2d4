"""An evidence pack as files: DOCX, Markdown, CSV and plain text, each quoting every passage
verbatim with a numbered citation and ending with the list of sources.

Pure functions of a Pack and its items (already passed through mark_status). Everything in a
pack is untrusted: names and notes are typed by people, passages come from documents that can
say anything. So Markdown is escaped to be inert, CSV cells cannot run a formula, DOCX drops
the few characters XML cannot hold, and file names come from pack_file_stem, never the name.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import docx
from docx.shared import Cm, Length, Pt
from lxml import etree

from search.packs.rules import CHANGED, REMOVED
from search.records import KeptPassage, Pack

APP_NAME = "Evidence search"  # the author of an exported file: the tool, not a person
STEM_PREFIX = "evidence-pack"
MAX_STEM_CHARS = 60

MARKS = {
    CHANGED: ("Changed since kept", "the document was re-indexed and has changed since this "
              "passage was kept; check the quote against it"),
    REMOVED: ("Document removed", "the document is no longer in the index; the passage is "
              "kept as it was"),
}
OCR_MARK = ("From OCR of a scanned page", "check the quote")

CSV_COLUMNS = ("position", "citation", "title", "page", "page_end", "section", "text", "note",
               "question", "status", "kept_at", "doc_id", "start", "end", "ocr", "marked",
               "file_page")  # page, page_end: printed numbers, as cited; file_page: position

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def pack_file_stem(name: str) -> str:
    """A file name stem for a pack's exports ("evidence-pack-<slug>"): ASCII lowercase letters,
    digits and dashes only, so no name can reach outside the download folder."""
    ascii_name = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    slug = slug[:MAX_STEM_CHARS - len(STEM_PREFIX) - 1].rstrip("-")
    return f"{STEM_PREFIX}-{slug}" if slug else STEM_PREFIX


@dataclass(frozen=True)
class Reference:
    """What the index knows about a document for a reference: its full title, publisher and
    date, from its sidecar (any of them may be unknown, "")."""

    title: str = ""
    publisher: str = ""
    date: str = ""  # ISO 8601 as the sidecar gives it: "2019-04-17", "2026-01", "2019"


def reference_of(title: str, meta: Mapping[str, Any]) -> Reference:
    """A document's Reference from its title and sidecar metadata: `full_title` where the
    sidecar gives one (`title` is often a short label), then `title`."""
    def text(key: str) -> str:
        value = meta.get(key)
        return " ".join(value.split()) if isinstance(value, str) else ""

    return Reference(text("full_title") or text("title") or title, text("publisher"),
                     text("date"))


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def readable_date(date: str) -> str:
    """An ISO date as a reference prints it: "17 April 2019", "January 2026", "2019"; any
    other text as given."""
    parts = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", date.strip())
    if not parts or (parts[2] and not 1 <= int(parts[2]) <= 12):
        return date.strip()
    year, month, day = parts.groups()
    if not month:
        return year
    return (f"{int(day)} " if day and 1 <= int(day) <= 31 else "") + \
        f"{_MONTHS[int(month) - 1]} {year}"


@dataclass
class Source:
    """One cited document in the source list, numbered by first appearance in the pack."""

    number: int
    doc_id: str
    title: str
    path: str
    pages: list[tuple[int, int]] = field(default_factory=list)  # cited spans, inclusive
    labels: dict[int, str] = field(default_factory=dict)  # page position -> printed number
    removed: bool = False
    reference: Reference | None = None  # from the index; None: known only from the pack

    def pages_text(self) -> str:
        """The cited pages as "p. 3" or "pp. 3, 5–7", by the numbers printed on them (runs
        joined by position in the file); "" for documents without pages."""
        runs: list[list[int]] = []
        for first, last in sorted(self.pages):
            if runs and first <= runs[-1][1] + 1:
                runs[-1][1] = max(runs[-1][1], last)
            else:
                runs.append([first, last])
        printed = [(self.labels.get(a, str(a)), self.labels.get(b, str(b))) for a, b in runs]
        parts = [a if a == b else f"{a}–{b}" for a, b in printed]
        if not parts:
            return ""
        return ("p. " if len(runs) == 1 and runs[0][0] == runs[0][1] else "pp. ") + \
            ", ".join(parts)

    def pieces(self) -> list[tuple[str, bool]]:
        """The entry after its number as (text, is the title) runs: "Publisher. Full title.
        Date, pp. 3–7." A document with neither publisher nor date is named by its file
        too, so a reader can find it."""
        ref = self.reference or Reference(self.title)
        title = ref.title or self.title or PurePosixPath(self.path).name
        when = ", ".join(t for t in (readable_date(ref.date), self.pages_text()) if t)
        tail = [when] if when else []
        if not ref.publisher and not ref.date and self.path:
            tail.append(f"File {PurePosixPath(self.path).name}")
        if self.removed:
            tail.append("No longer in the index")
        out = [(_sentence(ref.publisher) + " ", False)] if ref.publisher else []
        stop = "" if title.endswith((".", "?", "!")) else "."
        return [*out, (title, True), (stop + "".join(f" {_sentence(t)}" for t in tail), False)]

    def line(self) -> str:
        """The entry after its number, as plain text."""
        return "".join(text for text, _ in self.pieces())


def _sentence(text: str) -> str:
    """A reference part ending in a full stop (once: "Ltd." stays "Ltd.")."""
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


def sources(items: Sequence[KeptPassage],
            references: Mapping[str, Reference] | None = None) -> dict[str, Source]:
    """Each cited document once, by doc id, numbered 1.. in the order first cited, with
    its Reference where `references` (doc id → Reference, from the index) has one."""
    found: dict[str, Source] = {}
    for item in items:
        source = found.get(item.doc_id)
        if source is None:
            source = found[item.doc_id] = Source(
                len(found) + 1, item.doc_id, item.title, item.path,
                reference=(references or {}).get(item.doc_id))
        if item.page is not None:
            last = item.page_end if item.page_end is not None else item.page
            source.pages.append((item.page, max(item.page, last)))
            for page in (item.page, last):
                source.labels.setdefault(page, str(item.printed(page)))
        source.removed = source.removed or item.status == REMOVED
    return found


def marks(item: KeptPassage) -> list[tuple[str, str]]:
    """What a reader must know before quoting: (label, explanation) pairs."""
    out = [MARKS[item.status]] if item.status in MARKS else []
    if item.ocr:
        out.append(OCR_MARK)
    return out


def marked_segments(text: str, spans: Sequence[tuple[int, int]]) -> list[tuple[str, bool]]:
    """The text cut into (piece, marked) runs at the marked sentences' spans, in order."""
    out, last = [], 0
    for start, end in sorted((a, b) for a, b in spans if 0 <= a < b <= len(text)):
        if start < last:
            continue  # overlapping spans: the first wins
        if start > last:
            out.append((text[last:start], False))
        out.append((text[start:end], True))
        last = end
    if last < len(text) or not out:
        out.append((text[last:], False))
    return out


def marked_text(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """The marked sentences alone, in reading order, joined by " … " (a CSV cell)."""
    return " … ".join(piece for piece, marked in marked_segments(text, spans) if marked)


def summary(items: Sequence[KeptPassage], made: str = "") -> str:
    """The line under the title: when the pack was made, how many passages and documents."""
    n, docs = len(items), len({item.doc_id for item in items})
    counts = (f"{n:,} passage{'s' if n != 1 else ''} from {docs:,} "
              f"document{'s' if docs != 1 else ''}")
    return f"Made {made} · {counts}" if made else counts


def question_line(item: KeptPassage) -> str:
    mode = f" ({item.mode} search)" if item.mode else ""
    return f"{item.question}{mode}" if item.question else f"not recorded{mode}"


# DOCX


def xml_safe(text: str) -> str:
    """Text without the control characters XML 1.0 cannot hold (python-docx raises on them);
    everything else, newlines and tabs included, is kept."""
    return _NOT_XML.sub("", text)


def to_docx(pack: Pack, items: Sequence[KeptPassage], made: str = "",
            references: Mapping[str, Reference] | None = None) -> bytes:
    """The pack as a Word document: title, summary, each passage quoted verbatim under
    "n. citation" with its [source] reference, question, note and marks, then Sources, each
    a reference (`references`: doc id → Reference, from the index)."""
    out = _DocxWriter()
    styles = out.document.styles
    quote = styles["Quote"]
    quote.paragraph_format.left_indent = Cm(1)
    quote.paragraph_format.right_indent = Cm(1)
    heading, subheading = styles["Heading 1"].style_id, styles["Heading 2"].style_id
    describe(out.document.core_properties, pack, summary(items, made))
    out.paragraph(pack.name, styles["Title"].style_id)
    out.paragraph(summary(items, made))
    cited = sources(items, references)
    if not items:
        out.paragraph("No passages kept yet.")
    for n, item in enumerate(items, start=1):
        out.paragraph(f"{n}. {item.citation}", subheading)
        out.marked(item.text, item.highlights, quote.style_id)
        out.labelled(f"[{cited[item.doc_id].number}] ", item.citation)
        out.labelled("Question: ", question_line(item))
        if item.note:
            out.labelled("Note: ", item.note)
        for label, why in marks(item):
            out.labelled(f"{label}: ", why)
    if cited:
        out.paragraph("Sources", heading)
        for source in cited.values():
            element = out.paragraph(space_after=SOURCE_SPACING)
            out.run(element, f"[{source.number}] ", bold=True)
            for text, title in source.pieces():
                out.run(element, text, italic=title)
    return out.save()


def describe(properties: Any, pack: Pack, comments: str) -> None:
    """The .docx's own properties from the pack (python-docx's template says it was written
    by "python-docx" on 23 December 2013): title, the tool as author, the pack's dates."""
    properties.title = xml_safe(pack.name)
    properties.comments = xml_safe(comments)
    properties.author = properties.last_modified_by = APP_NAME
    properties.revision = 1
    for name, stamp in (("created", pack.created_at), ("modified", pack.updated_at)):
        try:
            moment = datetime.fromisoformat(stamp)
        except (TypeError, ValueError):
            moment = datetime.now(UTC)  # an unreadable stamp: the export's time, not 2013's
        setattr(properties, name, moment.replace(microsecond=0))


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_PRESERVE = ("{http://www.w3.org/XML/1998/namespace}space", "preserve")
_RUN_BREAKS = re.compile(r"(\r\n|\n|\r|\t)")
SOURCE_SPACING = Pt(4)


class _DocxWriter:
    """Writes paragraphs into a new python-docx Document as WordprocessingML elements.

    Document.add_paragraph searches all of the body's children for the section properties on
    every call, and python-docx's run and style setters walk the styles each time, which
    made a 10,000-passage pack take minutes. Here the section properties are lifted off while
    writing and put back at the end, and each paragraph is appended with its style id, runs,
    line breaks and tabs as Word stores them.
    """

    def __init__(self) -> None:
        self.document = docx.Document()
        self._body = self.document.element.body
        self._sections = self._body.sectPr
        if self._sections is not None:
            self._body.remove(self._sections)

    def paragraph(self, text: str = "", style_id: str | None = None,
                  space_after: Length | None = None) -> etree._Element:
        element = etree.SubElement(self._body, f"{_W}p")
        if style_id is not None or space_after is not None:
            properties = etree.SubElement(element, f"{_W}pPr")
            if style_id is not None:
                etree.SubElement(properties, f"{_W}pStyle").set(f"{_W}val", style_id)
            if space_after is not None:  # in twentieths of a point
                etree.SubElement(properties, f"{_W}spacing").set(
                    f"{_W}after", str(round(space_after.pt * 20)))
        if text:
            self.run(element, text)
        return element

    def labelled(self, label: str, text: str, space_after: Length | None = None) -> None:
        """A paragraph starting with a bold label: "Note: …", "[2] …"."""
        element = self.paragraph(space_after=space_after)
        self.run(element, label, bold=True)
        self.run(element, text)

    def marked(self, text: str, spans: Sequence[tuple[int, int]], style_id: str) -> None:
        """A paragraph of text whose marked sentences are bold on a yellow highlight, as the
        page marks them."""
        element = self.paragraph(style_id=style_id)
        for piece, marked in marked_segments(text, spans):
            self.run(element, piece, bold=marked, highlight=marked)

    @staticmethod
    def run(paragraph: etree._Element, text: str, bold: bool = False,
            highlight: bool = False, italic: bool = False) -> None:
        """A run of text; newlines become line breaks and tabs tabs, as Word keeps them."""
        run = etree.SubElement(paragraph, f"{_W}r")
        if bold or highlight or italic:
            properties = etree.SubElement(run, f"{_W}rPr")
            if bold:
                etree.SubElement(properties, f"{_W}b")
            if italic:
                etree.SubElement(properties, f"{_W}i")
            if highlight:
                etree.SubElement(properties, f"{_W}highlight").set(f"{_W}val", "yellow")
        for piece in _RUN_BREAKS.split(xml_safe(text)):
            if piece == "\t":
                etree.SubElement(run, f"{_W}tab")
            elif piece in ("\n", "\r", "\r\n"):
                etree.SubElement(run, f"{_W}br")
            elif piece:
                element = etree.SubElement(run, f"{_W}t")
                element.set(*_PRESERVE)
                element.text = piece

    def save(self) -> bytes:
        if self._sections is not None:
            self._body.append(self._sections)
            self._sections = None
        buffer = io.BytesIO()
        self.document.save(buffer)
        return buffer.getvalue()


# Markdown

_MD_INLINE = re.compile(r"([\\`*_\[\]#|~$])")
_MD_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_MD_LINE_START = re.compile(r"^(\s*)([-+=>]|\d+[.)])")


def md_escape(text: str) -> str:
    """One line of untrusted text made inert in Markdown: `<` and entity-like `&` become
    entities and Markdown punctuation is backslash-escaped, so no tag, link, image, emphasis,
    code span, code block, table, heading, quote or list can form; rendered, it reads as the
    same words (leading spaces go: rendered HTML drops them anyway)."""
    text = _MD_ENTITY.sub("&amp;", text.lstrip()).replace("<", "&lt;")  # 4 spaces: code
    text = _MD_INLINE.sub(r"\\\1", text)
    return _MD_LINE_START.sub(_line_start, text)


def _line_start(match: re.Match[str]) -> str:
    space, lead = match.group(1), match.group(2)
    if lead == ">":
        return space + "&gt;"
    if lead[0].isdigit():  # "1. " or "1) " would start a list
        return space + lead[:-1] + "\\" + lead[-1]
    return space + "\\" + lead


def md_lines(text: str, prefix: str = "") -> list[str]:
    """Multi-line text as escaped Markdown lines, each behind `prefix` ("> " quotes them all,
    so a passage cannot end its block quote early). A line followed by another ends in a hard
    break, so lists and short lines in a passage keep their shape when rendered."""
    lines = [md_escape(line).rstrip() for line in text.splitlines()] or [""]
    out = []
    for n, line in enumerate(lines):
        if line and n + 1 < len(lines) and lines[n + 1]:
            out.append(prefix + line + "  ")
        else:
            out.append((prefix + line).rstrip(" "))
    return out


def to_markdown(pack: Pack, items: Sequence[KeptPassage], made: str = "",
                references: Mapping[str, Reference] | None = None) -> str:
    """The pack as Markdown with the same content as the DOCX (titles of sources in
    italics); nothing in it renders as markup, whatever the name, notes or passages hold."""
    cited = sources(items, references)
    lines = [f"# {md_escape(pack.name)}", "", md_escape(summary(items, made)), ""]
    if not items:
        lines += ["No passages kept yet.", ""]
    for n, item in enumerate(items, start=1):
        number = cited[item.doc_id].number
        lines += [f"## {n}. {md_escape(item.citation)}", "",
                  *md_marked_lines(item.text, item.highlights, "> "), "",
                  f"[{number}] {md_escape(item.citation)}", "",
                  f"*Question:* {md_escape(question_line(item))}", ""]
        if item.note:
            note = md_lines(item.note)
            lines += [f"**Note:** {note[0]}", *note[1:], ""]
        for label, why in marks(item):
            lines += [f"**{label}:** {md_escape(why)}", ""]
    if cited:
        lines += ["## Sources", ""]
        lines += [f"[{s.number}] {md_reference(s)}  " for s in cited.values()]
        lines[-1] = lines[-1].rstrip()
    return "\n".join(lines).rstrip("\n") + "\n"


def md_reference(source: Source) -> str:
    """A source's reference as one Markdown line, its title in italics (escaped inside)."""
    out = []
    for n, (text, title) in enumerate(source.pieces()):
        escaped = md_escape(text) if n == 0 else _md_inline(text)
        out.append(f"*{escaped.strip()}*" if title and escaped.strip() else escaped)
    return "".join(out)


def md_marked_lines(text: str, spans: Sequence[tuple[int, int]], prefix: str = "") -> list[str]:
    """md_lines with the marked sentences in bold (escaped like the rest, so still inert)."""
    if not spans:
        return md_lines(text, prefix)
    rendered = [""]
    for piece, marked in marked_segments(text, spans):
        for i, part in enumerate(_LINE_BREAK.split(piece)):
            if i:
                rendered.append("")
            if not part:
                continue
            escaped = _md_inline(part) if rendered[-1] else md_escape(part)
            body = escaped.strip()
            if marked and body:
                lead = escaped[:len(escaped) - len(escaped.lstrip())]
                escaped = f"{lead}**{body}**{escaped[len(lead) + len(body):]}"
            rendered[-1] += escaped
    lines = [line.rstrip() for line in rendered]
    return [prefix + line + "  " if line and n + 1 < len(lines) and lines[n + 1]
            else (prefix + line).rstrip(" ") for n, line in enumerate(lines)]


_LINE_BREAK = re.compile("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")  # as str.splitlines


def _md_inline(text: str) -> str:
    """Text inside a line (not at its start): entities and inline punctuation escaped."""
    return _MD_INLINE.sub(r"\\\1", _MD_ENTITY.sub("&amp;", text).replace("<", "&lt;"))


# CSV


_ALWAYS_FORMULA = ("=", "@", "\t", "\r")
_RUNS = re.compile(r"[A-Za-z_][\w.]*\(|\||!\$?[A-Za-z]")  # a call, a DDE link, a sheet ref
_OPERAND = (r"\(*\s*[+-]?\s*(?:\d+(?:\.\d+)?%?|"
            r"\$?[A-Za-z]{1,3}\$?\d+(?::\$?[A-Za-z]{1,3}\$?\d+)?)\s*\)*")
_ARITHMETIC = re.compile(rf"\s*{_OPERAND}(?:\s*[-+*/^&<>=]+\s*{_OPERAND})*\s*")
_NUMBER = re.compile(r"\s*\d+(?:\.\d+)?\s*")


def runs_as_formula(text: str) -> bool:
    """Whether a spreadsheet opening the CSV would run this cell as a formula.

    `=` always starts one, and `@` one in Excel (a Lotus-style function); a leading tab or
    carriage return is trimmed by some importers, which then read what follows. `+` and `-`
    start one in Excel only when a formula follows: a function call (`+HYPERLINK(…)`), a DDE
    link (`-cmd|' /C calc'!A0`), a sheet reference (`+Sheet2!B3`), or arithmetic on numbers
    and cell references (`-2+3`, `+A1`). Prose after a dash or a plus sign ("- Trauma Peer
    Support", "+ more support (see below)") and a plain signed number ("-2") are not run, so
    they stay verbatim: a quote in a CSV must read as the document says. (Excel may still
    show a line such as "- Support" as #NAME?, reading the words as names; nothing runs and
    the file holds the words: import the column as Text to see them.)
    """
    if text.startswith(_ALWAYS_FORMULA):
        return True
    if not text.startswith(("+", "-")):
        return False
    rest = text[1:]
    if _RUNS.search(rest):
        return True
    return bool(rest.strip()) and _ARITHMETIC.fullmatch(rest) is not None and \
        _NUMBER.fullmatch(rest) is None


def csv_cell(value: object) -> object:
    """A CSV cell: text a spreadsheet would run as a formula (runs_as_formula) gets a
    leading apostrophe, everything else is written as it is; None is an empty cell."""
    if isinstance(value, str) and runs_as_formula(value):
        return "'" + value
    return "" if value is None else value


def to_csv(pack: Pack, items: Sequence[KeptPassage]) -> str:
    """One row per passage in pack order; `position` counts from 1 like the other exports."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for n, item in enumerate(items, start=1):
        writer.writerow([csv_cell(v) for v in (
            n, item.citation, item.title, item.printed(item.page), item.printed(item.page_end),
            item.section, item.text,
            item.note, item.question, item.status, item.kept_at, item.doc_id, item.start,
            item.end, item.ocr, marked_text(item.text, item.highlights), item.page)])
    return buffer.getvalue()


# Plain text


def to_text(pack: Pack, items: Sequence[KeptPassage], made: str = "",
            references: Mapping[str, Reference] | None = None) -> str:
    """The pack as plain text for "copy as text": each passage in double quotes with its
    [source] number, then the numbered source list."""
    cited = sources(items, references)
    lines = [pack.name, summary(items, made), ""]
    if not items:
        lines += ["No passages kept yet.", ""]
    for n, item in enumerate(items, start=1):
        lines += [f"{n}. {item.citation}", f'"{item.text}" [{cited[item.doc_id].number}]',
                  f"Question: {question_line(item)}"]
        if item.note:
            lines.append(f"Note: {item.note}")
        lines += [f"{label}: {why}" for label, why in marks(item)]
        lines.append("")
    if cited:
        lines += ["Sources", *(f"[{s.number}] {s.line()}" for s in cited.values())]
    return "\n".join(lines).rstrip("\n") + "\n"
