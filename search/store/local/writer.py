"""Writing the local engine. A re-index changes the live generation in place, in proportion
to the change: one SQLite transaction adds and deletes rows, one new small segment holds the
new vectors, deleted chunks become tombstones that searches skip. A rebuild (new model,
damaged or old-format index) writes a whole new generation beside the live one and then
points CURRENT at it. Either way a crash or kill at any moment leaves the last good index
usable: SQLite's transaction and the CURRENT swap are the only commit points, and a segment
file counts only once a committed transaction lists it."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from search.config import VectorSettings
from search.records import Chunk, Document, Manifest, SentenceVectors
from search.store.base import IndexCorrupt, IndexWriteFailed
from search.store.local import catalogue, lexical
from search.store.local import segments as seglib
from search.store.local.layout import (
    DATABASE,
    collect_garbage,
    fsync,
    live_generation,
    merge_running,
    next_generation,
    now,
    rebuild_hint,
    write_atomic,
    writer_lock,
)
from search.store.local.segments import Segment

MERGING_SUFFIX = ".merging"  # placeholder reserving a segment name while a merge builds it
RETIRE_GRACE_SECONDS = 60.0  # merged-away segment files outlive their last possible reader
# Changes replayed into tantivy; beyond this and beyond the passages already there (where
# re-reading them all costs less than the replay), the lexical index is rebuilt.
LEXICAL_REPLAY_MAX = 200_000
CURRENT = "CURRENT"


@contextlib.contextmanager
def _refused(path: Path) -> Iterator[None]:
    """SQLite refusing a write (full disk, locked, read-only file) as the store's error."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise IndexWriteFailed(f"{path}: could not write the index ({exc}); the previous "
                               "index is unchanged") from exc


class LocalWriter:
    """Changes to one local index (base.Writer), used as `with store.writer(m) as w: …;
    w.commit()`. Holds the writer lock from entering until commit or abort; leaving the
    block without a commit aborts."""

    def __init__(self, directory: Path, manifest: Manifest, rebuild: bool,
                 vector_settings: VectorSettings | None = None) -> None:
        self.directory = directory
        self.manifest = manifest
        self.vector_settings = vector_settings or VectorSettings.from_env()
        self._rebuild = rebuild
        self._held: contextlib.ExitStack | None = None  # the writer lock, while open
        self._committed = False
        self._pending: list[tuple[str, np.ndarray, np.ndarray]] = []  # doc, ids, vectors
        self._pending_docs: set[str] = set()
        self._lexical_adds: list[lexical.Row] = []  # passages this write adds
        self._lexical_deleted: list[int] = []  # ids this write deletes
        self._lexical_rebuild = rebuild  # replaying would cost more than rebuilding
        self._written: list[Path] = []
        self.db: sqlite3.Connection | None = None
        self.stored: Manifest | None = None
        self.fresh = False

    def __enter__(self) -> LocalWriter:
        """Take the writer lock and open the write: the live generation's catalogue in one
        transaction, or a new generation for a rebuild."""
        self._held = contextlib.ExitStack()
        self._held.enter_context(writer_lock(self.directory))
        directory, rebuild = self.directory, self._rebuild
        try:
            live = None if rebuild else live_generation(directory)
            self.fresh = live is None
            self.name = next_generation(directory) if live is None else live
            self.path = directory / self.name
            if self.fresh:
                self.path.mkdir(parents=True)
            else:
                catalogue.check_file(self.path / DATABASE, directory)
            with _refused(self.path):
                self.db = catalogue.connect_writer(self.path / DATABASE, fresh=self.fresh)
                self.db.execute("BEGIN IMMEDIATE")
            if not self.fresh:
                self.stored = catalogue.read_manifest(self.db, self.path, directory)
            self.version = self.stored.version if self.stored else 0
            self.next_id = self.stored.next_chunk_id if self.stored else 1
            if not self.fresh and not lexical.in_step(self.path, self.version):
                # a write killed before its commit left the lexical index ahead, under ids
                # this write is about to reuse: rebuild it from the catalogue first
                lexical.rebuild(self.path, self.db, self.version)
        except BaseException:
            self.abort()  # a full disk while starting: leave nothing half-made behind
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._committed:  # left without a commit, or the commit failed part way
            self.abort()

    def known(self) -> dict[str, tuple[str, str]]:
        assert self.db is not None
        return catalogue.known_documents(self.db)

    def remove(self, doc_ids: Iterable[str]) -> int:
        with _refused(self.path):
            return self._remove(doc_ids)

    def _remove(self, doc_ids: Iterable[str]) -> int:
        assert self.db is not None
        removed = 0
        for doc_id in doc_ids:
            ids = catalogue.delete_document(self.db, doc_id)
            removed += len(ids)
            if doc_id in self._pending_docs:  # added earlier in this same write: no vector
                self._pending = [p for p in self._pending if p[0] != doc_id]  # stored yet
                self._pending_docs.discard(doc_id)
                self._lexical_adds = [r for r in self._lexical_adds if r[1] != doc_id]
            elif ids and not self.fresh:
                catalogue.add_tombstones(self.db, ids)
                self._lexical_deleted += ids
        return removed

    def add(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray,
            sentences: Sequence[SentenceVectors] | None = None) -> None:
        """Store a document's chunks with their vectors (and, optionally, their sentences')."""
        with _refused(self.path):
            self._add(doc, chunks, vectors, sentences)

    def _add(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray,
             sentences: Sequence[SentenceVectors] | None) -> None:
        assert self.db is not None
        if len(chunks) != len(vectors) or (sentences is not None
                                           and len(sentences) != len(chunks)):
            raise ValueError("one vector (and one sentence set) per chunk")
        self.remove([doc.doc_id])
        catalogue.insert_document(self.db, doc)
        ids = np.arange(self.next_id, self.next_id + len(chunks), dtype=np.int64)
        self.next_id += len(chunks)
        contexts = [catalogue.context_of(doc.title, c.section) for c in chunks]
        catalogue.insert_chunks(self.db, ids, chunks, contexts, sentences,
                                int8=self.vector_settings.sentence_precision == "int8")
        if not self.fresh:
            self._lexical_adds += [(int(i), c.doc_id, c.text, context)
                                   for i, c, context in zip(ids, chunks, contexts, strict=True)]
        if len(chunks):
            self._pending.append((doc.doc_id, ids,
                                  np.ascontiguousarray(vectors, dtype=np.float32)))
            self._pending_docs.add(doc.doc_id)

    def commit(self) -> str:
        """Write the new segment, then commit the transaction that lists it (the one commit
        point); a rebuilt generation then goes live by swapping CURRENT."""
        assert self.db is not None
        try:
            with _refused(self.path):
                name = self._commit()
            self._committed = True
            return name
        finally:
            self._release()

    def _commit(self) -> str:
        assert self.db is not None
        documents, chunks, stored, dead = catalogue.counts(self.db)
        pending = sum(len(ids) for _, ids, _ in self._pending)
        if chunks != stored - dead + pending:
            raise IndexCorrupt(f"{self.path}: {chunks} chunks but {stored - dead + pending} "
                               f"vectors; {rebuild_hint(self.directory)}")
        if pending:
            part, written = write_segment(
                self.path, next_segment_name(self.path, self.db),
                np.concatenate([p[1] for p in self._pending]),
                np.concatenate([p[2] for p in self._pending]), self.vector_settings)
            self._written += written
            list_segment(self.db, part)
        self.version += 1
        self.manifest = replace(
            self.manifest, format_version=catalogue.FORMAT_VERSION, generation=self.name,
            built_at=now(), documents=documents, chunks=chunks, version=self.version,
            next_chunk_id=self.next_id)
        catalogue.write_manifest(self.db, self.manifest)
        expired = expire_retired(self.db)
        replay = (not self.fresh and not self._lexical_rebuild
                  and len(self._lexical_adds) + len(self._lexical_deleted)
                  <= max(LEXICAL_REPLAY_MAX, stored - dead)
                  and lexical.in_step(self.path, self.version - 1))
        if replay:  # new passages go in first, under ids the older version does not show
            due = catalogue.take_lexical_pending(self.db, time.time() - RETIRE_GRACE_SECONDS)
            catalogue.add_lexical_pending(self.db, self._lexical_deleted, time.time())
            lexical.prepare(self.path, self._lexical_adds, due)
        else:  # the lexical index is rebuilt from the catalogue: nothing stays pending
            catalogue.take_lexical_pending(self.db)
        self.db.execute("COMMIT")
        self._written = []  # listed by a committed transaction: the index's now
        if self.fresh:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()
        self.db = None
        remove_segment_files(self.path, expired)
        sync_lexical(self.path, self.version, rebuild=not replay)
        if self.fresh:
            for f in self.path.rglob("*"):
                fsync(f)
            fsync(self.path)
            write_atomic(self.directory / CURRENT, self.name + "\n")
            self.fresh = False  # live now: nothing after this point may remove it
            collect_garbage(self.directory)
        else:
            remove_orphans(self.path)
        return self.name

    def abort(self) -> None:
        if self.db is not None:
            catalogue.rollback(self.db)
            with contextlib.suppress(Exception):
                self.db.close()
            self.db = None
        for path in self._written:
            with contextlib.suppress(OSError):
                path.unlink()
        self._written = []
        if self.fresh:
            shutil.rmtree(self.path, ignore_errors=True)
        self._release()

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.close()


def sync_lexical(path: Path, version: int, rebuild: bool) -> None:
    """After a commit: record the version the lexical index now serves, or rebuild it from
    the catalogue. The commit has happened, so a failure here costs nothing stored: a reader
    rebuilds the lexical index when no writer runs."""
    db = catalogue.connect_readonly(path / DATABASE)
    try:
        if rebuild:
            lexical.rebuild(path, db, version)
        else:
            lexical.finish(path, version)
    except Exception as exc:  # noqa: BLE001 - reported; readers repair it
        lexical.mark_stale(path)
        print(f"{path}: lexical index not updated ({exc}); it is rebuilt on next open",
              file=sys.stderr)
    finally:
        db.close()


def write_segment(path: Path, name: str, ids: np.ndarray, vectors: np.ndarray,
                  settings: VectorSettings) -> tuple[Segment, list[Path]]:
    """Build a segment and write its files durably; it counts once `list_segment` commits."""
    part = seglib.build(name, ids, vectors, settings)
    if not part.size:
        return part, []
    written = seglib.write(part, path)
    fsync(path)
    return part, written


def list_segment(db: sqlite3.Connection, part: Segment) -> None:
    db.execute("INSERT INTO segments (name, kind, vectors, created_at) VALUES (?, ?, ?, ?)",
               (part.name, part.kind, part.size, now()))
    catalogue.set_id_bounds(db, part.name, part.ids)


def next_segment_name(path: Path, db: sqlite3.Connection) -> str:
    names = list(catalogue.segment_names(db))
    names += [p.name.split(".")[0] for p in path.glob("seg-*")]
    numbers = [int(n.split("-")[1]) for n in names if n.split("-")[1].isdigit()]
    return f"seg-{max(numbers, default=0) + 1:06d}"


def expire_retired(db: sqlite3.Connection) -> list[str]:
    """Retired segments past their grace period: forget them (files go after commit)."""
    cutoff = time.time() - RETIRE_GRACE_SECONDS
    names = [r[0] for r in db.execute("SELECT name FROM retired WHERE at < ?", (cutoff,))]
    db.execute("DELETE FROM retired WHERE at < ?", (cutoff,))
    return names


def remove_segment_files(path: Path, names: Iterable[str]) -> None:
    for name in names:
        for file in seglib.files_of(name):
            with contextlib.suppress(OSError):
                (path / file).unlink()


def remove_orphans(path: Path) -> None:
    """Segment files no committed transaction lists (a writer or merge killed mid-way). Runs
    under the writer lock, so no other writer is making one right now; while a merge runs it
    waits for a later writer, since the merge's files are not listed until it commits."""
    if merge_running(path.parent):
        return
    db = catalogue.connect_readonly(path / DATABASE)
    try:
        known = catalogue.segment_names(db)
    except sqlite3.Error:
        return
    finally:
        db.close()
    for file in path.glob("seg-*"):
        stale = file.name.endswith((".tmp", MERGING_SUFFIX))  # no merge is running now
        if stale or file.name.split(".")[0] not in known:
            with contextlib.suppress(OSError):
                file.unlink()
