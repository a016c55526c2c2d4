"""Plain records that cross module lines: files become Documents, Documents become Chunks,
an index engine stores them (Manifest, StoredDocument, StoredChunk, ...), a query returns Hits,
and a pack keeps passages (Pack, KeptPassage). Records only: the interfaces that produce them
are search.store.base's Protocols."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Page:
    """A span of a document's clean text that came from one page of the source."""

    number: int | None
    start: int
    end: int


@dataclass(frozen=True)
class Block:
    """One structural unit of a document: a heading, a paragraph, a list item or a TOC line."""

    kind: str  # "heading" | "para" | "item" | "toc"
    start: int
    end: int
    level: int = 0  # heading depth; 0 for non-headings


@dataclass
class Document:
    """A source file after extraction: clean text plus where its pages and blocks lie in it."""

    doc_id: str
    path: str
    title: str
    text: str
    pages: list[Page]
    blocks: list[Block]
    sha256: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    ocr_pages: tuple[int, ...] = ()  # pages whose text was read by OCR from a scan
    page_labels: tuple[str, ...] = ()  # the number printed on each page ("iii", "17"), if the
    # PDF defines them; Page.number stays the page's position, which opens the file there

    @property
    def page_count(self) -> int:
        return sum(1 for p in self.pages if p.number is not None)


def printed_page(labels: tuple[str, ...] | list[str] | None, page: int | None) -> str | None:
    """The number printed on a page ("iii", "17"): its label where the PDF defines labels,
    else its position in the file; None for a document without pages."""
    if page is None:
        return None
    if labels and 1 <= page <= len(labels):
        return str(labels[page - 1])
    return str(page)


@dataclass(frozen=True)
class Chunk:
    """A passage to embed; `text == document.text[start:end]` always holds."""

    doc_id: str
    ordinal: int
    text: str
    start: int
    end: int
    page_start: int | None
    page_end: int | None
    section: tuple[str, ...]


@dataclass
class Hit:
    """One ranked passage with everything needed to quote and check it."""

    text: str
    score: float
    doc_id: str
    title: str
    path: str
    page: int | None  # position in the file (opens it there); cite page_label
    section: str
    start: int
    end: int
    citation: str
    page_end: int | None = None
    rank: int = 0
    similarity: float = 0.0  # cosine between question and passage
    confidence: float = 0.0  # calibrated probability that the passage answers the question
    weak: bool = False  # confidence below one half: show as "closest passage", not an answer
    match: str = ""  # the confidence in words: "strong match", "possible match", "weak match"
    highlights: list[tuple[int, int]] = field(default_factory=list)  # spans into `text`, ranked
    ocr: bool = False  # the passage's text was read by OCR from a scanned page: check the quote
    page_label: str | None = None  # the number printed on `page`, as cited ("17", "iii")
    page_end_label: str | None = None

    def __post_init__(self) -> None:
        # a Hit made without labels cites its pages by position
        if self.page_label is None:
            self.page_label = printed_page(None, self.page)
        if self.page_end_label is None:
            self.page_end_label = printed_page(None, self.page_end)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IndexReport:
    """What a re-index did, file by file: the summary users read after indexing."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (path, note): indexed, but
    # some of it could not be read (scanned pages over the OCR limit, no Tesseract)
    chunks_embedded: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0  # of `seconds`, time spent in the model

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return (f"{len(self.added)} added, {len(self.changed)} changed, "
                f"{len(self.removed)} removed, "
                f"{len(self.unchanged)} unchanged, {len(self.failed)} failed; "
                f"{self.chunks_embedded} chunks embedded in {self.seconds:.1f}s")


@dataclass
class Filters:
    """Which passages a search may return; every field left as None lets everything through."""

    documents: list[str] | None = None  # doc ids (or paths) to search within
    title: str | None = None  # case-insensitive substring of the document title
    section: str | None = None  # case-insensitive substring of the section path
    pages: tuple[int, int] | None = None  # passages touching this page range, inclusive
    date_from: str | None = None  # ISO date or prefix ("2020", "2020-06"), inclusive
    date_to: str | None = None

    def is_empty(self) -> bool:
        return all(v in (None, [], ()) for v in asdict(self).values())


@dataclass(frozen=True)
class IndexStats:
    """What `info` and the page's index panel show: where the index is, what it holds, what
    it was built with."""

    location: str
    engine: str
    generation: str
    documents: int
    chunks: int
    pages: int
    model: str
    dimension: int
    chunk_tokens: int
    backend: str
    built_at: str | None
    size_bytes: int | None
    sources: tuple[str, ...]
    format_version: int
    segments: tuple[SegmentInfo, ...] = ()  # local engine only
    tombstones: int = 0

    @classmethod
    def of(cls, store: StoreStats, manifest: Manifest) -> IndexStats:
        """From a store's StoreStats and Manifest."""
        return cls(location=store.location, engine=store.engine, generation=store.generation,
                   documents=store.documents, chunks=store.chunks, pages=store.pages,
                   model=manifest.model, dimension=manifest.dimension,
                   chunk_tokens=manifest.chunk_tokens, backend=manifest.backend,
                   built_at=manifest.built_at, size_bytes=store.size_bytes,
                   sources=tuple(manifest.sources), format_version=manifest.format_version,
                   segments=tuple(store.segments), tombstones=store.tombstones)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- what an index engine stores and reports (search.store) ---------------------------

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
class Prefetched:
    """What an index's read-ahead asked the kernel to bring into the page cache, and what
    it left out for want of memory (search/store/local/prefetch.py)."""

    files: int
    bytes: int
    skipped: int  # bytes of files over the memory budget


@dataclass(frozen=True)
class MergeReport:
    merged: int
    vectors: int
    kind: str
    dropped: int
    seconds: float


# -- evidence packs (search.packs) -----------------------------------------------------------

@dataclass(frozen=True)
class Pack:
    """A named set of kept passages; `count` is how many it holds now."""

    id: int
    name: str
    created_at: str  # ISO 8601 UTC
    updated_at: str
    count: int


@dataclass(frozen=True)
class KeptPassage:
    """One passage kept into a pack, with what is needed to quote, cite and re-check it."""

    id: int
    pack_id: int
    position: int  # 0-based order in the pack, dense 0..n-1
    text: str  # verbatim passage text
    citation: str  # as the search gave it
    doc_id: str
    title: str
    path: str
    page: int | None
    page_end: int | None
    section: str
    start: int
    end: int
    question: str  # the question it answered
    mode: str  # search mode used, may be ""
    kept_at: str  # ISO 8601 UTC
    note: str  # the user's note, "" by default
    doc_sha256: str  # fingerprint of the document when kept ("" if unknown)
    ocr: bool  # text read by OCR from a scanned page
    status: str = ""  # set by packs.mark_status: "", CHANGED or REMOVED
    # the answering sentences the search marked, as spans into `text` (best first)
    highlights: tuple[tuple[int, int], ...] = ()
    page_label: str | None = None  # the numbers printed on page and page_end, as cited
    page_end_label: str | None = None

    def printed(self, page: int | None) -> str | None:
        """The number printed on one of its pages (its position when none was kept)."""
        if page is not None and page == self.page and self.page_label:
            return self.page_label
        if page is not None and page == self.page_end and self.page_end_label:
            return self.page_end_label
        return None if page is None else str(page)
