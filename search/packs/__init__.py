"""Evidence packs: passages kept from searches into named packs, stored in SQLite beside the
index, and exported as a cited DOCX, Markdown, CSV or plain text.

    store = PackStore(index_dir / "packs.sqlite")
    pack = store.create("Committee briefing")
    store.keep(pack.id, hit, question="what peer support do officers get?", mode="hybrid")
    items = mark_status(store.items(pack.id), {d.doc_id: d.sha256 for d in index.documents()})
    references = {d.doc_id: reference_of(d.title, d.meta) for d in index.documents()}
    data = to_docx(store.get(pack.id), items, made="12 June 2026", references=references)
"""

from search.packs.export import (
    Reference,
    pack_file_stem,
    reference_of,
    to_csv,
    to_docx,
    to_markdown,
    to_text,
)
from search.packs.rules import (
    CHANGED,
    MAX_NAME_CHARS,
    MAX_NOTE_CHARS,
    MAX_PACK_PASSAGES,
    REMOVED,
    PackConflict,
    PackError,
    PackNotFound,
    mark_status,
)
from search.packs.store import PackStore

__all__ = [
    "CHANGED", "MAX_NAME_CHARS", "MAX_NOTE_CHARS", "MAX_PACK_PASSAGES", "REMOVED",
    "PackConflict", "PackError", "PackNotFound", "PackStore", "Reference", "mark_status",
    "pack_file_stem", "reference_of", "to_csv", "to_docx", "to_markdown", "to_text",
]
