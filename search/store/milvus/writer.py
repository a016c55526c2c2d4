"""Writing a Milvus store (base.Writer): passages as they come, then documents, texts, word
counts and the manifest at commit; no transactions, so every step leaves a state the next
re-index completes."""

from __future__ import annotations

import base64
import contextlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from search.records import Chunk, Document, Manifest, SentenceVectors, stored_meta
from search.store.base import IndexCorrupt, IndexOutdated, IndexWriteFailed
from search.store.local.layout import now
from search.store.milvus.collections import Collections
from search.store.milvus.expressions import literal, stems
from search.store.milvus.schema import BATCH, FORMAT_VERSION, KINDS, PART_CHARS, RESERVE


class MilvusWriter:
    """Changes to a Milvus index (base.Writer): passages as they come, documents, texts, word
    counts and the manifest at commit. Used as `with store.writer(m) as w: …; w.commit()`:
    holds the store's writer lock from entering until commit or abort, and leaving the
    block without a commit aborts."""

    def __init__(self, collections: Collections, manifest: Manifest, rebuild: bool) -> None:
        self.collections = collections
        self.manifest = manifest
        self._rebuild = rebuild
        self._held: contextlib.ExitStack | None = None  # the writer lock, while open
        self._committed = False
        self.stored: Manifest | None = None
        self._docs: dict[str, dict[str, Any]] = {}  # rows to write at commit
        self._texts: dict[str, str] = {}
        self._gone: set[str] = set()  # documents to delete at commit
        self._df: Counter[str] = Counter()  # word counts: this write's additions and deletions
        self._df_gone: Counter[str] = Counter()  # ... of which deletions (they stay on abort)
        self._added: set[str] = set()  # documents this write has put passages in
        self._inserted: list[int] = []  # passage ids written so far (abort deletes them)
        self.fresh = False

    def __enter__(self) -> MilvusWriter:
        """Take the writer lock and open the write: the live generation, or a new one."""
        milvus, manifest = self.collections, self.manifest
        self._held = contextlib.ExitStack()
        self._held.enter_context(milvus.lock())
        try:
            self.stored = None if self._rebuild else milvus.read_manifest()
            if self.stored is not None and self.stored.dimension != manifest.dimension:
                raise IndexOutdated(f"{milvus.location}: holds {self.stored.dimension}-"
                                    f"dimensional vectors, asked for {manifest.dimension}; "
                                    f"{milvus.rebuild_hint()}")
            if self.stored is None:
                self.generation = milvus.next_generation()
                self.fresh = True
                milvus.create_generation(self.generation, manifest.dimension)
            else:
                self.generation = self.stored.generation
                milvus.load_generation(self.generation)
            self.version = self.stored.version if self.stored else 0
            self.next_id = self.stored.next_chunk_id if self.stored else 1
            self._reserved = self.next_id  # ids below this are reserved for this write
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._committed:  # left without a commit, or the commit failed part way
            self.abort()

    def _reserve(self, count: int) -> None:
        """Ids for `count` more passages, recorded in the manifest before any is inserted:
        after a crash the next writer starts above them, never reusing a written id."""
        if self.next_id + count <= self._reserved:
            return
        self._reserved = self.next_id + count + RESERVE
        if not self.fresh:  # a new generation's ids are its own until it goes live
            assert self.stored is not None
            self.collections.write_manifest(replace(self.stored, next_chunk_id=self._reserved))

    def _name(self, kind: str) -> str:
        return self.collections.collection(self.generation, kind)

    def known(self) -> dict[str, tuple[str, str]]:
        rows = self.collections.query_all(self._name("documents"), "",
                                          ["doc_id", "path", "sha256"])
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
        milvus = self.collections
        if not self.fresh:
            milvus.call("delete documents", milvus.client.delete, self._name("documents"),
                        filter=expr)
        rows = milvus.query_all(self._name("chunks"), expr, ["id", "body"])
        for row in rows:
            gone = set(row["body"].split())
            self._df.subtract(gone)
            self._df_gone.subtract(gone)
        if rows:  # by primary key: exactly the rows read
            milvus.call("delete passages", milvus.client.delete, self._name("chunks"),
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
            self.collections.call("add passages", self.collections.client.insert,
                                  self._name("chunks"), rows[start:start + BATCH])
        self._docs[doc.doc_id] = {
            "doc_id": doc.doc_id, "path": doc.path, "title": doc.title, "sha256": doc.sha256,
            "page_count": doc.page_count, "chunks": len(chunks),
            "meta": json.loads(json.dumps(stored_meta(doc), default=str)), "_v": [0.0, 0.0]}
        self._texts[doc.doc_id] = doc.text

    def commit(self) -> str:
        try:
            name = self._commit()
            self._committed = True
            return name
        except IndexCorrupt as exc:
            raise IndexWriteFailed(f"{exc}; re-run the re-index to complete it") from exc
        finally:
            self._release()

    def _check_still_ours(self) -> None:
        """A server has no lock other processes see: refuse to commit over another writer's
        commit (the next re-index redoes this one's documents)."""
        now = self.collections.peek_manifest()
        if self.stored is not None and now is not None and (
                now.version != self.stored.version or now.generation != self.generation):
            raise IndexWriteFailed(f"{self.collections.location}: another writer committed while "
                                   "this re-index ran; run it again")

    def _commit(self) -> str:
        call, client = self.collections.call, self.collections.client
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
        for kind in KINDS:
            call("flush", client.flush, self._name(kind))  # one segment: BM25 statistics whole
        chunks = call("count passages", client.query, self._name("chunks"), filter="",
                      output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"]
        documents = call("count documents", client.query, self._name("documents"), filter="",
                         output_fields=["count(*)"],
                         consistency_level="Strong")[0]["count(*)"]
        previous = self.collections.peek_manifest()
        self.version += 1
        self.manifest = replace(self.manifest, format_version=FORMAT_VERSION,
                                generation=self.generation, built_at=now(),
                                documents=int(documents), chunks=int(chunks),
                                version=self.version, next_chunk_id=self.next_id)
        self.collections.write_manifest(self.manifest)  # the commit point of a rebuild
        was_fresh, self.fresh = self.fresh, False  # live now: abort must not drop it
        self._inserted = []
        if was_fresh:  # keep the generation searches may still be reading; drop older ones
            self.collections.drop_generations_except(
                {self.generation, previous.generation if previous else ""})
        return self.generation

    def _write_counts(self) -> None:
        """Passages per word, updated by this write's additions and deletions."""
        changed = [t for t, d in self._df.items() if d]
        call, client = self.collections.call, self.collections.client
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
                self.collections.drop_generation(self.generation)
                self.fresh = False
            elif self._held is not None:
                if self._inserted:
                    self.collections.call("undo added passages", self.collections.client.delete,
                                          self._name("chunks"), ids=self._inserted)
                    self._inserted = []
                self._df = self._df_gone
                self._write_counts()
        finally:
            self._release()

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.close()
