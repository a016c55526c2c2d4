"""The corpus as a table of contents: each document with its sections, every section a link
that searches within it. Built from the index, so it shows a user's own documents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from urllib.parse import urlencode

from search.records import StoredDocument
from search.web.render import plural

MAX_SECTIONS = 300  # per document; the rest are counted, not listed
MAX_DOCUMENTS = 500  # listed in the contents; beyond, search or filter by document


def document_sections(paths: Sequence[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Each section path once, in reading order, with the parents of nested ones listed
    before them (a parent heading with no text of its own still appears). `paths`: the
    section path of each of a document's passages, in order."""
    seen: dict[tuple[str, ...], None] = {}
    for path in paths:
        for depth in range(1, len(path) + 1):
            seen.setdefault(tuple(path[:depth]), None)
    return list(seen)


def section_link(doc_id: str, heading: str) -> str:
    """A page address that searches one document's sections headed `heading`, asking the
    heading itself (the page then shows what that section says)."""
    return "?" + urlencode({"q": heading, "docs": doc_id, "section": heading})


def contents_html(documents: Sequence[StoredDocument],
                  sections: Mapping[str, Sequence[tuple[str, ...]]]) -> str:
    """One folded entry per document (title, pages, passages) listing its sections, indented
    by depth; a click on a section searches within it."""
    if not documents:
        return ""
    out = ['<div class="contents"><h3>Contents</h3>'
           '<p class="summary">Open a document to see its sections; click a section to search '
           "within it.</p>"]
    for doc in documents[:MAX_DOCUMENTS]:
        paths = list(sections.get(doc.doc_id, ()))
        items = []
        for path in paths[:MAX_SECTIONS]:
            heading = path[-1]
            items.append(
                f'<li style="margin-left:{(len(path) - 1) * 1.2:.1f}em">'
                f'<a class="section-link" href="{escape(section_link(doc.doc_id, heading))}">'
                f"{escape(heading)}</a></li>")
        if len(paths) > MAX_SECTIONS:
            more = len(paths) - MAX_SECTIONS
            items.append(f"<li>… and {more} more {plural(more, 'section')}</li>")
        pages = (f"{doc.page_count} {plural(doc.page_count, 'page')} · "
                 if doc.page_count else "")
        listing = (f'<ul class="sections">{"".join(items)}</ul>' if items else
                   '<p class="summary">No section headings found in this document.</p>')
        out.append(
            f'<details class="doc-contents" data-doc="{escape(doc.doc_id)}"><summary>'
            f"{escape(doc.title)} <span class=\"count\">{pages}{doc.chunks} "
            f"{plural(doc.chunks, 'passage')} · {len(paths)} {plural(len(paths), 'section')}"
            f"</span></summary>{listing}</details>")
    if len(documents) > MAX_DOCUMENTS:
        out.append(f'<p class="summary">… and {len(documents) - MAX_DOCUMENTS:,} more documents '
                   "(use “Only these documents” under Options to search one).</p>")
    return "".join(out) + "</div>"
