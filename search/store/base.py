"""What every index engine offers the layers above it: a read view, a writer, and the records
that cross the line. Nothing here knows SQLite, FAISS, tantivy or Milvus; an engine is a module
that implements these Protocols, chosen by `search.store.open_store` from a location."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from search.records import Chunk, Document, Filters


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


@dataclass(frozen=True)
class Manifest:
    """What an index was built with and what it holds. An index built with other settings
    (model, chunking) must be rebuilt; the counters say what a reader sees."""

    model: str
    dimension: int
    chunk_tokens: int = 200
    overlap_sentences: int = 1
    backend: str = "torch"
    sources: tuple[str, ...] = ()  # folders and files indexed, as stored paths
    format_version: int = 0
    version: int = 0  # each commit adds one
    documents: int = 0
    chunks: int = 0
    built_at: str | None = None
    generation: str = ""
    next_chunk_id: int = 1

    SETTINGS = ("model", "chunk_tokens", "overlap_sentences", "backend")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        """From stored JSON: unknown keys ignored, missing ones at their defaults (a missing
        model or dimension reads as empty, which no check accepts)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("model", "")
        values.setdefault("dimension", 0)
        values["sources"] = tuple(values.get("sources") or ())
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sources"] = list(self.sources)
        return data

    def settings(self) -> dict[str, Any]:
        """The fields that change the vectors, as search.config.Settings names them."""
        return {k: getattr(self, k) for k in self.SETTINGS}


@dataclass(frozen=True)
class StoredChunk:
    """A passage as stored, with what a citation needs from its document."""

    id: int
    doc_id: str
    ordinal: int
    start: int
    end: int
    page_start: int | None
    page_end: int | None
    section: tuple[str, ...]
    text: str
    title: str
    path: str
    ocr: bool = False  # read by OCR from a scanned page
    page_label: str | None = None  # the label printed on page_start, where the PDF has
    page_end_label: str | None = None  # labels; None: a Hit cites the page's position


OCR_META_KEY = "ocr_pages"  # where engines keep a Document's ocr_pages, beside its metadata
LABELS_META_KEY = "page_labels"  # and its printed page labels


def stored_meta(doc: Document) -> dict[str, Any]:
    """A document's metadata as engines store it: the sidecar's, plus its OCR'd pages and
    printed page labels."""
    meta = dict(doc.meta)
    meta.pop(OCR_META_KEY, None)
    meta.pop(LABELS_META_KEY, None)
    if doc.ocr_pages:
        meta[OCR_META_KEY] = list(doc.ocr_pages)
    if doc.page_labels:
        meta[LABELS_META_KEY] = list(doc.page_labels)
    return meta


def from_ocr(ocr_pages: Any, page_start: int | None, page_end: int | None) -> bool:
    """Whether a passage on pages page_start..page_end touches a page read by OCR."""
    if not ocr_pages or page_start is None:
        return False
    end = page_start if page_end is None else page_end
    return any(page_start <= int(p) <= end for p in ocr_pages)


@dataclass(frozen=True)
class SentenceVectors:
    """A chunk's sentences as stored: spans into its text and one unit vector each."""

    spans: list[tuple[int, int]]
    vectors: np.ndarray  # float32, len(spans) x dimension


@dataclass(frozen=True)
class StoredCandidate:
    """Everything the final ranking reads about one passage, in one read: its row, its vector
    and its sentences' vectors (None where the index has none)."""

    chunk: StoredChunk
    vector: np.ndarray  # float32, unit length
    sentences: SentenceVectors | None


@dataclass(frozen=True)
class StoredDocument:
    doc_id: str
    path: str
    title: str
    sha256: str
    page_count: int
    chunks: int
    meta: dict[str, Any]

    @property
    def page_labels(self) -> tuple[str, ...]:
        """The numbers printed on its pages, where the PDF defines them (else empty)."""
        labels = self.meta.get(LABELS_META_KEY) or ()
        return tuple(str(x) for x in labels) if isinstance(labels, list) else ()


@dataclass(frozen=True)
class SegmentInfo:
    """One vector segment of the local engine (other engines report none)."""

    name: str
    kind: str
    vectors: int


@dataclass(frozen=True)
class StoreStats:
    """What an engine reports about the index it holds, for `info` and the index panel."""

    engine: str  # "local" or "milvus"
    location: str
    generation: str
    documents: int
    chunks: int
    pages: int
    size_bytes: int | None  # None where the engine cannot tell (a remote server)
    segments: tuple[SegmentInfo, ...] = ()
    tombstones: int = 0


@dataclass(frozen=True)
class MergeReport:
    merged: int
    vectors: int
    kind: str
    dropped: int
    seconds: float


class ReadView(Protocol):
    """One consistent view of an index, for one search. Vector and lexical search take the
    same Filters; ids are chunk ids, scores higher-is-better."""

    manifest: Manifest
    count: int  # live passages

    def search_vectors(self, query: np.ndarray, k: int,
                       filters: Filters | None = None) -> list[tuple[int, float]]: ...

    def search_lexical(self, query: str, k: int,
                       filters: Filters | None = None) -> list[tuple[int, float]]: ...

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

    def needs_optimize(self) -> bool: ...

    def rebuild_hint(self) -> str: ...

    def close(self) -> None: ...
