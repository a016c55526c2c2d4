"""Incremental re-index does exactly the needed work, and settings are guarded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from search import Index, IndexMismatch
from tests.conftest import FIRE, MAYOR, copy_corpus

NEW_DOC = """# Control room fatigue review

Call handlers in the emergency operations centre described rota fatigue after twelve-hour
night shifts. The review recommends protected rest breaks and a quiet room on every floor.

## Findings

Sickness absence for call handlers rose after the rota change in spring.
"""


def doc_chunks(index: Index) -> dict[str, int]:
    return {d.doc_id: d.chunks for d in index.documents()}


def test_add_change_delete_do_exactly_the_needed_work(tmp_path: Path, store_at):
    corpus = copy_corpus(tmp_path / "corpus")
    index = Index(store_at(tmp_path / "index"))
    first = index.refresh([corpus])
    assert sorted(Path(p).name for p in first.added) == sorted([FIRE, MAYOR])
    assert first.chunks_embedded == index.stats().chunks

    again = index.refresh([corpus])
    assert again.chunks_embedded == 0 and len(again.unchanged) == 2
    generation = index.stats().generation
    assert index.stats().generation == generation  # no-op writes nothing new

    (corpus / "fatigue.md").write_text(NEW_DOC)
    added = index.refresh([corpus])
    chunks = doc_chunks(index)
    new_id = next(d for d in chunks if d.endswith("fatigue.md"))
    assert added.added == [new_id] and len(added.unchanged) == 2
    assert added.chunks_embedded == chunks[new_id]
    assert "quiet room" in index.search("is there somewhere quiet to rest in the control room?",
                                        k=1)[0].text

    (corpus / "fatigue.md").write_text(NEW_DOC.replace("quiet room", "wellbeing pod"))
    changed = index.refresh([corpus])
    assert changed.changed == [new_id] and changed.added == []
    assert changed.chunks_embedded == doc_chunks(index)[new_id]
    top = index.search("is there somewhere quiet to rest in the control room?", k=1)[0]
    assert "wellbeing pod" in top.text and "quiet room" not in top.text

    (corpus / "fatigue.md").unlink()
    removed = index.refresh([corpus])
    assert removed.removed == [new_id] and removed.chunks_embedded == 0
    assert new_id not in doc_chunks(index)
    assert index.stats().chunks == first.chunks_embedded
    assert all(h.doc_id != new_id for h in index.search("control room rest breaks", k=10))


def test_sidecar_change_counts_as_a_change(tmp_path: Path, store_at):
    corpus = copy_corpus(tmp_path / "corpus")
    index = Index(store_at(tmp_path / "index"))
    index.refresh([corpus])
    sidecar = corpus / (MAYOR + ".meta.json")
    sidecar.write_text('{"title": "Letter from the Mayor (2019)"}')
    report = index.refresh([corpus])
    assert [Path(p).name for p in report.changed] == [MAYOR]
    titles = {d.title for d in index.documents()}
    assert "Letter from the Mayor (2019)" in titles


def test_add_and_remove_by_path(tmp_path: Path, store_at):
    corpus = copy_corpus(tmp_path / "corpus")
    extra = tmp_path / "extra.txt"
    extra.write_text("Firefighters asked for decontamination showers at every station.\n")
    index = Index(store_at(tmp_path / "index"))
    index.refresh([corpus])
    report = index.add([extra])
    assert len(report.added) == 1 and index.stats().documents == 3
    gone = index.remove([extra])
    assert len(gone.removed) == 1 and index.stats().documents == 2
    assert index.remove(["no/such/doc.txt"]).failed


def test_other_model_or_settings_need_a_rebuild(tmp_path: Path, store_at):
    corpus = copy_corpus(tmp_path / "corpus")
    Index(store_at(tmp_path / "index")).refresh([corpus])
    with pytest.raises(IndexMismatch, match="--rebuild"):
        Index(store_at(tmp_path / "index"), chunk_tokens=120).refresh([corpus])
    with pytest.raises(IndexMismatch, match="model"):
        Index(store_at(tmp_path / "index"),
              model="sentence-transformers/other-model").search("rest")
    rebuilt = Index(store_at(tmp_path / "index"), chunk_tokens=120).refresh([corpus], rebuild=True)
    assert len(rebuilt.added) == 2
    assert Index(store_at(tmp_path / "index")).stats().chunk_tokens == 120


def test_refresh_without_paths_rescans_the_indexed_folders(tmp_path: Path, store_at):
    corpus = copy_corpus(tmp_path / "corpus")
    index = Index(store_at(tmp_path / "index"))
    index.refresh([corpus])
    shutil.copy(corpus / FIRE, corpus / "copy.txt")
    report = index.refresh()
    assert [Path(p).name for p in report.added] == ["copy.txt"]


def test_the_page_examples_read_the_first_passages_when_ids_have_gaps(tmp_path: Path, store_at,
                                                                       monkeypatch):
    from search.web import app as page
    from search.web.links import example_questions

    corpus = copy_corpus(tmp_path / "corpus")
    index = Index(store_at(tmp_path / "index"))
    index.refresh([corpus])
    first = min((c for d in index.documents() for c in index.document_chunks(d.doc_id)),
                key=lambda c: c.id)
    gap = len(index.document_chunks(first.doc_id))
    index.remove([first.doc_id])  # ids 1..gap are gone for good
    (corpus / "fatigue.md").write_text(NEW_DOC)
    index.add([corpus / "fatigue.md"])  # its ids come after the others'

    live = sorted((c for d in index.documents() for c in index.document_chunks(d.doc_id)),
                  key=lambda c: c.id)
    assert live[0].id > gap and any(c.doc_id.endswith("fatigue.md") for c in live)
    for limit in (0, 1, 3, len(live), len(live) + 5):
        assert index.headings(limit) == [(c.doc_id, h) for c in live[:limit] for h in c.section]

    monkeypatch.setattr(page, "SAMPLED_PASSAGES", gap)  # ids 1..gap alone would hold nothing
    examples = page.App(page.WebConfig(index.location, corpus), index).examples()
    assert examples and examples == example_questions(
        [(c.doc_id, h) for c in live[:gap] for h in c.section])
