"""Files in, index out: scan, diff by content hash, extract, chunk, embed, write through the
store's Writer.

Only new and changed files are read and embedded; unchanged ones cost a hash.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from search.config import PASSAGE_BACKENDS, Settings
from search.embed.embedder import Embedder, get_embedder
from search.indexing.files import resolve_stored, scan, stored_path, under
from search.ingest.chunker import chunk_document
from search.ingest.loaders import LoadError, fingerprint, load_file
from search.ingest.sandbox import OcrProgress
from search.ingest.text import scoring_sentences
from search.records import Chunk, Document, IndexReport, Manifest, SentenceVectors
from search.store import IndexCorrupt, IndexMismatch, IndexOutdated, Store, Writer, open_store

ProgressHook = Callable[[str, int, int], None]  # (stage, done, total), for the web app
Embedded = tuple[np.ndarray, list[np.ndarray]]  # passage vectors, each one's sentence vectors
# Passages per forward pass when indexing, the job sorted by length first. Measured with
# bf16 and one pass per passage (sentence vectors pooled from it) on 469 SciFact passages,
# 2 threads: 49 passages/s at 8, 51 at 16, 47 at 32 (benchmarks/bench_batching.py).
MODEL_BATCH = 16


def check_backend(settings: Settings, location: str) -> None:
    """Passages are embedded by the runtimes in PASSAGE_BACKENDS only."""
    if settings.backend not in PASSAGE_BACKENDS:
        raise IndexMismatch(
            f"{location}: backend {settings.backend!r} no longer embeds passages (PyTorch, in "
            "bfloat16 where the CPU has it, is faster here and exact); re-index with: "
            f"evidence-search index --rebuild --index {location}")


def check_settings(manifest: Manifest, settings: Settings, location: str) -> None:
    """Refuse to mix vectors from different models or chunking in one index."""
    theirs = manifest.settings()
    if theirs != settings.to_dict():
        diff = ", ".join(f"{k}: index has {theirs[k]!r}, asked for {v!r}"
                         for k, v in settings.to_dict().items() if theirs[k] != v)
        raise IndexMismatch(f"{location}: built with other settings ({diff}); re-index "
                            f"everything with: evidence-search index --rebuild --index {location}")


def refresh(store: Store, base: Path, paths: Sequence[Path], settings: Settings, *,
            rebuild: bool = False, prune: bool = True, progress: bool = False,
            on_progress: ProgressHook | None = None,
            work: Callable[[Settings], Work] | None = None) -> IndexReport:
    """Bring the index in `store` in step with `paths` (document paths stored relative to
    `base`); returns what was done. `work` makes what reads, chunks and embeds (default: this
    process; distributed.RayWork: a Ray cluster); the store is always written from here."""
    started = time.perf_counter()
    report = IndexReport()
    with store.lock():
        try:
            manifest = store.read_manifest()
        except IndexOutdated as exc:
            print(f"{exc.args[0].split(';')[0]}; rebuilding it", file=sys.stderr)
            manifest, rebuild = None, True
        except (IndexCorrupt, IndexMismatch):
            if not rebuild:
                raise
            manifest = None
        if manifest is not None and not rebuild:
            check_settings(manifest, settings, store.location)
        check_backend(settings, store.location)
        dimension = (manifest.dimension if manifest is not None and not rebuild
                     else get_embedder(settings.model, "index", settings.backend).dimension)
        roots = [p.resolve() for p in paths]
        sources = sorted(set(manifest.sources if manifest and not rebuild else ())
                         | {stored_path(p, base) for p in paths})
        # leaving the block without a commit aborts: nothing changed, or a failure
        with store.writer(new_manifest(settings, dimension, sources), rebuild) as writer:
            _apply(writer, settings, paths, roots, base, prune, progress, on_progress,
                   report, work or LocalWork)
            if manifest is None or rebuild or report.added or report.changed or report.removed \
                    or tuple(sources) != manifest.sources:
                writer.commit()
    report.seconds = time.perf_counter() - started
    return report


def new_manifest(settings: Settings, dimension: int, sources: Sequence[str]) -> Manifest:
    return Manifest(model=settings.model, dimension=dimension,
                    chunk_tokens=settings.chunk_tokens,
                    overlap_sentences=settings.overlap_sentences, backend=settings.backend,
                    sources=tuple(sources))


def _apply(writer: Writer, settings: Settings, paths: Sequence[Path],
           roots: Sequence[Path], base: Path, prune: bool, progress: bool,
           on_progress: ProgressHook | None, report: IndexReport,
           make_work: Callable[[Settings], Work]) -> None:
    known = writer.known()
    files, report.failed = scan(paths)
    seen: set[str] = set()
    todo: list[tuple[Path, str, bool]] = []
    for file in files:
        doc_id = stored_path(file, base)
        seen.add(doc_id)
        try:
            sha = fingerprint(file)
        except OSError as exc:
            report.failed.append((str(file), f"cannot read file ({exc.strerror or exc})"))
            continue
        if doc_id in known and known[doc_id][1] == sha:
            report.unchanged.append(doc_id)
        else:
            todo.append((file, doc_id, doc_id in known))
    if prune:
        for doc_id, (path, _) in known.items():
            if doc_id not in seen and under(resolve_stored(path, base), roots):
                report.removed.append(doc_id)

    if not todo:
        writer.remove(report.removed)
        return
    work = make_work(settings)  # the model loads only when something needs embedding
    try:
        pending: list[tuple[Document, list[Chunk]]] = []
        done = work.prepare([(file, doc_id) for file, doc_id, _ in todo], progress, on_progress)
        for (file, doc_id, was_known), ready in zip(todo, done, strict=True):
            if ready.doc is None:
                report.failed.append((str(file), ready.reason))  # an older version is kept
                continue
            report.notes += [(str(file), note) for note in ready.notes]
            pending.append((ready.doc, ready.chunks))
            (report.changed if was_known else report.added).append(doc_id)
        writer.remove(report.removed)
        _embed_and_write(writer, work, pending, report, progress, on_progress)
    finally:
        work.close()


@dataclass
class Prepared:
    """One file read and chunked, or the reason it could not be."""

    doc: Document | None
    chunks: list[Chunk]
    reason: str = ""
    notes: list[str] = field(default_factory=list)  # parts not read (scanned pages, OCR)


def prepare_file(file: Path, doc_id: str, embedder: Embedder, settings: Settings,
                 on_ocr: OcrProgress | None = None) -> Prepared:
    """Read, structure and chunk one file (in this process or on a Ray worker)."""
    from search.ingest.structure import build_document

    try:
        raw = load_file(file, on_ocr)
        doc = build_document(raw, doc_id, doc_id)
    except LoadError as exc:
        return Prepared(None, [], exc.reason)
    budget = min(settings.chunk_tokens, embedder.max_chunk_tokens())
    chunks = chunk_document(doc, embedder.count_tokens, budget, settings.overlap_sentences)
    if not chunks:
        return Prepared(None, [], "no indexable text after extraction")
    return Prepared(doc, chunks, notes=raw.notes)


class Work(Protocol):
    """Where reading, chunking and embedding run; the store is written by the caller."""

    embedder: Embedder  # in this process: passage inputs, dimension

    def prepare(self, todo: Sequence[tuple[Path, str]], progress: bool,
                on_progress: ProgressHook | None) -> list[Prepared]: ...

    def embed(self, texts: list[str], heads: list[int], spans: list[list[tuple[int, int]]],
              progress: bool, on_progress: ProgressHook | None) -> Embedded: ...

    def close(self) -> None: ...


class LocalWork:
    """Everything in this process, one file after another, the model batching passages."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedder = get_embedder(settings.model, "index", settings.backend)

    def prepare(self, todo: Sequence[tuple[Path, str]], progress: bool,
                on_progress: ProgressHook | None) -> list[Prepared]:
        out = []
        for n, (file, doc_id) in enumerate(
                tqdm(todo, desc="reading", unit="file", disable=not progress or len(todo) < 2)):
            if on_progress:
                on_progress("reading", n, len(todo))
            with ocr_progress(file, progress, on_progress) as on_ocr:
                out.append(prepare_file(file, doc_id, self.embedder, self.settings, on_ocr))
        return out

    def embed(self, texts: list[str], heads: list[int], spans: list[list[tuple[int, int]]],
              progress: bool, on_progress: ProgressHook | None) -> Embedded:
        return _embed(self.embedder, texts, heads, spans, progress, on_progress)

    def close(self) -> None:
        return None


def _embed_and_write(writer: Writer, work: Work,
                     pending: list[tuple[Document, list[Chunk]]], report: IndexReport,
                     progress: bool, on_progress: ProgressHook | None) -> None:
    """Embed every pending chunk (with its section prefix) and, from the same pass, each of
    its sentences; then add them."""
    embedder = work.embedder
    chunks = [c for _, cs in pending for c in cs]
    spans = [scoring_sentences(c.text) for c in chunks]
    texts = [embedder.passage_input(c.text, c.section) for c in chunks]
    heads = [len(t) - len(c.text) for t, c in zip(texts, chunks, strict=True)]
    started = time.perf_counter()
    vectors, sentence_vectors = work.embed(texts, heads, spans, progress, on_progress)
    report.embed_seconds = time.perf_counter() - started
    report.chunks_embedded = len(chunks)
    sentences = [SentenceVectors(ss, vs) for ss, vs in zip(spans, sentence_vectors, strict=True)]
    offset = 0
    for doc, cs in pending:
        writer.add(doc, cs, vectors[offset:offset + len(cs)],
                   sentences[offset:offset + len(cs)])
        offset += len(cs)


def add_documents(store: Store | str | Path, docs: Sequence[Document], settings: Settings, *,
                  progress: bool = False) -> IndexReport:
    """Index Documents made in memory (benchmark corpora, other sources): chunk, embed,
    write. Documents with a known doc_id are replaced."""
    store = open_store(store) if isinstance(store, str | Path) else store
    started = time.perf_counter()
    report = IndexReport()
    check_backend(settings, store.location)  # before the model loads
    work = LocalWork(settings)
    embedder = work.embedder
    budget = min(settings.chunk_tokens, embedder.max_chunk_tokens())
    with store.lock():
        manifest = store.read_manifest()
        if manifest is not None:
            check_settings(manifest, settings, store.location)
        with store.writer(new_manifest(settings, embedder.dimension,
                                       manifest.sources if manifest else ())) as writer:
            known = writer.known()
            pending: list[tuple[Document, list[Chunk]]] = []
            for doc in tqdm(docs, desc="chunking", unit="doc", disable=not progress):
                chunks = chunk_document(doc, embedder.count_tokens, budget,
                                        settings.overlap_sentences)
                if not chunks:
                    report.failed.append((doc.doc_id, "no indexable text"))
                    continue
                pending.append((doc, chunks))
                (report.changed if doc.doc_id in known else report.added).append(doc.doc_id)
            _embed_and_write(writer, work, pending, report, progress, None)
            writer.commit()
    report.seconds = time.perf_counter() - started
    return report


@contextmanager
def ocr_progress(file: Path, progress: bool,
                 on_progress: ProgressHook | None) -> Iterator[OcrProgress]:
    """A callback that shows scanned pages being read: a bar on the terminal, and the
    stage "OCR <file>" for the web page's progress."""
    bar: list[tqdm] = []

    def update(done: int, total: int) -> None:
        if progress and not bar:
            bar.append(tqdm(total=total, desc=f"OCR {file.name}", unit="page", leave=False))
        if bar:
            bar[0].update(done - bar[0].n)
        if on_progress:
            on_progress(f"OCR {file.name}", done, total)

    try:
        yield update
    finally:
        if bar:
            bar[0].close()


def _embed(embedder: Embedder, texts: list[str], heads: list[int],
           spans: list[list[tuple[int, int]]], progress: bool,
           on_progress: ProgressHook | None, batch: int = 256) -> Embedded:
    """Embed the whole job sorted by length (batches pad least), in slices so a progress
    hook (the web page's bar) can follow along; results in the order given."""
    if not texts:
        return np.zeros((0, embedder.dimension), dtype=np.float32), []
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    vectors = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    sentences: list[np.ndarray] = [np.zeros((0, embedder.dimension), np.float32)] * len(texts)
    bar = tqdm(total=len(texts), desc="embedding", unit="chunk", disable=not progress)
    for start in range(0, len(texts), batch):
        if on_progress:
            on_progress("embedding", start, len(texts))
        part = order[start:start + batch]
        got, per_text = embedder.encode_with_sentences(
            [texts[i] for i in part], [heads[i] for i in part], [spans[i] for i in part],
            batch_size=MODEL_BATCH)
        vectors[part] = got
        for i, sentence_vectors in zip(part, per_text, strict=True):
            sentences[i] = sentence_vectors
        bar.update(len(part))
    bar.close()
    if on_progress:
        on_progress("embedding", len(texts), len(texts))
    return vectors, sentences
