"""The Milvus engine: base.Store over pymilvus, for indexes that outgrow one machine.

    milvus:///srv/evidence/index.db    Milvus Lite: an embedded Milvus started from Python
    http://host:19530                  a Milvus server or cluster (EVIDENCE_SEARCH_MILVUS_TOKEN)

Collections, for a name (EVIDENCE_SEARCH_MILVUS_COLLECTION, default "evidence") and the live
generation g (a rebuild writes g+1 beside g and switches the manifest at commit):

    <name>_manifest        key -> JSON: the Manifest, naming the live generation
    <name>_<g>_chunks      passages: dense vector, BM25 sparse vector (Milvus's BM25 function
                           over `body`), filter fields, sentence vectors
    <name>_<g>_documents   one row per document (written last: a document is known once its
                           passages are in)
    <name>_<g>_texts       document text in parts (a server caps VARCHAR at 65,535 bytes)
    <name>_<g>_terms       passages per stemmed word, for the rare-word weights ranking uses

Milvus has no multi-row transactions. A write deletes a document's old passages before adding
its new ones and records the document row last, so a write cut short leaves documents that the
next re-index sees as new or changed and redoes; searches meanwhile may see part of a write.
Milvus Lite has no English analyzer, so `body` holds Snowball stems computed here (as the local
engine's tantivy index stems) and questions are stemmed the same way.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import Stemmer

from search.config import milvus_settings
from search.records import Chunk, Document, Filters
from search.store.base import (
    IndexCorrupt,
    IndexNotFound,
    IndexOutdated,
    IndexWriteFailed,
    Manifest,
    MergeReport,
    SentenceVectors,
    StoredChunk,
    StoredDocument,
    StoreStats,
    StoreUnavailable,
)
from search.store.local.layout import exclusive

FORMAT_VERSION = 1
WORD = re.compile(r"\w+", re.UNICODE)
TEXT_MAX = 65535  # characters in Lite; a server counts bytes, so passages stay well below
PART_CHARS = 16000  # a document text part: at most 4 bytes a character, under 65,535 bytes
BATCH = 256  # rows per insert
LIMIT = 16384  # a server's cap on top-k and query limits
RESERVE = 1_000_000  # chunk ids a writer reserves in the manifest before it inserts any
BM25_PARAMS = {"params": {"bm25_k1": 1.2, "bm25_b": 0.75}}  # nested: Lite ignores flat ones
_stemmer = Stemmer.Stemmer("english")
_servers = threading.Lock()


def stems(text: str) -> list[str]:
    """Snowball English stems of a text's words, as the BM25 field holds them."""
    return _stemmer.stemWords(WORD.findall(text.lower()))


# -- filter expressions (this pymilvus has no templates: literals are escaped here) ----------

def literal(text: str) -> str:
    """A double-quoted Milvus string literal. Its lexer knows only the escapes \\" \\' \\\\ \\n
    \\r \\t and takes every other character as it is, so only those are escaped (and NUL,
    which no name holds, dropped): a doc id with a narrow space still matches itself."""
    text = text.replace("\x00", "")
    text = (text.replace("\\", "\\\\").replace('"', '\\"')
            .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{text}"'


def contains(needle: str) -> str:
    """A LIKE pattern for a case-insensitive substring of a lowercased field. The user's %, _
    and backslash match any one character: a little wider, never an error or an escape."""
    return literal("%" + re.sub(r"[%_\\]", "_", needle.lower()) + "%")


def filter_expression(filters: Filters | None) -> str:
    """Filters as a Milvus boolean expression over the chunks collection ('' lets all in);
    the same meaning as the local engine's SQL."""
    if filters is None or filters.is_empty():
        return ""
    parts = []
    if filters.documents:
        names = "[" + ", ".join(literal(d) for d in filters.documents) + "]"
        parts.append(f"(doc_id in {names} or path in {names})")
    if filters.title:
        parts.append(f"title_lc like {contains(filters.title)}")
    if filters.section:
        parts.append(f"section_lc like {contains(filters.section)}")
    if filters.pages:
        low, high = int(filters.pages[0]), int(filters.pages[1])
        parts.append(f"(page_end >= {low} and page_start <= {high})")
    if filters.date_from:
        parts.append(f'(date != "" and date >= {literal(filters.date_from)})')
    if filters.date_to:  # a prefix, inclusive: "2021" keeps 2021-12-31, so below "202:"
        bound = filters.date_to[:-1] + chr(ord(filters.date_to[-1]) + 1)
        parts.append(f'(date != "" and date < {literal(bound)})')
    return " and ".join(parts)


# -- locations and errors -------------------------------------------------------------------

def parse_location(location: str) -> tuple[str, str | None, str]:
    """(uri for MilvusClient, the Lite file or None, collection name) from a store URI:
    milvus:///abs/file.db, milvus://rel/file.db, http(s)://host:port, each with an optional
    ?collection=NAME."""
    split = urlsplit(location)
    name = (parse_qs(split.query).get("collection") or [milvus_settings().collection])[0]
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,200}", name):
        raise StoreUnavailable(f"{location}: collection name {name!r} must be letters, digits "
                               "and underscores, starting with a letter")
    if split.scheme == "milvus":
        path = split.netloc + split.path
        if not path.endswith(".db"):
            raise StoreUnavailable(f"{location}: a Milvus Lite location names a file ending in "
                                   ".db, e.g. milvus:///srv/evidence/index.db")
        lite = str(Path(path).resolve())
        return lite, lite, name
    return f"{split.scheme}://{split.netloc}", None, name


def unavailable(location: str, lite: str | None, exc: Exception) -> StoreUnavailable:
    """A pymilvus failure to connect, as one line naming the setting and what to do."""
    text = getattr(exc, "message", None) or str(exc)
    code = getattr(exc, "code", None)
    if lite is None and ("auth" in text.lower() or "token" in text.lower()
                         or "password" in text.lower() or code in (1800, 2, 16)
                         and "unauthenticated" in text.lower()):
        return StoreUnavailable(f"{location}: the Milvus server refused the credentials "
                                f"({text}); set EVIDENCE_SEARCH_MILVUS_TOKEN to 'user:password' "
                                "or an API key")
    if lite is None:
        return StoreUnavailable(f"{location}: no Milvus server answers ({text}); check the "
                                "address given to --store / EVIDENCE_SEARCH_STORE and that the "
                                "server is running")
    return StoreUnavailable(f"{location}: Milvus Lite could not open {lite} ({text})")


def precheck_lite(location: str, path: str) -> None:
    """Milvus Lite says only 'Open local milvus failed'; find out which failure it is."""
    parent = Path(path).parent
    if not parent.is_dir():
        raise StoreUnavailable(f"{location}: folder {parent} does not exist; create it first")
    target = Path(path) if Path(path).exists() else parent
    if not os.access(target, os.W_OK):
        raise StoreUnavailable(f"{location}: {target} is not writable (Milvus Lite cannot open "
                               "a store read-only)")
    lock = Path(path) / "LOCK"
    if lock.exists() and not _served_here(path):
        import fcntl

        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            raise StoreUnavailable(f"{location}: another process has this Milvus Lite store "
                                   "open (Lite allows one process per file; use a Milvus "
                                   "server to share an index)") from None
        finally:
            os.close(fd)


def _served_here(path: str) -> bool:
    try:
        from milvus_lite import server_manager_instance
    except ImportError:
        return False
    return path in getattr(server_manager_instance, "_servers", {})


def _quiet() -> None:
    """pymilvus logs every failed call with a traceback, even when it is handled; gRPC's core
    prints info lines unless told not to (read when gRPC starts)."""
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # not NONE: Ray started later fails
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    logging.getLogger("milvus_lite").setLevel(logging.CRITICAL)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- the store ------------------------------------------------------------------------------

class MilvusStore:
    """An index held by Milvus (base.Store)."""

    engine = "milvus"

    def __init__(self, location: str) -> None:
        self.location = location
        self.uri, self.lite, self.name = parse_location(location)
        self.home: Path | None = Path(self.lite) if self.lite else None
        self._client: Any = None
        self._lock = threading.Lock()
        self._writing = threading.RLock()  # a server has no file to lock: one writer per process
        self._loaded: set[str] = set()

    # -- connection
    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Any:
        _quiet()
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException

        _quiet()  # again: importing pymilvus resets its loggers
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

    def collection(self, generation: str, kind: str) -> str:
        return f"{self.name}_{generation}_{kind}"

    @property
    def manifest_collection(self) -> str:
        return f"{self.name}_manifest"

    def has(self, collection: str) -> bool:
        return collection in self.call("list collections", self.client.list_collections)

    def load(self, collection: str) -> None:
        """Reopened collections come back released; load each once per process."""
        if collection in self._loaded:
            return
        state = self.call("check a collection", self.client.get_load_state, collection)
        if getattr(state.get("state"), "name", "") != "Loaded":
            self.call("load a collection", self.client.load_collection, collection)
        self._loaded.add(collection)

    # -- base.Store
    def read_manifest(self) -> Manifest | None:
        data = self._manifest_data()
        if data is None:
            return None
        if data.get("format_version") != FORMAT_VERSION:
            raise IndexOutdated(f"{self.location}: Milvus store format "
                                f"{data.get('format_version')}, this version reads "
                                f"{FORMAT_VERSION}; {self.rebuild_hint()}")
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
        if not self.has(self.manifest_collection):
            schema, params = self._aux_schema("key", [("value", "JSON", {})])
            self.call("create the manifest", self.client.create_collection,
                      self.manifest_collection, schema=schema, index_params=params)
        self.load(self.manifest_collection)
        self.call("write the manifest", self.client.upsert, self.manifest_collection,
                  [{"key": "manifest", "value": manifest.to_dict(), "_v": [0.0, 0.0]}])
        self.call("flush", self.client.flush, self.manifest_collection)

    def open(self) -> MilvusView:
        manifest = self.read_manifest()
        if manifest is None:
            raise IndexNotFound(f"{self.location}: no index here yet; build one with: "
                                f"evidence-search index corpus/ --store {self.location}")
        for kind in ("chunks", "documents", "texts", "terms"):
            self.load(self.collection(manifest.generation, kind))
        return MilvusView(self, manifest)

    def lock(self) -> contextlib.AbstractContextManager[None]:
        if self.lite is not None:
            return exclusive(Path(self.lite + ".writer-lock"),
                             f"{self.location}: another re-index is running; waiting for it")
        return self._writing_lock()

    @contextlib.contextmanager
    def _writing_lock(self) -> Iterator[None]:
        with self._writing:
            yield

    def writer(self, manifest: Manifest, rebuild: bool = False) -> MilvusWriter:
        return MilvusWriter(self, manifest, rebuild)

    def optimize(self, full: bool = False) -> MergeReport | None:
        return None  # Milvus compacts its own segments

    def needs_optimize(self) -> bool:
        return False

    def rebuild_hint(self) -> str:
        return f"rebuild it with: evidence-search index --rebuild --store {self.location}"

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        self._loaded.clear()
        if client is not None:  # Milvus Lite's server stops when the process exits: other
            with contextlib.suppress(Exception):  # stores in this process may share it
                client.close()

    # -- schemas
    def _aux_schema(self, key: str, fields: Sequence[tuple[str, str, dict]]) -> tuple[Any, Any]:
        """Every collection needs a vector field: a 2-d placeholder (servers refuse 1-d)."""
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(key, DataType.VARCHAR, is_primary=True, max_length=1024)
        for name, kind, options in fields:
            schema.add_field(name, getattr(DataType, kind), **options)
        schema.add_field("_v", DataType.FLOAT_VECTOR, dim=2)
        params = self.client.prepare_index_params()
        params.add_index(field_name="_v", index_type="FLAT", metric_type="L2")
        return schema, params

    def create_generation(self, generation: str, dimension: int) -> None:
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        v = "VARCHAR"
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        for name, length in (("doc_id", 1024), ("path", 2048), ("title", 2048),
                             ("title_lc", 2048), ("section", 8192), ("section_lc", 8192),
                             ("date", 64), ("text", TEXT_MAX), ("spans", TEXT_MAX),
                             ("sentences", TEXT_MAX)):
            schema.add_field(name, DataType.VARCHAR, max_length=length)
        for name in ("ordinal", "start_char", "end_char"):
            schema.add_field(name, DataType.INT64)
        schema.add_field("page_start", DataType.INT64, nullable=True)
        schema.add_field("page_end", DataType.INT64, nullable=True)
        schema.add_field("body", DataType.VARCHAR, max_length=TEXT_MAX, enable_analyzer=True,
                         analyzer_params={"tokenizer": "standard"})
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dimension)
        schema.add_function(Function(name="body_bm25", function_type=FunctionType.BM25,
                                     input_field_names=["body"], output_field_names=["sparse"]))
        params = self.client.prepare_index_params()
        # Exact search on Milvus Lite (its HNSW lost results under selective filters); a
        # server takes EVIDENCE_SEARCH_MILVUS_INDEX (default AUTOINDEX, its own choice).
        kind = milvus_settings().index or ("FLAT" if self.lite else "AUTOINDEX")
        params.add_index(field_name="dense", index_type=kind, metric_type="IP")
        params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX",
                         metric_type="BM25", params=BM25_PARAMS)
        specs = {
            "chunks": (schema, params),
            "documents": self._aux_schema("doc_id", [
                ("path", v, {"max_length": 2048}), ("title", v, {"max_length": 2048}),
                ("sha256", v, {"max_length": 64}), ("page_count", "INT64", {}),
                ("chunks", "INT64", {}), ("meta", "JSON", {})]),
            "texts": self._aux_schema("key", [
                ("doc_id", v, {"max_length": 1024}), ("part", "INT64", {}),
                ("text", v, {"max_length": TEXT_MAX})]),
            "terms": self._aux_schema("term", [("df", "INT64", {})]),
        }
        for kind, (schema_, params_) in specs.items():
            name = self.collection(generation, kind)
            if self.has(name):
                self.call("drop a half-built collection", self.client.drop_collection, name)
            self.call("create a collection", self.client.create_collection, name,
                      schema=schema_, index_params=params_)
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
        for kind in ("chunks", "documents", "texts", "terms"):
            name = self.collection(generation, kind)
            self._loaded.discard(name)
            with contextlib.suppress(IndexCorrupt):
                self.call("drop a collection", self.client.drop_collection, name)

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


class MilvusView:
    """A read view (base.ReadView). Milvus has no snapshots: a write running meanwhile may show
    part of its changes."""

    def __init__(self, store: MilvusStore, manifest: Manifest) -> None:
        self.store = store
        self.manifest = manifest
        self.count = manifest.chunks
        self.chunks_name = store.collection(manifest.generation, "chunks")
        self._doc_freq: dict[str, int] = {}

    def __enter__(self) -> MilvusView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        return None

    def _search(self, data: Any, field: str, metric: str, k: int,
                filters: Filters | None) -> list[tuple[int, float]]:
        if k <= 0:
            return []
        found = self.store.call(
            "search", self.store.client.search, self.chunks_name, data=[data], anns_field=field,
            limit=min(k, LIMIT), filter=filter_expression(filters), output_fields=["id"],
            search_params={"metric_type": metric})
        return [(int(hit["id"]), float(hit["distance"])) for hit in found[0]]

    def search_vectors(self, query: np.ndarray, k: int,
                       filters: Filters | None = None) -> list[tuple[int, float]]:
        if len(query) != self.manifest.dimension:
            raise IndexCorrupt(f"{self.store.location}: a {len(query)}-dimensional question "
                               f"vector for a {self.manifest.dimension}-dimensional index")
        return self._search(np.asarray(query, dtype=np.float32).tolist(), "dense", "IP", k,
                            filters)

    def search_lexical(self, query: str, k: int,
                       filters: Filters | None = None) -> list[tuple[int, float]]:
        from search.words import query_words

        words = " ".join(dict.fromkeys(stems(" ".join(query_words(query)))))
        if not words:
            return []
        # Milvus Lite reports BM25 as a negative distance, a server as a positive score
        return [(i, abs(s)) for i, s in self._search(words, "sparse", "BM25", k, filters)]

    def doc_freq(self, word: str) -> int:
        term = _stemmer.stemWord(word.lower())
        if term not in self._doc_freq:
            rows = self.store.call(
                "read word counts", self.store.client.get,
                self.store.collection(self.manifest.generation, "terms"), ids=[term],
                output_fields=["df"])
            self._doc_freq[term] = int(rows[0]["df"]) if rows else 0
        return self._doc_freq[term]

    def _rows(self, ids: Sequence[int], fields: list[str]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        rows = self.store.call("read passages", self.store.client.get, self.chunks_name,
                               ids=[int(i) for i in ids], output_fields=["id", *fields])
        return {int(r["id"]): r for r in rows}

    def vectors_of(self, ids: Sequence[int]) -> np.ndarray:
        rows = self._rows(ids, ["dense"])
        out = np.zeros((len(ids), self.manifest.dimension), dtype=np.float32)
        for n, i in enumerate(ids):
            if int(i) in rows:
                out[n] = np.asarray(rows[int(i)]["dense"], dtype=np.float32)
        return out

    def live_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        rows = sorted(self.store.query_all(self.chunks_name, "", ["id", "dense"]),
                      key=lambda r: int(r["id"]))
        ids = np.array([int(r["id"]) for r in rows], dtype=np.int64)
        vectors = np.array([r["dense"] for r in rows], dtype=np.float32)
        return ids, vectors.reshape(len(rows), self.manifest.dimension)

    def chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        rows = self._rows(ids, ["doc_id", "ordinal", "start_char", "end_char", "page_start",
                                "page_end", "section", "text", "title", "path"])
        return {i: StoredChunk(i, r["doc_id"], int(r["ordinal"]), int(r["start_char"]),
                               int(r["end_char"]), r.get("page_start"), r.get("page_end"),
                               tuple(json.loads(r["section"])), r["text"], r["title"],
                               r["path"]) for i, r in rows.items()}

    def sentences(self, ids: Sequence[int]) -> dict[int, SentenceVectors]:
        out = {}
        for i, r in self._rows(ids, ["spans", "sentences"]).items():
            spans = [(a, b) for a, b in json.loads(r["spans"] or "[]")]
            if not spans:
                continue
            vectors = np.frombuffer(base64.b64decode(r["sentences"]), dtype=np.float16)
            out[i] = SentenceVectors(spans, vectors.reshape(len(spans), -1).astype(np.float32))
        return out

    def documents(self) -> list[StoredDocument]:
        rows = self.store.query_all(self.store.collection(self.manifest.generation, "documents"),
                                    "", ["doc_id", "path", "title", "sha256", "page_count",
                                         "chunks", "meta"])
        return sorted((StoredDocument(r["doc_id"], r["path"], r["title"], r["sha256"],
                                      int(r["page_count"]), int(r["chunks"]), dict(r["meta"]))
                       for r in rows), key=lambda d: d.doc_id)

    def document_text(self, doc_id: str) -> str | None:
        rows = self.store.query_all(self.store.collection(self.manifest.generation, "texts"),
                                    f"doc_id == {literal(doc_id)}", ["part", "text"])
        if not rows:
            return None
        return "".join(r["text"] for r in sorted(rows, key=lambda r: int(r["part"])))

    def stats(self) -> StoreStats:
        docs = self.documents()
        size = None
        if self.store.lite is not None:
            size = sum(f.stat().st_size for f in Path(self.store.lite).rglob("*") if f.is_file())
        return StoreStats(engine="milvus", location=self.store.location,
                          generation=self.manifest.generation, documents=len(docs),
                          chunks=self.count, pages=sum(d.page_count for d in docs),
                          size_bytes=size)


class MilvusWriter:
    """Changes to a Milvus index (base.Writer): passages as they come, documents, texts, word
    counts and the manifest at commit. Holds the store's writer lock until commit or abort."""

    def __init__(self, store: MilvusStore, manifest: Manifest, rebuild: bool) -> None:
        self.store = store
        self.manifest = manifest
        self._lock: contextlib.AbstractContextManager[None] | None = store.lock()
        self._lock.__enter__()
        self._docs: dict[str, dict[str, Any]] = {}  # rows to write at commit
        self._texts: dict[str, str] = {}
        self._gone: set[str] = set()  # documents to delete at commit
        self._df: Counter[str] = Counter()  # word counts: this write's additions and deletions
        self._df_gone: Counter[str] = Counter()  # ... of which deletions (they stay on abort)
        self._added: set[str] = set()  # documents this write has put passages in
        self._inserted: list[int] = []  # passage ids written so far (abort deletes them)
        self.fresh = False
        try:
            self.stored = None if rebuild else store.read_manifest()
            if self.stored is not None and self.stored.dimension != manifest.dimension:
                raise IndexOutdated(f"{store.location}: holds {self.stored.dimension}-"
                                    f"dimensional vectors, asked for {manifest.dimension}; "
                                    f"{store.rebuild_hint()}")
            if self.stored is None:
                previous = store.peek_manifest()
                number = int((previous.generation or "g0")[1:] or 0) + 1 if previous else 1
                self.generation = f"g{number}"
                self.fresh = True
                store.create_generation(self.generation, manifest.dimension)
            else:
                self.generation = self.stored.generation
                for kind in ("chunks", "documents", "texts", "terms"):
                    store.load(store.collection(self.generation, kind))
            self.version = self.stored.version if self.stored else 0
            self.next_id = self.stored.next_chunk_id if self.stored else 1
            self._reserved = self.next_id  # ids below this are reserved for this write
        except BaseException:
            self._release()
            raise

    def _reserve(self, count: int) -> None:
        """Ids for `count` more passages, recorded in the manifest before any is inserted:
        after a crash the next writer starts above them, never reusing a written id."""
        if self.next_id + count <= self._reserved:
            return
        self._reserved = self.next_id + count + RESERVE
        if not self.fresh:  # a new generation's ids are its own until it goes live
            assert self.stored is not None
            self.store.write_manifest(replace(self.stored, next_chunk_id=self._reserved))

    def _name(self, kind: str) -> str:
        return self.store.collection(self.generation, kind)

    def known(self) -> dict[str, tuple[str, str]]:
        rows = self.store.query_all(self._name("documents"), "", ["doc_id", "path", "sha256"])
        return {r["doc_id"]: (r["path"], r["sha256"]) for r in rows}

    def _drop_passages(self, doc_ids: Iterable[str]) -> int:
        """Delete these documents' passages now (their word counts go at commit). Their rows
        go first: a write cut short after this never leaves a document listed without its
        passages (the next re-index sees it as new). A new generation holds only what this
        write added: nothing to look up for the rest."""
        names = [d for d in doc_ids if not self.fresh or d in self._added]
        if not names:
            return 0
        expr = "doc_id in [" + ", ".join(literal(d) for d in names) + "]"
        if not self.fresh:
            self.store.call("delete documents", self.store.client.delete,
                            self._name("documents"), filter=expr)
        rows = self.store.query_all(self._name("chunks"), expr, ["id", "body"])
        for row in rows:
            gone = set(row["body"].split())
            self._df.subtract(gone)
            self._df_gone.subtract(gone)
        if rows:  # by primary key: exactly the rows read
            self.store.call("delete passages", self.store.client.delete, self._name("chunks"),
                            ids=[int(r["id"]) for r in rows])
        return len(rows)

    def remove(self, doc_ids: Iterable[str]) -> int:
        names = list(doc_ids)
        removed = self._drop_passages(names)
        for doc_id in names:
            self._docs.pop(doc_id, None)
            self._texts.pop(doc_id, None)
            self._gone.add(doc_id)
        return removed

    def add(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray,
            sentences: Sequence[SentenceVectors] | None = None) -> None:
        if len(chunks) != len(vectors) or (sentences is not None
                                           and len(sentences) != len(chunks)):
            raise ValueError("one vector (and one sentence set) per chunk")
        self.remove([doc.doc_id])
        self._gone.discard(doc.doc_id)
        self._reserve(len(chunks))
        date = str(doc.meta.get("date") or "")
        rows = []
        for n, chunk in enumerate(chunks):
            context = " › ".join([doc.title, *chunk.section])
            body = " ".join(stems(f"{context}\n{chunk.text}"))
            self._df.update(set(body.split()))
            sent = sentences[n] if sentences is not None else None
            rows.append({
                "id": self.next_id + n, "doc_id": doc.doc_id, "path": doc.path,
                "title": doc.title, "title_lc": doc.title.lower(),
                "section": json.dumps(list(chunk.section), ensure_ascii=False),
                "section_lc": " › ".join(chunk.section).lower(), "date": date,
                "text": chunk.text, "ordinal": chunk.ordinal, "start_char": chunk.start,
                "end_char": chunk.end, "page_start": chunk.page_start,
                "page_end": chunk.page_end, "body": body,
                "dense": np.asarray(vectors[n], dtype=np.float32).tolist(),
                "spans": json.dumps(sent.spans if sent else []),
                "sentences": base64.b64encode(sent.vectors.astype(np.float16).tobytes()
                                              ).decode() if sent and sent.spans else "",
            })
        self.next_id += len(chunks)
        self._added.add(doc.doc_id)
        for start in range(0, len(rows), BATCH):
            self._inserted += [r["id"] for r in rows[start:start + BATCH]]
            self.store.call("add passages", self.store.client.insert, self._name("chunks"),
                            rows[start:start + BATCH])
        self._docs[doc.doc_id] = {
            "doc_id": doc.doc_id, "path": doc.path, "title": doc.title, "sha256": doc.sha256,
            "page_count": doc.page_count, "chunks": len(chunks),
            "meta": json.loads(json.dumps(doc.meta, default=str)), "_v": [0.0, 0.0]}
        self._texts[doc.doc_id] = doc.text

    def commit(self) -> str:
        try:
            return self._commit()
        except IndexCorrupt as exc:
            raise IndexWriteFailed(f"{exc}; re-run the re-index to complete it") from exc
        finally:
            self._release()

    def _check_still_ours(self) -> None:
        """A server has no lock other processes see: refuse to commit over another writer's
        commit (the next re-index redoes this one's documents)."""
        now = self.store.peek_manifest()
        if self.stored is not None and now is not None and (
                now.version != self.stored.version or now.generation != self.generation):
            raise IndexWriteFailed(f"{self.store.location}: another writer committed while "
                                   "this re-index ran; run it again")

    def _commit(self) -> str:
        call, client = self.store.call, self.store.client
        self._check_still_ours()
        if self._gone:
            names = "[" + ", ".join(literal(d) for d in self._gone) + "]"
            call("delete documents", client.delete, self._name("documents"),
                 filter=f"doc_id in {names}")
            call("delete texts", client.delete, self._name("texts"), filter=f"doc_id in {names}")
        texts = []
        for doc_id, text in self._texts.items():
            call("delete texts", client.delete, self._name("texts"),
                 filter=f"doc_id == {literal(doc_id)}")
            texts += [{"key": f"{doc_id}#{n}", "doc_id": doc_id, "part": n,
                       "text": text[start:start + PART_CHARS], "_v": [0.0, 0.0]}
                      for n, start in enumerate(range(0, max(1, len(text)), PART_CHARS))]
        for start in range(0, len(texts), BATCH):
            call("write texts", client.upsert, self._name("texts"), texts[start:start + BATCH])
        self._write_counts()
        docs = list(self._docs.values())
        for start in range(0, len(docs), BATCH):
            call("write documents", client.upsert, self._name("documents"),
                 docs[start:start + BATCH])
        for kind in ("chunks", "documents", "texts", "terms"):
            call("flush", client.flush, self._name(kind))  # one segment: BM25 statistics whole
        chunks = call("count passages", client.query, self._name("chunks"), filter="",
                      output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"]
        documents = call("count documents", client.query, self._name("documents"), filter="",
                         output_fields=["count(*)"],
                         consistency_level="Strong")[0]["count(*)"]
        previous = self.store.peek_manifest()
        self.version += 1
        self.manifest = replace(self.manifest, format_version=FORMAT_VERSION,
                                generation=self.generation, built_at=_now(),
                                documents=int(documents), chunks=int(chunks),
                                version=self.version, next_chunk_id=self.next_id)
        self.store.write_manifest(self.manifest)  # the commit point of a rebuild
        was_fresh, self.fresh = self.fresh, False  # live now: abort must not drop it
        self._inserted = []
        if was_fresh:  # keep the generation searches may still be reading; drop older ones
            keep = {self.generation, previous.generation if previous else ""}
            for old in self.store.generations():
                if old not in keep:
                    self.store.drop_generation(old)
        return self.generation

    def _write_counts(self) -> None:
        """Passages per word, updated by this write's additions and deletions."""
        changed = [t for t, d in self._df.items() if d]
        call, client = self.store.call, self.store.client
        for start in range(0, len(changed), 1000):
            part = changed[start:start + 1000]
            rows = call("read word counts", client.get, self._name("terms"), ids=part,
                        output_fields=["df"], consistency_level="Strong")
            have = {r["term"]: int(r["df"]) for r in rows}
            now = {t: have.get(t, 0) + self._df[t] for t in part}
            keep = [{"term": t, "df": n, "_v": [0.0, 0.0]} for t, n in now.items() if n > 0]
            drop = [t for t, n in now.items() if n <= 0 and t in have]
            if keep:
                call("write word counts", client.upsert, self._name("terms"), keep)
            if drop:
                call("delete word counts", client.delete, self._name("terms"), ids=drop)
        self._df.clear()

    def abort(self) -> None:
        """Undo what can be undone: a new generation is dropped; in place, the passages this
        write inserted are deleted, and the word counts of those it already deleted (whose
        documents are no longer listed, so the next re-index adds them again) written."""
        try:
            if self.fresh:
                self.store.drop_generation(self.generation)
                self.fresh = False
            elif self._lock is not None:
                if self._inserted:
                    self.store.call("undo added passages", self.store.client.delete,
                                    self._name("chunks"), ids=self._inserted)
                    self._inserted = []
                self._df = self._df_gone
                self._write_counts()
        finally:
            self._release()

    def _release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.__exit__(None, None, None)

