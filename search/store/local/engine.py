"""The local engine: FAISS vector segments, an SQLite catalogue and a tantivy BM25 index in
one folder, with generations for crash-safe rebuilds (layout.py). It implements base.Store."""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import threading
from pathlib import Path

from search.config import VectorSettings
from search.records import Manifest, MergeReport, Prefetched
from search.store.base import IndexNotFound
from search.store.local import catalogue, lexical, merge, prefetch
from search.store.local.layout import DATABASE, live_generation, rebuild_hint, writer_lock
from search.store.local.reader import Generation, Snapshot
from search.store.local.writer import LocalWriter


class LocalStore:
    """An index folder. Opening is cheap; a rebuilt generation is picked up on the next open."""

    engine = "local"

    def __init__(self, directory: str | Path,
                 vector_settings: VectorSettings | None = None) -> None:
        self.directory = Path(directory)
        self.location = str(self.directory)
        self.home: Path | None = self.directory
        self.vector_settings = vector_settings
        self._generation: Generation | None = None
        self._lock = threading.Lock()
        self._upgraded: set[str] = set()  # generations known to be in the current format

    def open(self) -> Snapshot:
        live = live_generation(self.directory)  # one read of CURRENT per search
        if live is not None and live not in self._upgraded:
            self._upgrade(live)  # takes the writer lock: never while holding self._lock
        with self._lock:
            if live is None:
                raise IndexNotFound(f"{self.directory}: no index here yet; build one with: "
                                    f"evidence-search index corpus/ --index {self.directory}")
            if self._generation is None or self._generation.name != live:
                # searches still running finish on the old generation
                self._generation = Generation(self.directory, live, self.vector_settings)
            generation = self._generation
        return generation.snapshot()

    def _upgrade(self, name: str) -> None:
        """An index of the previous format, brought to this one in place (seconds; the
        vectors stay): its FTS5 tables dropped, the tantivy index built from its chunks."""
        found = catalogue.peek_manifest(self.directory / name)
        if found is not None and found.format_version == catalogue.UPGRADABLE:
            with writer_lock(self.directory):
                path = self.directory / name
                db = catalogue.connect_writer(path / DATABASE)
                try:
                    again = catalogue.peek_manifest(path)
                    if again is not None and again.format_version == catalogue.UPGRADABLE:
                        # the new lexical index first, then the format: a reader never sees
                        # format 5 without it (a kill between just upgrades again)
                        lexical.rebuild(path, db, again.version + 1)
                        catalogue.upgrade(db)
                        print(f"{path}: upgraded the index to format {catalogue.FORMAT_VERSION} "
                              "(no re-embedding)", file=sys.stderr)
                finally:
                    db.close()
        self._upgraded.add(name)

    def read_manifest(self) -> Manifest | None:
        name = live_generation(self.directory)
        if name is None:
            return None
        if name not in self._upgraded:
            self._upgrade(name)
        path = self.directory / name
        catalogue.check_file(path / DATABASE, self.directory)
        try:
            db = catalogue.connect_readonly(path / DATABASE)
            try:
                return catalogue.read_manifest(db, path, self.directory)
            finally:
                db.close()
        except sqlite3.DatabaseError as exc:
            raise catalogue.unreadable(path / DATABASE, self.directory, exc) from exc

    def peek_manifest(self) -> Manifest | None:
        name = live_generation(self.directory)
        return None if name is None else catalogue.peek_manifest(self.directory / name)

    def lock(self) -> contextlib.AbstractContextManager[None]:
        return writer_lock(self.directory)

    def writer(self, manifest: Manifest, rebuild: bool = False) -> LocalWriter:
        return LocalWriter(self.directory, manifest, rebuild, self.vector_settings)

    def optimize(self, full: bool = False) -> MergeReport | None:
        return merge.merge(self.directory, full=full, settings=self.vector_settings)

    def prefetch(self) -> Prefetched | None:
        """Read the live generation's files ahead into the page cache, most useful first,
        while they fit in half the free memory (prefetch.py); None without an index."""
        live = live_generation(self.directory)
        if live is None or not (self.directory / live / DATABASE).is_file():
            return None
        try:
            db = catalogue.connect_readonly(self.directory / live / DATABASE)
            try:
                names = [name for name, _, _ in catalogue.segment_rows(db)]
            finally:
                db.close()
        except sqlite3.Error:
            return None  # a damaged catalogue: the search that follows says what is wrong
        return prefetch.read_ahead(prefetch.generation_files(self.directory / live, names))

    def needs_optimize(self) -> bool:
        return merge.needs_merge(self.directory, self.vector_settings)

    def rebuild_hint(self) -> str:
        return rebuild_hint(self.directory)

    def close(self) -> None:
        with self._lock:
            self._generation = None

    def listed_segments(self) -> set[str]:
        """Segment names the live catalogue lists or retires: any other segment file in the
        folder is an orphan (a writer or merge killed mid-way) that the next writer removes."""
        name = live_generation(self.directory)
        if name is None:
            return set()
        db = catalogue.connect_readonly(self.directory / name / DATABASE)
        try:
            return catalogue.segment_names(db)
        finally:
            db.close()
