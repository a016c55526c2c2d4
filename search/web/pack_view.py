"""The Evidence pack tab as HTML: the pack chooser, its passages with their notes and marks,
and the export links. Names, notes and passages are untrusted text: all of it is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from search.records import KeptPassage, Pack
from search.web.render import plural

PAGE_SIZE = 50  # passages shown at once; a pack of 10,000 pages through, exports hold all

EXPORTS = (("docx", "Word (.docx)"), ("md", "Markdown"), ("csv", "CSV"))

STATUS_TEXT = {
    "changed since kept": "Changed since kept: the document was re-indexed and changed; "
                          "check the passage still says this",
    "document removed": "Document removed from the index: the text below is as it was kept",
}


def pack_html(packs: Sequence[Pack], pack: Pack | None, items: Sequence[KeptPassage],
              offset: int = 0, editable: bool = True) -> str:
    """The whole tab: which pack is open, what it holds (one page of it), and what can be
    done with it. `items` are the passages from `offset`, already marked with their status."""
    if pack is None:
        return ('<div class="pack-view" data-pack="">'
                '<p class="pack-empty">No evidence pack yet. Press <b>Keep</b> on a passage in '
                'the results to start one, or create one here.</p>'
                + (_new_pack_form() if editable else "") + "</div>")
    options = "".join(
        f'<option value="{p.id}"{" selected" if p.id == pack.id else ""}>'
        f'{escape(p.name)} ({p.count})</option>' for p in packs)
    exports = "".join(
        f'<a class="export" href="/packs/{pack.id}/export?format={fmt}" download>{label}</a>'
        for fmt, label in EXPORTS)
    head = (
        f'<div class="pack-view" data-pack="{pack.id}" data-name="{escape(pack.name)}" '
        f'data-count="{pack.count}" data-offset="{offset}">'
        '<div class="pack-bar">'
        f'<label>Pack <select class="pack-choice" aria-label="Open pack">{options}</select>'
        '</label>'
        + (('<button type="button" class="pack-rename">Rename</button>'
            '<button type="button" class="pack-delete">Delete</button>'
            + _new_pack_form()) if editable else "")
        + "</div>"
        f'<div class="pack-bar"><span class="pack-count">{pack.count} '
        f'{plural(pack.count, "passage")}</span> · Export: {exports} '
        '<button type="button" class="pack-copy">Copy as text</button></div>')
    if not items:
        body = ('<p class="pack-empty">This pack is empty. Press <b>Keep</b> on a passage in '
                'the results (or in the reader) to add it.</p>')
    else:
        body = '<ol class="pack-items">' + "".join(
            _item_html(item, pack.count, editable) for item in items) + "</ol>"
    return head + body + _pager(pack.count, offset) + "</div>"


def _new_pack_form() -> str:
    return ('<span class="pack-new"><input type="text" class="pack-new-name" maxlength="100" '
            'placeholder="New pack name" aria-label="New pack name">'
            '<button type="button" class="pack-create">New pack</button></span>')


def _item_html(item: KeptPassage, count: int, editable: bool) -> str:
    status = ""
    if item.status:
        status = (f'<p class="pack-status" role="note">'
                  f'{escape(STATUS_TEXT.get(item.status, item.status))}</p>')
    ocr = ('<span class="ocr" title="Read by OCR from a scanned page: check the quote">'
           'from OCR</span>' if item.ocr else "")
    number = item.position + 1
    controls = ""
    if editable:
        controls = (
            f'<button type="button" class="pack-up" aria-label="Move passage {number} up"'
            f'{" disabled" if item.position == 0 else ""}>↑</button>'
            f'<button type="button" class="pack-down" aria-label="Move passage {number} down"'
            f'{" disabled" if item.position >= count - 1 else ""}>↓</button>'
            f'<button type="button" class="pack-remove">Remove</button>')
    note = (f'<label class="pack-note">Note <textarea rows="2" maxlength="4000" '
            f'aria-label="Note on passage {number}"{"" if editable else " readonly"}>'
            f'{escape(item.note)}</textarea></label>')
    read = ("" if item.status == "document removed" else
            f'<button type="button" class="read" data-doc="{escape(item.doc_id)}" '
            f'data-start="{item.start}" data-end="{item.end}" data-item="{item.id}" '
            f'data-page="{item.page or ""}">Read in context</button>')
    return (
        f'<li class="pack-item{" " + item.status.split()[0] if item.status else ""}" '
        f'data-item="{item.id}" data-position="{item.position}" value="{number}">'
        f'<header><span class="citation">{escape(item.citation)}</span>{ocr}</header>'
        f'{status}<blockquote class="passage">{escape(item.text)}</blockquote>'
        f'<p class="pack-meta">Kept for “{escape(item.question)}” · {escape(_day(item.kept_at))}'
        f'</p>{note}<footer>{read}{controls}</footer></li>')


def _pager(count: int, offset: int) -> str:
    if count <= PAGE_SIZE:
        return ""
    last = min(count, offset + PAGE_SIZE)
    prev = (f'<button type="button" class="pack-page" data-offset="{max(0, offset - PAGE_SIZE)}">'
            "‹ Previous</button>" if offset > 0 else "")
    nxt = (f'<button type="button" class="pack-page" data-offset="{offset + PAGE_SIZE}">'
           "Next ›</button>" if last < count else "")
    return (f'<nav class="pack-pager">{prev}<span>Passages {offset + 1}–{last} of {count:,}'
            f"</span>{nxt}</nav>")


def _day(stamp: str) -> str:
    return stamp[:16].replace("T", " ") + " UTC" if stamp else ""
