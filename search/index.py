"""The Index: open a store, search it, keep it in step with documents on disk."""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from search.config import (
    DEFAULT_CORPUS_DIR,
    Settings,
    canonical_model,
    default_store,
    reader_enabled,
)
from search.embed.embedder import query_embedder
from search.indexing.files import resolve_stored, stored_path
from search.indexing.refresh import ProgressHook, refresh
from search.records import (
    Filters,
    Hit,
    IndexReport,
    IndexStats,
    Manifest,
    MergeReport,
    Prefetched,
    StoredChunk,
    StoredDocument,
)
from search.retrieve.confidence import calibration_for
from search.retrieve.pipeline import (
    DEFAULT_FUSION,
    Query,
    QueryEncoder,
    Reader,
    Searched,
    Searcher,
    to_hit,
)
from search.retrieve.query import MODES, Fusion
from search.retrieve.ranking import weights_for
from search.store import IndexMismatch, ReadView, StaleSnapshot, Store, is_remote, open_store

T = TypeVar("T")
__all__ = ["Index", "PassageInContext", "QueryError"]
MAX_QUERY_CHARS = 2000  # longer input is cut: the model reads 256 word-pieces anyway


@dataclass(frozen=True)
class PassageInContext:
    """A passage with its document as one view of the index holds them (for the reader)."""

    hit: Hit | None  # None: the document no longer has a passage at those offsets
    title: str
    path: Path  # the source file
    sha256: str
    text: str  # the document's clean text ("" when not asked for); offsets point into it
    chunks: list[StoredChunk]  # its passages in reading order
    page_labels: tuple[str, ...] = ()  # the number printed on each page, where the PDF has them


class QueryError(ValueError):
    """A query that cannot be run (empty, whitespace, bad k)."""


class Index:
    """A searchable index: a local folder or a Milvus store (see search.store). Opening is
    cheap; the model loads on first query.

    >>> index = Index("index/")
    >>> hits = index.search("peer support after a traumatic incident", k=5)
    >>> Index("milvus:///srv/evidence/index.db")   # Milvus Lite; http://host:19530 a server
    """

    def __init__(self, directory: str | Path | None = None, *, model: str | None = None,
                 chunk_tokens: int | None = None, backend: str | None = None,
                 store: str | Path | Store | None = None, encoder: QueryEncoder | None = None,
                 reader: Reader | None | bool = False) -> None:
        """encoder: what embeds questions (default: the index's model, loaded once per
        process); reader: a Reader, None for none, True for the product's reader whatever
        EVIDENCE_SEARCH_READER says, or False (default) for what it says."""
        chosen = store if store is not None else directory
        if chosen is None:
            chosen = default_store()
        self.store: Store = chosen if not isinstance(chosen, str | Path) else open_store(chosen)
        self.location = self.store.location
        # Document paths are stored relative to the folder holding the index (a cloned
        # project keeps working); a Milvus server's, relative to where it is used from.
        self.directory = self.store.home or Path.cwd() / ".evidence-search"
        self._requested = {"model": canonical_model(model) if model else None,
                           "chunk_tokens": chunk_tokens, "backend": backend}
        self._merging: threading.Thread | None = None
        self._encoder = encoder
        self._reader = reader

    def close(self) -> None:
        """Let go of the store's connections (a Milvus client); the Index reopens on use."""
        self.wait_for_merges()
        self.store.close()

    # -- reading -------------------------------------------------------------------------
    def snapshot(self) -> ReadView:
        """A consistent view of the index as it is now (close it, or use `with`, when
        done). A rebuilt index is picked up here."""
        view = self.store.open()
        try:
            self._check_requested(view.manifest)
        except BaseException:
            view.close()
            raise
        return view

    def _check_requested(self, manifest: Manifest) -> None:
        for key, wanted in self._requested.items():
            if wanted is not None and getattr(manifest, key) != wanted:
                raise IndexMismatch(
                    f"{self.location}: built with {key}={getattr(manifest, key)!r}, asked for "
                    f"{wanted!r}; re-index with: evidence-search index --rebuild "
                    f"--index {self.location}" + (f" --model {wanted}" if key == "model" else ""))

    def settings(self) -> Settings:
        """Settings for writing: what the caller asked for, else what the index was built with."""
        manifest = self.store.peek_manifest()
        base = Settings(**(manifest.settings() if manifest and manifest.model else {}))
        wanted = {k: v for k, v in self._requested.items() if v is not None}
        return Settings(**{**base.to_dict(), **wanted})

    def search(self, query: str, k: int = 5, *, mode: str = "hybrid",
               filters: Filters | dict[str, Any] | None = None, highlight: bool = True,
               fusion: Fusion | None = None) -> list[Hit]:
        """The k passages that best answer the question, best first.

        mode: "hybrid" (default: meaning and exact words), "semantic" or "lexical".
        filters: a Filters (or dict of its fields) limiting documents, title, section, pages
        or dates. highlight: mark the answering sentences.
        """
        return self.run(self.query(query, k, mode=mode, filters=filters, highlight=highlight,
                                   fusion=fusion)).hits

    @staticmethod
    def query(query: str, k: int = 5, *, mode: str = "hybrid",
              filters: Filters | dict[str, Any] | None = None, highlight: bool = True,
              fusion: Fusion | None = None) -> Query:
        """A checked Query (QueryError says what is wrong with it)."""
        text = _clean_query(query)
        if k < 1:
            raise QueryError(f"k must be at least 1 (got {k})")
        if mode not in MODES:
            raise QueryError(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
        if isinstance(filters, dict):
            filters = Filters(**filters)
        return Query(text, k, mode, filters, highlight, fusion or DEFAULT_FUSION)

    def run(self, query: Query) -> Searched:
        """One search pass with the evidence behind its hits (calibration and tuning)."""
        return self.read(lambda view: self.searcher(view.manifest).run(view, query))

    def searcher(self, manifest: Manifest) -> Searcher:
        """The pipeline for an index built as `manifest` says: its model's question encoder
        (or the one this Index was handed), the reader, and their calibration."""
        encoder = self._encoder or query_embedder(manifest.model, manifest.backend)
        reader = (_default_reader(force=True) if self._reader is True
                  else _default_reader() if self._reader is False else self._reader)
        name = reader.name if reader else None
        return Searcher(encoder, calibration_for(manifest.model, name), reader,
                        weights_for(manifest.model, name))

    def warm(self) -> None:
        """Load what the first search would (the question encoder, the reader, the word
        lists) in parallel, then search once, so that the first real search is as fast as
        the next; the index's files are read ahead meanwhile, in the background (seconds a
        million passages: searches need not wait for it). The web page calls it while it
        starts."""
        from concurrent.futures import ThreadPoolExecutor

        from search import words

        threading.Thread(target=self.prefetch, name="prefetch", daemon=True).start()
        manifest = self.store.peek_manifest()
        with ThreadPoolExecutor(max_workers=3) as pool:
            jobs = [pool.submit(words.warm), pool.submit(self._loaded_reader)]
            if manifest is not None and manifest.model and self._encoder is None:
                jobs.append(pool.submit(query_embedder, manifest.model, manifest.backend))
            for job in jobs:
                job.result()
        if manifest is not None and manifest.model:
            self.run(self.query("warm up", k=1))

    def prefetch(self) -> Prefetched | None:
        """Read the index's files into the page cache, most used first, while they fit in
        half the free memory; returns once the kernel has queued the reads. On a cold cache
        each re-scored vector is a disk read: at 10M passages vector search took 143 ms
        before and 14 ms after. None for a server-held index."""
        return self.store.prefetch()

    def _loaded_reader(self) -> Reader | None:
        return (_default_reader(force=True) if self._reader is True
                else _default_reader() if self._reader is False else self._reader)

    def read(self, reading: Callable[[ReadView], T]) -> T:
        """`reading(view)` over one consistent view, once more on a fresh view when a
        re-index or merge retired it meanwhile (as a search does)."""
        try:
            with self.snapshot() as snap:
                return reading(snap)
        except StaleSnapshot:
            with self.snapshot() as snap:
                return reading(snap)

    def documents(self) -> list[StoredDocument]:
        return self.read(lambda snap: snap.documents())

    def in_context(self, doc_id: str, start: int, end: int,
                   text: bool = True) -> PassageInContext | None:
        """A passage with its document, read from one view of the index (so a re-index in
        between cannot pair old text with a new fingerprint): the passage (None when the
        index no longer holds it), its document's title, file, sha256, passages and, with
        `text`, its clean text. None when the index holds no such document."""
        def reading(snap: ReadView) -> PassageInContext | None:
            doc = next((d for d in snap.documents() if d.doc_id == doc_id), None)
            if doc is None:
                return None
            chunks = snap.document_chunks(doc_id)
            row = next((r for r in chunks if r.start == start and r.end == end), None)
            return PassageInContext(
                hit=to_hit(row, 0.0) if row else None, title=doc.title,
                path=resolve_stored(doc.path, self.base), sha256=doc.sha256,
                text=(snap.document_text(doc_id) or "") if text else "", chunks=chunks,
                page_labels=doc.page_labels)
        return self.read(reading)

    def section_paths(self) -> dict[str, list[tuple[str, ...]]]:
        """Every document's passages' section paths in reading order (no text)."""
        return self.read(lambda snap: snap.section_paths())

    def document_chunks(self, doc_id: str) -> list[StoredChunk]:
        """A document's passages in reading order, with their sections and pages."""
        return self.read(lambda snap: snap.document_chunks(doc_id))

    def headings(self, limit: int) -> list[tuple[str, str]]:
        """(doc id, heading) for each heading of the first `limit` passages in the order
        they were indexed, outermost first: what the page makes its example searches from,
        without it reading a view (or guessing chunk ids: they have gaps after a removal)."""
        return self.read(lambda snap: [(row.doc_id, heading)
                                       for row in snap.first_chunks(limit)
                                       for heading in row.section])

    @property
    def packs_path(self) -> Path:
        """Where evidence packs live: packs.sqlite inside an index folder, or beside a
        Milvus Lite file (a remote server's, in the folder it is used from)."""
        home = self.directory
        if is_remote(self.location) and self.store.home is not None:  # Milvus Lite's file
            return home.with_name(home.name + ".packs.sqlite")
        if is_remote(self.location):  # a server: one file per server and database
            slug = re.sub(r"[^A-Za-z0-9]+", "-", self.location).strip("-")[:80]
            return home / f"packs-{slug}.sqlite"
        return home / "packs.sqlite"

    def stats(self) -> IndexStats:
        return self.read(lambda snap: IndexStats.of(snap.stats(), snap.manifest))

    # -- writing -------------------------------------------------------------------------
    def refresh(self, paths: Sequence[str | Path] | None = None, *, rebuild: bool = False,
                progress: bool = False, on_progress: ProgressHook | None = None,
                ray: str | bool | None = None) -> IndexReport:
        """Add new files, re-embed changed ones, drop deleted ones under `paths` (default:
        the folders indexed before, else corpus/). `ray`: read, chunk and embed on a Ray
        cluster — True for a private instance on this machine, or the head's "HOST:PORT"."""
        report = refresh(self.store, self.base, self._paths(paths), self.settings(),
                         rebuild=rebuild, progress=progress, on_progress=on_progress,
                         work=_work(ray))
        self._merge_later()
        return report

    def add(self, paths: Sequence[str | Path], *, progress: bool = False,
            on_progress: ProgressHook | None = None,
            ray: str | bool | None = None) -> IndexReport:
        """Index these files (new or changed); removes nothing."""
        report = refresh(self.store, self.base, [Path(p) for p in paths], self.settings(),
                         prune=False, progress=progress, on_progress=on_progress,
                         work=_work(ray))
        self._merge_later()
        return report

    def optimize(self, *, full: bool = False) -> MergeReport | None:
        """Merge vector segments now (all of them with `full`), dropping deleted vectors;
        returns what was merged, or None when there was nothing to do."""
        self.wait_for_merges()
        return self.store.optimize(full=full)

    def wait_for_merges(self) -> None:
        thread = self._merging
        if thread is not None:
            thread.join()

    def _merge_later(self) -> None:
        """Merge in a background thread when segments pile up; searches and re-indexes go on
        meanwhile (store.merge). A merge killed half-way leaves the index as it was."""
        if not self.store.needs_optimize() or (self._merging and self._merging.is_alive()):
            return

        def run() -> None:
            try:
                self.store.optimize()
            except Exception as exc:  # noqa: BLE001 - a failed merge loses nothing; say so
                print(f"{self.location}: background merge failed ({exc}); the index is "
                      "unchanged", file=sys.stderr)

        self._merging = threading.Thread(target=run, name="evidence-search-merge", daemon=True)
        self._merging.start()

    def remove(self, documents: Sequence[str | Path]) -> IndexReport:
        """Drop documents by doc id or by path; unknown ones are reported as failed."""
        report = IndexReport()
        with self.store.lock():
            manifest = self.store.read_manifest()
            if manifest is None:
                return report
            with self.store.writer(manifest) as writer:  # aborts unless committed
                known = writer.known()
                for item in documents:
                    doc_id = (str(item) if str(item) in known
                              else stored_path(Path(item), self.base))
                    (report.removed.append(doc_id) if doc_id in known
                     else report.failed.append((str(item), "not in the index")))
                if report.removed:
                    writer.remove(report.removed)
                    writer.commit()
        self._merge_later()
        return report

    @property
    def base(self) -> Path:
        """The folder document paths are stored relative to."""
        return self.directory.resolve().parent

    def _paths(self, paths: Sequence[str | Path] | None) -> list[Path]:
        if paths:
            return [Path(p) for p in paths]
        manifest = self.store.peek_manifest()
        sources = list(manifest.sources) if manifest else []
        return [resolve_stored(s, self.base) for s in sources] or [Path(DEFAULT_CORPUS_DIR)]

    def source_path(self, doc_id: str) -> Path:
        """The file a document came from, for opening it at the cited page."""
        for doc in self.documents():
            if doc.doc_id == doc_id:
                return resolve_stored(doc.path, self.base)
        raise KeyError(doc_id)


_reader_failed: set[str] = set()  # why the product's reader could not load, said once


def _default_reader(force: bool = False) -> Reader | None:
    """The product's reader (search/reader), where EVIDENCE_SEARCH_READER (or `force`) turns
    it on; a reader that cannot load (weights missing or failing their sha256) is reported
    once and the search runs without it."""
    if not (force or reader_enabled()):
        return None
    from search.reader import load_reader

    try:
        return load_reader()
    except Exception as exc:  # noqa: BLE001 - searching without the reader beats failing
        reason = f"{type(exc).__name__}: {exc}"
        if reason not in _reader_failed:
            _reader_failed.add(reason)
            print(f"reader unavailable, searching without it ({reason})", file=sys.stderr)
        return None


def _work(ray: str | bool | None) -> Any:
    """Where reading and embedding run: here (None/False), or on Ray."""
    if ray is None or ray is False:
        return None
    from search.indexing.distributed import ray_work

    return ray_work(None if ray is True or ray in ("", "local") else str(ray))


def _clean_query(query: object) -> str:
    """Printable text of bounded length, or a QueryError saying what is wrong."""
    if not isinstance(query, str):
        raise QueryError("query must be text")
    cleaned = "".join(ch if ch.isprintable() else " " for ch in query)
    cleaned = " ".join(cleaned.split())[:MAX_QUERY_CHARS]
    if not cleaned:
        raise QueryError("query is empty: type a question or some words to search for")
    return cleaned


