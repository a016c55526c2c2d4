"""The Index: open a directory, search it, keep it in step with documents on disk."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .confidence import WEAK_BELOW, calibration_for, label
from .config import DEFAULT_CORPUS_DIR, Settings, canonical_model, default_index_dir
from .embedder import Embedder, query_embedder
from .highlight import answer_spans
from .indexer import ProgressHook, refresh, resolve_stored, stored_path
from .query import MODES, Fusion, Retrieved, retrieve
from .records import Filters, Hit, IndexReport
from .store import (
    Generation,
    IndexMismatch,
    Snapshot,
    StaleSnapshot,
    StoredChunk,
    StoredDocument,
    Writer,
    live_generation,
    merge,
    needs_merge,
    open_generation,
    peek_manifest,
    read_manifest,
    writer_lock,
)

SECTION_SEPARATOR = " › "
DEFAULT_FUSION = Fusion()
MAX_QUERY_CHARS = 2000  # longer input is cut: the model reads 256 word-pieces anyway


class QueryError(ValueError):
    """A query that cannot be run (empty, whitespace, bad k)."""


class Index:
    """A searchable index in one directory. Opening is cheap; the model loads on first query.

    >>> index = Index("index/")
    >>> hits = index.search("peer support after a traumatic incident", k=5)
    """

    def __init__(self, directory: str | Path | None = None, *, model: str | None = None,
                 chunk_tokens: int | None = None, backend: str | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_index_dir()
        self._requested = {"model": canonical_model(model) if model else None,
                           "chunk_tokens": chunk_tokens, "backend": backend}
        self._generation: Generation | None = None
        self._lock = threading.Lock()
        self._merging: threading.Thread | None = None

    # -- reading -------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """A consistent view of the index as it is now (one read transaction on this thread;
        close it, or use `with`, when done). A rebuilt generation is picked up here."""
        with self._lock:
            live = live_generation(self.directory)
            if self._generation is None or self._generation.name != live:
                fresh = open_generation(self.directory)
                snap = fresh.snapshot()
                self._check_requested(snap.manifest)
                self._generation = fresh  # searches still running finish on the old one
                return snap
            generation = self._generation
        snap = generation.snapshot()
        self._check_requested(snap.manifest)
        return snap

    def _check_requested(self, manifest: dict[str, Any]) -> None:
        for key, wanted in self._requested.items():
            if wanted is not None and manifest.get(key, getattr(Settings, key, None)) != wanted:
                raise IndexMismatch(
                    f"{self.directory}: built with {key}={manifest.get(key)!r}, asked for "
                    f"{wanted!r}; re-index with: evidence-search index --rebuild "
                    f"--index {self.directory}" + (f" --model {wanted}" if key == "model" else ""))

    def settings(self) -> Settings:
        """Settings for writing: what the caller asked for, else what the index was built with."""
        manifest = peek_manifest(self.directory)
        base = Settings(**{k: v for k, v in manifest.items()
                           if k in Settings.__dataclass_fields__})
        wanted = {k: v for k, v in self._requested.items() if v is not None}
        return Settings(**{**base.to_dict(), **wanted})

    def search(self, query: str, k: int = 5, *, mode: str = "hybrid",
               filters: Filters | dict[str, Any] | None = None, highlight: bool = True,
               fusion: Fusion | None = None) -> list[Hit]:
        """The k passages that best answer the question, best first.

        mode: "hybrid" (default: meaning and exact words), "semantic" or "lexical".
        filters: a Filters (or dict of its fields) limiting documents, title, section, pages
        or dates. highlight: find the answering sentences (costs one small embedding batch).
        """
        query = _clean_query(query)
        if k < 1:
            raise QueryError(f"k must be at least 1 (got {k})")
        if mode not in MODES:
            raise QueryError(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
        if isinstance(filters, dict):
            filters = Filters(**filters)
        try:
            return self._search(query, k, mode, filters, highlight, fusion)
        except StaleSnapshot:  # a re-index swapped generations under us: once more
            return self._search(query, k, mode, filters, highlight, fusion)

    def retrieve(self, query: str, k: int = 10, mode: str = "hybrid",
                 filters: Filters | None = None, fusion: Fusion | None = None
                 ) -> tuple[Retrieved, np.ndarray, Embedder, str]:
        """Ranked candidates with the evidence behind them (for search and calibration):
        (what was found, the question's vector, the model that embedded it, its name)."""
        with self.snapshot() as snap:
            model = snap.manifest["model"]
            embedder = query_embedder(model, snap.manifest.get("backend", "torch"))
            vector = embedder.encode([query])[0]
            found = retrieve(snap, vector, query, k, mode, filters, fusion or DEFAULT_FUSION)
        return found, vector, embedder, model

    def _search(self, query: str, k: int, mode: str, filters: Filters | None, highlight: bool,
                fusion: Fusion | None) -> list[Hit]:
        found, vector, embedder, model = self.retrieve(query, k, mode, filters, fusion)
        calibration = calibration_for(model)
        qt = found.query_terms
        confidences = calibration.confidences(found)
        marks = [[] for _ in found.candidates]
        if highlight:
            marks = answer_spans(embedder, vector, qt.terms, qt.weights, found.candidates,
                                 [c < WEAK_BELOW for c in confidences])
        hits = []
        for rank, (cand, spans, conf) in enumerate(
                zip(found.candidates, marks, confidences, strict=True), start=1):
            assert cand.row is not None
            hit = _hit(cand.row, cand.score)
            hit.rank, hit.similarity, hit.highlights = rank, round(cand.similarity, 4), spans
            hit.confidence = round(conf, 4)
            hit.weak = conf < WEAK_BELOW
            hit.match = label(conf)
            hits.append(hit)
        return hits

    def documents(self) -> list[StoredDocument]:
        with self.snapshot() as snap:
            return snap.documents()

    def stats(self) -> dict[str, Any]:
        with self.snapshot() as snap:
            docs = snap.documents()
            m = snap.manifest
            return {
                "directory": str(self.directory), "generation": snap.name,
                "documents": len(docs), "chunks": snap.count,
                "pages": sum(d.page_count for d in docs), "model": m["model"],
                "dimension": m["dimension"], "chunk_tokens": m["chunk_tokens"],
                "backend": m.get("backend", "torch"),
                "built_at": m.get("built_at"), "size_bytes": snap.size_on_disk(),
                "sources": m.get("sources", []), "format_version": m["format_version"],
                **snap.describe(),
            }

    # -- writing -------------------------------------------------------------------------
    def refresh(self, paths: Sequence[str | Path] | None = None, *, rebuild: bool = False,
                progress: bool = False, on_progress: ProgressHook | None = None) -> IndexReport:
        """Add new files, re-embed changed ones, drop deleted ones under `paths` (default:
        the folders indexed before, else corpus/)."""
        report = refresh(self.directory, self._paths(paths), self.settings(), rebuild=rebuild,
                         progress=progress, on_progress=on_progress)
        self._merge_later()
        return report

    def add(self, paths: Sequence[str | Path], *, progress: bool = False,
            on_progress: ProgressHook | None = None) -> IndexReport:
        """Index these files (new or changed); removes nothing."""
        report = refresh(self.directory, [Path(p) for p in paths], self.settings(), prune=False,
                         progress=progress, on_progress=on_progress)
        self._merge_later()
        return report

    def optimize(self, *, full: bool = False) -> dict[str, Any] | None:
        """Merge vector segments now (all of them with `full`), dropping deleted vectors;
        returns what was merged, or None when there was nothing to do."""
        self.wait_for_merges()
        return merge(self.directory, full=full)

    def wait_for_merges(self) -> None:
        thread = self._merging
        if thread is not None:
            thread.join()

    def _merge_later(self) -> None:
        """Merge in a background thread when segments pile up; searches and re-indexes go on
        meanwhile (store.merge). A merge killed half-way leaves the index as it was."""
        if not needs_merge(self.directory) or (self._merging and self._merging.is_alive()):
            return

        def run() -> None:
            try:
                merge(self.directory)
            except Exception as exc:  # noqa: BLE001 - a failed merge loses nothing; say so
                print(f"{self.directory}: background merge failed ({exc}); the index is "
                      "unchanged", file=sys.stderr)

        self._merging = threading.Thread(target=run, name="evidence-search-merge", daemon=True)
        self._merging.start()

    def remove(self, documents: Sequence[str | Path]) -> IndexReport:
        """Drop documents by doc id or by path; unknown ones are reported as failed."""
        report = IndexReport()
        with writer_lock(self.directory):
            manifest = read_manifest(self.directory)
            if manifest is None:
                return report
            writer = Writer(self.directory, manifest, rebuild=False)
            try:
                known = writer.known()
                base = self.directory.resolve().parent
                for item in documents:
                    doc_id = str(item) if str(item) in known else stored_path(Path(item), base)
                    (report.removed.append(doc_id) if doc_id in known
                     else report.failed.append((str(item), "not in the index")))
                if report.removed:
                    writer.remove(report.removed)
                    writer.commit()
                else:
                    writer.abort()
            except BaseException:
                writer.abort()
                raise
        self._merge_later()
        return report

    def _paths(self, paths: Sequence[str | Path] | None) -> list[Path]:
        if paths:
            return [Path(p) for p in paths]
        sources = peek_manifest(self.directory).get("sources") or []
        return [resolve_stored(s, self.directory) for s in sources] or [Path(DEFAULT_CORPUS_DIR)]

    def source_path(self, doc_id: str) -> Path:
        """The file a document came from, for opening it at the cited page."""
        for doc in self.documents():
            if doc.doc_id == doc_id:
                return resolve_stored(doc.path, self.directory)
        raise KeyError(doc_id)


def _clean_query(query: object) -> str:
    """Printable text of bounded length, or a QueryError saying what is wrong."""
    if not isinstance(query, str):
        raise QueryError("query must be text")
    cleaned = "".join(ch if ch.isprintable() else " " for ch in query)
    cleaned = " ".join(cleaned.split())[:MAX_QUERY_CHARS]
    if not cleaned:
        raise QueryError("query is empty: type a question or some words to search for")
    return cleaned


def short_section(section: Sequence[str]) -> str:
    """Citation form of a section path: long numbered questions shrink to their number."""
    parts = []
    for heading in section:
        number = heading.split(" ", 1)[0].rstrip(".)")
        if len(heading) > 40 and number.replace(".", "").isdigit():
            parts.append(number)
        elif len(heading) > 60:
            parts.append(heading[:57].rstrip() + "…")
        else:
            parts.append(heading)
    return SECTION_SEPARATOR.join(parts)


def citation(title: str, page: int | None, page_end: int | None, section: Sequence[str]) -> str:
    text = title
    if page is not None:
        text += f", p. {page}" if page_end in (None, page) else f", pp. {page}–{page_end}"
    if section:
        text += f" — {short_section(section)}"
    return text


def _hit(row: StoredChunk, score: float) -> Hit:
    return Hit(text=row.text, score=round(score, 6), doc_id=row.doc_id, title=row.title,
               path=row.path, page=row.page_start, section=SECTION_SEPARATOR.join(row.section),
               start=row.start, end=row.end,
               citation=citation(row.title, row.page_start, row.page_end, row.section),
               page_end=row.page_end)
