"""What a pack allows and how its passages stand: the limits, the refusals (PackError and its
kinds), whole citations, and mark_status, which compares kept passages with the index as it is
now. The records themselves (Pack, KeptPassage) cross to the page, so live in search.records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from search.records import KeptPassage

MAX_PACK_PASSAGES = 10_000  # beyond this a pack is refused more: a briefing, not an archive
MAX_NAME_CHARS = 100
MAX_NOTE_CHARS = 4_000

CHANGED = "changed since kept"  # the document was re-indexed with other content
REMOVED = "document removed"  # the document is no longer in the index; the text is kept


class PackError(ValueError):
    """A refused pack operation: one line naming the field or pack and the reason."""


class PackNotFound(PackError):
    """The pack or passage named is not there (deleted, perhaps from another tab)."""


class PackConflict(PackError):
    """Another tab changed what this one tried to change; `current` is how it is now."""

    def __init__(self, message: str, current: object) -> None:
        super().__init__(message)
        self.current = current


SECTION_MARK = " — "  # between the title (and pages) and the section path, in a citation


def whole_citation(citation: str, section: str) -> str:
    """The citation with its section path whole. Versions before issue 21 cut long headings
    to "…" in the citation they stored, but kept the whole path in `section`: such a
    citation gets its path back, so a pack exports what the documents say; any other
    citation is returned as kept."""
    if "…" not in citation or not section or citation.endswith(section):
        return citation
    at = citation.rfind(SECTION_MARK)
    while at >= 0:
        if _cut_from(citation[at + len(SECTION_MARK):], section):
            return citation[:at] + SECTION_MARK + section
        at = citation.rfind(SECTION_MARK, 0, at)
    return citation


def _cut_from(shown: str, whole: str) -> bool:
    """Whether `shown` is `whole` with pieces of it replaced by "…" (each kept piece in
    order, the first at the start)."""
    pieces = shown.split("…")
    if not whole.startswith(pieces[0]):
        return False
    at = len(pieces[0])
    for piece in pieces[1:]:
        found = whole.find(piece, at)
        if found < 0:
            return False
        at = found + len(piece)
    return True


def mark_status(items: Sequence[KeptPassage], documents: Mapping[str, str]) -> list[KeptPassage]:
    """The items with `status` set against the index now (`documents` = {doc_id: sha256}): a
    reader must see when a quote may no longer match its source."""
    marked = []
    for item in items:
        if item.doc_id not in documents:
            status = REMOVED
        elif item.doc_sha256 and documents[item.doc_id] != item.doc_sha256:
            status = CHANGED
        else:
            status = ""
        marked.append(item if item.status == status else replace(item, status=status))
    return marked
