"""Reading an index's files ahead into the page cache (search/store/local/prefetch.py)."""

from __future__ import annotations

from pathlib import Path

from search import Index
from search.store.local import prefetch
from search.store.local.layout import DATABASE, live_generation


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
