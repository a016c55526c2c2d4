"""One Milvus store's collections: the client, pymilvus errors as store errors, collection
names, the manifest, the generations and the writer lock. The view and the writer take one
(as the local engine's reader and writer take its layout), so neither needs the store."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from search.config import milvus_settings
from search.records import Manifest
from search.store.base import IndexCorrupt, IndexOutdated, StoreUnavailable
from search.store.local.layout import exclusive
from search.store.milvus import schema
from search.store.milvus.connection import parse_location, precheck_lite, quiet, unavailable

_servers = threading.Lock()  # Milvus Lite starts one server per file: one start at a time


def generation_after(live: str) -> str:
    """The generation a rebuild writes beside the live one ('' when there is none): g1, g2, …"""
    return f"g{int((live or 'g0')[1:] or 0) + 1}"


class Collections:
    """The collections of one store location, reached through one lazily made client."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.uri, self.lite, self.name = parse_location(location)
        self._client: Any = None
        self._lock = threading.Lock()
        self._writing = threading.RLock()  # a server has no file to lock: one writer per process
        self._loaded: set[str] = set()

    # -- the client and its errors
    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Any:
        # pymilvus is imported only here, after quiet(): gRPC reads its verbosity when it starts
        quiet()
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException

        quiet()  # again: importing pymilvus resets its loggers
        settings = milvus_settings()
        if self.lite is not None:
            with _servers:
                precheck_lite(self.location, self.lite)
                try:
                    return MilvusClient(self.lite, timeout=settings.timeout)
                except MilvusException as exc:
                    raise unavailable(self.location, self.lite, exc) from exc
        try:
            client = MilvusClient(self.uri, token=settings.token or "", timeout=settings.timeout)
            client.list_collections()  # a wrong token fails here, not at the first search
            return client
        except MilvusException as exc:
            raise unavailable(self.location, None, exc) from exc

    def call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """One pymilvus call, its failure as one line naming the store."""
        from pymilvus.exceptions import MilvusException

        try:
            return fn(*args, **kwargs)
        except MilvusException as exc:
            if getattr(exc, "code", None) == 2:
                raise unavailable(self.location, self.lite, exc) from exc
            raise IndexCorrupt(f"{self.location}: Milvus could not {what} "
                               f"({getattr(exc, 'message', exc)})") from exc

    def query_all(self, collection: str, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        """Every row matching `expr`, in pages (a server caps a query at 16,384 rows)."""
        from pymilvus.exceptions import MilvusException

        try:
            iterator = self.client.query_iterator(collection, batch_size=1000,
                                                  filter=expr, output_fields=fields,
                                                  consistency_level="Strong")
        except MilvusException as exc:
            raise IndexCorrupt(f"{self.location}: Milvus could not read {collection} "
                               f"({getattr(exc, 'message', exc)})") from exc
        rows: list[dict[str, Any]] = []
        try:
            while True:
                page = iterator.next()
                if not page:
                    break
                rows += page
        finally:
            iterator.close()
        return rows

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        self._loaded.clear()
        if client is not None:  # Milvus Lite's server stops when the process exits: other
            with contextlib.suppress(Exception):  # stores in this process may share it
                client.close()

    # -- names
    def collection(self, generation: str, kind: str) -> str:
        return f"{self.name}_{generation}_{kind}"

    @property
    def manifest_collection(self) -> str:
        return f"{self.name}_manifest"

    def has(self, collection: str) -> bool:
        """Whether a collection exists; one this store loaded or made is known without a call
        (every search opens a view, which asks for several)."""
        if collection in self._loaded:
            return True
        return collection in self.call("list collections", self.client.list_collections)

    def load(self, collection: str) -> None:
        """Reopened collections come back released; load each once per process."""
        if collection in self._loaded:
            return
        state = self.call("check a collection", self.client.get_load_state, collection)
        if getattr(state.get("state"), "name", "") != "Loaded":
            self.call("load a collection", self.client.load_collection, collection)
        self._loaded.add(collection)

    def rebuild_hint(self) -> str:
        return f"rebuild it with: evidence-search index --rebuild --store {self.location}"

    # -- the manifest
    def read_manifest(self) -> Manifest | None:
        """The live manifest, checked: its format, its keys, its generation's passages."""
        data = self._manifest_data()
        if data is None:
            return None
        if data.get("format_version") != schema.FORMAT_VERSION:
            raise IndexOutdated(f"{self.location}: Milvus store format "
                                f"{data.get('format_version')}, this version reads "
                                f"{schema.FORMAT_VERSION}; {self.rebuild_hint()}")
        for key in ("model", "dimension", "generation"):
            if not data.get(key):
                raise IndexCorrupt(f"{self.location}: manifest lacks '{key}'; "
                                   f"{self.rebuild_hint()}")
        manifest = Manifest.from_dict(data)
        if not self.has(self.collection(manifest.generation, "chunks")):
            raise IndexCorrupt(f"{self.location}: collection "
                               f"{self.collection(manifest.generation, 'chunks')} is missing; "
                               f"{self.rebuild_hint()}")
        return manifest

    def peek_manifest(self) -> Manifest | None:
        """The manifest as written, unchecked; None when it cannot be read at all."""
        try:
            data = self._manifest_data()
        except (IndexCorrupt, StoreUnavailable):
            return None
        return Manifest.from_dict(data) if data else None

    def _manifest_data(self) -> dict[str, Any] | None:
        if not self.has(self.manifest_collection):
            return None
        self.load(self.manifest_collection)
        rows = self.call("read the manifest", self.client.get, self.manifest_collection,
                         ids=["manifest"], output_fields=["value"])
        return dict(rows[0]["value"]) if rows else None

    def write_manifest(self, manifest: Manifest) -> None:
        """Record the manifest (flushed): the commit point of a write."""
        if not self.has(self.manifest_collection):
            fields, params = schema.aux(self.client, "key", [("value", "JSON", {})])
            self.call("create the manifest", self.client.create_collection,
                      self.manifest_collection, schema=fields, index_params=params)
        self.load(self.manifest_collection)
        self.call("write the manifest", self.client.upsert, self.manifest_collection,
                  [{"key": "manifest", "value": manifest.to_dict(), "_v": [0.0, 0.0]}])
        self.call("flush", self.client.flush, self.manifest_collection)

    # -- generations
    def load_generation(self, generation: str) -> None:
        for kind in schema.KINDS:
            self.load(self.collection(generation, kind))

    def next_generation(self) -> str:
        """The name a new generation takes: the one after the manifest's, however damaged."""
        previous = self.peek_manifest()
        return generation_after(previous.generation if previous else "")

    def create_generation(self, generation: str, dimension: int) -> None:
        """The collections of a new generation (a half-built one left by a crash is redone)."""
        for kind, (fields, params) in schema.collections(self.client, dimension,
                                                          self.lite is not None).items():
            name = self.collection(generation, kind)
            if self.has(name):
                self.call("drop a half-built collection", self.client.drop_collection, name)
            self.call("create a collection", self.client.create_collection, name,
                      schema=fields, index_params=params)
            self._loaded.add(name)

    def generations(self) -> list[str]:
        """Generations with collections in this Milvus, oldest first."""
        found = set()
        for name in self.call("list collections", self.client.list_collections):
            match = re.fullmatch(rf"{re.escape(self.name)}_(g\d+)_chunks", name)
            if match:
                found.add(match.group(1))
        return sorted(found, key=lambda g: int(g[1:]))

    def drop_generation(self, generation: str) -> None:
        for kind in schema.KINDS:
            name = self.collection(generation, kind)
            self._loaded.discard(name)
            with contextlib.suppress(IndexCorrupt):
                self.call("drop a collection", self.client.drop_collection, name)

    def drop_generations_except(self, keep: set[str]) -> None:
        """Every generation but these (the live one and the one searches may still read)."""
        for old in self.generations():
            if old not in keep:
                self.drop_generation(old)

    # -- the writer lock
    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Milvus Lite: a lock file beside the store, for every process; a server: one writer
        per process (a server has no lock other processes see)."""
        if self.lite is not None:
            return exclusive(Path(self.lite + ".writer-lock"),
                             f"{self.location}: another re-index is running; waiting for it")
        return self._writing_lock()

    @contextlib.contextmanager
    def _writing_lock(self) -> Iterator[None]:
        with self._writing:
            yield
