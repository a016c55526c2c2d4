"""Reading an index's files ahead into the page cache (search/store/local/prefetch.py)."""

from __future__ import annotations

import threading
from pathlib import Path

from search import Index
from search.store.base import StaleSnapshot
from search.store.local import prefetch, reader
from search.store.local.layout import DATABASE, live_generation
from search.store.local.reader import Generation
from tests.conftest import copy_corpus
from tests.test_reindex import NEW_DOC
from tests.test_segments import QUESTION


def test_plan_keeps_the_order_and_passes_over_what_does_not_fit():
    files = [(Path("a.faiss"), 40), (Path("lexical/x"), 70), (Path("a.f16.npy"), 30),
             (Path("lexical/lock"), 0), (Path("meta.sqlite"), 500)]
    assert prefetch.plan(files, 1000) == [Path("a.faiss"), Path("lexical/x"),
                                          Path("a.f16.npy"), Path("meta.sqlite")]
    # the lexical index does not fit what is left: the smaller exact rows after it still do
    assert prefetch.plan(files, 100) == [Path("a.faiss"), Path("a.f16.npy")]
    assert prefetch.plan(files, 0) == []


def test_a_generation_lists_its_vector_files_first_and_the_catalogue_last(corpus_index: Index):
    directory = corpus_index.directory
    path = directory / live_generation(directory)
    segments = [s.name for s in corpus_index.stats().segments]
    files = prefetch.generation_files(path, segments)
    names = [f.name for f, _ in files]
    assert names[0] == f"{segments[0]}.faiss" and names[-1] == DATABASE
    assert all(size == f.stat().st_size for f, size in files)
    # every file a search reads is there: the segments, the lexical index, the catalogue
    on_disk = {f for f in path.rglob("*") if f.is_file() and not f.name.startswith(".")}
    wanted = {f for f in on_disk if f.suffix in (".faiss", ".npy", ".sqlite")
              or f.parent.name == "lexical"}
    assert wanted <= {f for f, _ in files}


def test_an_index_reads_its_files_ahead_within_the_memory_budget(corpus_index: Index):
    done = corpus_index.prefetch()
    path = corpus_index.directory / live_generation(corpus_index.directory)
    segments = [s.name for s in corpus_index.stats().segments]
    total = sum(size for _, size in prefetch.generation_files(path, segments))
    assert done is not None and done.skipped == 0 and done.bytes == total and done.files > 2
    # with no memory to spare nothing is read, and the index says how much it left
    none = prefetch.read_ahead(prefetch.generation_files(path, segments), budget=0)
    assert none.files == 0 and none.bytes == 0 and none.skipped == total
    # the index searches as before
    assert corpus_index.search("peer support after a traumatic incident", k=3)


def test_an_empty_folder_has_nothing_to_read_ahead(tmp_path: Path):
    assert Index(tmp_path / "nothing").prefetch() is None


def test_a_file_is_too_big_to_cache_past_the_read_ahead_share_of_free_memory():
    assert not prefetch.too_big_to_cache(5_000, available=10_000)
    assert prefetch.too_big_to_cache(5_001, available=10_000)
    assert not prefetch.too_big_to_cache(10**12, available=0)  # no /proc/meminfo: unknown


def test_a_catalogue_too_big_to_cache_is_read_in_parts_and_each_search_sees_its_own_version(
        tmp_path: Path, monkeypatch):
    """Read in parts on reader threads (as a 10M index's is), a search's candidates are
    what one thread reads; a snapshot taken before a write still reads the passages that
    write removed (the reader threads see the newer version and leave them to it)."""
    corpus = copy_corpus(tmp_path / "corpus")
    (corpus / "fatigue.md").write_text(NEW_DOC)
    index = Index(tmp_path / "index")
    index.refresh([corpus])
    one_thread = index.search(QUESTION, k=5)
    monkeypatch.setattr(prefetch, "available_memory", lambda: 1)  # nothing fits
    parts = Index(tmp_path / "index")
    read_by, returned = [], []
    original, pool = Generation.rows_at, reader._ROWS

    def counted(self, version, ids, dimension):
        read_by.append(threading.current_thread().name)
        returned.append(original(self, version, ids, dimension))
        return returned[-1]

    class BegunAtOnce:  # a part not begun when the search gets to it is read there instead
        def submit(self, fn, *args):
            begun = threading.Event()
            future = pool.submit(lambda: (begun.set(), fn(*args))[1])
            begun.wait(10)
            return future

    monkeypatch.setattr(Generation, "rows_at", counted)
    monkeypatch.setattr(reader, "_ROWS", BegunAtOnce())
    found = parts.search(QUESTION, k=5)
    assert read_by and all(name.startswith("evidence-search-rows") for name in read_by)
    assert any(got is not None and got[0] for got in returned)  # the threads' rows were used
    assert [(h.text, h.citation, h.highlights, h.confidence) for h in found] == \
        [(h.text, h.citation, h.highlights, h.confidence) for h in one_thread]
    ids = [c.id for c in parts.document_chunks(f"{corpus.name}/fatigue.md")]
    with parts.snapshot() as snap:  # (one snapshot a thread at a time: opened after that)
        everything = sorted(snap.live_vectors()[0].tolist())
        (corpus / "fatigue.md").unlink()
        Index(tmp_path / "index").refresh([corpus])  # another process removes it meanwhile
        returned.clear()
        rows = snap.candidates(everything)
        assert None in returned  # a reader thread saw the newer version and left its part
        assert set(ids) <= set(rows) and len(rows) == len(everything)
        assert all(rows[i].chunk.doc_id.endswith("fatigue.md") for i in ids)


def test_a_reader_thread_never_recreates_a_retired_generations_catalogue(tmp_path: Path,
                                                                          monkeypatch):
    """A catalogue removed between a reader thread's check and its connect (its generation
    retired meanwhile) is a stale snapshot, and no empty database is left in the folder."""
    corpus = copy_corpus(tmp_path / "corpus")
    index = Index(tmp_path / "index")
    index.refresh([corpus])
    generation = Generation(index.directory, live_generation(index.directory))
    catalogue = generation.db_path
    catalogue.unlink()
    real_is_file, checks, raised = Path.is_file, [], []

    def there_at_the_check(self: Path) -> bool:  # the race: removed just after the check
        if self == catalogue and not checks:
            checks.append(self)
            return True
        return real_is_file(self)

    def connect() -> None:  # a thread of its own: this one has its connection already
        try:
            generation.connection()
        except StaleSnapshot as exc:
            raised.append(exc)

    monkeypatch.setattr(Path, "is_file", there_at_the_check)
    thread = threading.Thread(target=connect)
    thread.start()
    thread.join()
    assert checks and raised and not catalogue.exists()
