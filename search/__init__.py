"""Evidence search: find the passages in your documents that answer a question, with citations.

    from search import search
    for hit in search("what peer support do Met officers get after a traumatic incident?"):
        print(hit.citation, hit.text)
"""

from __future__ import annotations

import threading
from pathlib import Path

from search.config import Settings, default_store
from search.index import Index, QueryError
from search.records import Chunk, Document, Filters, Hit, IndexReport
from search.retrieve.query import MODES, Fusion
from search.store import (
    IndexCorrupt,
    IndexError_,
    IndexMismatch,
    IndexNotFound,
    StoreUnavailable,
    is_remote,
)

__all__ = [
    "MODES", "Chunk", "Document", "Filters", "Fusion", "Hit", "Index", "IndexCorrupt",
    "IndexError_", "IndexMismatch",
    "IndexNotFound", "IndexReport", "QueryError", "Settings", "StoreUnavailable", "open_index",
    "search",
]
__version__ = "0.1.0"

_open: dict[str, Index] = {}
_open_lock = threading.Lock()


def open_index(index: str | Path | None = None) -> Index:
    """The process-wide Index for a location (a folder or a store URI): opened once, reused by
    every query."""
    where = str(index) if index is not None else default_store()
    key = where if is_remote(where) else str(Path(where).resolve())
    with _open_lock:
        if key not in _open:
            _open[key] = Index(where)
        return _open[key]


def search(query: str, k: int = 5, *, mode: str = "hybrid",
           filters: Filters | dict | None = None, highlight: bool = True,
           index: str | Path | None = None, store: str | None = None) -> list[Hit]:
    """Search the default index (or `index=DIR`, or `store=URI` such as
    "milvus:///srv/evidence/index.db"); returns up to k Hits, best first.

    See Index.search for mode, filters and highlight.
    """
    return open_index(store if store is not None else index).search(
        query, k=k, mode=mode, filters=filters, highlight=highlight)
