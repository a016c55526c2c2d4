"""Both engines behind one interface: the Milvus engine (a real Milvus Lite) answers as the
local engine does — filters, citations, highlights — and says clearly when it cannot be reached."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from search import Filters, Index, IndexMismatch, StoreUnavailable
from search.records import Chunk, Document, Manifest, Page
from search.store import open_store
from search.store.milvus import filter_expression, literal, parse_location, unavailable
from search.store.milvus.collections import generation_after
from tests.conftest import FIRE, MAYOR, ROOT, copy_corpus, location

QUESTIONS = ["How many Met officers are in regular psychological monitoring?",
             "what peer support do Met officers get after a traumatic incident?",
             "cancer screening for firefighters"]
FILTERS = [Filters(documents=[f"corpus/{FIRE}"]), Filters(title="MAYOR OF LONDON"),
           Filters(section="Metropolitan Police"), Filters(pages=(3, 4)),
           Filters(date_from="2020"), Filters(date_to="2019"),
           Filters(title="no such title")]


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Index]:
    """The seed corpus in each engine, from the same folder (so doc ids match)."""
    base = tmp_path_factory.mktemp("both")
    corpus = copy_corpus(base / "corpus")
    indexes = {backend: Index(location(backend, base / f"index-{backend}"))
               for backend in ("local", "milvus")}
    for index in indexes.values():
        assert index.refresh([corpus]).ok
    return indexes


@pytest.mark.parametrize("mode", ["semantic", "lexical", "hybrid"])
def test_milvus_finds_what_the_local_engine_finds(both: dict[str, Index], mode: str):
    for question in QUESTIONS:
        local = both["local"].search(question, k=5, mode=mode)
        milvus = both["milvus"].search(question, k=5, mode=mode)
        assert [h.citation for h in milvus][:1] == [h.citation for h in local][:1], question
        assert len({h.text for h in milvus[:3]} & {h.text for h in local[:3]}) >= 2, question
        top_local, top_milvus = local[0], milvus[0]
        assert (top_milvus.start, top_milvus.end, top_milvus.page) == \
            (top_local.start, top_local.end, top_local.page)
        if mode == "semantic":
            assert top_milvus.similarity == pytest.approx(top_local.similarity, abs=1e-4)
            assert top_milvus.highlights == top_local.highlights  # stored sentence vectors


def test_filters_mean_the_same_in_both_engines(both: dict[str, Index]):
    docs = {d.doc_id: d for d in both["local"].documents()}
    assert set(docs) == {d.doc_id for d in both["milvus"].documents()}
    for filters in FILTERS:
        for mode in ("semantic", "lexical"):
            got = {backend: [h.text for h in index.search(
                "officers support mental health", k=30, mode=mode, filters=filters)]
                for backend, index in both.items()}
            assert sorted(got["milvus"]) == sorted(got["local"]), (filters, mode)
    mayor = both["milvus"].search("officers", k=30, filters=Filters(title="mayor of london"))
    assert mayor and all(MAYOR in h.doc_id for h in mayor)
    assert both["milvus"].search("officers", filters=Filters(title="no such title")) == []


def test_filter_expression_escapes_what_users_type():
    assert filter_expression(None) == "" and filter_expression(Filters()) == ""
    quoted = filter_expression(Filters(documents=['a"b\\c', "d\ne"]))
    assert quoted == r'(doc_id in ["a\"b\\c", "d\ne"] or path in ["a\"b\\c", "d\ne"])'
    assert filter_expression(Filters(title="50%_off\\")) == 'title_lc like "%50__off_%"'
    assert filter_expression(Filters(pages=(2, 5))) == "(page_end >= 2 and page_start <= 5)"
    assert filter_expression(Filters(date_from="2020", date_to="2021-06")) == (
        '(date != "" and date >= "2020") and (date != "" and date < "2021-07")')
    assert literal("tab\there\x00") == '"tab\\there"'


def test_locations_choose_the_engine_and_the_collection(tmp_path: Path):
    assert open_store(tmp_path / "index").engine == "local"
    uri, lite, name = parse_location(f"milvus://{tmp_path}/x.db?collection=inquiry_2026")
    assert uri == lite == str(tmp_path / "x.db") and name == "inquiry_2026"
    assert parse_location("http://milvus.internal:19530")[:2] == \
        ("http://milvus.internal:19530", None)
    with pytest.raises(StoreUnavailable, match="ending in .db"):
        parse_location("milvus:///srv/index")
    with pytest.raises(StoreUnavailable, match="collection name"):
        parse_location("http://h:19530?collection=drop;table")


def test_an_unreachable_server_is_one_line_naming_the_setting():
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        Index("http://127.0.0.1:9").search("anything")
    message = str(caught.value)
    assert "no Milvus server answers" in message and "--store" in message
    assert "\n" not in message and time.monotonic() - started < 30


def test_a_refused_token_says_which_setting_to_fix():
    from pymilvus.exceptions import MilvusException

    error = MilvusException(code=1800, message="auth check failure, please check token")
    message = str(unavailable("http://h:19530", None, error))
    assert "refused the credentials" in message and "EVIDENCE_SEARCH_MILVUS_TOKEN" in message


def test_milvus_lite_in_a_missing_folder_or_held_by_another_process(tmp_path: Path):
    with pytest.raises(StoreUnavailable, match="does not exist"):
        Index(f"milvus://{tmp_path}/nowhere/index.db").search("anything")
    corpus = copy_corpus(tmp_path / "corpus")
    store = f"milvus://{tmp_path}/held.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from search import Index; "
         f"Index({store!r}).refresh([{str(corpus)!r}]); print('ready', flush=True); "
         "time.sleep(60)"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreUnavailable, match="another process"):
            Index(store).search("peer support")
    finally:
        holder.kill()
        holder.wait()
    assert Index(store).search("peer support", k=1)  # nothing lost once it is free


def test_a_store_built_with_another_model_or_dimension_says_rebuild(both: dict[str, Index]):
    with pytest.raises(IndexMismatch, match="--rebuild"):
        Index(both["milvus"].location, model="all-mpnet-base-v2").search("peer support")
    assert both["milvus"].search("peer support", k=1)


def _unit(n: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, 384)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _doc(doc_id: str, words: str) -> tuple[Document, list[Chunk]]:
    text = f"{words}. A second sentence about {words}."
    doc = Document(doc_id, doc_id, f"Note {doc_id}", text, [Page(None, 0, len(text))], [],
                   sha256=doc_id)
    return doc, [Chunk(doc_id, 0, text, 0, len(text), None, None, ())]


@pytest.mark.parametrize("backend", ["local", "milvus"])
def test_an_aborted_write_leaves_the_index_as_it_was(tmp_path: Path, backend: str):
    store = open_store(location(backend, tmp_path / "index"))
    manifest = Manifest(model="all-MiniLM-L6-v2", dimension=384)
    with store.writer(manifest) as writer:
        writer.add(*_doc("kept.txt", "decontamination showers at fire stations"), _unit(1, 1))
        writer.commit()
    with store.open() as view:
        before = view.live_vectors()[0].tolist()
        words = view.doc_freq("decontamination")
    # an exception inside the block aborts the write
    with pytest.raises(RuntimeError, match="stopped mid-write"), \
            store.writer(manifest) as writer:
        writer.add(*_doc("dropped.txt", "zeppelin hangar rota"), _unit(1, 2))
        writer.remove(["kept.txt"])
        raise RuntimeError("stopped mid-write")
    with store.open() as view:
        assert view.search_lexical("zeppelin hangar", 5) == []
        assert view.doc_freq("zeppelin") == 0
        listed = [d.doc_id for d in view.documents()]
        if backend == "local":  # one transaction: as it was
            assert view.live_vectors()[0].tolist() == before and listed == ["kept.txt"]
            assert view.doc_freq("decontamination") == words
        else:  # no transactions: what was removed is no longer claimed, so the next
            assert listed == []  # re-index adds it again; nothing half-written is listed
            assert view.live_vectors()[0].tolist() == []
            assert view.doc_freq("decontamination") == 0
    with store.writer(manifest) as writer:  # the lock was released: a new write opens
        writer.add(*_doc("later.txt", "peer support after incidents"), _unit(1, 3))
        writer.commit()
    with store.writer(manifest) as writer:  # left without a commit: nothing changes
        writer.add(*_doc("never.txt", "never committed"), _unit(1, 5))
    with store.open() as view:
        ids = view.live_vectors()[0].tolist()
        assert len(ids) == (2 if backend == "local" else 1) and len(set(ids)) == len(ids)
        hits = view.search_lexical("peer support", 5)
        assert [view.chunks([i])[i].doc_id for i, _ in hits] == ["later.txt"]
    store.close()


def test_abort_after_a_committed_rebuild_keeps_the_new_index(tmp_path: Path):
    store = open_store(tmp_path / "index")
    with store.writer(Manifest(model="all-MiniLM-L6-v2", dimension=384),
                      rebuild=True) as writer:
        writer.add(*_doc("a.txt", "wellbeing vans at large incidents"), _unit(1, 4))
        writer.commit()
        writer.abort()  # as an interrupt arriving just after the commit would
    with store.open() as view:
        assert [d.doc_id for d in view.documents()] == ["a.txt"]


def test_names_with_unusual_spaces_match_themselves():
    assert literal("a\u202fb\u200bc") == '"a\u202fb\u200bc"'


def test_a_rebuild_writes_the_generation_after_the_live_one():
    assert generation_after("") == "g1"  # no index yet, or a manifest without one
    assert generation_after("g1") == "g2" and generation_after("g9") == "g10"


@pytest.mark.parametrize("filters", [None, *FILTERS[:3], FILTERS[-1]], ids=repr)
def test_both_lists_at_once_are_the_two_searches_one_after_the_other(
        any_corpus_index: Index, embedder, filters: Filters | None):
    """The local engine runs BM25 on a worker thread beside the vector search: the lists
    must be what each search gives alone, under every filter."""
    question = "peer support for officers after a traumatic incident"
    vector = embedder.encode([question])[0]
    with any_corpus_index.snapshot() as snap:
        dense, lexical = snap.search_both(vector, 20, question, 20, filters)
        assert dense == snap.search_vectors(vector, 20, filters)
        assert lexical == snap.search_lexical(question, 20, filters)
        if filters is None:
            assert dense and lexical
