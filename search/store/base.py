"""What every index engine offers the layers above it: a read view, a writer and a store, as
Protocols, and the errors they raise; the records that cross the line are search.records'.
Nothing here knows SQLite, FAISS, tantivy or Milvus; an engine is a module that implements
these Protocols, chosen by `search.store.open_store` from a location."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from search.records import (
    Chunk,
    Document,
    Filters,
    Manifest,
    MergeReport,
    Prefetched,
    SentenceVectors,
    StoredCandidate,
    StoredChunk,
    StoredDocument,
    StoreStats,
)


class IndexError_(Exception):
    """Base for index problems; the message says what to do next."""


class IndexNotFound(IndexError_):
    pass


class IndexCorrupt(IndexError_):
    pass


class IndexMismatch(IndexError_):
    pass


class StaleSnapshot(IndexError_):
    """A generation or segment removed after a newer one went live; reopen and try again."""


class IndexOutdated(IndexMismatch):
    """Written by another version of this program: re-indexing rebuilds it."""


class IndexWriteFailed(IndexError_):
    """The engine refused a write (disk full, locked, read-only); nothing was committed."""


class StoreUnavailable(IndexError_):
    """The engine cannot be reached or refuses us (a server down, a wrong token)."""


class ReadView(Protocol):
    """One consistent view of an index, for one search. Vector and lexical search take the
    same Filters; ids are chunk ids, scores higher-is-better."""

    manifest: Manifest
    count: int  # live passages

    def search_vectors(self, query: np.ndarray, k: int,
                       filters: Filters | None = None) -> list[tuple[int, float]]: ...

    def search_lexical(self, query: str, k: int,
                       filters: Filters | None = None) -> list[tuple[int, float]]: ...

    def search_both(self, vector: np.ndarray, k_vectors: int, text: str, k_lexical: int,
                    filters: Filters | None = None
                    ) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """Both lists for one question, as search_vectors and search_lexical give them; an
        engine may run the two at once."""
        ...

    def doc_freq(self, word: str) -> int:
        """Live passages holding this word (stemmed as the engine's lexical index stems)."""
        ...

    def similar_word(self, word: str) -> str | None:
        """For a word no passage holds: the index's word it most likely misspells (a typo
        or two away, words.closest_word), or None."""
        ...

    def vectors_of(self, ids: Sequence[int]) -> np.ndarray: ...

    def live_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of every live passage, ids ascending: to copy or check an index."""
        ...

    def chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]: ...

    def sentences(self, ids: Sequence[int]) -> dict[int, SentenceVectors]: ...

    def candidates(self, ids: Sequence[int]) -> dict[int, StoredCandidate]:
        """Rows, vectors and sentence vectors of these passages in one read (on a server,
        one round trip): what a search needs to rank its candidates."""
        ...

    def documents(self) -> list[StoredDocument]: ...

    def document_text(self, doc_id: str) -> str | None: ...

    def document_chunks(self, doc_id: str) -> list[StoredChunk]:
        """A document's live passages in reading order (the reader)."""
        ...

    def first_chunks(self, limit: int) -> list[StoredChunk]:
        """The first `limit` live passages in id order (the order they were indexed in). Not
        a range of ids: ids are not dense, a removed document leaves a gap."""
        ...

    def section_paths(self) -> dict[str, list[tuple[str, ...]]]:
        """Each document's passages' section paths in reading order, without their text (the
        contents list: cheap at any size)."""
        ...

    def stats(self) -> StoreStats: ...

    def close(self) -> None: ...

    def __enter__(self) -> ReadView: ...

    def __exit__(self, *exc: object) -> None: ...


class Writer(Protocol):
    """Changes to one index, all-or-nothing where the engine allows, as a `with` block:

        with store.writer(manifest) as writer:
            writer.add(...)
            writer.commit()

    Entering takes the store's writer lock and opens the write; commit or abort releases
    it, and leaving the block without a commit (an exception, an early return) aborts."""

    stored: Manifest | None  # what the index held when the writer opened; None when new

    def __enter__(self) -> Writer: ...

    def __exit__(self, *exc: object) -> None: ...

    def known(self) -> dict[str, tuple[str, str]]:
        """doc_id -> (path, sha256) of what the index holds now."""
        ...

    def add(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray,
            sentences: Sequence[SentenceVectors] | None = None) -> None: ...

    def remove(self, doc_ids: Iterable[str]) -> int: ...

    def commit(self) -> str: ...

    def abort(self) -> None: ...


class Store(Protocol):
    """An index location: open read views, write, optimise. Cheap to make; opens lazily."""

    location: str
    engine: str
    home: Path | None  # the folder or file holding the index; None for a remote server

    def open(self) -> ReadView:
        """A read view of the live index (IndexNotFound when there is none yet)."""
        ...

    def read_manifest(self) -> Manifest | None:
        """The live manifest, checked (IndexCorrupt / IndexOutdated say what is wrong)."""
        ...

    def peek_manifest(self) -> Manifest | None:
        """The manifest as written, unchecked: the settings and sources of an old or damaged
        index, to rebuild it as it was."""
        ...

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """The writer lock, re-entrant in this thread: hold it across read-check-write."""
        ...

    def writer(self, manifest: Manifest, rebuild: bool = False) -> Writer:
        """A writer that will record `manifest` (settings, dimension, sources) on commit;
        `rebuild` starts from nothing and replaces the live index only at commit."""
        ...

    def optimize(self, full: bool = False) -> MergeReport | None: ...

    def prefetch(self) -> Prefetched | None:
        """Bring the index's files into memory ahead of the first searches, as far as they
        fit; None where the engine keeps its own (a server)."""
        ...

    def needs_optimize(self) -> bool: ...

    def rebuild_hint(self) -> str: ...

    def close(self) -> None: ...
