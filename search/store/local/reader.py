"""Reading the local engine: a Generation holds what all threads share (segments loaded so
far, tombstones and term counts of the latest version), a Snapshot is one search's consistent
view — a read transaction on this thread's connection plus the segments it lists."""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import faiss
import numpy as np

from search.config import VectorSettings
from search.records import (
    Filters,
    Manifest,
    SegmentInfo,
    SentenceVectors,
    StoredCandidate,
    StoredChunk,
    StoredDocument,
    StoreStats,
)
from search.store.base import IndexCorrupt, StaleSnapshot
from search.store.local import catalogue, lexical, prefetch
from search.store.local import segments as seglib
from search.store.local.layout import DATABASE, LOCK, rebuild_hint, try_exclusive
from search.store.local.segments import Segment, SegmentError
from search.words import closest_word, typo_distance

DOC_FREQ_CACHE = 200_000  # words whose passage counts are remembered per version
NEAR_PASSAGES = 20  # passages read to tell what a misspelt word meant
ROWS_PER_READ = 10_000  # passages read by id in one query (SQLite binds at most 32,766)
# BM25 runs here while the calling thread searches the vectors: tantivy and FAISS (one
# thread each, segments.one_thread) both let go of the GIL, so on 2 cores the two lists
# cost the longer one, not their sum (10M passages: 45 ms where one after the other took 58).
# With every worker busy (many searches at once) a search runs its BM25 itself, as before.
_WORKERS = max(2, os.cpu_count() or 1)
_LEXICAL = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="evidence-search-bm25")
_FREE = threading.BoundedSemaphore(_WORKERS)
# When the catalogue is too big for the page cache (prefetch.too_big_to_cache), a search's
# candidate rows (text, citation, sentence vectors) are read in parts on reader threads,
# each on its own connection, so that rows on disk are read at once rather than one after
# the other: at 10M passages (a 25 GB catalogue) ~60 rows took 29 ms one at a time. The
# threads mostly wait on the disk (SQLite lets go of the GIL while it reads), hence more
# threads than cores. A cached catalogue is read on the calling thread (3.6 ms at 10M, where
# the threads' hand-offs cost 1.4 ms more).
ROW_READERS = 8
ROWS_PER_READER = 8  # fewer than twice this many candidates are read on the calling thread
_ROWS = ThreadPoolExecutor(max_workers=ROW_READERS, thread_name_prefix="evidence-search-rows")


def _begin(conn: sqlite3.Connection) -> None:
    """A read transaction on this thread's connection, ending any it had open."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.execute("BEGIN")


class Generation:
    """Readers' handle on one generation: a connection per thread, the segments loaded so
    far (immutable, so shared by all threads) and the tombstones of the latest version."""

    def __init__(self, directory: Path, name: str,
                 vector_settings: VectorSettings | None = None) -> None:
        self.directory = directory
        self.name = name
        self.path = directory / name
        self.db_path = self.path / DATABASE
        self.vector_settings = vector_settings or VectorSettings.from_env()
        catalogue.check_file(self.db_path, directory)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._segments: dict[str, Segment] = {}
        self._deleted: tuple[int, np.ndarray] = (-1, np.zeros(0, dtype=np.int64))
        self._doc_freq: tuple[int, dict[str, int]] = (-1, {})
        self.lexical = lexical.Reader(self.path)
        self._repaired = -1
        # A catalogue that the read-ahead leaves out (too big for memory) is read in parts
        # on reader threads; one that fits is cached, and one thread reads it faster.
        self.parallel_rows = prefetch.too_big_to_cache(self.db_path.stat().st_size)
        self.snapshot().close()  # fail now, with the file named, if anything is unreadable

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            stale = StaleSnapshot(f"{self.path}: replaced by a newer generation")
            if not self.db_path.is_file():
                raise stale
            try:
                conn = catalogue.connect_reader(self.db_path)
            except sqlite3.OperationalError:
                if not self.db_path.is_file():  # removed since the check above
                    raise stale from None
                raise
            self._local.conn = conn
        return conn

    def snapshot(self) -> Snapshot:
        """Begin a read transaction: everything read through the snapshot is one version,
        whatever a writer commits meanwhile (SQLite WAL)."""
        conn = self.connection()
        try:
            _begin(conn)
            manifest = catalogue.read_manifest(conn, self.path, self.directory)
            listed = catalogue.segment_rows(conn)
            parts = [self._segment(n, kind, manifest.dimension) for n, kind, _ in listed]
            deleted = self._tombstones(conn, manifest.version)
        except sqlite3.DatabaseError as exc:
            catalogue.rollback(conn)
            raise catalogue.unreadable(self.db_path, self.directory, exc) from exc
        except BaseException:
            catalogue.rollback(conn)
            raise
        self._ensure_lexical(manifest.version)
        snap = Snapshot(self, conn, manifest, parts, deleted)
        self._local.owner = snap
        return snap

    def _ensure_lexical(self, version: int) -> None:
        """A lexical index out of step with the catalogue while no writer runs (one was killed
        mid-write) is rebuilt here; while a writer runs, its changes are in flight and reads
        skip passages their version does not hold (Snapshot.search_lexical)."""
        if self._repaired == version or lexical.in_step(self.path, version):
            return
        try:
            with try_exclusive(self.directory / LOCK) as free:
                if not free:
                    return
                db = catalogue.connect_readonly(self.db_path)
                try:
                    current = catalogue.read_manifest(db, self.path, self.directory).version
                    if not lexical.in_step(self.path, current):
                        print(f"{self.path}: lexical index behind the catalogue (an "
                              "interrupted write); rebuilding it", file=sys.stderr)
                        lexical.rebuild(self.path, db, current)
                finally:
                    db.close()
        except (OSError, ValueError, sqlite3.Error) as exc:  # read-only folder, full disk
            print(f"{self.path}: could not repair the lexical index ({exc}); word search "
                  "may miss recent changes until the next re-index", file=sys.stderr)
        self._repaired = version

    def rows_at(self, version: int, ids: Sequence[int], dimension: int
                ) -> tuple[dict[int, StoredChunk], dict[int, SentenceVectors]] | None:
        """Passages and their sentence vectors read on this (reader) thread's connection,
        or None when it sees another version than `version` (a write came between): the
        caller then reads them in its own snapshot."""
        try:
            conn = self.connection()
            _begin(conn)
            try:
                if catalogue.read_version(conn) != version:
                    return None
                return catalogue.candidate_rows(conn, ids, dimension)
            finally:
                catalogue.rollback(conn)
        except Exception:  # noqa: BLE001 - the snapshot's own connection reads them again
            return None  # and reports any error that is real there

    def _segment(self, name: str, kind: str, dimension: int) -> Segment:
        with self._lock:
            if name not in self._segments:
                try:
                    self._segments[name] = seglib.read(self.path, name, kind, dimension)
                except SegmentError as exc:
                    raise IndexCorrupt(f"{exc}; {rebuild_hint(self.directory)}") from exc
            return self._segments[name]

    def _tombstones(self, conn: sqlite3.Connection, version: int) -> np.ndarray:
        with self._lock:
            if self._deleted[0] == version:
                return self._deleted[1]
        deleted = catalogue.hidden_ids(conn)
        with self._lock:
            if version > self._deleted[0]:  # an older snapshot never evicts newer segments
                self._deleted = (version, deleted)
                live = catalogue.segment_names(conn, retired=False)
                for name in [n for n in self._segments if n not in live]:
                    del self._segments[name]  # merged away; snapshots holding it keep it
        return deleted

    def doc_freq(self, word: str, version: int) -> int:
        """Passages holding a word, remembered per version (exact, and free for words seen
        since the last write)."""
        with self._lock:
            if self._doc_freq[0] != version:
                self._doc_freq = (version, {})
            cached = self._doc_freq[1].get(word)
        if cached is not None:
            return cached
        try:
            count = self.lexical.doc_freq(word, version)
        except (OSError, ValueError):
            return 0  # no lexical index readable: every word counts as rare
        with self._lock:
            if self._doc_freq[0] == version and len(self._doc_freq[1]) < DOC_FREQ_CACHE:
                self._doc_freq[1][word] = count
        return count


class Snapshot:
    """One consistent view of the index, for one search (base.ReadView). Close it (or use
    `with`) when done."""

    def __init__(self, generation: Generation, conn: sqlite3.Connection,
                 manifest: Manifest, parts: list[Segment], deleted: np.ndarray) -> None:
        self.generation = generation
        self.directory = generation.directory
        self.name = generation.name
        self.path = generation.path
        self._db = conn
        self.manifest = manifest
        self.segments = parts
        self.deleted = deleted
        self.count = manifest.chunks
        self.version = manifest.version
        self.vector_settings = generation.vector_settings
        self._skip = faiss.IDSelectorBatch(deleted) if len(deleted) else None
        self._not = faiss.IDSelectorNot(self._skip) if self._skip is not None else None
        self._allowed: dict[str, np.ndarray] = {}

    def close(self) -> None:
        if getattr(self.generation._local, "owner", None) is self:
            catalogue.rollback(self._db)
            self.generation._local.owner = None  # no cycle keeps a retired generation open

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def allowed(self, filters: Filters | None) -> np.ndarray | None:
        """The chunk ids a filter lets through (None: all), resolved once per snapshot."""
        if filters is None or filters.is_empty():
            return None
        key = repr(filters)
        if key not in self._allowed:
            self._allowed[key] = catalogue.allowed_ids(self._db, filters)
        return self._allowed[key]

    def search_vectors(self, query: np.ndarray, k: int,
                       filters: Filters | None = None) -> list[tuple[int, float]]:
        """Nearest chunks by inner product over every segment."""
        allowed = self.allowed(filters)
        if k <= 0 or (allowed is not None and not len(allowed)):
            return []
        return seglib.search_all(self.segments, query, k, self.vector_settings, self._not,
                                 allowed)

    def search_lexical(self, query: str, k: int,
                       filters: Filters | None = None) -> list[tuple[int, float]]:
        """BM25 top k. The question is reduced to its words, so no query syntax (quotes, `*`,
        AND, field names) from the user is ever interpreted. While a writer updates the
        lexical index it may hold passages this version has not got yet (ids from
        next_chunk_id on) or has deleted (tombstones): those are skipped, fetching deeper."""
        allowed = self.allowed(filters)
        depth = k
        while True:
            try:
                found = self.generation.lexical.search(query, depth, self.version, allowed)
            except (OSError, ValueError):
                time.sleep(0.05)  # a rebuild swapping the folder in: one more try
                try:
                    found = self.generation.lexical.search(query, depth, self.version, allowed)
                except (OSError, ValueError) as exc:
                    raise IndexCorrupt(f"{self.path / lexical.DIRNAME}: unreadable lexical "
                                       f"index ({exc}); {rebuild_hint(self.directory)}") from exc
            visible = [(i, s) for i, s in found if self._visible(i)]
            if len(visible) >= k or len(found) < depth:
                return visible[:k]
            depth *= 4

    def search_both(self, vector: np.ndarray, k_vectors: int, text: str, k_lexical: int,
                    filters: Filters | None = None
                    ) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """BM25 on a worker thread while this one searches the vectors. The filter is
        resolved first, here: this snapshot's SQLite connection stays on its own thread."""
        self.allowed(filters)
        if not _FREE.acquire(blocking=False):  # every worker busy: one after the other
            return (self.search_vectors(vector, k_vectors, filters),
                    self.search_lexical(text, k_lexical, filters))

        def lexical_search() -> list[tuple[int, float]]:
            try:
                return self.search_lexical(text, k_lexical, filters)
            finally:
                _FREE.release()

        lexical_list = _LEXICAL.submit(lexical_search)
        try:
            dense = self.search_vectors(vector, k_vectors, filters)
        except BaseException:
            wait([lexical_list])  # never left running past this snapshot
            raise
        return dense, lexical_list.result()

    def _visible(self, chunk_id: int) -> bool:
        if chunk_id >= self.manifest.next_chunk_id:
            return False
        at = int(np.searchsorted(self.deleted, chunk_id))  # tombstones come sorted by id
        return not (at < len(self.deleted) and self.deleted[at] == chunk_id)

    def doc_freq(self, word: str) -> int:
        return self.generation.doc_freq(word, self.version)

    def similar_word(self, word: str) -> str | None:
        """The index's word a misspelt one most likely meant: tantivy finds passages with a
        word a typo away, their text says which word it is (words.closest_word)."""
        distance = typo_distance(word)
        if not distance:
            return None
        try:
            ids = self.generation.lexical.near(word, distance, NEAR_PASSAGES, self.version)
        except (OSError, ValueError):
            return None  # no lexical index readable: no correction
        rows = catalogue.chunk_rows(self._db, [i for i in ids if self._visible(i)])
        return closest_word(word, (r.text for r in rows.values()), self.doc_freq)

    def vectors_of(self, ids: Sequence[int]) -> np.ndarray:
        """Stored vectors of these chunks (to score lexical hits semantically)."""
        wanted = np.asarray(list(ids), dtype=np.int64)
        out = np.zeros((len(wanted), self.manifest.dimension), dtype=np.float32)
        for part in self.segments:
            held, rows = part.locate(wanted)
            if len(rows):
                out[held] = part.vectors(rows)
        return out

    def live_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, exact vectors) of every live chunk, ids ascending; tombstoned ones
        left out."""
        if not self.segments:
            return (np.zeros(0, dtype=np.int64),
                    np.zeros((0, self.manifest.dimension), dtype=np.float32))
        ids = np.concatenate([p.ids for p in self.segments])
        vectors = np.concatenate([p.all_vectors() for p in self.segments])
        live = ~np.isin(ids, self.deleted)
        ids, vectors = ids[live], vectors[live]
        order = np.argsort(ids, kind="stable")
        return ids[order], vectors[order]

    def chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        return catalogue.chunk_rows(self._db, ids)

    def sentences(self, ids: Sequence[int]) -> dict[int, SentenceVectors]:
        return catalogue.sentence_rows(self._db, ids, self.manifest.dimension)

    def candidates(self, ids: Sequence[int]) -> dict[int, StoredCandidate]:
        rows, sentences = self._rows(ids)
        wanted = [i for i in ids if i in rows]
        vectors = self.vectors_of(wanted)
        return {i: StoredCandidate(rows[i], vectors[n], sentences.get(i))
                for n, i in enumerate(wanted)}

    def _rows(self, ids: Sequence[int]
              ) -> tuple[dict[int, StoredChunk], dict[int, SentenceVectors]]:
        """Rows and sentence vectors of these passages as this snapshot sees them: in parts
        on reader threads (ROW_READERS) when there are enough, the first part here. A part
        still queued when this thread gets to it (other searches' parts ahead of it) is read
        here too, so that no search waits behind another's."""
        dimension = self.manifest.dimension
        parts = min(ROW_READERS + 1, len(ids) // ROWS_PER_READER) \
            if self.generation.parallel_rows else 1
        if parts <= 1:
            return catalogue.candidate_rows(self._db, ids, dimension)
        shares = [ids[n::parts] for n in range(parts)]
        pending = [_ROWS.submit(self.generation.rows_at, self.version, share, dimension)
                   for share in shares[1:]]
        rows, sentences = catalogue.candidate_rows(self._db, shares[0], dimension)
        for share, future in zip(shares[1:], pending, strict=True):
            got = None if future.cancel() else future.result()
            if got is None:  # not started, or another version on that connection
                got = catalogue.candidate_rows(self._db, share, dimension)
            rows.update(got[0])
            sentences.update(got[1])
        return rows, sentences

    def documents(self) -> list[StoredDocument]:
        return catalogue.document_rows(self._db)

    def document_text(self, doc_id: str) -> str | None:
        return catalogue.document_text(self._db, doc_id)

    def document_chunks(self, doc_id: str) -> list[StoredChunk]:
        ids = catalogue.document_chunk_ids(self._db, doc_id)
        rows = catalogue.chunk_rows(self._db, ids)
        return [rows[i] for i in ids if i in rows]

    def first_chunks(self, limit: int) -> list[StoredChunk]:
        ids = catalogue.first_chunk_ids(self._db, limit)
        rows: dict[int, StoredChunk] = {}
        for at in range(0, len(ids), ROWS_PER_READ):  # SQLite caps the ids one IN (...) binds
            rows.update(catalogue.chunk_rows(self._db, ids[at:at + ROWS_PER_READ]))
        return [rows[i] for i in ids if i in rows]

    def section_paths(self) -> dict[str, list[tuple[str, ...]]]:
        return catalogue.section_rows(self._db)

    def stats(self) -> StoreStats:
        docs = self.documents()
        return StoreStats(
            engine="local", location=str(self.directory), generation=self.name,
            documents=len(docs), chunks=self.count, pages=sum(d.page_count for d in docs),
            size_bytes=sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file()),
            segments=tuple(SegmentInfo(p.name, p.kind, p.size) for p in self.segments),
            tombstones=catalogue.counts(self._db)[3])  # deleted, vectors still in a segment

