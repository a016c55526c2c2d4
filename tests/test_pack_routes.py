"""The /packs and /reader endpoints in process (real index, real SQLite, real python-docx):
what a script sees, and what a hostile page or a wrong caller cannot do."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import docx
import pytest
from fastapi.testclient import TestClient

from search import Index
from search.web.app import WebConfig, build_app
from tests.conftest import copy_corpus

JSON = {"Content-Type": "application/json"}
LOCAL = "http://127.0.0.1:7860"  # the page's own address (other host names are refused)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, Index, Path]:
    base = tmp_path_factory.mktemp("routes")
    corpus = copy_corpus(base / "corpus")
    index = Index(base / "index")
    assert index.refresh([corpus]).ok
    client = TestClient(build_app(WebConfig(index_dir=base / "index", corpus_dir=corpus)),
                        base_url=LOCAL)
    return client, index, corpus


def hits(index: Index, question: str, k: int = 3):
    return index.search(question, k=k)


def keep(client: TestClient, pack: int, hit, question: str = "q", note: str = ""):
    return client.post(f"/packs/{pack}/items", headers=JSON, json={
        "doc_id": hit.doc_id, "start": hit.start, "end": hit.end, "question": question,
        "note": note})


def test_a_script_builds_and_exports_a_pack(site):
    client, index, _ = site
    pack = client.post("/packs", headers=JSON, json={"name": "Script pack"}).json()
    found = hits(index, "How many Met officers are in regular psychological monitoring?")
    for n, hit in enumerate(found):
        assert keep(client, pack["id"], hit, "monitoring?", f"note {n}").status_code == 201
    again = keep(client, pack["id"], found[0])  # the same passage is not kept twice
    assert again.json()["pack"]["count"] == 3
    listed = client.get(f"/packs/{pack['id']}").json()
    assert [i["text"] for i in listed["items"]] == [h.text for h in found]
    assert [i["note"] for i in listed["items"]] == ["note 0", "note 1", "note 2"]
    assert all(i["status"] == "" for i in listed["items"])
    word = client.get(f"/packs/{pack['id']}/export?format=docx")
    assert word.headers["content-disposition"] == \
        'attachment; filename="evidence-pack-script-pack.docx"'
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(word.content)).paragraphs)
    assert all(h.citation in text for h in found) and "note 2" in text
    rows = list(csv.DictReader(io.StringIO(
        client.get(f"/packs/{pack['id']}/export?format=csv").text)))
    assert [r["citation"] for r in rows] == [h.citation for h in found]
    markdown = client.get(f"/packs/{pack['id']}/export?format=md").text
    assert found[0].citation in markdown
    assert client.get(f"/packs/{pack['id']}/export?format=exe").status_code == 400


def test_moves_notes_and_removals_keep_the_order_dense(site):
    client, index, _ = site
    pack = client.post("/packs", headers=JSON, json={"name": "Order"}).json()
    items = [keep(client, pack["id"], h).json()["item"] for h in hits(index, "TRiM", 3)]
    moved = client.patch(f"/packs/{pack['id']}/items/{items[2]['id']}", headers=JSON,
                         json={"position": 0}).json()
    assert moved["position"] == 0
    assert client.delete(f"/packs/{pack['id']}/items/{items[0]['id']}").status_code == 204
    listed = client.get(f"/packs/{pack['id']}").json()["items"]
    assert [i["id"] for i in listed] == [items[2]["id"], items[1]["id"]]
    assert [i["position"] for i in listed] == [0, 1]
    other = client.post("/packs", headers=JSON, json={"name": "Other"}).json()
    wrong = client.patch(f"/packs/{other['id']}/items/{items[1]['id']}", headers=JSON,
                         json={"note": "x"})
    assert wrong.status_code == 404  # an item is edited through its own pack only


def test_bad_requests_get_a_clear_refusal_and_change_nothing(site):
    client, index, _ = site
    pack = client.post("/packs", headers=JSON, json={"name": "Guarded"}).json()
    hit = hits(index, "wellbeing support vehicles", 1)[0]
    body = {"doc_id": hit.doc_id, "start": hit.start, "end": hit.end}
    # another web site posting into the user's pack
    foreign = client.post(f"/packs/{pack['id']}/items", json=body,
                          headers={**JSON, "Origin": "http://evil.example"})
    assert foreign.status_code == 403
    # a plain form post (what a hostile page can send without asking)
    form = client.post(f"/packs/{pack['id']}/items", data=body)
    assert form.status_code == 415
    # a passage the index does not hold
    missing = client.post(f"/packs/{pack['id']}/items", headers=JSON,
                          json={**body, "start": hit.start + 1})
    assert missing.status_code == 404 and "search again" in missing.json()["detail"]
    taken = client.post("/packs", headers=JSON, json={"name": "guarded"})
    assert taken.status_code == 400 and "guarded" in taken.json()["detail"].lower()
    assert client.post("/packs", headers=JSON, json={"name": "   "}).status_code == 400
    assert client.get("/packs/99999").status_code == 404
    assert client.get(f"/packs/{pack['id']}").json()["items"] == []


def test_packs_are_read_only_on_an_open_network_address(site, tmp_path: Path):
    _, index, corpus = site
    config = WebConfig(index_dir=index.location, corpus_dir=corpus, host="0.0.0.0")
    client = TestClient(build_app(config), base_url=LOCAL)
    refused = client.post("/packs", headers=JSON, json={"name": "x"})
    assert refused.status_code == 403 and "EVIDENCE_SEARCH_PASSWORD" in refused.json()["detail"]
    garbage = client.post("/packs", headers=JSON, content=b"{not json")
    assert garbage.status_code == 403  # refused before its body is read
    guarded = TestClient(build_app(WebConfig(index_dir=index.location, corpus_dir=corpus,
                                             host="0.0.0.0", password="s3cret")),
                         base_url=LOCAL)
    assert guarded.post("/packs", headers=JSON, json={"name": "x"}).status_code == 401
    made = guarded.post("/packs", json={"name": "with password"},
                        headers={**JSON, "X-Evidence-Password": "s3cret"})
    assert made.status_code == 201


def test_out_of_range_and_oversized_requests_are_refused_cleanly(site):
    client, index, _ = site
    pack = client.post("/packs", headers=JSON, json={"name": "Edges"}).json()
    assert client.get(f"/packs/{pack['id']}?limit=-1").status_code == 400
    assert client.get("/packs/99999999999999999999999").status_code in (400, 404, 422)
    assert client.delete(f"/packs/{pack['id']}/items/{2**70}").status_code in (400, 404, 422)
    assert client.get("/reader", params={"doc": "x", "start": 0, "end": 1,
                                         "item": 2**70}).status_code in (404, 422)
    huge = client.post(f"/packs/{pack['id']}/items", headers=JSON,
                       content=b'{"note": "' + b"x" * 100_000 + b'"}')
    assert huge.status_code == 413
    hit = hits(index, "TRiM", 1)[0]
    long_note = keep(client, pack["id"], hit, note="n" * 5000)
    assert long_note.status_code in (400, 422)
    assert client.get(f"/packs/{pack['id']}").json()["items"] == []  # nothing half-kept
    odd_mode = client.post(f"/packs/{pack['id']}/items", headers=JSON, json={
        "doc_id": hit.doc_id, "start": hit.start, "end": hit.end, "mode": "x" * 1000})
    assert odd_mode.status_code == 422


def test_another_sites_name_for_this_machine_is_refused(site):
    _, index, corpus = site
    client = TestClient(build_app(WebConfig(index_dir=index.location, corpus_dir=corpus)),
                        base_url="http://evil.example:7860")  # DNS rebinding to 127.0.0.1
    assert client.get("/packs").status_code == 400
    assert client.get("/").status_code == 400


def test_the_pack_tab_pages_stay_on_page_boundaries(site):
    client, index, _ = site
    pack = client.post("/packs", headers=JSON, json={"name": "Paging"}).json()
    for h in hits(index, "mental health support", 3):  # 3 passages; ask past the end
        keep(client, pack["id"], h)
    html = client.get("/packs/view", params={"pack": pack["id"], "offset": 49}).text
    assert 'data-offset="0"' in html and html.count('<li class="pack-item') == 3


def test_a_stale_tab_gets_a_conflict_not_a_lost_note(site):
    client, index, _ = site
    pack = client.post("/packs", headers=JSON, json={"name": "Conflicts"}).json()
    item = keep(client, pack["id"], hits(index, "wellbeing vehicles", 1)[0]).json()["item"]
    url = f"/packs/{pack['id']}/items/{item['id']}"
    assert client.patch(url, headers=JSON, json={"note": "first", "was": ""}).status_code == 200
    stale = client.patch(url, headers=JSON, json={"note": "second", "was": ""})
    assert stale.status_code == 409
    assert stale.json()["detail"]["current"]["note"] == "first"
    assert client.get(f"/packs/{pack['id']}").json()["items"][0]["note"] == "first"


def test_the_reader_marks_a_text_passage_and_refuses_what_is_not_in_the_corpus(site):
    client, index, _ = site
    hit = hits(index, "How many Met officers are in regular psychological monitoring?", 1)[0]
    html = client.get("/reader", params={"doc": hit.doc_id, "start": hit.start,
                                         "end": hit.end}).text
    assert html.count('id="passage"') == 1 and "Circa 11,000" in html
    assert client.get("/reader", params={"doc": "../etc/passwd", "start": 0,
                                         "end": 5}).status_code == 404
    gone = client.get("/reader", params={"doc": hit.doc_id, "start": hit.start + 1,
                                         "end": hit.end})
    assert gone.status_code == 200 and "no longer in the index" in gone.text


def test_sources_open_safely_and_a_kept_passage_is_found_after_its_document_changed(
        tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "page.html").write_text(
        "<html><head><title>Crew rest</title><script>alert(1)</script></head><body><main>"
        "<h1>Crew rest</h1><p>Crews get a rest period of twenty minutes after a cardiac "
        "arrest call, agreed in 2024 with the staff side.</p></main></body></html>",
        encoding="utf-8")
    word = docx.Document()
    word.add_heading("Peer support", 1)
    word.add_paragraph("Trained peer supporters phone every crew member within 72 hours of a "
                       "traumatic incident.")
    word.save(corpus / "letter.docx")
    notes = corpus / "notes.txt"
    notes.write_text("# Decompression\n\nAfter a fatal fire the watch gets a decompression "
                     "hour led by a trained peer supporter.\n", encoding="utf-8")
    index = Index(tmp_path / "index")
    assert index.refresh([corpus]).ok
    client = TestClient(build_app(WebConfig(index_dir=tmp_path / "index", corpus_dir=corpus)),
                        base_url=LOCAL)
    docs = {Path(d.doc_id).name: d.doc_id for d in index.documents()}
    page = client.get(f"/doc/{docs['page.html']}")
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"].startswith("sandbox; default-src 'none'")
    letter = client.get(f"/doc/{docs['letter.docx']}")
    assert letter.headers["content-disposition"].startswith("attachment;")
    assert letter.content[:2] == b"PK"
    # keep a passage, then the document changes under it
    hit = index.search("decompression hour after a fatal fire", k=1)[0]
    pack = client.post("/packs", headers=JSON, json={"name": "Changes"}).json()
    item = keep(client, pack["id"], hit).json()["item"]
    notes.write_text("# Decompression\n\nA new first paragraph, added later, moves the rest "
                     "down.\n\nAfter a fatal fire the watch gets a decompression hour led by a "
                     "trained peer supporter.\n", encoding="utf-8")
    assert index.refresh([corpus]).ok
    listed = client.get(f"/packs/{pack['id']}").json()["items"]
    assert listed[0]["status"] == "changed since kept"
    plain = client.get("/reader", params={"doc": hit.doc_id, "start": hit.start,
                                          "end": hit.end}).text
    assert "no longer in the index" in plain and "<mark" not in plain  # nothing misleading
    found = client.get("/reader", params={"doc": hit.doc_id, "start": hit.start,
                                          "end": hit.end, "item": item["id"]}).text
    assert "changed since this passage was kept" in found
    assert 'id="passage"' in found and "decompression hour" in found


def test_packs_survive_a_rebuild_of_their_index(tmp_path: Path):
    """Packs are the user's work, kept beside the index: a rebuild (a new generation, old
    ones swept) leaves them and their passages as they were."""
    from search.packs import PackStore

    corpus = copy_corpus(tmp_path / "corpus")
    index = Index(tmp_path / "index")
    assert index.refresh([corpus]).ok
    store = PackStore(index.packs_path)
    pack = store.create("Before the rebuild")
    hit = index.search("wellbeing support vehicles", k=1)[0]
    store.keep(pack.id, hit, "q", "hybrid", "sha")
    assert index.refresh([corpus], rebuild=True).ok
    assert [i.text for i in PackStore(index.packs_path).items(pack.id)] == [hit.text]


def test_a_kept_passage_keeps_the_sentences_the_page_marked(site):
    """Keep sends the card's marks; the export quotes them in bold, and marks outside the
    passage are refused with nothing kept."""
    client, index, _ = site
    pack = client.post("/packs", headers=JSON, json={"name": "Marked from the page"}).json()
    hit = next(h for h in hits(index, "Where can ambulance crews unwind between jobs?")
               if not h.weak and h.highlights)
    body = {"doc_id": hit.doc_id, "start": hit.start, "end": hit.end, "question": "q",
            "highlights": [list(span) for span in hit.highlights]}
    kept = client.post(f"/packs/{pack['id']}/items", headers=JSON, json=body)
    assert kept.status_code == 201, kept.text
    assert kept.json()["item"]["highlights"] == [list(span) for span in hit.highlights]
    a, b = hit.highlights[0]
    md = client.get(f"/packs/{pack['id']}/export?format=md").text
    assert f"**{hit.text[a:b].strip()[:20]}" in md.replace("\\", "")
    bad = {**body, "start": hit.start, "highlights": [[0, len(hit.text) + 10]]}
    other = client.post("/packs", headers=JSON, json={"name": "Bad marks"}).json()
    refused = client.post(f"/packs/{other['id']}/items", headers=JSON, json=bad)
    assert refused.status_code == 400
    assert client.get(f"/packs/{other['id']}").json()["pack"]["count"] == 0


def test_word_and_markdown_exports_list_sources_as_references(site):
    """Each source as its sidecar describes it (publisher, full title, date) with the pages
    cited, never a doc id; the .docx says what it is and when the pack was made."""
    import json
    from datetime import datetime

    client, index, corpus = site
    pack = client.post("/packs", headers=JSON, json={"name": "Referenced pack"}).json()
    for question in ("How many Met officers are in regular psychological monitoring?",
                     "How much did the Mayor invest in the Young Londoners Fund?"):
        for hit in hits(index, question, k=2):
            assert keep(client, pack["id"], hit, question).status_code == 201
    items = client.get(f"/packs/{pack['id']}").json()["items"]
    cited = list(dict.fromkeys(i["doc_id"] for i in items))
    assert len(cited) == 2
    metas = [json.loads((corpus / Path(d).name).with_name(Path(d).name + ".meta.json")
                        .read_text()) for d in cited]
    dates = {"2026-01": "January 2026", "2019-04-17": "17 April 2019"}
    references = [f"[{n}] {m['publisher']}. {m['full_title']}. {dates[m['date']]}"
                  for n, m in enumerate(metas, start=1)]
    pages = [{i["page"] for i in items if i["doc_id"] == d} - {None} for d in cited]

    def as_references(lines: list[str]) -> None:
        assert len(lines) == 2
        for line, reference, cited_pages in zip(lines, references, pages, strict=True):
            assert re.fullmatch(re.escape(reference) + r"(, pp?\. [\d–, ]+)?\.", line), line
            assert all(str(page) in line[len(reference):] for page in cited_pages)
    word = docx.Document(io.BytesIO(client.get(
        f"/packs/{pack['id']}/export?format=docx").content))
    paragraphs = [p.text for p in word.paragraphs]
    sources = paragraphs[paragraphs.index("Sources") + 1:]
    as_references(sources)
    assert not any("doc id" in p or ".txt" in p for p in paragraphs)
    italic = [r.text for p in word.paragraphs[-2:] for r in p.runs if r.italic]
    assert italic == [m["full_title"] for m in metas]
    markdown = client.get(f"/packs/{pack['id']}/export?format=md").text
    tail = markdown.split("## Sources\n\n", 1)[1].replace("\\", "").splitlines()
    as_references([line.replace("*", "").rstrip() for line in tail])
    properties = word.core_properties
    made = client.get(f"/packs/{pack['id']}").json()["pack"]
    assert properties.title == "Referenced pack"
    assert properties.author == properties.last_modified_by == "Evidence search"
    assert properties.created == datetime.fromisoformat(made["created_at"]).replace(microsecond=0)
    assert properties.modified == datetime.fromisoformat(made["updated_at"]).replace(
        microsecond=0)
    assert "python-docx" not in (properties.comments + properties.author)
