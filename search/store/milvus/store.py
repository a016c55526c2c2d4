"""The Milvus store (base.Store): one Collections for the location, handing out read views
and writers over it."""

from __future__ import annotations

import contextlib
from pathlib import Path

from search.records import Manifest, MergeReport, Prefetched
from search.store.base import IndexNotFound
from search.store.milvus.collections import Collections
from search.store.milvus.view import MilvusView
from search.store.milvus.writer import MilvusWriter


class MilvusStore:
    """An index held by Milvus (base.Store)."""

    engine = "milvus"

    def __init__(self, location: str) -> None:
        self.location = location
        self.collections = Collections(location)
        self.home: Path | None = Path(self.collections.lite) if self.collections.lite else None

    def read_manifest(self) -> Manifest | None:
        return self.collections.read_manifest()

    def peek_manifest(self) -> Manifest | None:
        return self.collections.peek_manifest()

    def open(self) -> MilvusView:
        manifest = self.collections.read_manifest()
        if manifest is None:
            raise IndexNotFound(f"{self.location}: no index here yet; build one with: "
                                f"evidence-search index corpus/ --store {self.location}")
        self.collections.load_generation(manifest.generation)
        return MilvusView(self.collections, manifest)

    def lock(self) -> contextlib.AbstractContextManager[None]:
        return self.collections.lock()

    def writer(self, manifest: Manifest, rebuild: bool = False) -> MilvusWriter:
        return MilvusWriter(self.collections, manifest, rebuild)

    def optimize(self, full: bool = False) -> MergeReport | None:
        return None  # Milvus compacts its own segments

    def prefetch(self) -> Prefetched | None:
        return None  # the server holds its segments in its own memory

    def needs_optimize(self) -> bool:
        return False

    def rebuild_hint(self) -> str:
        return self.collections.rebuild_hint()

    def close(self) -> None:
        self.collections.close()
