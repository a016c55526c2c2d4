"""Incremental writes cost in proportion to the change: a new small segment per re-index,
tombstones for deletions, merges later; approximate segments above a size threshold."""

from __future__ import annotations

import re
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from search import Index
from search.store import IndexOutdated
from search.store.local import segments as seglib
from tests.conftest import FIRE, copy_corpus
from tests.test_reindex import NEW_DOC

QUESTION = "How many Met officers are in regular psychological monitoring?"


def live(index: Index) -> Path:
    return index.directory / (index.directory / "CURRENT").read_text().strip()


def test_adding_a_document_writes_one_small_segment_and_rewrites_nothing(tmp_path: Path):
    corpus = copy_corpus(tmp_path / "corpus")
    index = Index(tmp_path / "index")
    index.refresh([corpus])
    generation = live(index)
    first = generation / "seg-000001.faiss"
    before = (first.stat().st_ino, first.stat().st_mtime_ns,
              (generation / "meta.sqlite").stat().st_ino)
    (corpus / "fatigue.md").write_text(NEW_DOC)
    report = index.refresh([corpus])
    assert report.added == [f"{corpus.name}/fatigue.md"]
    assert live(index) == generation  # changed in place, no new generation
    assert (first.stat().st_ino, first.stat().st_mtime_ns,
            (generation / "meta.sqlite").stat().st_ino) == before
    stats = index.stats()
    assert [s.vectors for s in stats.segments][1:] == [report.chunks_embedded]
    assert "fatigue" in index.search("rota fatigue of call handlers", k=1)[0].text


def test_deleted_documents_are_never_found_and_a_merge_drops_them(tmp_path: Path):
    corpus = copy_corpus(tmp_path / "corpus")
    index = Index(tmp_path / "index")
    (corpus / "fatigue.md").write_text(NEW_DOC)
    index.refresh([corpus])
    total = index.stats().chunks
    gone = {d.doc_id: d.chunks for d in index.documents()}[f"{corpus.name}/fatigue.md"]
    (corpus / "fatigue.md").unlink()
    index.refresh([corpus])
    index.wait_for_merges()  # too few deletions to merge for
    stats = index.stats()
    assert stats.tombstones == gone and stats.chunks == total - gone
    for mode in ("semantic", "hybrid", "lexical"):
        hits = index.search("rota fatigue of call handlers at night", k=20, mode=mode)
        assert hits and all("fatigue.md" not in h.doc_id for h in hits)
    done = index.optimize(full=True)
    assert done is not None and done.dropped == gone
    stats = index.stats()
    assert stats.tombstones == 0 and len(stats.segments) == 1
    assert stats.segments[0].vectors == stats.chunks
    # Deleting most of the index merges by itself, in the background.
    (corpus / FIRE).unlink()
    Index(tmp_path / "index").refresh([corpus])
    index.wait_for_merges()
    for _ in range(100):
        if index.stats().tombstones == 0:
            break
        time.sleep(0.1)
    assert index.stats().tombstones == 0


def test_a_segment_whose_passages_all_went_is_dropped_by_itself(tmp_path: Path):
    """One document added, then removed: its segment is all tombstones. However small that
    is beside the index, the background merge drops it and its tombstones."""
    corpus = copy_corpus(tmp_path / "corpus")
    index = Index(tmp_path / "index")
    index.refresh([corpus])
    first = index.stats()
    (corpus / "fatigue.md").write_text(NEW_DOC)
    index.refresh([corpus])
    index.wait_for_merges()
    assert len(index.stats().segments) == 2  # a one-document segment, nothing deleted yet
    (corpus / "fatigue.md").unlink()
    index.refresh([corpus])
    index.wait_for_merges()
    stats = index.stats()
    assert stats.tombstones == 0 and stats.chunks == first.chunks
    assert [(s.name, s.vectors) for s in stats.segments] == \
        [(s.name, s.vectors) for s in first.segments]
    hits = index.search("rota fatigue of call handlers at night", k=10)
    assert hits and all("fatigue.md" not in h.doc_id for h in hits)


def test_segments_listed_before_their_id_bounds_were_recorded_are_counted_too(
        tmp_path: Path):
    corpus = copy_corpus(tmp_path / "corpus")
    index = Index(tmp_path / "index")
    index.refresh([corpus])
    (corpus / "fatigue.md").write_text(NEW_DOC)
    index.refresh([corpus])
    index.wait_for_merges()
    with sqlite3.connect(live(index) / "meta.sqlite") as db:  # as an older index lists them
        for column in ("first_id", "last_id", "dead", "dead_bound"):
            db.execute(f"ALTER TABLE segments DROP COLUMN {column}")
    assert index.store.needs_optimize() is False  # read-only, before the migration
    (corpus / "fatigue.md").unlink()
    index.refresh([corpus])
    index.wait_for_merges()
    stats = index.stats()
    assert stats.tombstones == 0 and len(stats.segments) == 1
    assert not index.store.needs_optimize()  # and nothing more to do
    with sqlite3.connect(live(index) / "meta.sqlite") as db:  # the writer added the columns
        columns = {r[1] for r in db.execute("PRAGMA table_info(segments)")}
    assert {"first_id", "last_id", "dead", "dead_bound"} <= columns


def test_bounds_that_take_in_another_segments_tombstones_start_one_merge_not_one_a_write(
        tmp_path: Path):
    """A merged segment's id bounds can span another segment's ids. Their tombstones then
    look like its own until a merge counts them; counted once, they start no more merges."""
    from tests.reliability.helpers import add_bulk

    corpus = copy_corpus(tmp_path / "corpus")
    index = Index(tmp_path / "index")
    index.refresh([corpus])
    add_bulk(corpus, 6, paragraphs=12)
    index.refresh([corpus])
    (corpus / "fatigue.md").write_text(NEW_DOC)
    index.refresh([corpus])
    index.wait_for_merges()
    names = [s.name for s in index.stats().segments]
    assert len(names) == 3
    with sqlite3.connect(live(index) / "meta.sqlite") as db:  # as if merged around the rest
        db.execute("UPDATE segments SET first_id = 1 WHERE name = ?", (names[2],))
    (corpus / "extra-0.txt").unlink()  # a sixth of the second segment: nothing is worn
    index.refresh([corpus])
    index.wait_for_merges()  # the bounds said "maybe": one merge counted, and did nothing
    stats = index.stats()
    assert [s.name for s in stats.segments] == names and stats.tombstones > 0
    assert not index.store.needs_optimize()  # counted: no merge on the next write
    (corpus / "note.md").write_text(NEW_DOC.replace("fatigue", "sleep"))
    index.refresh([corpus])
    index.wait_for_merges()
    assert [s.name for s in index.stats().segments][:3] == names


def test_what_a_segments_tombstones_are_known_to_be_at_most():
    from search.store.local.catalogue import DeadCount

    assert DeadCount(None, None, None).at_most(70) == 70  # bounds unknown: all of them
    assert DeadCount(12, None, None).at_most(70) == 12  # never counted: those in its bounds
    assert DeadCount(12, 0, 12).at_most(70) == 0  # counted, and nothing new in its bounds
    assert DeadCount(15, 0, 12).at_most(70) == 15  # new tombstones in its bounds since


def test_merge_plan_rewrites_a_worn_segment_and_leaves_a_lightly_used_one():
    from search.config import VectorSettings
    from search.store.local.merge import merge_plan

    settings = VectorSettings()
    listed = [("seg-000001", seglib.IVFPQ, 1_000_000), ("seg-000002", seglib.FLAT, 135),
              ("seg-000003", seglib.FLAT, 400)]
    # all 135 of one small segment deleted: 0.01 % of the index, all of that segment
    assert merge_plan(listed, 135, settings, dead={"seg-000002": 135}) == ["seg-000002"]
    # an approximate segment waits for the index's fifth: alone it could come back HNSW
    two = [*listed, ("seg-000004", seglib.IVFPQ, 1_000_000)]
    assert merge_plan(two, 300_000, settings, dead={"seg-000001": 300_000}) == []
    # a fifth or less of each segment deleted: nothing to do
    light = {"seg-000001": 1000, "seg-000002": 27, "seg-000003": 80}
    assert merge_plan(listed, 1107, settings, dead=light) == []
    assert merge_plan(listed, 135, settings) == []  # no per-segment counts: as before
    # over a fifth of the whole index deleted still rewrites everything
    assert merge_plan(listed, 300_000, settings) == [n for n, _, _ in listed]


def test_many_small_writes_are_merged_in_the_background(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EVIDENCE_SEARCH_MAX_SEGMENTS", "3")
    corpus = copy_corpus(tmp_path / "corpus")
    index = Index(tmp_path / "index")
    index.refresh([corpus])
    for n in range(4):
        (corpus / f"note-{n}.md").write_text(NEW_DOC.replace("fatigue", f"fatigue {n}"))
        index.refresh([corpus])
        index.wait_for_merges()
        assert len(index.stats().segments) <= 3
    assert len(list(live(index).glob("seg-*.faiss"))) <= 3 + 4  # merged-away files expire
    hits = index.search("rota fatigue 3 of call handlers", k=10, mode="lexical")
    assert any("note-3" in h.doc_id for h in hits)


def test_a_reindex_runs_while_a_merge_builds_and_neither_loses_the_other(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A merge holds the writer lock only to plan and to commit: a re-index that adds one
    document and deletes another goes through while the merged segment is being built, and
    the merge's commit keeps both changes."""
    corpus = copy_corpus(tmp_path / "corpus")
    index = Index(tmp_path / "index")
    (corpus / "fatigue.md").write_text(NEW_DOC)
    index.refresh([corpus])
    (corpus / "shifts.md").write_text(NEW_DOC.replace("fatigue", "shift pattern"))
    index.refresh([corpus])
    index.wait_for_merges()
    gone = {d.doc_id: d.chunks for d in index.documents()}[f"{corpus.name}/fatigue.md"]
    building, release = threading.Event(), threading.Event()
    real_build = seglib.build

    def held_build(*args, **kwargs):  # the real build, once the test lets it go on
        building.set()
        assert release.wait(120)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(seglib, "build", held_build)
    results: list = []
    merging = threading.Thread(target=lambda: results.append(index.store.optimize(full=True)))
    merging.start()
    try:
        assert building.wait(120)
        monkeypatch.setattr(seglib, "build", real_build)  # the re-index builds as usual
        (corpus / "fatigue.md").unlink()
        (corpus / "late.md").write_text(NEW_DOC.replace("fatigue", "late-night overtime"))
        writer = threading.Thread(target=lambda: Index(tmp_path / "index").refresh([corpus]))
        writer.start()
        writer.join(120)
        assert not writer.is_alive(), "the re-index waited for the merge"
    finally:
        release.set()
        merging.join(120)
    index.wait_for_merges()
    assert results and results[0] is not None and results[0].dropped == 0
    for mode in ("semantic", "hybrid", "lexical"):
        hits = index.search("rota fatigue of call handlers at night", k=20, mode=mode)
        assert hits and all("fatigue.md" not in h.doc_id for h in hits)
    assert any("late.md" in h.doc_id for h in
               index.search("late-night overtime of call handlers", k=5, mode="lexical"))
    stats = index.stats()
    assert stats.tombstones == gone  # deleted during the merge: still a tombstone
    assert index.optimize(full=True).dropped == gone
    known = index.store.listed_segments()
    assert {f.name.split(".")[0] for f in live(index).glob("seg-*")} <= known


def test_a_large_segment_is_approximate_and_finds_what_exact_search_finds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    corpus = copy_corpus(tmp_path / "corpus")
    exact = Index(tmp_path / "exact")
    exact.refresh([corpus])
    monkeypatch.setenv("EVIDENCE_SEARCH_APPROX_ABOVE", "20")  # the seed corpus counts as large
    for kind in ("ivf", "hnsw"):
        monkeypatch.setenv("EVIDENCE_SEARCH_APPROX_KIND", kind)
        index = Index(tmp_path / kind)
        index.refresh([corpus])
        assert [s.kind for s in index.stats().segments] == [kind]
        assert list(live(index).glob("seg-000001.f16.npy"))  # exact vectors for re-scoring
        for question in (QUESTION, "peer support after a traumatic incident",
                         "fire fighters cancer screening"):
            want = exact.search(question, k=5, mode="semantic")
            got = index.search(question, k=5, mode="semantic")
            assert [h.text for h in got][:3] == [h.text for h in want][:3]
            assert got[0].similarity == pytest.approx(want[0].similarity, abs=2e-3)
        doc = index.documents()[0].doc_id
        hits = index.search(QUESTION, k=5, filters={"documents": [doc]})
        assert hits and all(h.doc_id == doc for h in hits)


def test_vectors_of_lexical_hits_come_from_every_segment_kind(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EVIDENCE_SEARCH_APPROX_ABOVE", "20")
    corpus = copy_corpus(tmp_path / "corpus")
    index = Index(tmp_path / "index")
    index.refresh([corpus])  # one approximate segment
    (corpus / "fatigue.md").write_text(NEW_DOC)
    index.refresh([corpus])  # plus a small exact one
    with index.snapshot() as snap:
        ids = sorted(snap.live_vectors()[0].tolist())
        assert len(ids) == snap.count
        vectors = snap.vectors_of(ids)
    assert vectors.shape == (len(ids), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-2)


def test_an_index_in_the_old_format_says_so_and_is_rebuilt(tmp_path: Path):
    corpus = copy_corpus(tmp_path / "corpus")
    index = Index(tmp_path / "index")
    index.refresh([corpus])
    db = sqlite3.connect(live(index) / "meta.sqlite")
    db.execute("UPDATE manifest SET value = '2' WHERE key = 'format_version'")
    db.commit()
    db.close()
    with pytest.raises(IndexOutdated, match="index format 2, this version reads 5"):
        Index(tmp_path / "index").search(QUESTION)
    report = Index(tmp_path / "index").refresh([corpus])
    assert report.ok and len(report.added) == 2
    assert Index(tmp_path / "index").search(QUESTION, k=1)


def test_the_lexical_index_is_kept_in_step_and_repaired_after_a_crash(tmp_path: Path):
    corpus = copy_corpus(tmp_path / "corpus")
    index = Index(tmp_path / "index")
    index.refresh([corpus])
    version = live(index) / "lexical" / "VERSION"
    with index.snapshot() as snap:
        assert version.read_text().strip() == str(snap.manifest.version)
        assert 0 < snap.doc_freq("officers") < snap.count
        assert snap.doc_freq("zyzzyvas") == 0
    (corpus / "fatigue.md").write_text(NEW_DOC)
    index.refresh([corpus])
    top = index.search("rota fatigue call handlers", k=1, mode="lexical")[0]
    assert top.doc_id.endswith("fatigue.md")  # its title and headings count as its words
    (corpus / "fatigue.md").unlink()
    index.refresh([corpus])
    hits = index.search("rota fatigue call handlers", k=10, mode="lexical")
    assert all("fatigue.md" not in h.doc_id for h in hits)
    want = [h.text for h in index.search("psychological monitoring", k=3, mode="lexical")]
    # The deletion wore the small segment out, so a merge runs in the background; a reader
    # leaves the repair to whoever holds the writer lock, so let it finish first.
    index.wait_for_merges()
    # Out of step, as after a kill between the catalogue's commit and the lexical index's:
    # the next reader rebuilds it from the catalogue, and finds what it found before.
    version.unlink()
    reopened = Index(tmp_path / "index")
    assert [h.text for h in reopened.search("psychological monitoring", k=3,
                                            mode="lexical")] == want
    with reopened.snapshot() as snap:
        assert version.read_text().strip() == str(snap.manifest.version)


def test_an_index_of_the_previous_format_is_upgraded_in_place(tmp_path: Path):
    corpus = copy_corpus(tmp_path / "corpus")
    Index(tmp_path / "index").refresh([corpus])
    want = [h.text for h in Index(tmp_path / "index").search(QUESTION, k=3, mode="lexical")]
    db = sqlite3.connect(live(Index(tmp_path / "index")) / "meta.sqlite")  # as format 4 wrote it
    db.execute("CREATE VIRTUAL TABLE chunks_fts USING fts5(text, context, content='chunks', "
               "content_rowid='id')")
    db.execute("UPDATE manifest SET value = '4' WHERE key = 'format_version'")
    db.commit()
    db.close()
    shutil.rmtree(live(Index(tmp_path / "index")) / "lexical")
    index = Index(tmp_path / "index")
    assert [h.text for h in index.search(QUESTION, k=3, mode="lexical")] == want
    assert index.stats().format_version == 5
    again = index.refresh([corpus])
    assert again.chunks_embedded == 0 and len(again.unchanged) == 2  # nothing re-embedded
    db = sqlite3.connect(live(Index(tmp_path / "index")) / "meta.sqlite")
    assert not db.execute("SELECT name FROM sqlite_master WHERE name = 'chunks_fts'").fetchall()
    db.close()


def _clustered(rng: np.random.Generator, n: int, dimension: int = 64) -> np.ndarray:
    """Unit vectors around 300 centres: neighbourhoods, as real embeddings have."""
    centres = rng.standard_normal((300, dimension)).astype(np.float32)
    vectors = centres[rng.integers(0, 300, n)] + 0.4 * rng.standard_normal(
        (n, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_a_very_large_segment_is_ivf_pq_re_scored_with_exact_cosines(tmp_path: Path):
    from search.config import VectorSettings

    rng = np.random.default_rng(3)
    vectors = _clustered(rng, 20_000)
    ids = 7 + 3 * rng.permutation(20_000)  # not dense, not in order
    settings = VectorSettings(approx_above=1_000, pq_above=10_000, pq_bytes=32)
    written = seglib.build("seg-000001", ids, vectors, settings)
    assert written.kind == seglib.IVFPQ
    seglib.write(written, tmp_path)
    part = seglib.read(tmp_path, "seg-000001", seglib.IVFPQ, 64)
    assert part.ids.tolist() == sorted(ids.tolist())
    queries = _clustered(rng, 30)
    found = 0
    for q in queries:
        scores = vectors @ q
        want = set(ids[np.argsort(-scores)[:10]].tolist())
        got = part.search(q, 10, settings, None, None)
        found += len(want & {i for i, _ in got})
        by_id = dict(zip(ids.tolist(), scores.tolist(), strict=True))
        for i, score in got:  # true cosines, not the codes' estimates
            assert score == pytest.approx(by_id[i], abs=2e-3)
    assert found / (10 * len(queries)) >= 0.9
    best = part.search(queries[0], 1, settings, None, None)[0][0]
    skip = faiss_not([best])
    assert best not in {i for i, _ in part.search(queries[0], 10, settings, skip, None)}


def faiss_not(ids: list[int]):
    import faiss

    return faiss.IDSelectorNot(faiss.IDSelectorBatch(np.array(ids, dtype=np.int64)))


def test_ivf_pq_segments_are_not_merged_for_their_number():
    from search.config import VectorSettings
    from search.store.local.merge import merge_plan

    settings = VectorSettings(max_segments=4)
    sealed = [(f"seg-{n:06d}", seglib.IVFPQ, 1_000_000) for n in range(1, 7)]
    assert merge_plan(sealed, 0, settings) == []
    small = [(f"seg-{n:06d}", seglib.FLAT, 100) for n in range(7, 12)]
    plan = merge_plan(sealed + small, 0, settings)
    assert plan and set(plan) <= {name for name, _, _ in small}


def test_pq_parts_divide_the_dimension_at_four_bits_each():
    from search.config import VectorSettings

    assert seglib.pq_parts(384, VectorSettings()) == 96  # 48 bytes
    assert seglib.pq_parts(768, VectorSettings()) == 192  # 96 bytes
    assert seglib.pq_parts(384, VectorSettings(pq_bytes=50)) == 96  # 100 does not divide 384
    assert seglib.pq_parts(131, VectorSettings()) == 1  # a prime dimension: one part


def test_bad_vector_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch):
    from search.config import VectorSettings

    for name, value, said in (("PQ_BYTES", "-1", "0 (dimension / 8) or more"),
                              ("SENTENCE_PRECISION", "int4", "'float16' or 'int8'"),
                              ("RERANK", "0", "at least 1"),
                              ("PQ_ABOVE", "lots", "not a whole number")):
        monkeypatch.setenv(f"EVIDENCE_SEARCH_{name}", value)
        with pytest.raises(ValueError, match=f"EVIDENCE_SEARCH_{name}: .*{re.escape(said)}"):
            VectorSettings.from_env()
        monkeypatch.delenv(f"EVIDENCE_SEARCH_{name}")


def test_several_ivf_pq_segments_pool_candidates_and_re_score_fewer(tmp_path: Path,
                                                                     monkeypatch):
    """Three IVF-PQ segments searched together find what exact search finds, re-scoring
    only the pool's best (pq_rerank + pq_rerank_more per extra segment), with true cosines."""
    from search.config import VectorSettings

    rng = np.random.default_rng(5)
    vectors = _clustered(rng, 36_000)
    ids = 11 + 2 * rng.permutation(36_000)
    settings = VectorSettings(approx_above=1_000, pq_above=10_000, pq_bytes=32,
                              pq_rerank=200, pq_rerank_more=100)
    parts = []
    for n in range(3):
        part = seglib.build(f"seg-{n + 1:06d}", ids[n::3], vectors[n::3], settings)
        assert part.kind == seglib.IVFPQ
        seglib.write(part, tmp_path)
        parts.append(seglib.read(tmp_path, part.name, seglib.IVFPQ, 64))
    read: list[int] = []
    for part in parts:  # count the exact rows each question reads
        take = part.exact.take
        monkeypatch.setattr(part.exact, "take",
                            lambda rows, take=take: read.append(len(rows)) or take(rows))
    found, questions = 0, _clustered(rng, 20)
    for q in questions:
        read.clear()
        got = seglib.search_all(parts, q, 10, settings, None, None)
        assert sum(read) <= seglib.pooled_depth(settings, 10, 3) == 400
        want = set(ids[np.argsort(-(vectors @ q))[:10]].tolist())
        found += len(want & {i for i, _ in got})
        scores = dict(zip(ids.tolist(), (vectors @ q).tolist(), strict=True))
        assert all(s == pytest.approx(scores[i], abs=2e-3) for i, s in got)
        assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
    assert found / (10 * len(questions)) >= 0.9
    assert seglib.search_all(parts, vectors[0], 1, settings, None, None)[0][0] == ids[0]
