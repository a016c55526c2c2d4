"""The SQLite side of the local engine: schema, manifest, documents, chunks and sentences,
and filters as SQL. The one module that writes SQL; the reader and writer call it."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from search.records import (
    LABELS_META_KEY,
    OCR_META_KEY,
    Chunk,
    Document,
    Filters,
    Manifest,
    SentenceVectors,
    StoredChunk,
    StoredDocument,
    from_ocr,
    stored_meta,
)
from search.store.base import IndexCorrupt, IndexOutdated
from search.store.local.layout import DATABASE, now, rebuild_hint

FORMAT_VERSION = 5  # 5: one lexical engine (tantivy) at every size, no FTS5 tables
UPGRADABLE = 4  # format 4 differs only by its FTS5 tables: upgraded in place, not re-embedded
LEGACY_MANIFEST = "manifest.json"  # format 2 kept its manifest in a file

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
    id          INTEGER PRIMARY KEY,   -- also the vector id in the segments
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
    vectors     BLOB NOT NULL       -- float16 or int8 + scales (pack_sentences), row-major
);
CREATE TABLE IF NOT EXISTS manifest (
    key         TEXT PRIMARY KEY,   -- format version, model, dimension, settings, counts
    value       TEXT NOT NULL       -- JSON
);
CREATE TABLE IF NOT EXISTS segments (
    name        TEXT PRIMARY KEY,   -- seg-NNNNNN: the live vector segments
    kind        TEXT NOT NULL,      -- flat, hnsw, ivf or ivfpq (segments.py)
    vectors     INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    first_id    INTEGER,            -- the smallest and largest chunk id it holds (NULL: not
    last_id     INTEGER,            -- known, a segment listed before they were recorded)
    dead        INTEGER,            -- its tombstones when a merge last counted them, and
    dead_bound  INTEGER             -- the tombstones within its ids' bounds then
);
-- Chunks deleted since their segment was written: searches skip them, a merge drops them.
CREATE TABLE IF NOT EXISTS tombstones (id INTEGER PRIMARY KEY);
-- Segments merged away; their files are removed once no reader can still be opening them.
CREATE TABLE IF NOT EXISTS retired (name TEXT PRIMARY KEY, at REAL NOT NULL);
-- Chunks deleted here but still in the lexical index, where a reader of an older version may
-- still look for them; a later write removes them there once no such reader can be left.
CREATE TABLE IF NOT EXISTS lexical_pending (id INTEGER PRIMARY KEY, at REAL NOT NULL);
"""


# -- connections ----------------------------------------------------------------------------

def connect_reader(path: Path) -> sqlite3.Connection:
    """A reader's connection. mode=rw never creates the file: one removed meanwhile (a
    retired generation) is an error here, not an empty database left in its folder."""
    conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None, timeout=30)
    conn.execute("PRAGMA query_only = ON")
    return conn


def connect_readonly(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)


def connect_writer(path: Path, fresh: bool = False) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, timeout=60)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA synchronous = FULL")
    if fresh:
        db.execute("PRAGMA journal_mode = WAL")
        db.executescript(SCHEMA)
    else:  # indexes written before deferred lexical deletions existed
        db.execute("CREATE TABLE IF NOT EXISTS lexical_pending "
                   "(id INTEGER PRIMARY KEY, at REAL NOT NULL)")
        missing = [c for c in SEGMENT_COUNTS if c not in _segment_columns(db)]
        if missing:  # nor the segments' id bounds and tombstone counts: added in one go
            db.execute("BEGIN IMMEDIATE")
            try:
                for column in missing:
                    if column not in _segment_columns(db):  # another writer was first
                        db.execute(f"ALTER TABLE segments ADD COLUMN {column} INTEGER")
                db.execute("COMMIT")
            except BaseException:
                rollback(db)
                raise
    return db


SEGMENT_COUNTS = ("first_id", "last_id", "dead", "dead_bound")


def _segment_columns(db: sqlite3.Connection) -> set[str]:
    return {r[1] for r in db.execute("PRAGMA table_info(segments)")}


def rollback(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def check_file(path: Path, directory: Path) -> None:
    """Cheap structural check, so that a damaged file fails here, naming itself, and not
    mid-query: missing, not a database, or a truncated copy (its header counts more pages
    than the file holds, which SQLite finds as it reads the first page). Done through
    SQLite, never by opening the file: closing any descriptor of a database drops every
    POSIX lock this process holds on it, its connections' included, and another process
    closing then may delete the write-ahead log under them (SQLite's "how to corrupt")."""
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise IndexCorrupt(f"{path}: missing; {rebuild_hint(directory)}") from exc
    if size < 100:  # shorter than SQLite's header (SQLite would call it an empty database)
        raise IndexCorrupt(f"{path}: not an SQLite database (damaged or truncated); "
                           f"{rebuild_hint(directory)}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=30)  # never creates
        try:
            conn.execute("PRAGMA query_only = ON")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        name = getattr(exc, "sqlite_errorname", "")
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_IOERR_SHORT_READ")):
            raise IndexCorrupt(f"{path}: not a readable SQLite database ({exc}: damaged or "
                               f"truncated); {rebuild_hint(directory)}") from exc
        # locked, busy, out of descriptors...: not damage; the real open says what it is


def unreadable(path: Path, directory: Path, exc: Exception) -> IndexCorrupt:
    return IndexCorrupt(f"{path}: unreadable SQLite database ({exc}); "
                        f"{rebuild_hint(directory)}")


# -- manifest -------------------------------------------------------------------------------

def read_manifest(conn: sqlite3.Connection, path: Path, directory: Path) -> Manifest:
    """The manifest table, checked: format version and the keys every reader needs."""
    try:
        rows = conn.execute("SELECT key, value FROM manifest").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        found = legacy_manifest(path).get("format_version")
        raise IndexOutdated(f"{path / DATABASE}: index format {found}, this version reads "
                            f"{FORMAT_VERSION}; {rebuild_hint(directory)}") from exc
    try:
        data = {key: json.loads(value) for key, value in rows}
    except json.JSONDecodeError as exc:
        raise IndexCorrupt(f"{path / DATABASE}: unreadable manifest ({exc}); "
                           f"{rebuild_hint(directory)}") from exc
    if data.get("format_version") != FORMAT_VERSION:
        raise IndexOutdated(f"{path / DATABASE}: index format {data.get('format_version')}, "
                            f"this version reads {FORMAT_VERSION}; {rebuild_hint(directory)}")
    for key in ("model", "dimension", "chunk_tokens", "overlap_sentences"):
        if key not in data:
            raise IndexCorrupt(f"{path / DATABASE}: manifest lacks '{key}'; "
                               f"{rebuild_hint(directory)}")
    return Manifest.from_dict(data)


def read_version(conn: sqlite3.Connection) -> int | None:
    """The index version this connection's transaction sees (one row, not the manifest)."""
    row = conn.execute("SELECT value FROM manifest WHERE key = 'version'").fetchone()
    return None if row is None else int(json.loads(row[0]))


def write_manifest(db: sqlite3.Connection, manifest: Manifest) -> None:
    db.execute("DELETE FROM manifest")
    db.executemany("INSERT INTO manifest VALUES (?, ?)",
                   [(k, json.dumps(v, ensure_ascii=False))
                    for k, v in manifest.to_dict().items()])


def upgrade(db: sqlite3.Connection) -> Manifest:
    """Format 4 to 5 in one transaction: drop the FTS5 index (tantivy replaces it, rebuilt by
    the caller from the chunks) and record the new format."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in ("CREATE TABLE IF NOT EXISTS lexical_pending "
                          "(id INTEGER PRIMARY KEY, at REAL NOT NULL)",
                          "DROP TRIGGER IF EXISTS chunks_fts_insert",
                          "DROP TRIGGER IF EXISTS chunks_fts_delete",
                          "DROP TABLE IF EXISTS chunks_vocab", "DROP TABLE IF EXISTS chunks_fts"):
            db.execute(statement)
        data = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM manifest")}
        data.update(format_version=FORMAT_VERSION, version=int(data.get("version", 0)) + 1)
        manifest = Manifest.from_dict(data)
        write_manifest(db, manifest)
        db.execute("COMMIT")
    except BaseException:
        rollback(db)
        raise
    return manifest


def peek_manifest(path: Path) -> Manifest | None:
    """The manifest as written, unchecked; None when there is none to read."""
    try:
        db = connect_readonly(path / DATABASE)
        try:
            data = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM manifest")}
        finally:
            db.close()
    except (sqlite3.Error, ValueError):
        data = legacy_manifest(path)
    return Manifest.from_dict(data) if data else None


def legacy_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads((path / LEGACY_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# -- reading rows ---------------------------------------------------------------------------

def chunk_rows(db: sqlite3.Connection, ids: Sequence[int]) -> dict[int, StoredChunk]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    labels = f"'$.{LABELS_META_KEY}['"  # only the two labels a row cites, not the whole list
    rows = db.execute(
        "SELECT c.id, c.doc_id, c.ordinal, c.start, c.end, c.page_start, c.page_end, "
        "c.section, c.text, d.title, d.path, json_extract(d.meta, ?), "
        f"json_extract(d.meta, {labels} || (c.page_start - 1) || ']'), "
        f"json_extract(d.meta, {labels} || (c.page_end - 1) || ']') "
        "FROM chunks c JOIN documents d USING (doc_id) "
        f"WHERE c.id IN ({marks})", [f"$.{OCR_META_KEY}", *ids]).fetchall()
    out: dict[int, StoredChunk] = {}
    for r in rows:
        out[r[0]] = StoredChunk(r[0], r[1], r[2], r[3], r[4], r[5], r[6],
                                tuple(json.loads(r[7])), r[8], r[9], r[10],
                                from_ocr(json.loads(r[11]) if r[11] else None, r[5], r[6]),
                                None if r[12] is None else str(r[12]),
                                None if r[13] is None else str(r[13]))
    return out


def first_chunk_ids(db: sqlite3.Connection, limit: int) -> list[int]:
    """The ids of the first `limit` passages, ascending (the chunks table holds live ones
    only: a removed document's rows go, its ids leave a gap)."""
    return [r[0] for r in db.execute("SELECT id FROM chunks ORDER BY id LIMIT ?",
                                     (max(limit, 0),))]  # a negative LIMIT is none in SQLite


def document_chunk_ids(db: sqlite3.Connection, doc_id: str) -> list[int]:
    return [r[0] for r in db.execute(
        "SELECT id FROM chunks WHERE doc_id = ? ORDER BY ordinal", (doc_id,))]


def section_rows(db: sqlite3.Connection) -> dict[str, list[tuple[str, ...]]]:
    out: dict[str, list[tuple[str, ...]]] = {}
    for doc_id, section in db.execute("SELECT doc_id, section FROM chunks "
                                      "ORDER BY doc_id, ordinal"):
        out.setdefault(doc_id, []).append(tuple(json.loads(section)))
    return out


def sentence_rows(db: sqlite3.Connection, ids: Sequence[int],
                  dimension: int) -> dict[int, SentenceVectors]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = db.execute(f"SELECT chunk_id, spans, vectors FROM sentences "
                      f"WHERE chunk_id IN ({marks})", list(ids)).fetchall()
    return {chunk_id: SentenceVectors([(a, b) for a, b in json.loads(spans)],
                                      unpack_sentences(blob, dimension))
            for chunk_id, spans, blob in rows}


def candidate_rows(db: sqlite3.Connection, ids: Sequence[int], dimension: int
                   ) -> tuple[dict[int, StoredChunk], dict[int, SentenceVectors]]:
    """What a search's final ranking reads of these passages: their rows and their
    sentence vectors."""
    return chunk_rows(db, ids), sentence_rows(db, ids, dimension)


def pack_sentences(vectors: np.ndarray, int8: bool) -> bytes:
    """A chunk's sentence vectors as stored: float16 rows (an even number of bytes), or
    a marker byte, one float32 scale per row and int8 rows (an odd number of bytes)."""
    if not int8:
        return vectors.astype(np.float16).tobytes()
    vectors = np.asarray(vectors, dtype=np.float32)
    scales = np.maximum(np.abs(vectors).max(axis=1), 1e-12) / 127.0
    codes = np.clip(np.rint(vectors / scales[:, None]), -127, 127).astype(np.int8)
    blob = b"\x01" + scales.astype(np.float32).tobytes() + codes.tobytes()
    return blob if len(blob) % 2 else blob + b"\x00"  # odd dimension: padded to stay odd


def unpack_sentences(blob: bytes, dimension: int) -> np.ndarray:
    """Float32 rows of a stored blob, in either format (pack_sentences)."""
    if len(blob) % 2 == 0:
        return np.frombuffer(blob, dtype=np.float16).reshape(-1, dimension).astype(np.float32)
    n = (len(blob) - 1) // (dimension + 4)
    scales = np.frombuffer(blob, dtype=np.float32, count=n, offset=1)
    codes = np.frombuffer(blob, dtype=np.int8, count=n * dimension,
                          offset=1 + 4 * n).reshape(n, dimension)
    return codes.astype(np.float32) * scales[:, None]


def document_rows(db: sqlite3.Connection) -> list[StoredDocument]:
    rows = db.execute(
        "SELECT d.doc_id, d.path, d.title, d.sha256, d.page_count, d.meta, "
        "(SELECT count(*) FROM chunks c WHERE c.doc_id = d.doc_id) "
        "FROM documents d ORDER BY d.doc_id").fetchall()
    return [StoredDocument(r[0], r[1], r[2], r[3], r[4], r[6], json.loads(r[5])) for r in rows]


def document_text(db: sqlite3.Connection, doc_id: str) -> str | None:
    row = db.execute("SELECT text FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
    return row[0] if row else None


def known_documents(db: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    return {r[0]: (r[1], r[2]) for r in db.execute("SELECT doc_id, path, sha256 FROM documents")}


def lexical_rows(db: sqlite3.Connection) -> sqlite3.Cursor:
    """(id, doc_id, text, context) of every chunk, for building the lexical index."""
    return db.execute("SELECT id, doc_id, text, context FROM chunks")


def allowed_ids(db: sqlite3.Connection, filters: Filters) -> np.ndarray:
    where, params = filter_sql(filters)
    rows = db.execute("SELECT c.id FROM chunks c JOIN documents d USING (doc_id) "
                      f"WHERE {where or '1'}", params).fetchall()
    return np.array([r[0] for r in rows], dtype=np.int64)


def segment_rows(db: sqlite3.Connection) -> list[tuple[str, str, int]]:
    return db.execute("SELECT name, kind, vectors FROM segments ORDER BY name").fetchall()


@dataclass(frozen=True)
class DeadCount:
    """What the catalogue knows of one segment's tombstones without reading its ids."""

    bound: int | None  # tombstones within its first..last chunk id (None: bounds unknown)
    counted: int | None  # its own, as a merge last counted them exactly (None: never)
    counted_bound: int | None  # `bound` when they were counted

    def at_most(self, tombstones: int) -> int:
        """An upper bound of its tombstones: the exact count while the tombstones within its
        bounds are as they were then (ids are never reused, but a merged segment's span can
        take in another's ids, and their tombstones), else the bound."""
        if self.bound is None:
            return tombstones
        if self.counted is not None and self.counted_bound == self.bound:
            return self.counted
        return self.bound


def dead_counts(db: sqlite3.Connection) -> dict[str, DeadCount]:
    """Per segment, what bounds its tombstones (DeadCount): two indexed range counts."""
    if not set(SEGMENT_COUNTS) <= _segment_columns(db):  # read-only, before the migration
        return {name: DeadCount(None, None, None) for name, _, _ in segment_rows(db)}
    return {name: DeadCount(None if lo is None else n, dead, bound)
            for name, lo, n, dead, bound in db.execute(
                "SELECT s.name, s.first_id, (SELECT count(*) FROM tombstones t "
                "WHERE t.id BETWEEN s.first_id AND s.last_id), s.dead, s.dead_bound "
                "FROM segments s")}


def set_id_bounds(db: sqlite3.Connection, name: str, ids: np.ndarray) -> None:
    first, last = (int(ids.min()), int(ids.max())) if len(ids) else (None, None)
    db.execute("UPDATE segments SET first_id = ?, last_id = ? WHERE name = ?",
               (first, last, name))


def set_dead_count(db: sqlite3.Connection, name: str, dead: int, bound: int) -> None:
    db.execute("UPDATE segments SET dead = ?, dead_bound = ? WHERE name = ?",
               (dead, bound, name))


def tombstone_ids(db: sqlite3.Connection) -> np.ndarray:
    return np.array([r[0] for r in db.execute("SELECT id FROM tombstones ORDER BY id")],
                    dtype=np.int64)


def hidden_ids(db: sqlite3.Connection) -> np.ndarray:
    """Chunk ids no search may return, sorted: tombstones (deleted, vectors still in a
    segment) and deletions still in the lexical index (lexical_pending)."""
    return np.array([r[0] for r in db.execute(
        "SELECT id FROM tombstones UNION SELECT id FROM lexical_pending ORDER BY id")],
        dtype=np.int64)


def segment_names(db: sqlite3.Connection, retired: bool = True) -> set[str]:
    sql = "SELECT name FROM segments" + (" UNION SELECT name FROM retired" if retired else "")
    return {r[0] for r in db.execute(sql)}


def counts(db: sqlite3.Connection) -> tuple[int, int, int, int]:
    """(documents, chunks, vectors in listed segments, tombstones)."""
    return db.execute(
        "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks), "
        "(SELECT coalesce(sum(vectors), 0) FROM segments), "
        "(SELECT count(*) FROM tombstones)").fetchone()


# -- writing rows ---------------------------------------------------------------------------

def context_of(title: str, section: Sequence[str]) -> str:
    """Title and headings: searchable beside a passage's own words."""
    return " › ".join([title, *section])


def insert_document(db: sqlite3.Connection, doc: Document) -> None:
    date = doc.meta.get("date")
    db.execute(
        "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (doc.doc_id, doc.path, doc.title, doc.sha256, doc.page_count,
         json.dumps([[p.number, p.start, p.end] for p in doc.pages]),
         json.dumps(stored_meta(doc), ensure_ascii=False), doc.text,
         str(date) if date else None, now()))


def insert_chunks(db: sqlite3.Connection, ids: np.ndarray, chunks: Sequence[Chunk],
                  contexts: Sequence[str],
                  sentences: Sequence[SentenceVectors] | None, int8: bool = False) -> None:
    db.executemany(
        "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(int(i), c.doc_id, c.ordinal, c.start, c.end, c.page_start, c.page_end,
          json.dumps(list(c.section), ensure_ascii=False), c.text, context)
         for i, c, context in zip(ids, chunks, contexts, strict=True)])
    if sentences is not None:
        db.executemany(
            "INSERT INTO sentences VALUES (?, ?, ?)",
            [(int(i), json.dumps(s.spans), pack_sentences(s.vectors, int8))
             for i, s in zip(ids, sentences, strict=True) if s.spans])


def delete_document(db: sqlite3.Connection, doc_id: str) -> list[int]:
    """Delete a document and its chunks; returns the chunk ids it had."""
    ids = [r[0] for r in db.execute("SELECT id FROM chunks WHERE doc_id = ?", (doc_id,))]
    db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
    db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
    return ids


def add_tombstones(db: sqlite3.Connection, ids: Sequence[int]) -> None:
    db.executemany("INSERT OR IGNORE INTO tombstones VALUES (?)", [(int(i),) for i in ids])


def add_lexical_pending(db: sqlite3.Connection, ids: Sequence[int], at: float) -> None:
    db.executemany("INSERT OR REPLACE INTO lexical_pending VALUES (?, ?)",
                   [(int(i), at) for i in ids])


def take_lexical_pending(db: sqlite3.Connection, before: float | None = None,
                         among: Sequence[int] | None = None) -> list[int]:
    """Pending lexical deletions made before `before` (and among these ids, when given), or
    all of them; removed from the table in the caller's transaction."""
    clauses, params = [], []
    if among is not None:
        _wanted(db, among)
        clauses.append("id IN (SELECT id FROM wanted)")
    if before is not None:
        clauses.append("at < ?")
        params.append(before)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    ids = [r[0] for r in db.execute(f"SELECT id FROM lexical_pending {where}", params)]
    db.execute(f"DELETE FROM lexical_pending {where}", params)
    return ids


def _wanted(db: sqlite3.Connection, ids: Sequence[int]) -> None:
    db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (id INTEGER PRIMARY KEY)")
    db.execute("DELETE FROM wanted")
    db.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", [(int(i),) for i in ids])


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
