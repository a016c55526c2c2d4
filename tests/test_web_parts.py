"""The page's pure parts: the contents list, the pack tab's HTML, section links."""

from __future__ import annotations

import urllib.parse

import pytest

from search.records import IndexReport, KeptPassage, Pack, StoredDocument
from search.web.contents import contents_html, document_sections, section_link
from search.web.index_panel import summary_markdown
from search.web.pack_view import PAGE_SIZE, pack_html


def test_sections_are_listed_once_in_reading_order_with_their_parents():
    paths = [(), ("Part 1", "Staff"), ("Part 1", "Staff"), ("Part 1", "Leaders"), ("Part 2",)]
    assert document_sections(paths) == [("Part 1",), ("Part 1", "Staff"),
                                         ("Part 1", "Leaders"), ("Part 2",)]


def test_a_section_link_searches_that_section_of_that_document():
    link = section_link("corpus/a b.txt", "Peer support & TRiM")
    params = urllib.parse.parse_qs(link[1:])
    assert params == {"q": ["Peer support & TRiM"], "docs": ["corpus/a b.txt"],
                      "section": ["Peer support & TRiM"]}


def test_contents_escape_titles_and_headings():
    doc = StoredDocument("corpus/x.md", "corpus/x.md", "<script>alert(1)</script>", "s", 0, 2,
                         {})
    html = contents_html([doc], {doc.doc_id: [("<img src=x onerror=alert(1)>",)]})
    assert "<script>" not in html and "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_counts_in_the_contents_read_as_words():
    one = StoredDocument("corpus/x.md", "corpus/x.md", "One", "s", 1, 1, {})
    two = StoredDocument("corpus/y.md", "corpus/y.md", "Two", "s", 2, 2, {})
    html = contents_html([one, two], {one.doc_id: [("Only",)],
                                      two.doc_id: [("A",), ("B",)]})
    assert "1 page · 1 passage · 1 section<" in html
    assert "2 pages · 2 passages · 2 sections<" in html
    assert "1 sections" not in html and "1 passages" not in html


def test_an_identical_upload_is_reported_as_unchanged():
    report = IndexReport(unchanged=["corpus/uploads/letter.pdf"])
    summary = summary_markdown(report, rescan=False)
    assert "Unchanged (1): `letter.pdf`" in summary and "same content" in summary


def kept(n: int, status: str = "", note: str = "") -> KeptPassage:
    return KeptPassage(id=n + 1, pack_id=1, position=n, text=f"passage <b>{n}</b>",
                       citation=f"Doc, p. {n}", doc_id="corpus/a.txt", title="Doc",
                       path="corpus/a.txt", page=n, page_end=n, section="S", start=0, end=5,
                       question="q <i>", mode="hybrid", kept_at="2026-11-30T10:00:00+00:00",
                       note=note, doc_sha256="x", ocr=False, status=status)


def test_the_pack_tab_shows_marks_notes_and_inert_markup():
    pack = Pack(1, "<script>x</script> & ../p", "t", "t", 2)
    html = pack_html([pack], pack, [kept(0, "changed since kept", "mine </textarea><b>"),
                                    kept(1, "document removed")])
    assert "<script>" not in html and "<b>" not in html and "</textarea><b>" not in html
    assert "Changed since kept" in html and "Document removed" in html
    assert html.count('class="read"') == 1  # a removed document cannot be opened
    assert 'class="pack-up" aria-label="Move passage 1 up" disabled' in html
    assert 'class="pack-down" aria-label="Move passage 2 down" disabled' in html


def test_a_large_pack_pages_through_its_passages():
    pack = Pack(1, "Big", "t", "t", 10_000)
    html = pack_html([pack], pack, [kept(n) for n in range(PAGE_SIZE, 2 * PAGE_SIZE)],
                     offset=PAGE_SIZE)
    assert f"Passages {PAGE_SIZE + 1}–{2 * PAGE_SIZE} of 10,000" in html
    assert html.count('<li class="pack-item') == PAGE_SIZE
    assert 'data-offset="0">‹ Previous' in html and "Next ›" in html


def test_without_editing_the_pack_is_read_only():
    pack = Pack(1, "P", "t", "t", 1)
    html = pack_html([pack], pack, [kept(0)], editable=False)
    assert "pack-remove" not in html and "pack-rename" not in html and "readonly" in html


def test_packs_live_beside_their_index(tmp_path):
    from search import Index

    assert Index(tmp_path / "index").packs_path == tmp_path / "index" / "packs.sqlite"
    lite = Index(f"milvus://{tmp_path}/evidence.db").packs_path
    assert lite == tmp_path / "evidence.db.packs.sqlite"
    one = Index("http://milvus-a:19530").packs_path
    two = Index("http://milvus-b:19530").packs_path
    assert one != two and one.name.startswith("packs-http-milvus-a")  # no mixing of servers


def test_the_page_keeps_only_the_last_searches_downloads(corpus_index, monkeypatch, tmp_path):
    from search.web import app as page

    monkeypatch.setattr(page, "KEPT_DOWNLOADS", 3)
    app = page.App(page.WebConfig(corpus_index.location, tmp_path), corpus_index)
    made = []
    for n in range(5):
        _, md, table = app.search_page(f"peer support after trauma {n}", 3, "hybrid", None)
        made.append((md["value"], table["value"]))
    kept = sorted(p.name for p in app.exports.iterdir())
    assert len(kept) == 6  # the last three searches, Markdown and CSV each
    for md, table in made[-3:]:
        assert md.rsplit("/", 1)[1] in kept
        assert table.rsplit("/", 1)[1] in kept
    assert made[0][0].rsplit("/", 1)[1] not in kept


def test_the_page_runs_as_many_searches_at_once_as_its_setting(corpus_index, monkeypatch,
                                                               tmp_path):
    """Searches beyond EVIDENCE_SEARCH_SEARCHES_AT_ONCE queue; a value that is not a count
    of at least one is refused in one line naming the setting."""
    from search.config import web_settings
    from search.web import app as page

    monkeypatch.setenv("EVIDENCE_SEARCH_SEARCHES_AT_ONCE", "3")
    at_once = web_settings().searches_at_once
    assert at_once == 3
    app = page.App(page.WebConfig(corpus_index.location, tmp_path, searches_at_once=at_once),
                   corpus_index)
    blocks = page.build_blocks(app)
    searches = [fn for fn in blocks.fns.values() if fn.concurrency_id == "search"]
    assert searches and {fn.concurrency_limit for fn in searches} == {3}
    for bad in ("0", "many"):
        monkeypatch.setenv("EVIDENCE_SEARCH_SEARCHES_AT_ONCE", bad)
        with pytest.raises(ValueError, match="EVIDENCE_SEARCH_SEARCHES_AT_ONCE"):
            web_settings()


def test_latest_searches_know_the_newest_of_each_page():
    from search.web.latest import LatestSearches

    latest = LatestSearches(pages=2)
    first = latest.begin("a")
    second = latest.begin("a")
    other = latest.begin("b")
    assert not latest.is_newest("a", first) and latest.is_newest("a", second)
    assert latest.is_newest("b", other)
    latest.begin("c")  # a third page: the oldest ("a") is forgotten, its answer shown
    assert latest.is_newest("a", first)


def test_a_pages_older_search_finishing_last_leaves_the_newer_results(corpus_index, tmp_path,
                                                                     monkeypatch):
    """Two searches of one page at once (the mode changed, then grouping ticked): the first
    asked finishes last and sends nothing, so the page keeps the second's results."""
    import threading
    from types import SimpleNamespace

    import gradio as gr

    from search.web import app as page

    app = page.App(page.WebConfig(corpus_index.location, tmp_path), corpus_index)
    started, release = threading.Event(), threading.Event()
    search = app.run_search

    def held_first(question, *args, **kwargs):
        if question.startswith("first"):
            started.set()
            release.wait(30)
        return search(question, *args, **kwargs)

    monkeypatch.setattr(app, "run_search", held_first)
    request = SimpleNamespace(session_hash="one page")
    out: dict[str, tuple] = {}
    older = threading.Thread(target=lambda: out.setdefault("older", app.search_page(
        "first: peer support", 5, "hybrid", None, False, None, request)))
    older.start()
    assert started.wait(30)
    out["newer"] = app.search_page("second: peer support", 5, "hybrid", None, True, None,
                                   request)
    release.set()
    older.join(30)
    assert "second: peer support" in out["newer"][0]
    assert all(isinstance(o, type(gr.skip())) for o in out["older"]), out["older"]
    other = app.search_page("first: peer support", 5, "hybrid", None, False, None,
                            SimpleNamespace(session_hash="another page"))
    assert "first: peer support" in other[0]  # another page's search is its own
