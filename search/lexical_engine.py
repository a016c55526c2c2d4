"""Top-k BM25 for large indexes: a tantivy index beside meta.sqlite, derived from it.

FTS5 scores every passage holding any query word; tantivy (a Lucene-like engine with
block-max WAND) finds the best k without scoring them all — at 1M passages about 11 ms
against 120 ms (docs/PERFORMANCE.md). SQLite stays the source of truth: the tantivy index
records in `lexical/VERSION` which index version it reflects, a search uses it only when
that is the version it is reading, and otherwise (a write in progress, a crash between the
two commits, filtered searches, small indexes) FTS5 answers. A writer brings it up to date
after each commit, or rebuilds it from SQLite when it is missing or out of step.

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

import Stemmer
import tantivy

from .lexical import query_words

DIRNAME = "lexical"
VERSION_FILE = "VERSION"
ENGINE_ABOVE = 50_000  # passages; EVIDENCE_SEARCH_LEXICAL_ENGINE_ABOVE overrides
# Title and headings are a field of their own here, with their own length norm, so they
# weigh less than FTS5's in-document column weight of 0.5: SciFact lexical nDCG@10 with the
# engine forced on was 0.636 / 0.663 / 0.669 / 0.669 / 0.660 at boosts 1 / 0.5 / 0.2 / 0.1 / 0.
CONTEXT_BOOST = 0.2
WRITER_HEAP = 128_000_000
_english = Stemmer.Stemmer("english")  # Snowball English, as tantivy's en_stem

Op = tuple[str, tuple]  # ("delete", (doc_id,)) or ("add", (id, doc_id, text, context))


def enabled(passages: int) -> bool:
    """Whether an index this large keeps (and searches) a tantivy index."""
    raw = os.environ.get("EVIDENCE_SEARCH_LEXICAL_ENGINE_ABOVE")
    return passages > (int(raw) if raw and raw.isdigit() else ENGINE_ABOVE)


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("id", stored=True, indexed=True, fast=True)
    builder.add_text_field("doc_id", stored=False, tokenizer_name="raw")
    builder.add_text_field("text", stored=False, tokenizer_name="en_stem")
    builder.add_text_field("context", stored=False, tokenizer_name="en_stem")
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
    """Readers fall back to FTS5 until `sync` writes the version again."""
    with contextlib.suppress(FileNotFoundError):
        (generation / DIRNAME / VERSION_FILE).unlink()


def _document(row: Sequence) -> tantivy.Document:
    return tantivy.Document(id=int(row[0]), doc_id=str(row[1]), text=str(row[2]),
                            context=str(row[3]))


def rebuild(generation: Path, db: sqlite3.Connection, version: int) -> None:
    """The tantivy index from the chunks table, built aside and then swapped in."""
    target = generation / DIRNAME
    building = generation / (DIRNAME + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    index = tantivy.Index(_schema(), path=str(building))
    writer = index.writer(heap_size=WRITER_HEAP, num_threads=min(2, os.cpu_count() or 1))
    for row in db.execute("SELECT id, doc_id, text, context FROM chunks"):
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


def sync(generation: Path, db: sqlite3.Connection, previous: int, version: int,
         ops: Sequence[Op]) -> None:
    """Bring the tantivy index from `previous` to `version` by replaying this write's
    operations, or rebuild it when it was not at `previous`."""
    path = generation / DIRNAME
    if read_version(generation) != previous or not tantivy.Index.exists(str(path)):
        rebuild(generation, db, version)
        return
    mark_stale(generation)
    if ops:
        index = tantivy.Index.open(str(path))
        writer = index.writer(heap_size=WRITER_HEAP, num_threads=1)
        for kind, args in ops:  # deletes touch only documents added before them
            if kind == "delete":
                writer.delete_documents_by_term("doc_id", args[0])
            else:
                writer.add_document(_document(args))
        writer.commit()
        writer.wait_merging_threads()
    _write_version(generation, version)


def advance(generation: Path, previous: int, version: int) -> None:
    """A write that changed no text (a vector merge): the same index, a new version."""
    if read_version(generation) == previous:
        _write_version(generation, version)


class Reader:
    """Searches one generation's tantivy index, reopening it after a rebuild."""

    def __init__(self, generation: Path) -> None:
        self.generation = generation
        self._lock = threading.Lock()
        self._index: tantivy.Index | None = None
        self._identity: tuple[int, int] | None = None
        self._version: int | None = None

    def search(self, text: str, k: int, version: int) -> list[tuple[int, float]] | None:
        """Best k (chunk id, BM25 score); None when unreadable (FTS5 answers then). The
        caller has checked that the index is at the version it reads."""
        words = " ".join(query_words(text))
        if not words or k <= 0:
            return []
        try:
            with self._lock:
                index = self._open(version)
            query = index.parse_query(words, ["text", "context"],
                                      field_boosts={"context": CONTEXT_BOOST})
            searcher = index.searcher()
            hits = searcher.search(query, k).hits
            ids = searcher.fast_field_values("id", [address for _, address in hits])
        except (OSError, ValueError):
            return None  # damaged or half-replaced: FTS5 answers instead
        return [(int(i), float(score)) for (score, _), i in zip(hits, ids, strict=True)
                if i is not None]

    def doc_freq(self, word: str, version: int) -> int | None:
        """Passages whose text holds this word (stemmed as tantivy does): a term-dictionary
        lookup, where FTS5 reads the word's whole posting list (12 ms for a common word at
        1M passages). Counts deleted passages until a merge drops them."""
        try:
            with self._lock:
                index = self._open(version)
            return int(index.searcher().doc_freq("text", _english.stemWord(word.lower())))
        except (OSError, ValueError):
            return None

    def _open(self, version: int) -> tantivy.Index:
        """The index, reopened after a rebuild and reloaded when `version` (already checked
        by the caller against the version file) is new."""
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
