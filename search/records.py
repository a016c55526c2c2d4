"""Plain records that cross module lines: files become Documents, Documents become Chunks,
a query returns Hits."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
    segments: tuple[Any, ...] = ()  # store.SegmentInfo, local engine only
    tombstones: int = 0

    @classmethod
    def of(cls, store: Any, manifest: Any) -> IndexStats:
        """From a store's StoreStats and Manifest (typed loosely: records sit below store)."""
        return cls(location=store.location, engine=store.engine, generation=store.generation,
                   documents=store.documents, chunks=store.chunks, pages=store.pages,
                   model=manifest.model, dimension=manifest.dimension,
                   chunk_tokens=manifest.chunk_tokens, backend=manifest.backend,
                   built_at=manifest.built_at, size_bytes=store.size_bytes,
                   sources=tuple(manifest.sources), format_version=manifest.format_version,
                   segments=tuple(store.segments), tombstones=store.tombstones)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
