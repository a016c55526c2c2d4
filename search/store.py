"""The one place that knows the on-disk format of an index.

    index/
      CURRENT              name of the live generation, replaced atomically
      .lock                held by the one writer
      .merge-lock          held by the one merge (which takes .lock only to plan and commit)
      gen-000003/
        meta.sqlite        (WAL) documents, chunks, lexical index, manifest, the list of live
                           vector segments, tombstones of deleted chunks
        seg-000001.faiss   immutable vector segments (segments.py), ids = chunks.id
        seg-000009.faiss   (+ seg-000009.f16.npy when the segment is HNSW)

A re-index changes the live generation in place, in proportion to the change: one SQLite
transaction adds and deletes rows, one new small segment holds the new vectors, and deleted
chunks become tombstones that searches skip. Segments are merged later (`merge`), as search
engines do, off the writer lock; a merged segment above a size threshold becomes an HNSW
graph. A rebuild (new model, damaged or old-format index) writes a whole new generation
beside the live one and then points CURRENT at it. Either way a crash or kill at any moment
leaves the last good index usable: SQLite's transaction and the CURRENT swap are the only
commit points, and a segment file counts only once a committed transaction lists it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import json
import os
import shutil
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from . import lexical_engine
from . import segments as seglib
from .config import VectorSettings
from .lexical import query_words
from .records import Chunk, Document, Filters
from .segments import Segment, SegmentError

FORMAT_VERSION = 4  # 4: sentence vectors beside each chunk
CURRENT = "CURRENT"
LEGACY_MANIFEST = "manifest.json"  # format 2 kept its manifest in a file
DATABASE = "meta.sqlite"
LOCK = ".lock"
MERGE_LOCK = ".merge-lock"  # held by the one merge running, for its whole length
MERGING_SUFFIX = ".merging"  # placeholder reserving a segment name while a merge builds it
KEEP_GENERATIONS = 2  # the live one and its predecessor, for readers still holding it
DOC_FREQ_CACHE = 200_000  # words whose passage counts are remembered per version
RETIRE_GRACE_SECONDS = 60.0  # merged-away segment files outlive their last possible reader
LEXICAL_REPLAY_MAX = 200_000  # changes replayed into tantivy; beyond, it is rebuilt

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id      TEXT PRIMARY KEY,
    path        TEXT NOT NULL,
    title       TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    page_count  INTEGER NOT NULL,
    pages       TEXT NOT NULL,      -- JSON [[number, start, end], ...]
    meta        TEXT NOT NULL,      -- JSON object from the sidecar file
    text        TEXT NOT NULL,      -- the clean text every chunk offset points into
    date        TEXT,               -- ISO date from metadata, when known
    indexed_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id          INTEGER PRIMARY KEY,   -- also the vector id in vectors.faiss
    doc_id      TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    ordinal     INTEGER NOT NULL,
    start       INTEGER NOT NULL,
    end         INTEGER NOT NULL,
    page_start  INTEGER,
    page_end    INTEGER,
    section     TEXT NOT NULL,      -- JSON list of headings, outermost first
    text        TEXT NOT NULL,
    context     TEXT NOT NULL       -- title and headings, searchable beside the text
);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks(doc_id);
-- Each chunk's sentences: spans into chunks.text and their vectors (float16, one row each),
-- embedded at index time with the chunk's headings, for ranking and highlighting.
CREATE TABLE IF NOT EXISTS sentences (
    chunk_id    INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
    spans       TEXT NOT NULL,      -- JSON [[start, end], ...] into the chunk's text
    vectors     BLOB NOT NULL       -- float16, len(spans) x dimension, row-major
);
-- The lexical index: BM25 over stemmed words, kept in step with chunks by triggers, so no
-- write can update one without the other.
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, context, content='chunks', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vocab USING fts5vocab(chunks_fts, 'row');
CREATE TRIGGER IF NOT EXISTS chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text, context) VALUES (new.id, new.text, new.context);
END;
CREATE TRIGGER IF NOT EXISTS chunks_fts_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text, context)
    VALUES ('delete', old.id, old.text, old.context);
END;
CREATE TABLE IF NOT EXISTS manifest (
    key         TEXT PRIMARY KEY,   -- format version, model, dimension, settings, counts
    value       TEXT NOT NULL       -- JSON
);
CREATE TABLE IF NOT EXISTS segments (
    name        TEXT PRIMARY KEY,   -- seg-NNNNNN: the live vector segments
    kind        TEXT NOT NULL,      -- flat or hnsw
    vectors     INTEGER NOT NULL,
    created_at  TEXT NOT NULL
);
-- Chunks deleted since their segment was written: searches skip them, a merge drops them.
CREATE TABLE IF NOT EXISTS tombstones (id INTEGER PRIMARY KEY);
-- Segments merged away; their files are removed once no reader can still be opening them.
CREATE TABLE IF NOT EXISTS retired (name TEXT PRIMARY KEY, at REAL NOT NULL);
"""
CONTEXT_WEIGHT = 0.5  # a word in the title or headings counts half a word in the passage


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


def rebuild_hint(directory: Path) -> str:
    return f"rebuild it with: evidence-search index --rebuild --index {directory}"


@dataclass(frozen=True)
class StoredChunk:
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


@dataclass(frozen=True)
class SentenceVectors:
    """A chunk's sentences as stored: spans into its text and one unit vector each."""

    spans: list[tuple[int, int]]
    vectors: np.ndarray  # float32, len(spans) x dimension


@dataclass(frozen=True)
class StoredDocument:
    doc_id: str
    path: str
    title: str
    sha256: str
    page_count: int
    chunks: int
    meta: dict[str, Any]


def live_generation(directory: Path) -> str | None:
    try:
        name = (directory / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None



class Generation:
    """Readers' handle on one generation: a connection per thread, the segments loaded so
    far (immutable, so shared by all threads) and the tombstones of the latest version."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        self.path = directory / name
        self.db_path = self.path / DATABASE
        _check_sqlite_file(self.db_path, directory)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._segments: dict[str, Segment] = {}
        self._deleted: tuple[int, np.ndarray] = (-1, np.zeros(0, dtype=np.int64))
        self._doc_freq: tuple[int, dict[str, int]] = (-1, {})
        self.lexical = lexical_engine.Reader(self.path)
        self.snapshot().close()  # fail now, with the file named, if anything is unreadable

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if not self.db_path.is_file():
                raise StaleSnapshot(f"{self.path}: replaced by a newer generation")
            conn = sqlite3.connect(self.db_path, isolation_level=None, timeout=30)
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
        return conn

    def snapshot(self) -> Snapshot:
        """Begin a read transaction: everything read through the snapshot is one version,
        whatever a writer commits meanwhile (SQLite WAL)."""
        conn = self.connection()
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        try:
            conn.execute("BEGIN")
            manifest = _manifest_from_db(conn, self.path, self.directory)
            listed = conn.execute("SELECT name, kind FROM segments ORDER BY name").fetchall()
            parts = [self._segment(n, kind, int(manifest["dimension"])) for n, kind in listed]
            deleted = self._tombstones(conn, int(manifest.get("version", 0)))
        except sqlite3.DatabaseError as exc:
            _rollback(conn)
            raise IndexCorrupt(f"{self.db_path}: unreadable SQLite database ({exc}); "
                               f"{rebuild_hint(self.directory)}") from exc
        except BaseException:
            _rollback(conn)
            raise
        snap = Snapshot(self, conn, manifest, parts, deleted)
        self._local.owner = snap
        return snap

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
            if self._deleted[0] != version:
                ids = np.array([r[0] for r in conn.execute("SELECT id FROM tombstones")],
                               dtype=np.int64)
                self._deleted = (version, ids)
                live = {r[0] for r in conn.execute("SELECT name FROM segments")}
                for name in [n for n in self._segments if n not in live]:
                    del self._segments[name]  # merged away; snapshots holding it keep it
            return self._deleted[1]

    def doc_freq(self, conn: sqlite3.Connection, version: int, term: str) -> int:
        """Passages containing a stemmed term. FTS5 counts them by reading the term's whole
        posting list (12 ms for a common word at 1M passages), so counts are kept per
        version: exact, and free for words seen before since the last write."""
        with self._lock:
            if self._doc_freq[0] != version:
                self._doc_freq = (version, {})
            cached = self._doc_freq[1].get(term)
        if cached is not None:
            return cached
        row = conn.execute("SELECT doc FROM chunks_vocab WHERE term = ?", (term,)).fetchone()
        count = int(row[0]) if row else 0
        with self._lock:
            if self._doc_freq[0] == version and len(self._doc_freq[1]) < DOC_FREQ_CACHE:
                self._doc_freq[1][term] = count
        return count


class Snapshot:
    """One consistent view of the index, for one search: a read transaction on this thread's
    connection plus the vector segments it lists. Close it (or use `with`) when done."""

    def __init__(self, generation: Generation, conn: sqlite3.Connection,
                 manifest: dict[str, Any], parts: list[Segment], deleted: np.ndarray) -> None:
        self.generation = generation
        self.directory = generation.directory
        self.name = generation.name
        self.path = generation.path
        self.db = conn
        self.manifest = manifest
        self.segments = parts
        self.deleted = deleted
        self.count = int(manifest.get("chunks", 0))
        self.vector_settings = VectorSettings.from_env()
        self._skip = (faiss.IDSelectorBatch(deleted) if len(deleted) else None)
        self._not = faiss.IDSelectorNot(self._skip) if self._skip is not None else None

    @functools.cached_property
    def version(self) -> int:
        """The index version this snapshot reads (each commit adds one)."""
        return int(self.manifest.get("version", 0))

    @functools.cached_property
    def lexical_ready(self) -> bool:
        """Whether the tantivy index serves this snapshot: a large index, and tantivy at the
        version being read (checked once per snapshot)."""
        return lexical_engine.enabled(self.count) and \
            lexical_engine.read_version(self.path) == self.version

    def close(self) -> None:
        if getattr(self.generation._local, "owner", None) is self:
            _rollback(self.db)

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search_vectors(self, query: np.ndarray, k: int,
                       allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Nearest chunks by inner product over every segment; `allowed` restricts to those
        chunk ids."""
        if k <= 0 or (allowed is not None and not len(allowed)):
            return []
        found: list[tuple[int, float]] = []
        for part in self.segments:
            found += part.search(query, k, self.vector_settings, self._not, allowed)
        found.sort(key=lambda item: (-item[1], item[0]))
        return found[:k]

    def vectors_of(self, ids: Sequence[int]) -> np.ndarray:
        """Stored vectors of these chunks (to score lexical hits semantically)."""
        wanted = np.asarray(list(ids), dtype=np.int64)
        out = np.zeros((len(wanted), int(self.manifest["dimension"])), dtype=np.float32)
        for part in self.segments:
            held, rows = part.locate(wanted)
            if len(rows):
                out[held] = part.vectors(rows)
        return out
    def live_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, exact vectors) of every live chunk: tombstoned ones left out."""
        if not self.segments:
            return np.zeros(0, dtype=np.int64), np.zeros((0, int(self.manifest["dimension"])),
                                                          dtype=np.float32)
        ids = np.concatenate([p.ids for p in self.segments])
        vectors = np.concatenate([p.all_vectors() for p in self.segments])
        live = ~np.isin(ids, self.deleted)
        return ids[live], vectors[live]

    def search_lexical(self, query: str, k: int,
                       filters: Filters | None = None) -> list[tuple[int, float]]:
        """BM25 over the FTS5 index; the query is reduced to quoted words, so no FTS syntax
        (quotes, `*`, NEAR, OR, column filters) from the user is ever interpreted."""
        match = fts_query(query)
        if match is None or k <= 0:
            return []
        where, params = filter_sql(filters)
        if not where and self.lexical_ready:
            found = self.generation.lexical.search(query, k, self.version)
            if found is not None:
                return found
        rank = f"bm25(chunks_fts, 1.0, {CONTEXT_WEIGHT})"
        if not where:  # no joins: scoring every match is the cost, fetching rows is not
            sql = (f"SELECT rowid, -{rank} FROM chunks_fts WHERE chunks_fts MATCH ? "
                   f"ORDER BY {rank} LIMIT ?")
        else:
            sql = (f"SELECT c.id, -{rank} FROM chunks_fts "
                   "JOIN chunks c ON c.id = chunks_fts.rowid JOIN documents d USING (doc_id) "
                   f"WHERE chunks_fts MATCH ? AND {where} ORDER BY {rank} LIMIT ?")
        return [(int(i), float(x)) for i, x in self.db.execute(sql, [match, *params, k])]

    def doc_freq(self, term: str, word: str | None = None) -> int:
        """Passages containing a stemmed term (from the lexical index's own vocabulary); in a
        large index, given the word itself, tantivy's term dictionary answers instantly."""
        if word is not None and self.lexical_ready:
            found = self.generation.lexical.doc_freq(word, self.version)
            if found is not None:
                return found
        return self.generation.doc_freq(self.db, self.version, term)

    def allowed_ids(self, filters: Filters) -> np.ndarray:
        where, params = filter_sql(filters)
        rows = self.db.execute("SELECT c.id FROM chunks c JOIN documents d USING (doc_id) "
                               f"WHERE {where or '1'}", params).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            "SELECT c.id, c.doc_id, c.ordinal, c.start, c.end, c.page_start, c.page_end, "
            "c.section, c.text, d.title, d.path FROM chunks c JOIN documents d USING (doc_id) "
            f"WHERE c.id IN ({marks})", list(ids)).fetchall()
        return {r[0]: StoredChunk(r[0], r[1], r[2], r[3], r[4], r[5], r[6],
                                  tuple(json.loads(r[7])), r[8], r[9], r[10]) for r in rows}

    def sentences(self, ids: Sequence[int]) -> dict[int, SentenceVectors]:
        """Stored sentence vectors of these chunks (chunks written without them are absent)."""
        if not ids:
            return {}
        dimension = int(self.manifest["dimension"])
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(f"SELECT chunk_id, spans, vectors FROM sentences "
                               f"WHERE chunk_id IN ({marks})", list(ids)).fetchall()
        out = {}
        for chunk_id, spans, blob in rows:
            vectors = np.frombuffer(blob, dtype=np.float16).reshape(-1, dimension)
            out[chunk_id] = SentenceVectors([(a, b) for a, b in json.loads(spans)],
                                            vectors.astype(np.float32))
        return out

    def documents(self) -> list[StoredDocument]:
        rows = self.db.execute(
            "SELECT d.doc_id, d.path, d.title, d.sha256, d.page_count, d.meta, "
            "(SELECT count(*) FROM chunks c WHERE c.doc_id = d.doc_id) "
            "FROM documents d ORDER BY d.doc_id").fetchall()
        return [StoredDocument(r[0], r[1], r[2], r[3], r[4], r[6], json.loads(r[5])) for r in rows]

    def document_text(self, doc_id: str) -> str | None:
        row = self.db.execute("SELECT text FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return row[0] if row else None

    def size_on_disk(self) -> int:
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())

    def describe(self) -> dict[str, Any]:
        """Segments and tombstones, for `info` and the index panel."""
        return {"segments": [{"name": p.name, "kind": p.kind, "vectors": p.size}
                             for p in self.segments],
                "tombstones": len(self.deleted)}


def _rollback(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def _check_sqlite_file(path: Path, directory: Path) -> None:
    """Cheap structural check: the header's page count must fit in the file (a truncated
    copy otherwise opens fine and fails later, mid-query). With a write-ahead log present
    the header may lag the log, so only the magic is checked then."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(100)
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise IndexCorrupt(f"{path}: missing; {rebuild_hint(directory)}") from exc
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        raise IndexCorrupt(f"{path}: not an SQLite database (damaged or truncated); "
                           f"{rebuild_hint(directory)}")
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if pages and size < pages * page_size:
        raise IndexCorrupt(f"{path}: truncated ({size} of {pages * page_size} bytes); "
                           f"{rebuild_hint(directory)}")


def _manifest_from_db(conn: sqlite3.Connection, path: Path, directory: Path) -> dict[str, Any]:
    """The manifest table, checked: format version and the keys every reader needs."""
    try:
        rows = conn.execute("SELECT key, value FROM manifest").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        legacy = _legacy_manifest(path)
        found = legacy.get("format_version")
        raise IndexOutdated(f"{path / DATABASE}: index format {found}, this version reads "
                            f"{FORMAT_VERSION}; {rebuild_hint(directory)}") from exc
    try:
        manifest = {key: json.loads(value) for key, value in rows}
    except json.JSONDecodeError as exc:
        raise IndexCorrupt(f"{path / DATABASE}: unreadable manifest ({exc}); "
                           f"{rebuild_hint(directory)}") from exc
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexOutdated(f"{path / DATABASE}: index format {manifest.get('format_version')}, "
                            f"this version reads {FORMAT_VERSION}; {rebuild_hint(directory)}")
    for key in ("model", "dimension", "chunk_tokens", "overlap_sentences"):
        if key not in manifest:
            raise IndexCorrupt(f"{path / DATABASE}: manifest lacks '{key}'; "
                               f"{rebuild_hint(directory)}")
    return manifest


def _legacy_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads((path / LEGACY_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def open_generation(directory: Path) -> Generation:
    name = live_generation(directory)
    if name is None:
        raise IndexNotFound(f"{directory}: no index here yet; build one with: "
                            f"evidence-search index corpus/ --index {directory}")
    return Generation(directory, name)


def open_snapshot(directory: Path) -> Snapshot:
    return open_generation(directory).snapshot()


def writer_lock(directory: Path) -> contextlib.AbstractContextManager[None]:
    """One writer at a time; a second one waits, and says so."""
    directory.mkdir(parents=True, exist_ok=True)
    return _exclusive(directory / LOCK, f"{directory}: another re-index is running; "
                                        "waiting for it to finish")


@contextlib.contextmanager
def _exclusive(lock: Path, waiting: str | None = None) -> Iterator[None]:
    """An exclusive flock on `lock` (any process, any thread), saying `waiting` if it waits."""
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                print(waiting, file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _connect_writer(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, timeout=60)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA synchronous = FULL")
    return db


class Writer:
    """Changes the live generation in place (or builds a new one when rebuilding): rows in
    one SQLite transaction, new vectors in one new segment, deletions as tombstones."""

    def __init__(self, directory: Path, manifest: dict[str, Any], rebuild: bool,
                 vector_settings: VectorSettings | None = None) -> None:
        self.directory = directory
        self.manifest = dict(manifest)
        self.vector_settings = vector_settings or VectorSettings.from_env()
        live = None if rebuild else live_generation(directory)
        self.fresh = live is None
        self.name = _next_name(directory) if live is None else live
        self.path = directory / self.name
        self._pending: list[tuple[str, np.ndarray, np.ndarray]] = []  # doc, ids, vectors
        self._pending_docs: set[str] = set()
        self._lexical_ops: list[lexical_engine.Op] | None = []  # None: too many, rebuild
        self._written: list[Path] = []
        self.db: sqlite3.Connection | None = None
        try:
            if self.fresh:
                self.path.mkdir(parents=True)
            else:
                _check_sqlite_file(self.path / DATABASE, directory)
            self.db = _connect_writer(self.path / DATABASE)
            if self.fresh:
                self.db.execute("PRAGMA journal_mode = WAL")
                self.db.executescript(SCHEMA)
            self.db.execute("BEGIN IMMEDIATE")
            stored = {} if self.fresh else _manifest_from_db(self.db, self.path, directory)
            self.version = int(stored.get("version", 0))
            self.next_id = int(stored.get("next_chunk_id", 1))
        except BaseException:
            self.abort()  # a full disk while starting: leave nothing half-made behind
            raise

    def known(self) -> dict[str, tuple[str, str]]:
        """doc_id -> (path, sha256) of what the index holds now."""
        assert self.db is not None
        return {r[0]: (r[1], r[2]) for r in
                self.db.execute("SELECT doc_id, path, sha256 FROM documents")}

    def remove(self, doc_ids: Iterable[str]) -> int:
        assert self.db is not None
        removed = 0
        for doc_id in doc_ids:
            ids = [r[0] for r in self.db.execute("SELECT id FROM chunks WHERE doc_id = ?",
                                                 (doc_id,))]
            self.db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
            self.db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
            removed += len(ids)
            self._note(("delete", (doc_id,)))
            if doc_id in self._pending_docs:  # added earlier in this same write: no vector
                self._pending = [p for p in self._pending if p[0] != doc_id]  # stored yet
                self._pending_docs.discard(doc_id)
            elif ids and not self.fresh:
                self.db.executemany("INSERT OR IGNORE INTO tombstones VALUES (?)",
                                    [(i,) for i in ids])
        return removed

    def add(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray,
            sentences: Sequence[SentenceVectors] | None = None) -> None:
        """Store a document's chunks with their vectors (and, optionally, their sentences')."""
        assert self.db is not None
        if len(chunks) != len(vectors) or (sentences is not None
                                           and len(sentences) != len(chunks)):
            raise ValueError("one vector (and one sentence set) per chunk")
        self.remove([doc.doc_id])
        date = doc.meta.get("date")
        self.db.execute(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (doc.doc_id, doc.path, doc.title, doc.sha256, doc.page_count,
             json.dumps([[p.number, p.start, p.end] for p in doc.pages]),
             json.dumps(doc.meta, ensure_ascii=False), doc.text,
             str(date) if date else None, _now()))
        ids = np.arange(self.next_id, self.next_id + len(chunks), dtype=np.int64)
        self.next_id += len(chunks)
        contexts = [" › ".join([doc.title, *c.section]) for c in chunks]  # title + headings
        self.db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(int(i), c.doc_id, c.ordinal, c.start, c.end, c.page_start, c.page_end,
              json.dumps(list(c.section), ensure_ascii=False), c.text, context)
             for i, c, context in zip(ids, chunks, contexts, strict=True)])
        if sentences is not None:
            self.db.executemany(
                "INSERT INTO sentences VALUES (?, ?, ?)",
                [(int(i), json.dumps(s.spans), s.vectors.astype(np.float16).tobytes())
                 for i, s in zip(ids, sentences, strict=True) if s.spans])
        for i, c, context in zip(ids, chunks, contexts, strict=True):
            self._note(("add", (int(i), c.doc_id, c.text, context)))
        if len(chunks):
            self._pending.append((doc.doc_id, ids,
                                  np.ascontiguousarray(vectors, dtype=np.float32)))
            self._pending_docs.add(doc.doc_id)

    def _note(self, op: lexical_engine.Op) -> None:
        """Remember a change for the tantivy index (a rebuild replays nothing)."""
        if self.fresh or self._lexical_ops is None:
            return
        self._lexical_ops.append(op)
        if len(self._lexical_ops) > LEXICAL_REPLAY_MAX:
            self._lexical_ops = None

    def commit(self) -> str:
        """Write the new segment, then commit the transaction that lists it (the one commit
        point); a rebuilt generation then goes live by swapping CURRENT."""
        assert self.db is not None
        documents, chunks, stored, dead = self.db.execute(
            "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks), "
            "(SELECT coalesce(sum(vectors), 0) FROM segments), "
            "(SELECT count(*) FROM tombstones)").fetchone()
        pending = sum(len(ids) for _, ids, _ in self._pending)
        if chunks != stored - dead + pending:
            raise IndexCorrupt(f"{self.path}: {chunks} chunks but {stored - dead + pending} "
                               f"vectors; {rebuild_hint(self.directory)}")
        if pending:
            part, written = _write_segment(
                self.path, _next_segment_name(self.path, self.db),
                np.concatenate([p[1] for p in self._pending]),
                np.concatenate([p[2] for p in self._pending]), self.vector_settings)
            self._written += written
            _list_segment(self.db, part)
        self.version += 1
        self.manifest.update(format_version=FORMAT_VERSION, generation=self.name,
                             built_at=_now(), documents=documents, chunks=chunks,
                             version=self.version, next_chunk_id=self.next_id)
        _write_manifest(self.db, self.manifest)
        expired = _expire_retired(self.db)
        self.db.execute("COMMIT")
        self._written = []  # listed by a committed transaction: the index's now
        if self.fresh:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()
        self.db = None
        _remove_segment_files(self.path, expired)
        _sync_lexical(self.path, chunks, self.version - (0 if self.fresh else 1), self.version,
                      None if self.fresh else self._lexical_ops)
        if self.fresh:
            for f in self.path.iterdir():
                _fsync(f)
            _fsync(self.path)
            _write_atomic(self.directory / CURRENT, self.name + "\n")
            _collect_garbage(self.directory)
        else:
            _remove_orphans(self.path)
        return self.name

    def abort(self) -> None:
        if self.db is not None:
            _rollback(self.db)
            with contextlib.suppress(Exception):
                self.db.close()
            self.db = None
        for path in self._written:
            with contextlib.suppress(OSError):
                path.unlink()
        self._written = []
        if self.fresh:
            shutil.rmtree(self.path, ignore_errors=True)


def _sync_lexical(path: Path, chunks: int, previous: int, version: int,
                  ops: list[lexical_engine.Op] | None) -> None:
    """After a commit: bring the tantivy index to this version (large indexes only). The
    commit has happened, so a failure here costs speed, not data: FTS5 answers meanwhile."""
    if not lexical_engine.enabled(chunks):
        return
    db = sqlite3.connect(f"file:{path / DATABASE}?mode=ro", uri=True, timeout=60)
    try:
        if ops is None:
            lexical_engine.rebuild(path, db, version)
        else:
            lexical_engine.sync(path, db, previous, version, ops)
    except Exception as exc:  # noqa: BLE001 - reported, and searches stay correct
        lexical_engine.mark_stale(path)
        print(f"{path}: lexical engine not updated ({exc}); searches use FTS5 until the "
              "next re-index", file=sys.stderr)
    finally:
        db.close()


def _write_segment(path: Path, name: str, ids: np.ndarray, vectors: np.ndarray,
                   settings: VectorSettings) -> tuple[Segment, list[Path]]:
    """Build a segment and write its files durably; it counts once `_list_segment` commits."""
    part = seglib.build(name, ids, vectors, settings)
    if not part.size:
        return part, []
    written = seglib.write(part, path)
    _fsync(path)
    return part, written


def _list_segment(db: sqlite3.Connection, part: Segment) -> None:
    db.execute("INSERT INTO segments VALUES (?, ?, ?, ?)",
               (part.name, part.kind, part.size, _now()))


def _write_manifest(db: sqlite3.Connection, manifest: dict[str, Any]) -> None:
    db.execute("DELETE FROM manifest")
    db.executemany("INSERT INTO manifest VALUES (?, ?)",
                   [(k, json.dumps(v, ensure_ascii=False)) for k, v in manifest.items()])


def _next_segment_name(path: Path, db: sqlite3.Connection) -> str:
    names = [r[0] for r in db.execute("SELECT name FROM segments UNION SELECT name FROM retired")]
    names += [p.name.split(".")[0] for p in path.glob("seg-*")]
    numbers = [int(n.split("-")[1]) for n in names if n.split("-")[1].isdigit()]
    return f"seg-{max(numbers, default=0) + 1:06d}"


def _expire_retired(db: sqlite3.Connection) -> list[str]:
    """Retired segments past their grace period: forget them (files go after commit)."""
    cutoff = time.time() - RETIRE_GRACE_SECONDS
    names = [r[0] for r in db.execute("SELECT name FROM retired WHERE at < ?", (cutoff,))]
    db.execute("DELETE FROM retired WHERE at < ?", (cutoff,))
    return names


def _remove_segment_files(path: Path, names: Iterable[str]) -> None:
    for name in names:
        for file in seglib.files_of(name):
            with contextlib.suppress(OSError):
                (path / file).unlink()


def _remove_orphans(path: Path) -> None:
    """Segment files no committed transaction lists (a writer or merge killed mid-way). Runs
    under the writer lock, so no other writer is making one right now; while a merge runs it
    waits for a later writer, since the merge's files are not listed until it commits."""
    if _merge_running(path.parent):
        return
    db = sqlite3.connect(path / DATABASE, isolation_level=None, timeout=30)
    try:
        known = {r[0] for r in db.execute("SELECT name FROM segments UNION "
                                          "SELECT name FROM retired")}
    except sqlite3.Error:
        return
    finally:
        db.close()
    for file in path.glob("seg-*"):
        stale = file.name.endswith((".tmp", MERGING_SUFFIX))  # no merge is running now
        if stale or file.name.split(".")[0] not in known:
            with contextlib.suppress(OSError):
                file.unlink()


# -- merging --------------------------------------------------------------------------------

def merge_plan(listed: Sequence[tuple[str, str, int]], tombstones: int,
               settings: VectorSettings, full: bool = False) -> list[str]:
    """Which segments to merge now: all when asked (or when over a fifth of the vectors
    are deleted); all exact ones once together they reach the HNSW threshold; the smallest
    ones when there are too many segments. Empty when nothing needs doing."""
    names = [n for n, _, _ in listed]
    total = sum(v for _, _, v in listed)
    if full or (tombstones and tombstones > 0.2 * total):
        return names if len(names) > 1 or tombstones else []
    chosen: set[str] = set()
    flat = [(n, v) for n, kind, v in listed if kind == seglib.FLAT]
    if len(flat) > 1 and sum(v for _, v in flat) >= settings.approx_above:
        chosen |= {n for n, _ in flat}
    if len(listed) > settings.max_segments:
        smallest = sorted(listed, key=lambda row: (row[2], row[0]))
        chosen |= {n for n, _, _ in smallest[: len(listed) - settings.max_segments // 2]}
    return sorted(chosen) if len(chosen) > 1 else []


def needs_merge(directory: Path, settings: VectorSettings | None = None) -> bool:
    """Cheap check (two small queries) whether `merge` has anything to do."""
    name = live_generation(directory)
    if name is None or not (directory / name / DATABASE).is_file():
        return False
    try:
        db = sqlite3.connect(f"file:{directory / name / DATABASE}?mode=ro", uri=True, timeout=30)
        try:
            listed = db.execute("SELECT name, kind, vectors FROM segments").fetchall()
            dead = db.execute("SELECT count(*) FROM tombstones").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return False
    return bool(merge_plan(listed, dead, settings or VectorSettings.from_env()))


@dataclass
class _MergePlan:
    generation: str
    chosen: list[str]  # segments to merge
    kinds: dict[str, str]
    dead: np.ndarray  # tombstoned ids when planned
    dimension: int
    segment: str  # name reserved for the merged segment


def merge(directory: Path, *, full: bool = False,
          settings: VectorSettings | None = None) -> dict[str, Any] | None:
    """Merge segments as `merge_plan` says, dropping deleted vectors; a merged segment at or
    above the threshold is built as HNSW. Only planning and the final commit hold the writer
    lock: a re-index runs while the merged segment is built (minutes at 1M vectors), like a
    search engine's background merges. One merge at a time."""
    settings = settings or VectorSettings.from_env()
    started = time.perf_counter()
    if not directory.is_dir():
        return None
    with _exclusive(directory / MERGE_LOCK):
        plan = _plan_merge(directory, settings, full)
        if plan is None:
            return None
        path = directory / plan.generation
        written: list[Path] = []
        committed = False
        try:
            try:
                parts = [seglib.read(path, n, plan.kinds[n], plan.dimension)
                         for n in plan.chosen]
            except SegmentError as exc:
                raise IndexCorrupt(f"{exc}; {rebuild_hint(directory)}") from exc
            ids = np.concatenate([p.ids for p in parts])
            vectors = np.concatenate([p.all_vectors() for p in parts])
            del parts
            keep = ~np.isin(ids, plan.dead)
            merged, written = _write_segment(path, plan.segment, ids[keep], vectors[keep],
                                             settings)
            del vectors
            committed = _commit_merge(directory, plan, merged, ids[~keep])
        finally:
            with contextlib.suppress(OSError):
                (path / f"{plan.segment}{MERGING_SUFFIX}").unlink()
            if not committed:
                for file in written:
                    with contextlib.suppress(OSError):
                        file.unlink()
    if not committed:
        return None  # a rebuild replaced the generation meanwhile: nothing left to merge
    return {"merged": len(plan.chosen), "vectors": merged.size, "kind": merged.kind,
            "dropped": int((~keep).sum()), "seconds": round(time.perf_counter() - started, 2)}


def _plan_merge(directory: Path, settings: VectorSettings, full: bool) -> _MergePlan | None:
    """Under the writer lock, briefly: what to merge, and a reserved name for the result (a
    placeholder file, so that a writer meanwhile picks another name and leaves it alone)."""
    with writer_lock(directory):
        name = live_generation(directory)
        if name is None:
            return None
        path = directory / name
        db = _connect_writer(path / DATABASE)
        try:
            manifest = _manifest_from_db(db, path, directory)
            listed = db.execute("SELECT name, kind, vectors FROM segments ORDER BY name").fetchall()
            dead = np.array([r[0] for r in db.execute("SELECT id FROM tombstones")],
                            dtype=np.int64)
            chosen = merge_plan(listed, len(dead), settings, full)
            if not chosen:
                return None
            segment = _next_segment_name(path, db)
        finally:
            db.close()
        (path / f"{segment}{MERGING_SUFFIX}").touch()
        return _MergePlan(name, chosen, {n: kind for n, kind, _ in listed}, dead,
                          int(manifest["dimension"]), segment)


def _commit_merge(directory: Path, plan: _MergePlan, merged: Segment,
                  dropped: np.ndarray) -> bool:
    """Under the writer lock: swap the merged segment in for its parts in one transaction.
    Deletions made while it was built stay as tombstones (the merged segment holds those
    ids); only the tombstones of vectors it dropped go. False if a rebuild came between."""
    with writer_lock(directory):
        if live_generation(directory) != plan.generation:
            return False
        path = directory / plan.generation
        db = _connect_writer(path / DATABASE)
        try:
            db.execute("BEGIN IMMEDIATE")
            marks = ",".join("?" * len(plan.chosen))
            still = db.execute(f"SELECT count(*) FROM segments WHERE name IN ({marks})",
                               plan.chosen).fetchone()[0]
            if still != len(plan.chosen):
                raise IndexCorrupt(f"{path}: segments {', '.join(plan.chosen)} changed during "
                                   "a merge; nothing was merged")
            manifest = _manifest_from_db(db, path, directory)
            if merged.size:
                _list_segment(db, merged)
            db.executemany("DELETE FROM segments WHERE name = ?", [(n,) for n in plan.chosen])
            db.executemany("INSERT OR REPLACE INTO retired VALUES (?, ?)",
                           [(n, time.time()) for n in plan.chosen])
            db.executemany("DELETE FROM tombstones WHERE id = ?", [(int(i),) for i in dropped])
            manifest["version"] = int(manifest.get("version", 0)) + 1
            _write_manifest(db, manifest)
            expired = _expire_retired(db)
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise
        finally:
            db.close()
        lexical_engine.advance(path, manifest["version"] - 1, manifest["version"])
        _remove_segment_files(path, expired)
    return True


def _merge_running(directory: Path) -> bool:
    """Whether a merge (in any process) holds its lock right now."""
    try:
        with open(directory / MERGE_LOCK, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def fts_query(text: str) -> str | None:
    """Words of a question as an FTS5 OR-query of quoted terms (stopwords dropped)."""
    return " OR ".join(f'"{w}"' for w in query_words(text)) or None


def filter_sql(filters: Filters | None) -> tuple[str, list[Any]]:
    """A WHERE fragment over chunks `c` and documents `d`, with its parameters."""
    if filters is None or filters.is_empty():
        return "", []
    clauses: list[str] = []
    params: list[Any] = []
    if filters.documents:
        clauses.append(f"(c.doc_id IN ({','.join('?' * len(filters.documents))}) "
                       f"OR d.path IN ({','.join('?' * len(filters.documents))}))")
        params += list(filters.documents) * 2
    if filters.title:
        clauses.append("d.title LIKE ? ESCAPE '\\'")
        params.append(f"%{_like(filters.title)}%")
    if filters.section:
        clauses.append("c.section LIKE ? ESCAPE '\\'")
        params.append(f"%{_like(filters.section)}%")
    if filters.pages:
        low, high = filters.pages
        clauses.append("c.page_end >= ? AND c.page_start <= ?")
        params += [low, high]
    if filters.date_from:
        clauses.append("d.date >= ?")
        params.append(filters.date_from)
    if filters.date_to:
        clauses.append("substr(d.date, 1, ?) <= ?")
        params += [len(filters.date_to), filters.date_to]
    return " AND ".join(clauses), params


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def peek_manifest(directory: Path) -> dict[str, Any]:
    """The live manifest as written, unchecked (settings and sources of an old or damaged
    index, to rebuild it like it was); empty when there is none to read."""
    name = live_generation(directory)
    if name is None:
        return {}
    path = directory / name
    try:
        db = sqlite3.connect(f"file:{path / DATABASE}?mode=ro", uri=True, timeout=30)
        try:
            return {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM manifest")}
        finally:
            db.close()
    except (sqlite3.Error, ValueError):
        return _legacy_manifest(path)


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The live manifest, checked (IndexCorrupt / IndexOutdated say what is wrong)."""
    name = live_generation(directory)
    if name is None:
        return None
    path = directory / name
    _check_sqlite_file(path / DATABASE, directory)
    try:
        db = sqlite3.connect(f"file:{path / DATABASE}?mode=ro", uri=True, timeout=30)
        try:
            return _manifest_from_db(db, path, directory)
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise IndexCorrupt(f"{path / DATABASE}: unreadable SQLite database ({exc}); "
                           f"{rebuild_hint(directory)}") from exc


def _next_name(directory: Path) -> str:
    numbers = [int(p.name.split("-")[1]) for p in directory.glob("gen-*")
               if p.name.split("-")[1].isdigit()]
    return f"gen-{max(numbers, default=0) + 1:06d}"


def _collect_garbage(directory: Path) -> None:
    """Keep the live generation and its predecessor (a reader may still hold it); drop older
    ones and builds abandoned by killed writers. Runs under the writer lock."""
    live = live_generation(directory) or ""
    gens = sorted(p.name for p in directory.glob("gen-*") if p.is_dir())
    older = [g for g in gens if g < live]
    keep = {live, *older[len(older) - (KEEP_GENERATIONS - 1):]}
    for name in gens:
        if name not in keep:
            shutil.rmtree(directory / name, ignore_errors=True)


def _write_atomic(path: Path, content: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync(path.parent)


def _fsync(path: Path) -> None:
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
