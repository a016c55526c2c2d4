"""Reading a Milvus store (base.ReadView). Milvus has no snapshots: a write running meanwhile
may show part of its changes."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from search.records import (
    LABELS_META_KEY,
    OCR_META_KEY,
    Filters,
    Manifest,
    SentenceVectors,
    StoredCandidate,
    StoredChunk,
    StoredDocument,
    StoreStats,
    from_ocr,
    printed_page,
)
from search.store.base import IndexCorrupt
from search.store.milvus.collections import Collections
from search.store.milvus.expressions import filter_expression, literal, stem, stems
from search.store.milvus.schema import LIMIT
from search.words import closest_word, edits, query_words, typo_distance


class MilvusView:
    """A read view (base.ReadView). Milvus has no snapshots: a write running meanwhile may show
    part of its changes."""

    def __init__(self, collections: Collections, manifest: Manifest) -> None:
        self.collections = collections
        self.manifest = manifest
        self.count = manifest.chunks
        self.chunks_name = collections.collection(manifest.generation, "chunks")
        self._doc_freq: dict[str, int] = {}

    def __enter__(self) -> MilvusView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        return None

    def _name(self, kind: str) -> str:
        return self.collections.collection(self.manifest.generation, kind)

    def _search(self, data: Any, field: str, metric: str, k: int,
                filters: Filters | None) -> list[tuple[int, float]]:
        if k <= 0:
            return []
        milvus = self.collections
        found = milvus.call(
            "search", milvus.client.search, self.chunks_name, data=[data], anns_field=field,
            limit=min(k, LIMIT), filter=filter_expression(filters), output_fields=["id"],
            search_params={"metric_type": metric})
        return [(int(hit["id"]), float(hit["distance"])) for hit in found[0]]

    def search_vectors(self, query: np.ndarray, k: int,
                       filters: Filters | None = None) -> list[tuple[int, float]]:
        if len(query) != self.manifest.dimension:
            raise IndexCorrupt(f"{self.collections.location}: a {len(query)}-dimensional "
                               f"question vector for a {self.manifest.dimension}-dimensional index")
        return self._search(np.asarray(query, dtype=np.float32).tolist(), "dense", "IP", k,
                            filters)

    def search_lexical(self, query: str, k: int,
                       filters: Filters | None = None) -> list[tuple[int, float]]:
        words = " ".join(dict.fromkeys(stems(" ".join(query_words(query)))))
        if not words:
            return []
        # Milvus Lite reports BM25 as a negative distance, a server as a positive score
        return [(i, abs(s)) for i, s in self._search(words, "sparse", "BM25", k, filters)]

    def search_both(self, vector: np.ndarray, k_vectors: int, text: str, k_lexical: int,
                    filters: Filters | None = None
                    ) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        return (self.search_vectors(vector, k_vectors, filters),
                self.search_lexical(text, k_lexical, filters))

    def doc_freq(self, word: str) -> int:
        term = stem(word)
        if term not in self._doc_freq:
            milvus = self.collections
            rows = milvus.call("read word counts", milvus.client.get, self._name("terms"),
                               ids=[term], output_fields=["df"])
            self._doc_freq[term] = int(rows[0]["df"]) if rows else 0
        return self._doc_freq[term]

    def similar_word(self, word: str) -> str | None:
        """Milvus has no fuzzy term search: the word counts' stems that share the word's first
        two letters are compared by edit distance, and the passages holding the nearest say
        which word it is (words.closest_word)."""
        distance = typo_distance(word)  # > 0 only for words of letters alone
        target = stem(word)
        if not distance or len(target) < 3:
            return None
        milvus = self.collections
        rows = milvus.call(
            "read word counts", milvus.client.query, self._name("terms"),
            filter=f"term like {literal(target[:2] + '%')}", output_fields=["term", "df"],
            limit=LIMIT)
        near = sorted((edits(target, r["term"], distance), -int(r["df"]), r["term"])
                      for r in rows if r["term"] != target)
        if not near or near[0][0] > distance:
            return None
        ids = [i for i, _ in self.search_lexical(near[0][2], 20)]
        texts = (r["text"] for r in self._rows(ids, ["text"]).values())  # text alone
        return closest_word(word, texts, self.doc_freq)

    def _rows(self, ids: Sequence[int], fields: list[str]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        milvus = self.collections
        rows = milvus.call("read passages", milvus.client.get, self.chunks_name,
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
        rows = sorted(self.collections.query_all(self.chunks_name, "", ["id", "dense"]),
                      key=lambda r: int(r["id"]))
        ids = np.array([int(r["id"]) for r in rows], dtype=np.int64)
        vectors = np.array([r["dense"] for r in rows], dtype=np.float32)
        return ids, vectors.reshape(len(rows), self.manifest.dimension)

    CHUNK_FIELDS = ["doc_id", "ordinal", "start_char", "end_char", "page_start", "page_end",
                    "section", "text", "title", "path"]

    def chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        return self._chunks(self._rows(ids, self.CHUNK_FIELDS))

    def _chunks(self, rows: dict[int, dict[str, Any]]) -> dict[int, StoredChunk]:
        meta = self._page_meta({r["doc_id"] for r in rows.values()
                                if r.get("page_start") is not None})
        out: dict[int, StoredChunk] = {}
        for i, r in rows.items():
            first, last = r.get("page_start"), r.get("page_end")
            doc = meta.get(r["doc_id"], {})
            labels = doc.get(LABELS_META_KEY)
            out[i] = StoredChunk(i, r["doc_id"], int(r["ordinal"]), int(r["start_char"]),
                                 int(r["end_char"]), first, last,
                                 tuple(json.loads(r["section"])), r["text"], r["title"],
                                 r["path"], from_ocr(doc.get(OCR_META_KEY), first, last),
                                 *(printed_page(labels, p) if labels else None
                                   for p in (first, last)))
        return out

    def candidates(self, ids: Sequence[int]) -> dict[int, StoredCandidate]:
        rows = self._rows(ids, [*self.CHUNK_FIELDS, "dense", "spans", "sentences"])
        chunks = self._chunks(rows)
        return {i: StoredCandidate(chunks[i], np.asarray(rows[i]["dense"], dtype=np.float32),
                                   _sentences(rows[i]))
                for i in ids if i in chunks}

    def _page_meta(self, doc_ids: set[str]) -> dict[str, dict[str, Any]]:
        """The stored metadata of the paged documents among the hits (none: no query), for
        their OCR'd pages and printed page labels."""
        if not doc_ids:
            return {}
        milvus = self.collections
        rows = milvus.call("read documents", milvus.client.get, self._name("documents"),
                           ids=sorted(doc_ids), output_fields=["doc_id", "meta"])
        return {r["doc_id"]: dict(r["meta"] or {}) for r in rows}

    def sentences(self, ids: Sequence[int]) -> dict[int, SentenceVectors]:
        found = {i: _sentences(r) for i, r in self._rows(ids, ["spans", "sentences"]).items()}
        return {i: v for i, v in found.items() if v is not None}

    def documents(self) -> list[StoredDocument]:
        rows = self.collections.query_all(self._name("documents"),
                                          "", ["doc_id", "path", "title", "sha256", "page_count",
                                               "chunks", "meta"])
        return sorted((StoredDocument(r["doc_id"], r["path"], r["title"], r["sha256"],
                                      int(r["page_count"]), int(r["chunks"]), dict(r["meta"]))
                       for r in rows), key=lambda d: d.doc_id)

    def document_text(self, doc_id: str) -> str | None:
        rows = self.collections.query_all(self._name("texts"),
                                          f"doc_id == {literal(doc_id)}", ["part", "text"])
        if not rows:
            return None
        return "".join(r["text"] for r in sorted(rows, key=lambda r: int(r["part"])))

    def document_chunks(self, doc_id: str) -> list[StoredChunk]:
        rows = self.collections.query_all(self.chunks_name, f"doc_id == {literal(doc_id)}",
                                          ["id"])
        found = self.chunks([int(r["id"]) for r in rows])
        return sorted(found.values(), key=lambda c: c.ordinal)

    def first_chunks(self, limit: int) -> list[StoredChunk]:
        """Milvus queries have no order: the ids below a bound are read, the bound doubling
        until it holds `limit` passages or passes the last id this view's manifest gave out
        (ids are not dense: a removed document leaves a gap)."""
        end = self.manifest.next_chunk_id
        bound = min(limit + 1, end)
        rows: list[dict[str, Any]] = []
        while limit > 0:
            rows = self.collections.query_all(self.chunks_name, f"id < {int(bound)}", ["id"])
            if len(rows) >= limit or bound >= end:
                break
            bound = min(end, 2 * bound - 1)
        ids = sorted(int(r["id"]) for r in rows)[:max(limit, 0)]
        found: dict[int, StoredChunk] = {}
        for at in range(0, len(ids), LIMIT):  # a server caps the ids one get reads
            found.update(self.chunks(ids[at:at + LIMIT]))
        return [found[i] for i in ids if i in found]

    def section_paths(self) -> dict[str, list[tuple[str, ...]]]:
        rows = self.collections.query_all(self.chunks_name, "",
                                          ["doc_id", "ordinal", "section"])
        out: dict[str, list[tuple[str, ...]]] = {}
        for r in sorted(rows, key=lambda r: (r["doc_id"], int(r["ordinal"]))):
            out.setdefault(r["doc_id"], []).append(tuple(json.loads(r["section"])))
        return out

    def stats(self) -> StoreStats:
        docs = self.documents()
        size = None
        lite = self.collections.lite
        if lite is not None:
            size = sum(f.stat().st_size for f in Path(lite).rglob("*") if f.is_file())
        return StoreStats(engine="milvus", location=self.collections.location,
                          generation=self.manifest.generation, documents=len(docs),
                          chunks=self.count, pages=sum(d.page_count for d in docs),
                          size_bytes=size)


def _sentences(row: dict[str, Any]) -> SentenceVectors | None:
    """A passage's stored sentences (spans as JSON, float16 vectors as base64), or None."""
    spans = [(a, b) for a, b in json.loads(row.get("spans") or "[]")]
    if not spans:
        return None
    vectors = np.frombuffer(base64.b64decode(row["sentences"]), dtype=np.float16)
    return SentenceVectors(spans, vectors.reshape(len(spans), -1).astype(np.float32))
