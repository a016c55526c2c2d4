"""The one place that knows the on-disk format of an index.

    index/
      CURRENT            name of the live generation, replaced atomically
      .lock              held by the one writer
      gen-000007/
        manifest.json    format version, model, dimension, chunking settings, counts
        meta.sqlite      documents and chunks (text, offsets, pages, sections)
        vectors.faiss    normalised vectors, ids = chunks.id, inner product

A writer builds the next generation beside the live one and only then points CURRENT at it,
so a crash or kill at any moment leaves the last good index usable; readers notice the new
CURRENT and reopen.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import sqlite3
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from .lexical import STOPWORDS, WORD
from .records import Chunk, Document, Filters

FORMAT_VERSION = 2
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
DATABASE = "meta.sqlite"
VECTORS = "vectors.faiss"
LOCK = ".lock"
KEEP_GENERATIONS = 2  # the live one and its predecessor, for readers still holding it

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
    """A generation removed after a newer one went live; reopen and try again."""


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


class Snapshot:
    """A read-only view of one generation: what every query of a search runs against."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        self.path = directory / name
        self.manifest = _read_manifest(self.path / MANIFEST, directory)
        self.db_path = self.path / DATABASE
        _check_sqlite_file(self.db_path, directory)
        self._local = threading.local()
        try:
            self.db.execute("SELECT count(*) FROM chunks").fetchone()
        except sqlite3.DatabaseError as exc:
            raise IndexCorrupt(f"{self.db_path}: unreadable SQLite database ({exc}); "
                               f"{rebuild_hint(directory)}") from exc
        self.vectors = _read_vectors(self.path / VECTORS, directory)
        if self.vectors.d != self.manifest["dimension"]:
            raise IndexCorrupt(f"{self.path / VECTORS}: dimension {self.vectors.d} does not "
                               f"match manifest ({self.manifest['dimension']}); "
                               f"{rebuild_hint(directory)}")

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's read-only connection: a generation never changes once live, so
        every thread reads the same version without sharing a connection."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if not self.db_path.is_file():
                raise StaleSnapshot(f"{self.path}: replaced by a newer generation")
            conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
            self._local.conn = conn
        return conn

    def search_vectors(self, query: np.ndarray, k: int,
                       allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Nearest chunks by inner product; `allowed` restricts to those chunk ids."""
        if self.vectors.ntotal == 0 or k <= 0 or (allowed is not None and not len(allowed)):
            return []
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
            k = min(k, len(allowed))
        scores, ids = self.vectors.search(query.reshape(1, -1).astype(np.float32),
                                          min(k, self.vectors.ntotal), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def vectors_of(self, ids: Sequence[int]) -> np.ndarray:
        """Stored vectors of these chunks (to score lexical hits semantically)."""
        return np.vstack([self.vectors.reconstruct(int(i)) for i in ids]) if ids else \
            np.zeros((0, self.vectors.d), dtype=np.float32)

    def search_lexical(self, query: str, k: int,
                       filters: Filters | None = None) -> list[tuple[int, float]]:
        """BM25 over the FTS5 index; the query is reduced to quoted words, so no FTS syntax
        (quotes, `*`, NEAR, OR, column filters) from the user is ever interpreted."""
        match = fts_query(query)
        if match is None or k <= 0:
            return []
        where, params = filter_sql(filters)
        rank = f"bm25(chunks_fts, 1.0, {CONTEXT_WEIGHT})"
        sql = ("SELECT c.id, -" + rank + " FROM chunks_fts "
               "JOIN chunks c ON c.id = chunks_fts.rowid JOIN documents d USING (doc_id) "
               f"WHERE chunks_fts MATCH ? {'AND ' + where if where else ''} "
               f"ORDER BY {rank} LIMIT ?")
        return [(int(i), float(s)) for i, s in self.db.execute(sql, [match, *params, k])]

    def doc_freq(self, term: str) -> int:
        """Passages containing a stemmed term (from the lexical index's own vocabulary)."""
        row = self.db.execute("SELECT doc FROM chunks_vocab WHERE term = ?", (term,)).fetchone()
        return int(row[0]) if row else 0

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
        return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())


def _check_sqlite_file(path: Path, directory: Path) -> None:
    """Cheap structural check: the header's page count must fit in the file (a truncated
    copy otherwise opens fine and fails later, mid-query)."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(100)
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise IndexCorrupt(f"{path}: missing; {rebuild_hint(directory)}") from exc
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        raise IndexCorrupt(f"{path}: not an SQLite database (damaged or truncated); "
                           f"{rebuild_hint(directory)}")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if pages and size < pages * page_size:
        raise IndexCorrupt(f"{path}: truncated ({size} of {pages * page_size} bytes); "
                           f"{rebuild_hint(directory)}")


def _read_manifest(path: Path, directory: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IndexCorrupt(f"{path}: missing; {rebuild_hint(directory)}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexCorrupt(f"{path}: unreadable manifest ({exc}); "
                           f"{rebuild_hint(directory)}") from exc
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        found = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise IndexOutdated(f"{path}: index format {found}, this version reads {FORMAT_VERSION}; "
                            f"{rebuild_hint(directory)}")
    for key in ("model", "dimension", "chunk_tokens", "overlap_sentences"):
        if key not in manifest:
            raise IndexCorrupt(f"{path}: manifest lacks '{key}'; {rebuild_hint(directory)}")
    return manifest


def _read_vectors(path: Path, directory: Path) -> faiss.Index:
    if not path.is_file():
        raise IndexCorrupt(f"{path}: missing; {rebuild_hint(directory)}")
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "read failed"
        raise IndexCorrupt(f"{path}: unreadable FAISS index ({first}); "
                           f"{rebuild_hint(directory)}") from exc


def open_snapshot(directory: Path) -> Snapshot:
    name = live_generation(directory)
    if name is None:
        raise IndexNotFound(f"{directory}: no index here yet; build one with: "
                            f"evidence-search index corpus/ --index {directory}")
    return Snapshot(directory, name)


@contextlib.contextmanager
def writer_lock(directory: Path) -> Iterator[None]:
    """One writer at a time; a second one waits, and says so."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"{directory}: another re-index is running; waiting for it to finish",
                  file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Writer:
    """Builds the next generation from the live one (or from nothing when rebuilding)."""

    def __init__(self, directory: Path, manifest: dict[str, Any], rebuild: bool) -> None:
        self.directory = directory
        self.manifest = dict(manifest)
        previous = None if rebuild else live_generation(directory)
        self.name = _next_name(directory)
        self.path = directory / self.name
        self.path.mkdir(parents=True)
        self.db = sqlite3.connect(self.path / DATABASE)
        try:
            if previous is not None:
                source = sqlite3.connect(f"file:{directory / previous / DATABASE}?mode=ro",
                                         uri=True)
                try:
                    source.backup(self.db)
                finally:
                    source.close()
                self.vectors = _read_vectors(directory / previous / VECTORS, directory)
            else:
                self.vectors = faiss.IndexIDMap2(faiss.IndexFlatIP(int(manifest["dimension"])))
            self.db.executescript(SCHEMA)
            self.db.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            self.abort()  # a full disk while copying: leave nothing half-made behind
            raise

    def known(self) -> dict[str, tuple[str, str]]:
        """doc_id -> (path, sha256) of what the index holds now."""
        return {r[0]: (r[1], r[2]) for r in
                self.db.execute("SELECT doc_id, path, sha256 FROM documents")}

    def remove(self, doc_ids: Iterable[str]) -> int:
        ids: list[int] = []
        for doc_id in doc_ids:
            ids += [r[0] for r in self.db.execute("SELECT id FROM chunks WHERE doc_id = ?",
                                                  (doc_id,))]
            self.db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
            self.db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
        if ids:
            self.vectors.remove_ids(np.array(ids, dtype=np.int64))
        return len(ids)

    def add(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        self.remove([doc.doc_id])
        date = doc.meta.get("date")
        self.db.execute(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (doc.doc_id, doc.path, doc.title, doc.sha256, doc.page_count,
             json.dumps([[p.number, p.start, p.end] for p in doc.pages]),
             json.dumps(doc.meta, ensure_ascii=False), doc.text,
             str(date) if date else None, _now()))
        next_id = self.db.execute("SELECT coalesce(max(id), 0) + 1 FROM chunks").fetchone()[0]
        ids = np.arange(next_id, next_id + len(chunks), dtype=np.int64)
        self.db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(int(i), c.doc_id, c.ordinal, c.start, c.end, c.page_start, c.page_end,
              json.dumps(list(c.section), ensure_ascii=False), c.text,
              " › ".join([doc.title, *c.section]))
             for i, c in zip(ids, chunks, strict=True)])
        if len(chunks):
            self.vectors.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)

    def commit(self) -> str:
        """Make this generation live: write, flush to disk, then swap CURRENT atomically."""
        documents, chunks = self.db.execute(
            "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks)").fetchone()
        if chunks != self.vectors.ntotal:
            raise IndexCorrupt(f"{self.path}: {chunks} chunks but {self.vectors.ntotal} vectors")
        self.db.commit()
        self.db.close()
        faiss.write_index(self.vectors, str(self.path / VECTORS))
        self.manifest.update(format_version=FORMAT_VERSION, generation=self.name,
                             built_at=_now(), documents=documents, chunks=chunks)
        _write_atomic(self.path / MANIFEST, json.dumps(self.manifest, indent=2) + "\n")
        for name in (DATABASE, VECTORS):
            _fsync(self.path / name)
        _fsync(self.path)
        _write_atomic(self.directory / CURRENT, self.name + "\n")
        _collect_garbage(self.directory)
        return self.name

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.db.close()
        shutil.rmtree(self.path, ignore_errors=True)


def fts_query(text: str) -> str | None:
    """Words of a question as an FTS5 OR-query of quoted terms (stopwords dropped)."""
    words = list(dict.fromkeys(w for w in WORD.findall(text.lower())))
    content = [w for w in words if w not in STOPWORDS]
    chosen = content or words
    return " OR ".join(f'"{w}"' for w in chosen[:64]) or None


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
    try:
        data = json.loads((directory / str(name) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_manifest(directory: Path) -> dict[str, Any] | None:
    name = live_generation(directory)
    return None if name is None else _read_manifest(directory / name / MANIFEST, directory)


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
