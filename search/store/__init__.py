"""Where an index lives. `open_store(location)` picks the engine from the location:

    index/                         the local engine (FAISS + SQLite + tantivy in a folder)
    milvus:///path/to/file.db      Milvus Lite, embedded, started from Python
    http://host:19530              a Milvus server or cluster (token: EVIDENCE_SEARCH_MILVUS_TOKEN)

Everything above this package speaks base.Store / base.ReadView / base.Writer only; the records
they pass (Manifest, StoredChunk, ...) are search.records'.
"""

from __future__ import annotations

from pathlib import Path

from search.store.base import (
    IndexCorrupt,
    IndexError_,
    IndexMismatch,
    IndexNotFound,
    IndexOutdated,
    IndexWriteFailed,
    ReadView,
    StaleSnapshot,
    Store,
    StoreUnavailable,
    Writer,
)

__all__ = [
    "IndexCorrupt", "IndexError_", "IndexMismatch", "IndexNotFound", "IndexOutdated",
    "IndexWriteFailed", "ReadView", "StaleSnapshot", "Store", "StoreUnavailable", "Writer",
    "is_remote", "open_store",
]

REMOTE_SCHEMES = ("milvus://", "http://", "https://", "tcp://", "grpc://")


def is_remote(location: str | Path) -> bool:
    """Whether a location names a Milvus store rather than a local folder."""
    return str(location).startswith(REMOTE_SCHEMES)


def open_store(location: str | Path) -> Store:
    """The engine for a location: a Milvus URI or a local index folder."""
    if is_remote(location):
        from search.store.milvus import MilvusStore  # pymilvus loads only when asked for

        return MilvusStore(str(location))
    from search.store.local import LocalStore

    return LocalStore(Path(location))
