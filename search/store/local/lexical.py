"""BM25 for the local engine: a tantivy index beside meta.sqlite, derived from it.

One engine at every size. Tantivy (a Lucene-like engine with block-max WAND) finds the best k
without scoring every passage that holds a query word — at 1M passages about 11 ms where
SQLite FTS5 took 120 ms (docs/PERFORMANCE.md). Each passage is one `body` field, its title and
headings before its text: on SciFact that ranks within 0.005 nDCG@10 of the FTS5 index it
replaced (0.681 against 0.686), where separate title and text fields, each with its own length
norm, lost 0.017.

SQLite stays the source of truth: `lexical/VERSION` records which index version the tantivy
index reflects; a writer brings it up to date after each commit (replaying the commit's
changes, or rebuilding from SQLite when out of step), and a reader that finds it behind (a
crash between the two commits) repairs it when no writer is running (reader.py).

    gen-000001/lexical/          tantivy's own files
    gen-000001/lexical/VERSION   the index version it reflects
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import Stemmer
import tantivy

from search.store.local.catalogue import lexical_rows
from search.words import query_words

DIRNAME = "lexical"
VERSION_FILE = "VERSION"
WRITER_HEAP = 128_000_000
_english = Stemmer.Stemmer("english")  # Snowball English, as tantivy's en_stem

Row = tuple[int, str, str, str]  # a passage for the index: (id, doc_id, text, context)


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("id", stored=True, indexed=True, fast=True)
    builder.add_text_field("doc_id", stored=False, tokenizer_name="raw")
    builder.add_text_field("body", stored=False, tokenizer_name="en_stem")
    return builder.build()


def read_version(generation: Path) -> int | None:
    try:
        return int((generation / DIRNAME / VERSION_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _write_version(generation: Path, version: int) -> None:
    path = generation / DIRNAME / VERSION_FILE
    tmp = path.with_name(VERSION_FILE + ".tmp")
    tmp.write_text(f"{version}\n")
    os.replace(tmp, path)


def mark_stale(generation: Path) -> None:
    """Readers see the index as behind until `sync` writes the version again."""
    with contextlib.suppress(FileNotFoundError):
        (generation / DIRNAME / VERSION_FILE).unlink()


def _document(row: Sequence) -> tantivy.Document:
    return tantivy.Document(id=int(row[0]), doc_id=str(row[1]),
                            body=f"{row[3]}\n{row[2]}")  # headings, then the passage


def rebuild(generation: Path, db: sqlite3.Connection, version: int) -> None:
    """The tantivy index from the chunks table, built aside and then swapped in."""
    target = generation / DIRNAME
    building = generation / (DIRNAME + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    index = tantivy.Index(_schema(), path=str(building))
    writer = index.writer(heap_size=WRITER_HEAP, num_threads=min(2, os.cpu_count() or 1))
    for row in lexical_rows(db):
        writer.add_document(_document(row))
    writer.commit()
    writer.wait_merging_threads()
    old = generation / (DIRNAME + ".old")
    shutil.rmtree(old, ignore_errors=True)
    mark_stale(generation)
    if target.exists():
        os.replace(target, old)
    os.replace(building, target)
    shutil.rmtree(old, ignore_errors=True)
    _write_version(generation, version)


def in_step(generation: Path, version: int) -> bool:
    """Whether the tantivy index holds exactly the catalogue's `version`."""
    return read_version(generation) == version and \
        tantivy.Index.exists(str(generation / DIRNAME))


def prepare(generation: Path, adds: Sequence[Row], deletes: Sequence[int]) -> None:
    """Before the catalogue commits: add this write's passages (under new ids, which readers
    of older versions do not see) and drop passages deleted long enough ago that no reader
    can still be at a version that holds them. Passages deleted now stay until then: readers
    of the new version skip them (tombstones). Marks the index stale until `finish`."""
    mark_stale(generation)
    if not adds and not deletes:
        return
    index = tantivy.Index.open(str(generation / DIRNAME))
    writer = index.writer(heap_size=WRITER_HEAP, num_threads=1)
    if deletes:
        writer.delete_documents_by_query(
            tantivy.Query.term_set_query(index.schema, "id", [int(i) for i in deletes]))
    for row in adds:
        writer.add_document(_document(row))
    writer.commit()
    writer.wait_merging_threads()


def finish(generation: Path, version: int) -> None:
    """After the catalogue commits: record the version the index now serves."""
    _write_version(generation, version)


class Reader:
    """Searches one generation's tantivy index, reopening it after a rebuild."""

    def __init__(self, generation: Path) -> None:
        self.generation = generation
        self._lock = threading.Lock()
        self._index: tantivy.Index | None = None
        self._identity: tuple[int, int] | None = None
        self._version: int | None = None

    def search(self, text: str, k: int, version: int,
               allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Best k (chunk id, BM25 score), only among `allowed` chunk ids when given. Raises
        OSError or ValueError when the index is unreadable."""
        words = " ".join(query_words(text))
        if not words or k <= 0 or (allowed is not None and not len(allowed)):
            return []
        with self._lock:
            index = self._open(version)
        query = index.parse_query(words, ["body"])
        if allowed is not None:
            only = tantivy.Query.term_set_query(index.schema, "id",
                                                [int(i) for i in allowed])
            query = tantivy.Query.boolean_query([
                (tantivy.Occur.Must, query),
                (tantivy.Occur.Must, tantivy.Query.const_score_query(only, 0.0))])
        searcher = index.searcher()
        hits = searcher.search(query, k).hits
        ids = searcher.fast_field_values("id", [address for _, address in hits])
        return [(int(i), float(score)) for (score, _), i in zip(hits, ids, strict=True)
                if i is not None]

    def near(self, word: str, distance: int, k: int, version: int) -> list[int]:
        """Chunk ids of up to k passages holding a word within `distance` edits of this one
        (on tantivy's stems): where to look for what a misspelt word meant."""
        with self._lock:
            index = self._open(version)
        query = tantivy.Query.fuzzy_term_query(index.schema, "body",
                                               _english.stemWord(word.lower()),
                                               distance=distance, transposition_cost_one=True)
        searcher = index.searcher()
        hits = searcher.search(query, k).hits
        return [int(i) for i in searcher.fast_field_values("id", [a for _, a in hits])
                if i is not None]

    def doc_freq(self, word: str, version: int) -> int:
        """Passages holding this word (stemmed as tantivy stems): a term-dictionary lookup.
        Counts deleted passages until tantivy merges them away."""
        with self._lock:
            index = self._open(version)
        return int(index.searcher().doc_freq("body", _english.stemWord(word.lower())))

    def _open(self, version: int) -> tantivy.Index:
        """The index, reopened after a rebuild and reloaded when `version` is new."""
        path = self.generation / DIRNAME
        stat = path.stat()
        identity = (stat.st_ino, stat.st_dev)
        if self._index is None or identity != self._identity:
            self._index = tantivy.Index.open(str(path))
            self._identity, self._version = identity, version
        elif self._version != version:
            self._index.reload()
            self._version = version
        return self._index
