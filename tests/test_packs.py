"""Evidence packs as a user meets them: keep passages, order and annotate them, come back after
a restart, edit from two tabs at once, and export a cited DOCX, Markdown, CSV or text file.
Real SQLite files, real python-docx, real corpus text; no mocks."""

from __future__ import annotations

import csv
import io
import json
import random
import re
import sqlite3
import threading
from dataclasses import replace
from html import unescape
from pathlib import Path

import docx
import pytest

from search.packs import (
    CHANGED,
    MAX_PACK_PASSAGES,
    REMOVED,
    PackError,
    PackStore,
    mark_status,
    pack_file_stem,
    to_csv,
    to_docx,
    to_markdown,
    to_text,
)
from search.packs.export import reference_of
from search.records import Hit, KeptPassage, Pack
from tests.conftest import CORPUS, FIRE, MAYOR

MARKUP = ('</blockquote>\n# Not a heading\n<script>alert(1)</script>\n[link](javascript:x) '
          '![img](http://x/i.png) **bold** `code` | a | b |\n> quoted\n- list\n1. one\n---\n'
          '```\nfence\n\n    indented code?\n&lt;entity&gt;')


def title_of(name: str) -> str:
    return json.loads((CORPUS / f"{name}.meta.json").read_text())["title"]


def corpus_hits() -> list[Hit]:
    """One Hit per paragraph of the seed corpus, built as the index would cite a text file."""
    hits = []
    for name in (FIRE, MAYOR):
        text, title = (CORPUS / name).read_text(), title_of(name)
        for found in re.finditer(r"[^\n]+(?:\n[^\n]+)*", text):
            if len(found.group()) >= 120:
                hits.append(Hit(text=found.group(), score=1.0, doc_id=name, title=title,
                                path=name, page=None, section="", start=found.start(),
                                end=found.end(), citation=title))
    return hits


def many_hits(n: int) -> list[Hit]:
    """n distinct passages (by doc id, start, end) cut from the corpus text."""
    text = (CORPUS / FIRE).read_text()
    span = len(text) - 400
    hits = []
    for i in range(n):
        start, end = i % span, i % span + 200 + i // span
        hits.append(Hit(text=text[start:end], score=1.0, doc_id=FIRE, title="Fire", path=FIRE,
                        page=None, section="", start=start, end=end, citation=f"Fire {i}"))
    return hits


@pytest.fixture(scope="module")
def hits() -> list[Hit]:
    found = corpus_hits()
    assert len(found) >= 30
    return found


@pytest.fixture
def store(tmp_path: Path) -> PackStore:
    return PackStore(tmp_path / "index" / "packs.sqlite3")


def texts(store: PackStore, pack_id: int) -> list[str]:
    return [item.text for item in store.items(pack_id)]


def assert_dense(store: PackStore, pack_id: int) -> list[KeptPassage]:
    items = store.items(pack_id)
    assert [item.position for item in items] == list(range(len(items)))
    assert store.get(pack_id).count == len(items)
    return items


# Packs


def test_reading_makes_no_file_and_the_first_write_makes_folder_and_file(tmp_path: Path):
    store = PackStore(tmp_path / "new" / "deeper" / "packs.sqlite3")
    assert store.packs() == [] and store.find("Briefing") is None
    with pytest.raises(PackError, match="no pack with id 3"):
        store.get(3)
    with pytest.raises(PackError, match="no longer in the pack"):
        store.item(3)
    assert not (tmp_path / "new").exists()
    store.create("Briefing")
    assert store.path.exists()
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_create_find_rename_delete(store: PackStore, hits: list[Hit]):
    first = store.create("  Committee   briefing ")
    assert first.name == "Committee briefing" and first.count == 0
    assert first.created_at == first.updated_at and first.created_at.endswith("+00:00")
    second = store.create("Letter to the LAS")
    assert store.find("committee BRIEFING") == first
    assert store.find("  letter to the las") == second
    assert store.find("nothing like it") is None
    assert [p.name for p in store.packs()] == ["Letter to the LAS", "Committee briefing"]

    renamed = store.rename(first.id, "Fire committee briefing")
    assert renamed.name == "Fire committee briefing" and renamed.id == first.id
    assert renamed.updated_at > first.updated_at
    assert store.packs()[0].id == first.id  # changed last, listed first
    assert store.rename(second.id, "LETTER to the las").name == "LETTER to the las"

    with pytest.raises(PackError, match="a pack named 'LETTER to the las' already exists"):
        store.create("letter to the LAS")
    with pytest.raises(PackError, match="already exists"):
        store.rename(first.id, "Letter To The LAS")

    store.keep(first.id, hits[0], "q")
    store.delete(first.id)
    assert [p.id for p in store.packs()] == [second.id]
    with pytest.raises(PackError, match=f"no pack with id {first.id}"):
        store.get(first.id)
    with pytest.raises(PackError, match=f"no pack with id {first.id}"):
        store.items(first.id)
    with pytest.raises(PackError, match=f"no pack with id {first.id}"):
        store.keep(first.id, hits[1], "q")
    with pytest.raises(PackError, match=f"no pack with id {first.id}"):
        store.rename(first.id, "Again")
    with pytest.raises(PackError, match=f"no pack with id {first.id}"):
        store.delete(first.id)
    assert store.create("Fire committee briefing").id != first.id  # the name is free again


@pytest.mark.parametrize(("name", "reason"), [
    ("", "empty"), ("   \t\n ", "empty"), ("x" * 101, "101 characters long: at most 100"),
    ("bad\x00name", "control character"), ("esc\x1b[31m", "control character"),
    (None, "must be text"),
])
def test_bad_names_are_refused_with_a_reason_and_nothing_is_lost(store: PackStore, name,
                                                                  reason: str):
    kept = store.create("Kept")
    with pytest.raises(PackError, match=re.escape(reason)) as refused:
        store.create(name)
    assert "\n" not in str(refused.value)
    with pytest.raises(PackError, match=re.escape(reason)):
        store.rename(kept.id, name)
    assert store.packs() == [kept]


@pytest.mark.parametrize("name", ["../x", "<script>alert(1)</script>", "a/b", "C:\\evil",
                                  "say \"hi\" 'there'", "x" * 100, "Ünïcödé — briefing"])
def test_names_with_path_characters_or_markup_are_stored_verbatim(store: PackStore, name: str):
    pack = store.create(name)
    assert store.get(pack.id).name == name
    assert PackStore(store.path).find(name) == pack


# Keeping passages


def test_keep_records_the_passage_and_does_not_add_it_twice(store: PackStore, hits: list[Hit]):
    pack = store.create("Peer support")
    hit = replace(hits[3], ocr=True)
    first = store.keep(pack.id, hit, "what peer support is there?", "hybrid", "abc123")
    assert (first.position, first.text, first.citation, first.doc_id, first.title,
            first.path, first.start, first.end) == (0, hit.text, hit.citation, hit.doc_id,
                                                    hit.title, hit.path, hit.start, hit.end)
    assert (first.question, first.mode, first.doc_sha256, first.note, first.ocr,
            first.status) == ("what peer support is there?", "hybrid", "abc123", "", True, "")
    assert first.kept_at.endswith("+00:00")
    noted = store.set_note(first.id, "use in section 2")
    again = store.keep(pack.id, hit, "another question", "lexical", "abc123")
    assert again == noted  # the existing passage, unchanged
    # kept again after its document changed: the new text replaces the old, note and place kept
    changed = replace(hit, text=hit.text + " (revised)", citation=hit.citation + " rev")
    refreshed = store.keep(pack.id, changed, "another question", "lexical", "zzz")
    assert (refreshed.id, refreshed.position, refreshed.note) == (noted.id, 0, "use in section 2")
    assert (refreshed.text, refreshed.citation, refreshed.doc_sha256) == (
        changed.text, changed.citation, "zzz")
    assert refreshed.question == "what peer support is there?"  # why it was kept first
    store.keep(pack.id, hit, "q", "", "abc123")  # back as it was, for the checks below
    second = store.keep(pack.id, hits[4], "q")
    assert second.position == 1 and second.mode == "" and second.doc_sha256 == ""
    assert texts(store, pack.id) == [hit.text, hits[4].text]
    assert store.get(pack.id).count == 2
    other = store.create("Other pack")
    assert store.keep(other.id, hit, "q").position == 0  # the same passage in another pack


def test_keep_many_is_one_ordered_batch_and_dedupes(store: PackStore, hits: list[Hit]):
    pack = store.create("Batch")
    existing = store.keep(pack.id, hits[1], "first")
    batch = [(hits[0], "q0", "hybrid", ""), (hits[1], "q1", "", ""),
             (hits[2], "q2", "semantic", "s"), (hits[0], "q0 again", "", "")]
    kept = store.keep_many(pack.id, batch)
    assert [k.text for k in kept] == [hits[0].text, hits[1].text, hits[2].text, hits[0].text]
    assert kept[1] == existing and kept[0] == kept[3]
    assert [k.position for k in kept] == [1, 0, 2, 1]
    assert texts(store, pack.id) == [hits[1].text, hits[0].text, hits[2].text]
    assert store.keep_many(pack.id, []) == []


def test_a_bad_passage_in_a_batch_keeps_nothing(store: PackStore, hits: list[Hit]):
    pack = store.create("Batch")
    empty = Hit(text="  ", score=1.0, doc_id="d", title="t", path="p", page=None, section="",
                start=0, end=2, citation="t")
    with pytest.raises(PackError, match="passage 2: the passage text is empty"):
        store.keep_many(pack.id, [(hits[0], "q", "", ""), (empty, "q", "", "")])
    with pytest.raises(PackError, match="not a search hit"):
        store.keep(pack.id, "just text", "q")  # type: ignore[arg-type]
    assert store.items(pack.id) == []


def test_move_and_remove_keep_positions_dense(store: PackStore, hits: list[Hit]):
    pack = store.create("Order")
    a, b, c, d, e = (store.keep(pack.id, h, "q") for h in hits[:5])
    order = lambda: [i.id for i in assert_dense(store, pack.id)]  # noqa: E731
    assert store.move(d.id, 0).position == 0
    assert order() == [d.id, a.id, b.id, c.id, e.id]
    assert store.move(d.id, 99).position == 4  # clamped to the end
    assert order() == [a.id, b.id, c.id, e.id, d.id]
    assert store.move(e.id, -3).position == 0  # clamped to the start
    assert order() == [e.id, a.id, b.id, c.id, d.id]
    assert store.move(b.id, 2).position == 2 and order() == [e.id, a.id, b.id, c.id, d.id]
    store.move(a.id, 3)
    assert order() == [e.id, b.id, c.id, a.id, d.id]
    store.remove(c.id)
    assert order() == [e.id, b.id, a.id, d.id]
    store.remove(e.id)
    store.remove(d.id)
    assert order() == [b.id, a.id]
    assert store.keep(pack.id, hits[2], "back").position == 2  # appended, new id
    assert store.keep(pack.id, hits[2], "back").id != c.id


def test_a_removed_passage_is_refused_clearly_from_another_tab(store: PackStore,
                                                               hits: list[Hit]):
    pack = store.create("Two tabs")
    a, b = store.keep(pack.id, hits[0], "q"), store.keep(pack.id, hits[1], "q")
    other_tab = PackStore(store.path)
    other_tab.remove(a.id)
    for action in (lambda: store.item(a.id), lambda: store.move(a.id, 1),
                   lambda: store.set_note(a.id, "late note"), lambda: store.remove(a.id)):
        with pytest.raises(PackError, match="^that passage is no longer in the pack$"):
            action()
    assert [i.id for i in assert_dense(store, pack.id)] == [b.id]
    other_tab.delete(pack.id)
    with pytest.raises(PackError, match="no longer in the pack"):
        store.set_note(b.id, "too late")


def test_ids_must_be_whole_numbers(store: PackStore, hits: list[Hit]):
    pack = store.create("Ids")
    item = store.keep(pack.id, hits[0], "q")
    for bad in ("1", 1.5, None, True):
        with pytest.raises(PackError, match="must be a whole number"):
            store.get(bad)  # type: ignore[arg-type]
    with pytest.raises(PackError, match="position must be a whole number"):
        store.move(item.id, "first")  # type: ignore[arg-type]
    with pytest.raises(PackError, match="offset must be 0 or more"):
        store.items(pack.id, offset=-1)
    with pytest.raises(PackError, match="limit must be 0 or more"):
        store.items(pack.id, limit=-1)
    assert store.items(pack.id, limit=0) == []


# Notes


def test_notes_are_cleaned_limited_and_kept(store: PackStore, hits: list[Hit]):
    pack = store.create("Notes")
    item = store.keep(pack.id, hits[0], "q")
    noted = store.set_note(item.id, "Line one\r\n\tindented\x00 \x07bell\x1b[0m")
    assert noted.note == "Line one\n\tindented bell[0m"
    assert store.set_note(item.id, "x" * 4000).note == "x" * 4000
    with pytest.raises(PackError, match="note is 4,001 characters long: at most 4,000"):
        store.set_note(item.id, "y" * 4001)
    assert store.item(item.id).note == "x" * 4000  # the refused note changed nothing
    assert store.set_note(item.id, "").note == ""


# Restart


def test_packs_passages_order_and_notes_survive_a_restart(tmp_path: Path, hits: list[Hit]):
    path = tmp_path / "packs.sqlite3"
    before = PackStore(path)
    old = before.create("Older")
    pack = before.create("Briefing <draft>")
    kept = before.keep_many(pack.id, [(h, f"q{n}", "hybrid", "") for n, h in enumerate(hits[:6])])
    before.move(kept[5].id, 0)
    before.set_note(kept[2].id, "check the date")
    before.remove(kept[1].id)
    listed, items = before.packs(), before.items(pack.id)
    del before

    after = PackStore(path)
    assert after.packs() == listed
    assert [p.id for p in listed] == [pack.id, old.id]
    assert after.items(pack.id) == items
    assert [i.text for i in items] == [hits[5].text, hits[0].text, hits[2].text,
                                       hits[3].text, hits[4].text]
    assert after.item(kept[2].id).note == "check the date"
    assert after.items(pack.id, offset=1, limit=2) == items[1:3]
    assert after.items(pack.id, offset=10) == []


def test_a_packs_file_from_a_newer_version_is_left_alone(tmp_path: Path):
    path = tmp_path / "packs.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(PackError, match="written by a newer version"):
        PackStore(path).create("x")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0


def test_a_packs_file_that_is_not_a_database_is_refused_in_one_line(tmp_path: Path):
    path = tmp_path / "packs.sqlite3"
    path.write_bytes(b"not a database, just some bytes " * 100)
    for action in (lambda s: s.packs(), lambda s: s.create("x")):
        with pytest.raises(PackError, match="cannot use the packs file") as refused:
            action(PackStore(path))
        assert "\n" not in str(refused.value)
    assert path.read_bytes().startswith(b"not a database")


# Limits


def test_ten_thousand_passages_then_the_next_is_refused_and_nothing_is_lost(store: PackStore):
    pack = store.create("Everything")
    passages = many_hits(MAX_PACK_PASSAGES + 5)
    kept = store.keep_many(pack.id, [(h, "q", "hybrid", "") for h in passages[:-5]])
    assert len(kept) == MAX_PACK_PASSAGES == store.get(pack.id).count
    assert kept[-1].position == MAX_PACK_PASSAGES - 1
    with pytest.raises(PackError) as refused:
        store.keep(pack.id, passages[-1], "one more")
    assert str(refused.value) == ("pack 'Everything' is full (10,000 passages): "
                                  "start a new pack")
    assert store.keep(pack.id, passages[7], "already kept") == kept[7]  # no error: not new
    store.remove(kept[0].id)
    with pytest.raises(PackError, match="room for 1 more passages, not 5"):
        store.keep_many(pack.id, [(h, "q", "", "") for h in passages[-5:]])
    assert store.get(pack.id).count == MAX_PACK_PASSAGES - 1  # refused whole
    assert store.keep(pack.id, passages[-1], "fits").position == MAX_PACK_PASSAGES - 1
    page = store.items(pack.id, offset=9_990, limit=20)
    assert [i.position for i in page] == list(range(9_990, 10_000))
    assert page[-1].text == passages[-1].text
    moved = store.move(page[-1].id, 0)
    assert moved.position == 0 and store.items(pack.id, limit=2)[1].id == kept[1].id
    assert_dense(store, pack.id)


# Two tabs and threads


def test_two_stores_and_threads_editing_one_pack_lose_nothing(tmp_path: Path, hits: list[Hit]):
    path = tmp_path / "packs.sqlite3"
    tabs = [PackStore(path), PackStore(path)]
    pack = tabs[0].create("Shared")
    per_worker = 12
    workers = 4
    passages = many_hits(workers * per_worker)
    expected_notes: dict[int, str] = {}
    removed: set[int] = set()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        store, rng = tabs[worker % 2], random.Random(worker)
        mine: list[int] = []
        try:
            for n in range(per_worker):
                item = store.keep(pack.id, passages[worker * per_worker + n], f"w{worker}")
                mine.append(item.id)
                store.move(item.id, rng.randrange(-2, 60))
                note = f"worker {worker} passage {n}"
                store.set_note(item.id, note)
                with lock:
                    expected_notes[item.id] = note
                if n % 4 == 3:
                    gone = mine.pop(rng.randrange(len(mine)))
                    store.remove(gone)
                    with lock:
                        removed.add(gone)
                        del expected_notes[gone]
                store.items(pack.id, offset=rng.randrange(5), limit=10)
        except BaseException as exc:  # reported below, with the thread's traceback
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for tab in tabs:
        items = assert_dense(tab, pack.id)
        assert {i.id: i.note for i in items} == expected_notes
        assert len(items) == workers * per_worker - len(removed)


# Status against the index


def kept_passage(**fields) -> KeptPassage:
    base = dict(id=1, pack_id=1, position=0, text="Passage text.", citation="Doc, p. 2",
                doc_id="doc.pdf", title="Doc", path="doc.pdf", page=2, page_end=None,
                section="", start=0, end=13, question="q", mode="hybrid",
                kept_at="2026-01-01T00:00:00+00:00", note="", doc_sha256="", ocr=False)
    return KeptPassage(**{**base, **fields})


def test_mark_status_compares_kept_passages_with_the_index_now():
    same = kept_passage(id=1, doc_id="a", doc_sha256="111")
    changed = kept_passage(id=2, doc_id="b", doc_sha256="222")
    unknown = kept_passage(id=3, doc_id="b", doc_sha256="")
    gone = kept_passage(id=4, doc_id="c", doc_sha256="333", status=CHANGED)
    marked = mark_status([same, changed, unknown, gone], {"a": "111", "b": "999"})
    assert [m.status for m in marked] == ["", CHANGED, "", REMOVED]
    assert marked[3].text == gone.text and marked[0] is same
    assert mark_status(marked, {"a": "111", "b": "222", "c": "333"})[1].status == ""
    assert [i.status for i in (same, changed, unknown)] == ["", "", ""]  # inputs untouched


# File names


@pytest.mark.parametrize(("name", "stem"), [
    ("Committee briefing", "evidence-pack-committee-briefing"),
    ("../../etc/passwd", "evidence-pack-etc-passwd"),
    ("<script>alert(1)</script>", "evidence-pack-script-alert-1-script"),
    ("a/b\\c:d", "evidence-pack-a-b-c-d"),
    ("Ünïcödé — Brïefing", "evidence-pack-unicode-briefing"),
    ("???", "evidence-pack"), ("日本語", "evidence-pack"), ("", "evidence-pack"),
])
def test_pack_file_stems_are_safe(name: str, stem: str):
    assert pack_file_stem(name) == stem


def test_long_names_make_short_stems():
    stem = pack_file_stem("word " * 40)
    assert len(stem) <= 60 and re.fullmatch(r"evidence-pack(-[a-z0-9]+)+", stem)


# Exports


def test_sources_list_each_document_once_with_the_pages_cited():
    items = [kept_passage(id=1, doc_id="a.pdf", title="A", page=5, page_end=7),
             kept_passage(id=2, doc_id="b.txt", title="B", path="b.txt", page=None),
             kept_passage(id=3, doc_id="a.pdf", title="A", page=3),
             kept_passage(id=4, doc_id="a.pdf", title="A", page=9, page_end=9),
             kept_passage(id=5, doc_id="a.pdf", title="A", page=4, page_end=4)]
    text = to_text(pack_record(), items)
    assert text.endswith("Sources\n[1] A. pp. 3–7, 9. File doc.pdf.\n[2] B. File b.txt.\n")
    assert '"Passage text." [2]' in text and text.count("[1]") == 5
    references = {"a.pdf": reference_of("A", {"full_title": "A: the full title",
                                              "publisher": "Metropolitan Police Service",
                                              "date": "2019-04-17"}),
                  "b.txt": reference_of("B", {"publisher": "Acme Ltd.", "date": "2026-01"})}
    text = to_text(pack_record(), items, references=references)
    assert text.endswith("Sources\n[1] Metropolitan Police Service. A: the full title. "
                         "17 April 2019, pp. 3–7, 9.\n[2] Acme Ltd. B. January 2026.\n")


@pytest.mark.parametrize(("date", "shown"), [
    ("2019-04-17", "17 April 2019"), ("2026-01", "January 2026"), ("2019", "2019"),
    ("spring 2020", "spring 2020"), ("2019-13", "2019-13")])
def test_reference_dates_read_as_dates(date: str, shown: str):
    from search.packs.export import readable_date

    assert readable_date(date) == shown


def pack_record() -> Pack:
    return Pack(id=1, name="P", created_at="2026-01-01T00:00:00+00:00",
                updated_at="2026-01-01T00:00:00+00:00", count=5)


@pytest.fixture
def exported(store: PackStore, hits: list[Hit]):
    """A pack of six real passages from both documents, with notes, an OCR passage, one whose
    document changed and one whose document was removed."""
    pack = store.create("Briefing: <b>peer</b> support & ../TRiM")
    chosen = [hits[2], hits[5], hits[-3], replace(hits[8], ocr=True), hits[-1], hits[11]]
    kept = store.keep_many(pack.id, [(h, f"question {n}?", "hybrid", f"sha-{h.doc_id}")
                                     for n, h in enumerate(chosen)])
    store.set_note(kept[0].id, "Quote this one.\nSecond line of the note.")
    store.set_note(kept[2].id, "<img src=x onerror=alert(1)> [x](javascript:y) # not a heading")
    other = Hit(text="Removed document's passage: " + MARKUP, score=1.0, doc_id="gone.pdf",
                title="A removed report", path="reports/gone.pdf", page=4, page_end=6,
                section="Ch 1", start=10, end=200, citation="A removed report, pp. 4–6 — Ch 1")
    store.keep(pack.id, other, "what was removed?", "lexical", "old")
    items = mark_status(store.items(pack.id), {FIRE: f"sha-{FIRE}", MAYOR: "re-indexed"})
    return store.get(pack.id), items


def test_docx_export_opens_in_python_docx_with_every_passage_citation_and_note(exported):
    pack, items = exported
    dirty = replace(items[0], id=99, position=len(items), start=1,
                    text="Bad \x00ch\x0bar\x1fs stay out", note="note\x0c with a form feed")
    items = [*items, dirty]
    data = to_docx(pack, items, made="12 June 2026 10:00 UTC")
    document = docx.Document(io.BytesIO(data))
    paragraphs = [p.text for p in document.paragraphs]
    body = "\n".join(paragraphs)
    assert paragraphs[0] == pack.name and document.paragraphs[0].style.name == "Title"
    assert "Made 12 June 2026 10:00 UTC · 8 passages from 3 documents" in paragraphs[1]
    assert document.core_properties.title == pack.name
    for n, item in enumerate(items[:-1], start=1):
        assert f"{n}. {item.citation}" in paragraphs
        quoted = [p for p in document.paragraphs if p.text == item.text]
        assert quoted and quoted[0].style.name == "Quote"  # verbatim, newlines included
        assert f"Question: {item.question} ({item.mode} search)" in paragraphs
    assert "Note: Quote this one.\nSecond line of the note." in paragraphs
    assert "Note: <img src=x onerror=alert(1)> [x](javascript:y) # not a heading" in paragraphs
    assert "Bad chars stay out" in paragraphs and "Note: note with a form feed" in paragraphs
    assert paragraphs.count("Changed since kept: the document was re-indexed and has changed "
                            "since this passage was kept; check the quote against it") == 2
    assert sum(p.startswith("Document removed:") for p in paragraphs) == 1
    assert "From OCR of a scanned page: check the quote" in paragraphs
    # numbered references, and each document once under Sources
    assert f"[1] {items[0].citation}" in paragraphs and f"[2] {items[2].citation}" in paragraphs
    sources = paragraphs[paragraphs.index("Sources") + 1:]
    assert len(sources) == 3
    assert sources[0] == f"[1] {title_of(FIRE)}. File {FIRE}."  # no reference: its file
    assert sources[1] == f"[2] {title_of(MAYOR)}. File {MAYOR}."
    assert sources[2] == "[3] A removed report. pp. 4–6. File gone.pdf. No longer in the index."
    assert "<b>peer</b>" in body  # shown as typed, as text


def test_empty_pack_exports(store: PackStore):
    pack = store.create("Nothing yet")
    document = docx.Document(io.BytesIO(to_docx(pack, [])))
    assert [p.text for p in document.paragraphs] == ["Nothing yet", "0 passages from 0 documents",
                                                     "No passages kept yet."]
    assert "No passages kept yet." in to_markdown(pack, []) and "No passages" in to_text(pack, [])
    assert list(csv.reader(io.StringIO(to_csv(pack, []))))[0][0] == "position"


def test_markdown_export_quotes_every_line_and_renders_nothing_from_the_pack(exported):
    from markdown_it import MarkdownIt

    pack, items = exported
    text = to_markdown(pack, items, made="today")
    html = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(text)
    assert "<script" not in html and "<img" not in html and "<a " not in html
    assert "<b>" not in html and "<table" not in html and "<code" not in html
    assert "<pre" not in html and "<hr" not in html and "<ol" not in html
    assert "<ul" not in html and "<strong>bold" not in html
    assert html.count("<h1>") == 1 and html.count("<h2>") == len(items) + 1  # ours only
    assert html.count("<blockquote>") == len(items)  # a passage cannot close its quote
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&amp;lt;entity&amp;gt;" in html  # shown as typed, not decoded
    for n in range(1, len(items) + 1):
        head = f"## {n}. "
        assert head in text
        block = text.split(head, 1)[1].split("\n\n", 2)[1]
        assert all(line.startswith(">") for line in block.splitlines())
    plain = unescape(re.sub(r"<[^>]+>", "", html))
    assert "Briefing: <b>peer</b> support & ../TRiM" in plain
    assert "Made today · 7 passages from 3 documents" in plain
    assert "[x](javascript:y) # not a heading" in plain
    assert "Changed since kept:" in plain and "Document removed:" in plain
    assert "From OCR of a scanned page:" in plain
    assert "Sources" in plain and f"File {FIRE}." in plain
    words = " ".join(items[1].text.split())
    assert words[:80] in " ".join(plain.split())  # the passage reads as it was


def test_text_export_quotes_each_passage_with_its_source_number(exported):
    pack, items = exported
    text = to_text(pack, items, made="today")
    assert text.startswith(f"{pack.name}\nMade today · 7 passages from 3 documents\n")
    for n, item in enumerate(items, start=1):
        assert f"{n}. {item.citation}\n" in text
    assert f'"{items[0].text}" [1]' in text and f'"{items[2].text}" [2]' in text
    assert "Note: Quote this one.\nSecond line of the note." in text
    assert "Document removed: the document is no longer in the index" in text
    sources = text.split("\nSources\n", 1)[1].splitlines()
    assert [s[:3] for s in sources] == ["[1]", "[2]", "[3]"]
    assert "pp. 4–6" in sources[2]


def test_csv_export_reads_back_with_formulas_defused(exported):
    pack, items = exported
    formula = replace(items[0], text="=HYPERLINK(\"http://x\")", note="+1+1",
                      question="@SUM(A1)", section="-2+3+cmd|' /C calc'!A0")
    listed = replace(items[1], text="- Trauma Peer Support Programme\n- Circa 11,000 officers",
                     note="+ more support (see below)", question="-2", section="- Support")
    rows = list(csv.DictReader(io.StringIO(to_csv(pack, [*items, formula, listed]))))
    assert len(rows) == len(items) + 2
    prose = rows.pop()
    assert (prose["text"], prose["note"], prose["question"], prose["section"]) == (
        listed.text, listed.note, "-2", "- Support")  # quoted verbatim: nothing runs
    assert list(rows[0]) == ["position", "citation", "title", "page", "page_end", "section",
                             "text", "note", "question", "status", "kept_at", "doc_id",
                             "start", "end", "ocr", "marked", "file_page"]
    for n, (row, item) in enumerate(zip(rows, items, strict=False), start=1):
        assert row["position"] == str(n) and row["text"] == item.text
        assert row["citation"] == item.citation and row["note"] == item.note
        assert row["doc_id"] == item.doc_id and int(row["start"]) == item.start
        assert row["status"] == item.status and row["ocr"] == str(item.ocr)
    assert rows[-2]["page"] == "4" and rows[-2]["page_end"] == "6" and rows[0]["page"] == ""
    last = rows[-1]
    assert last["text"] == "'=HYPERLINK(\"http://x\")" and last["note"] == "'+1+1"
    assert last["question"] == "'@SUM(A1)" and last["section"] == "'-2+3+cmd|' /C calc'!A0"


@pytest.mark.parametrize(("cell", "runs"), [
    ("=1+1", True), ("@SUM(A1)", True), ("\t=1", True), ("\rx", True), ("=", True),
    ("+HYPERLINK(\"http://x\")", True), ("-cmd|' /C calc'!A0", True), ("-2+3", True),
    ("+A1", True), ("- A1*2", True), ("+Sheet2!B3", True), ("-1+SUM(A1:A3)", True),
    ("- Trauma Peer Support Programme", False), ("+ more support (see below)", False),
    ("-2", False), ("+44 20 7946 0000", False), ("- 3 officers were trained", False),
    ("-", False), ("-- a dash", False), ("Stop! Go", False), ("a = b", False)])
def test_csv_defuses_only_what_a_spreadsheet_runs(cell: str, runs: bool):
    from search.packs.export import csv_cell

    assert csv_cell(cell) == ("'" + cell if runs else cell)


# A real search


def test_keeping_real_search_hits_and_marking_a_removed_document(corpus_index, tmp_path: Path):
    store = PackStore(tmp_path / "packs.sqlite3")
    pack = store.create("Peer support")
    fingerprints = {d.doc_id: d.sha256 for d in corpus_index.documents()}
    question = "What peer support do Met officers get after a traumatic incident?"
    found = corpus_index.search(question, k=5)
    kept = store.keep_many(pack.id, [(h, question, "hybrid", fingerprints[h.doc_id])
                                     for h in found])
    assert [k.citation for k in kept] == [h.citation for h in found]
    assert all(k.doc_sha256 for k in kept)
    assert [i.status for i in mark_status(store.items(pack.id), fingerprints)] == [""] * 5
    first = found[0].doc_id
    without = {d: s for d, s in fingerprints.items() if d != first}
    marked = mark_status(store.items(pack.id), without)
    assert {i.status for i in marked if i.doc_id == first} == {REMOVED}
    document = docx.Document(io.BytesIO(to_docx(store.get(pack.id), marked)))
    body = [p.text for p in document.paragraphs]
    assert all(h.text in body for h in found)


def test_stale_tabs_move_relative_to_now_and_do_not_overwrite_newer_notes(store: PackStore,
                                                                          hits: list[Hit]):
    from search.packs import PackConflict

    pack = store.create("Two tabs")
    a, b, c = (store.keep(pack.id, h, "q") for h in hits[:3])
    store.remove(a.id)  # another tab removed the first passage: c is now at position 1
    moved = store.step(c.id, -1)  # this tab, showing c third, presses ↑
    assert moved.position == 0 and [i.id for i in store.items(pack.id)] == [c.id, b.id]
    store.set_note(b.id, "tab one's note", was="")
    with pytest.raises(PackConflict) as refused:
        store.set_note(b.id, "tab two's note", was="")  # tab two still showed no note
    assert refused.value.current.note == "tab one's note"
    assert store.item(b.id).note == "tab one's note"  # nothing lost


def test_ids_beyond_what_sqlite_holds_are_refused_not_crashed(store: PackStore):
    from search.packs import PackNotFound

    with pytest.raises(PackError, match="out of range"):
        store.get(10**30)
    with pytest.raises(PackNotFound):
        store.get(2**62)


def test_names_with_invisible_direction_marks_are_refused(store: PackStore):
    with pytest.raises(PackError, match="control character"):
        store.create("Briefing \u202egnp.exe")


# Marked sentences


def test_marked_sentences_follow_the_passage_into_word_markdown_and_csv(store: PackStore,
                                                                        hits: list[Hit]):
    hit = replace(next(h for h in hits if ". " in h.text))
    first = hit.text.index(". ") + 1
    hit.highlights = [(0, first)]
    pack = store.create("Marked")
    kept = store.keep(pack.id, hit, "what is it?")
    assert kept.highlights == ((0, first),)
    items = store.items(pack.id)
    document = docx.Document(io.BytesIO(to_docx(pack, items)))
    quote = next(p for p in document.paragraphs if p.style.name == "Quote")
    marked = [r for r in quote.runs if r.bold and r.font.highlight_color is not None]
    assert "".join(r.text for r in marked) == hit.text[:first]
    assert "".join(r.text for r in quote.runs) == hit.text  # still verbatim
    md = to_markdown(pack, items)
    assert f"> **{hit.text[:first].strip()}**" in md.replace("\\", "")
    row = next(csv.DictReader(io.StringIO(to_csv(pack, items))))
    assert row["marked"] == hit.text[:first]
    with pytest.raises(PackError, match="highlights must be"):
        store.keep(pack.id, replace(hits[1], highlights=[(0, 10**6)]), "q")


def test_a_packs_file_of_the_first_schema_is_upgraded_in_place(tmp_path: Path,
                                                               hits: list[Hit]):
    path = tmp_path / "packs.sqlite3"
    old = PackStore(path)
    pack = old.create("Before marks")
    old.keep(pack.id, hits[0], "q")
    with sqlite3.connect(path) as conn:  # what schema 1 looked like: no highlights column
        conn.execute("ALTER TABLE passages DROP COLUMN highlights")  # nor printed pages
        conn.execute("ALTER TABLE passages DROP COLUMN page_label")
        conn.execute("ALTER TABLE passages DROP COLUMN page_end_label")
        conn.execute("PRAGMA user_version = 1")
    store = PackStore(path)
    (item,) = store.items(pack.id)
    assert item.text == hits[0].text and item.highlights == ()
    store.keep(pack.id, replace(hits[1], highlights=[(0, 5)]), "q")
    assert store.items(pack.id)[1].highlights == ((0, 5),)
    assert item.page_label is None and item.printed(item.page) == (
        None if item.page is None else str(item.page))  # cited by position, as it was kept


# Whole citations


LONG_HEADING = ("2. Does the MPS have examples of effective approaches it has adopted to support "
                "its staff experiencing mental health challenges, what worked and what has the "
                "impact of that been?")


def test_a_long_heading_is_cited_whole_in_the_hit_the_pack_and_every_export(
        corpus_index, store: PackStore):
    """The seed corpus's long question heading, from a real search through a real pack into
    the Word, Markdown, CSV and text files: never cut to "…"."""
    question = "What is Trauma Informed Practical Techniques training?"
    hit = next(h for h in corpus_index.search(question, k=5) if LONG_HEADING in h.section)
    assert hit.citation.endswith(LONG_HEADING) and "…" not in hit.citation
    pack = store.create("Whole citations")
    store.keep(pack.id, hit, question, "hybrid")
    items = store.items(pack.id)
    assert items[0].citation == hit.citation
    document = docx.Document(io.BytesIO(to_docx(pack, items)))
    numbered = [p for p in document.paragraphs if p.text.startswith("1. ")]
    assert [p.text for p in numbered] == [f"1. {hit.citation}"]
    assert numbered[0].style.name == "Heading 2"
    assert f"[1] {hit.citation}" in [p.text for p in document.paragraphs]
    plain = to_markdown(pack, items).replace("\\", "")
    assert f"## 1. {hit.citation}" in plain and "…" not in plain
    row = next(csv.DictReader(io.StringIO(to_csv(pack, items))))
    assert row["citation"] == hit.citation and row["section"].endswith(LONG_HEADING)
    assert f"1. {hit.citation}\n" in to_text(pack, items)


def test_a_citation_kept_cut_by_an_older_version_reads_whole(store: PackStore, hits: list[Hit]):
    """Packs kept before citations were whole hold "…" in the citation but the whole section
    path beside it: the pack shows and exports the whole one."""
    section = f"Support › {LONG_HEADING}"
    old = replace(hits[0], section=section,
                  citation=f"{hits[0].title} — Support › 2. Does the MPS have examples of "
                           "effective approaches it…")
    pack = store.create("Kept before")
    store.keep(pack.id, old, "q")
    (item,) = store.items(pack.id)
    assert item.citation == f"{hits[0].title} — {section}"
    titled = replace(hits[1], citation="Wait… what? — Support", section="Support")
    store.keep(pack.id, titled, "q")
    assert store.items(pack.id)[1].citation == "Wait… what? — Support"  # whole already


def test_kept_spans_name_the_packs_passages_in_order(store: PackStore, hits: list[Hit]):
    from search.packs import PackNotFound

    pack = store.create("Spans")
    store.keep(pack.id, hits[1], "q")
    store.keep(pack.id, hits[0], "q")
    store.keep(pack.id, hits[1], "q")  # kept once
    assert store.kept_spans(pack.id) == [(h.doc_id, h.start, h.end) for h in (hits[1], hits[0])]
    with pytest.raises(PackNotFound):
        store.kept_spans(pack.id + 99)


def test_a_docx_with_unreadable_pack_dates_is_not_dated_2013():
    from search.packs.export import describe
    from search.records import Pack

    document = docx.Document()  # python-docx's template: created 2013-12-23 by python-docx
    describe(document.core_properties, Pack(1, "Briefing", "not a date", "", 0), "summary")
    assert document.core_properties.created.year >= 2026
    assert document.core_properties.author != "python-docx"
