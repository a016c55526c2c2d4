"""Hits as HTML cards, Markdown and CSV. Document text is untrusted (a PDF can say anything):
every piece of it is escaped here, so tags, scripts, links and images show as text."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote

from search.packs.export import csv_cell, marked_text, md_escape, md_marked_lines
from search.records import Hit
from search.retrieve.confidence import results_weak

WEAK_NOTICE = ("Nothing in the documents answers this question well. These are the closest "
               "passages — check them before relying on them.")


def plural(count: int, word: str) -> str:
    """"1 passage", "2 passages": the word as the count wants it."""
    return word if count == 1 else word + "s"


def readable_time(moment: datetime) -> str:
    """A time as people read it, in UTC: "30 Nov 2026, 14:45 UTC" (no platform-only
    strftime flags)."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment
    return f"{moment.day} {moment:%b %Y, %H:%M}" + (" UTC" if moment.tzinfo else "")


def doc_url(hit: Hit) -> str:
    """Link to the source file, opened at the cited page when it is a PDF."""
    url = "/doc/" + quote(hit.doc_id, safe="")
    if hit.page is not None and hit.path.lower().endswith(".pdf"):
        url += f"#page={hit.page}"
    return url


CLOSEST_TITLE = "The closest sentence there is: it does not answer the question"


def passage_html(hit: Hit) -> str:
    """The passage, escaped, with its answering sentences in <mark> (the best one first). A
    weak match's closest sentence is outlined instead, titled as what it is: not an answer."""
    out, last = [], 0
    order = {span: n for n, span in enumerate(hit.highlights)}
    for start, end in sorted(hit.highlights):
        out.append(escape(hit.text[last:start]))
        if hit.weak:
            out.append(f'<mark class="closest" title="{CLOSEST_TITLE}">'
                       f"{escape(hit.text[start:end])}</mark>")
        else:
            best = " best" if order[(start, end)] == 0 else ""
            out.append(f'<mark class="answer{best}">{escape(hit.text[start:end])}</mark>')
        last = end
    out.append(escape(hit.text[last:]))
    return "".join(out)


def answer_marks(hit: Hit) -> list[tuple[int, int]]:
    """The spans marked as answering (none for a weak match): what Keep and exports carry."""
    return [] if hit.weak else list(hit.highlights)


CONFIDENCE_TITLE = ("How likely this passage is to answer your question, estimated from "
                    "questions people checked")


def confidence_percent(confidence: float) -> str:
    """The confidence as people read it, "86 %" (a no-break space: never split)."""
    return f"{round(100 * min(1.0, max(0.0, confidence)))}\u00a0%"


OCR_LABEL = ('<span class="ocr" title="This text was read by OCR from a scanned page and may '
             'hold misread words: check the quote against the page">from OCR</span>')


def card_html(hit: Hit) -> str:
    """One result. The citation opens the reader (the passage in its source); Keep adds the
    passage to the open evidence pack; both name it by document and offsets."""
    cite = escape(hit.citation)
    strength = hit.match or ("weak match" if hit.weak else "possible match")
    kind = strength.split()[0]
    page = f", p. {hit.page_label}" if hit.page_label is not None else ""
    return (
        f'<article class="hit{" weak" if hit.weak else ""}" data-rank="{hit.rank}" '
        f'data-doc="{escape(hit.doc_id)}" data-start="{hit.start}" data-end="{hit.end}" '
        f'data-page="{hit.page or ""}" '
        f'data-highlights="{",".join(f"{a}-{b}" for a, b in answer_marks(hit))}">'
        f'<header><span class="rank">{hit.rank}</span>'
        f'<button type="button" class="citation read" title="Read it in its source">{cite}'
        f'</button><span class="score {kind}" title="{CONFIDENCE_TITLE}">{strength} · '
        f'{confidence_percent(hit.confidence)}</span>'
        f'{OCR_LABEL if hit.ocr else ""}</header>'
        f'<div class="passage">{passage_html(hit)}</div>'
        f'<footer><button type="button" class="keep">Keep</button>'
        f'<button type="button" class="read">Read in context{escape(page)}</button>'
        f'<button type="button" class="copy-cite" data-cite="{cite}">Copy citation</button>'
        f'<a class="source" href="{escape(doc_url(hit))}" target="_blank" '
        f'rel="noopener noreferrer">Open the file</a>'
        f"</footer></article>")


def results_html(hits: Sequence[Hit], question: str, stamp: str = "",
                 grouped: bool = False, section: str | None = None,
                 searched_as: str | None = None) -> str:
    """The result list; `data-question` and `data-stamp` let a page (or a test) tell a fresh
    answer from the previous one. `grouped`: one section per document, in the order of each
    document's best passage, headed with how many of the passages it holds. `searched_as`:
    the question as searched, when a misspelt word was read as the documents' word."""
    opening = (f'<div class="results" data-question="{escape(question)}" '
               f'data-stamp="{escape(stamp)}">')
    return (opening + _results_body(hits, question, grouped, section, searched_as)
            + "</div>")


def group_by_document(hits: Sequence[Hit]) -> list[list[Hit]]:
    """Hits gathered per document, documents in the order of their best hit, ranks kept."""
    groups: dict[str, list[Hit]] = {}
    for hit in hits:
        groups.setdefault(hit.doc_id, []).append(hit)
    return list(groups.values())


def _grouped_cards(hits: Sequence[Hit]) -> str:
    out = []
    for group in group_by_document(hits):
        count = len(group)
        out.append(f'<section class="doc-group" data-doc="{escape(group[0].doc_id)}">'
                   f'<h3>{escape(group[0].title)} <span class="count">{count} '
                   f'{plural(count, "passage")}</span></h3>'
                   + "".join(card_html(h) for h in group) + "</section>")
    return "".join(out)


def _results_body(hits: Sequence[Hit], question: str, grouped: bool = False,
                  section: str | None = None, searched_as: str | None = None) -> str:
    if not hits:
        return ('<div class="notice empty">No passages match. Try other words, or remove '
                "the document or section filter (under Options).</div>")
    head = ""
    if results_weak(list(hits)):
        head = f'<div class="notice weak-notice" role="status">{escape(WEAK_NOTICE)}</div>'
    n, docs = len(hits), len({h.doc_id for h in hits})
    summary = (f'<p class="summary">{n} {plural(n, "passage")} for '
               f'“{escape(question)}”, best first'
               + (f", from {docs} {plural(docs, 'document')}" if grouped else "")
               + (f", in sections headed “{escape(section)}”" if section else "")
               + "</p>")
    if searched_as:
        summary += (f'<p class="searched-as">Searched as “{escape(searched_as)}”: a word no '
                    "document holds was read as the documents' closest word.</p>")
    cards = _grouped_cards(hits) if grouped else "".join(card_html(h) for h in hits)
    return head + summary + cards


def to_markdown(hits: Sequence[Hit], question: str, mode: str = "hybrid",
                documents: Sequence[str] = (), when: str = "",
                section: str | None = None) -> str:
    """The result list as a Markdown file that says how it was made: question, mode,
    document filter and time, so a reader can run the same search again. Every piece of
    document text and of the question is escaped and passages are quoted line by line, so
    nothing in them renders as markup."""
    lines = [f"# Evidence for: {md_escape(question)}", "",
             f"- Search mode: {mode}; {len(hits)} {plural(len(hits), 'passage')}",
             f"- Documents: {md_escape(', '.join(documents)) if documents else 'all'}"]
    if section:
        lines.append(f"- Sections headed: {md_escape(section)}")
    if when:
        lines.append(f"- Searched: {when}")
    lines.append("")
    if results_weak(list(hits)):
        lines += [f"> {WEAK_NOTICE}", ""]
    for hit in hits:
        lines += [f"## {hit.rank}. {md_escape(hit.citation)}", "",
                  *md_marked_lines(hit.text, answer_marks(hit), "> "), "",
                  f"{(hit.match or 'match').capitalize()} ({hit.confidence:.0%} confidence)"
                  f" · {md_escape(hit.doc_id)}"
                  + (" · text from OCR of a scanned page: check the quote" if hit.ocr else ""),
                  ""]
    return "\n".join(lines)


def to_csv(hits: Sequence[Hit]) -> str:
    """The result list as CSV; text cells a spreadsheet would run as formulas are defused."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["rank", "citation", "title", "page", "page_end", "section", "text",
                     "match", "confidence", "weak", "score", "doc_id", "start", "end", "ocr",
                     "marked", "file_page"])
    for h in hits:  # page: the number printed on it, as cited; file_page: its place in the file
        writer.writerow([csv_cell(cell) for cell in (
            h.rank, h.citation, h.title, h.page_label, h.page_end_label, h.section, h.text,
            h.match, h.confidence, h.weak, h.score, h.doc_id, h.start, h.end, h.ocr,
            marked_text(h.text, answer_marks(h)), h.page)])
    return buffer.getvalue()
