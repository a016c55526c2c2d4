"""Evidence search: find the passages in your documents that answer a question, with citations.

    from search import search
    for hit in search("what peer support do Met officers get after a traumatic incident?"):
        print(hit.citation, hit.text)
"""

from __future__ import annotations

import threading
from pathlib import Path

from .config import Settings, default_index_dir
from .index import Index, QueryError
from .query import MODES, Fusion
from .records import Chunk, Document, Filters, Hit, IndexReport
from .store import IndexCorrupt, IndexError_, IndexMismatch, IndexNotFound

__all__ = [
    "MODES", "Chunk", "Document", "Filters", "Fusion", "Hit", "Index", "IndexCorrupt",
    "IndexError_", "IndexMismatch",
    "IndexNotFound", "IndexReport", "QueryError", "Settings", "open_index", "search",
]
__version__ = "0.1.0"

_open: dict[Path, Index] = {}
_open_lock = threading.Lock()


def open_index(index: str | Path | None = None) -> Index:
    """The process-wide Index for a directory: opened once, reused by every query."""
    directory = (Path(index) if index is not None else default_index_dir()).resolve()
    with _open_lock:
        if directory not in _open:
            _open[directory] = Index(directory)
        return _open[directory]


def search(query: str, k: int = 5, *, mode: str = "hybrid",
           filters: Filters | dict | None = None, highlight: bool = True,
           index: str | Path | None = None) -> list[Hit]:
    """Search the default index (or `index=DIR`); returns up to k Hits, best first.

    See Index.search for mode, filters and highlight.
    """
    return open_index(index).search(query, k=k, mode=mode, filters=filters,
                                    highlight=highlight)
