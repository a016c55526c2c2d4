"""From search to briefing in a real browser: keep passages, edit the pack, export it, read a
passage in its source, browse the contents; keyboard and font checks."""

from __future__ import annotations

import io
import json
import shutil
import urllib.request
from pathlib import Path

import docx
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    ARTIFACTS,
    Server,
    ask,
    summary_text,
    upload,
    wait_for_new_summary,
)
from tests.conftest import PDFS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def api(server: Server, method: str, path: str, body: dict | None = None):
    request = urllib.request.Request(
        server.url.rstrip("/") + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"} if body is not None else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        data = response.read()
    return json.loads(data) if data and response.headers.get_content_type() == \
        "application/json" else data


def fresh_pack(page: Page, server: Server, name: str) -> int:
    """A new empty pack, opened in this browser (Keep adds to it)."""
    pack = api(server, "POST", "/packs", {"name": name})
    page.evaluate("id => localStorage.setItem('evidence-search-pack', String(id))", pack["id"])
    return pack["id"]


def open_pack_tab(page: Page) -> None:
    page.get_by_role("tab", name="Evidence pack").click()
    expect(page.locator("#pack-tab .pack-view")).to_be_visible()


def test_keep_edit_and_export_an_evidence_pack(page: Page, server: Server):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    pack_id = fresh_pack(page, server, "Committee briefing")
    ask(page, "What peer support do Met officers get after a traumatic incident?")
    cards = page.locator("#results article.hit")
    kept = []
    for n in (0, 1, 2):
        card = cards.nth(n)
        kept.append(card.locator(".passage").inner_text())
        card.locator("button.keep").click()
        expect(card.locator("button.keep")).to_have_text("Kept")
    expect(page.locator("#evidence-toast")).to_contain_text("Committee briefing")
    open_pack_tab(page)
    items = page.locator("#pack-tab .pack-item")
    expect(items).to_have_count(3)
    expect(items.nth(0).locator(".pack-meta")).to_contain_text("traumatic incident")
    # a note, saved when the box loses focus
    note = items.nth(0).locator("textarea")
    note.fill("Use in section 2 of the briefing <b>not bold</b>")
    note.blur()
    expect(page.locator("#evidence-toast")).to_have_text("Note saved.")
    # reorder: the third passage moves up to second place
    expect(items.nth(2).locator("button.pack-down")).to_be_disabled()  # already last
    items.nth(2).locator("button.pack-up").click()
    expect(items.nth(1).locator("blockquote")).to_have_text(kept[2])
    # remove the last one
    items.nth(2).locator("button.pack-remove").click()
    expect(items).to_have_count(2)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#pack-tab").screenshot(path=str(ARTIFACTS / "pack.png"))
    # it survives a reload: stored beside the index, not in the browser
    page.reload()
    open_pack_tab(page)
    expect(items).to_have_count(2)
    expect(items.nth(0).locator("textarea")).to_have_value(
        "Use in section 2 of the briefing <b>not bold</b>")
    expect(items.nth(0).locator("textarea b")).to_have_count(0)
    # read the pack's passages in their source, one after another
    items.nth(0).locator("button.read").click()
    reader = page.locator("#reader")
    expect(reader.locator("mark.passage").first).to_be_visible()
    expect(reader.locator("button.reader-hit", has_text="Previous hit")).to_be_disabled()
    reader.locator("button.reader-hit", has_text="Next hit").click()
    second = " ".join(items.nth(1).locator("blockquote").inner_text().split())
    expect(reader.locator("mark.passage").first).to_contain_text(second[:40])
    expect(reader.locator("button.reader-hit", has_text="Next hit")).to_be_disabled()
    page.keyboard.press("Escape")
    expect(reader).to_be_hidden()
    # export as Word: every passage, citation and the note, with a source list
    with page.expect_download() as download:
        page.locator("#pack-tab a.export", has_text="Word").click()
    assert download.value.suggested_filename == "evidence-pack-committee-briefing.docx"
    document = docx.Document(download.value.path())
    text = "\n".join(p.text for p in document.paragraphs)
    for passage in (kept[0], kept[2]):
        assert " ".join(passage.split())[:80] in " ".join(text.split())
    assert "Use in section 2 of the briefing" in text and "Sources" in text
    citations = [i["citation"] for i in api(server, "GET", f"/packs/{pack_id}")["items"]]
    assert all(c in text for c in citations)
    # copy the whole pack as text with its citations
    page.locator("#pack-tab button.pack-copy").click()
    expect(page.locator("#evidence-toast")).to_contain_text("copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert all(c in copied for c in citations)
    # rename to a name with markup: shown as text, never run
    page.once("dialog", lambda d: d.accept("<img src=x onerror=alert(1)> & ../briefing"))
    page.locator("#pack-tab button.pack-rename").click()
    expect(page.locator("#pack-tab .pack-choice option:checked")).to_contain_text(
        "<img src=x onerror=alert(1)> & ../briefing")
    expect(page.locator("#pack-tab img")).to_have_count(0)
    # delete, after a confirmation
    page.once("dialog", lambda d: d.accept())
    page.locator("#pack-tab button.pack-delete").click()
    expect(page.locator("#pack-tab")).not_to_contain_text("../briefing")
    assert all(p["id"] != pack_id for p in api(server, "GET", "/packs"))
    page.get_by_role("tab", name="Ask").click()


def test_two_tabs_editing_one_pack_lose_nothing(browser: Browser, server: Server):
    """Two tabs show the same pack; each edits it without reloading. A move from an older
    view moves the passage it shows, and a note written over the other tab's newer one is
    refused (and the tab reloads) instead of erasing it."""
    context = browser.new_context(viewport={"width": 1200, "height": 1400})
    first, second = context.new_page(), context.new_page()
    try:
        for tab in (first, second):
            tab.goto(server.url)
            tab.wait_for_selector("#question textarea")
        pack_id = fresh_pack(first, server, "Shared between tabs")
        ask(first, "wellbeing support vehicles")
        for n in (0, 1, 2):
            first.locator("#results article.hit").nth(n).locator("button.keep").click()
            expect(first.locator("#evidence-toast")).to_contain_text(f"({n + 1} passage")
        ids = [i["id"] for i in api(server, "GET", f"/packs/{pack_id}")["items"]]
        open_pack_tab(first)
        open_pack_tab(second)
        expect(second.locator(".pack-item")).to_have_count(3)
        # tab one removes the first passage; tab two, not reloaded, moves its third one up
        first.locator(".pack-item").nth(0).locator("button.pack-remove").click()
        expect(first.locator(".pack-item")).to_have_count(2)
        second.locator(".pack-item").nth(2).locator("button.pack-up").click()
        expect(second.locator(".pack-item")).to_have_count(2)
        assert [i["id"] for i in api(server, "GET", f"/packs/{pack_id}")["items"]] == \
            [ids[2], ids[1]]
        # both tabs now show the same two passages; both write a note on the first
        first.get_by_role("tab", name="Ask").click()  # back to the pack tab: it reloads,
        open_pack_tab(first)  # showing the order the other tab made
        expect(first.locator(".pack-item").nth(0)).to_have_attribute("data-item", str(ids[2]))
        first.locator(".pack-item").nth(0).locator("textarea").fill("from tab one")
        first.locator(".pack-item").nth(0).locator("textarea").blur()
        expect(first.locator("#evidence-toast")).to_have_text("Note saved.")
        second.locator(".pack-item").nth(0).locator("textarea").fill("from tab two")
        second.locator(".pack-item").nth(0).locator("textarea").blur()
        expect(second.locator("#evidence-toast")).to_contain_text("changed in another tab")
        expect(second.locator(".pack-item").nth(0).locator("textarea")).to_have_value(
            "from tab one")  # reloaded: the other tab's note is shown, not lost
        items = api(server, "GET", f"/packs/{pack_id}")["items"]
        assert items[0]["note"] == "from tab one" and len(items) == 2
    finally:
        context.close()


def test_the_reader_marks_the_passage_in_its_section_and_steps_through_hits(page: Page,
                                                                          server: Server):
    fresh_pack(page, server, "Reader keeps")
    ask(page, "How many Met officers are in regular psychological monitoring?")
    cards = page.locator("#results article.hit")
    first_text = cards.nth(0).locator(".passage").inner_text()
    cards.nth(0).locator("button.citation").click()
    reader = page.locator("#reader")
    expect(reader).to_be_visible()
    mark = reader.locator("mark.passage")
    expect(mark.first).to_be_visible()
    shown = " ".join(" ".join(mark.all_inner_texts()).split())
    assert shown == " ".join(first_text.split())
    expect(reader.locator(".reader-section")).not_to_be_empty()
    expect(reader.locator(".reader-text p")).not_to_have_count(1)  # paragraphs around it
    page.screenshot(path=str(ARTIFACTS / "reader-text.png"))
    for _ in range(6):  # the keyboard stays in the reader: the page behind is inert
        page.keyboard.press("Tab")
        assert page.evaluate("() => !!document.activeElement.closest('#reader')")
    # next hit from inside the reader
    second_text = cards.nth(1).locator(".passage").inner_text()
    reader.locator("button.reader-hit", has_text="Next hit").click()
    expect(reader.locator("mark.passage").first).to_contain_text(second_text.split("\n")[0][:40])
    expect(reader.locator("button.reader-hit", has_text="Previous hit")).to_be_enabled()
    # keep from the reader
    reader.locator("button.reader-keep").click()
    expect(page.locator("#evidence-toast")).to_contain_text("Kept in “Reader keeps”")
    page.keyboard.press("Escape")
    expect(reader).to_be_hidden()
    assert not page.evaluate("() => document.querySelector('gradio-app').inert")


def test_the_reader_shows_a_pdf_page_with_the_passage_marked(page: Page, server: Server,
                                                             tmp_path: Path):
    pdf = tmp_path / "siege diary.pdf"  # not a PDF another test uploads: same bytes dedupe
    shutil.copy(PDFS / "pypdf-resources/Seige_of_Vicksburg_Sample_OCR.pdf", pdf)
    upload(page, pdf)
    ask(page, "inhabitants living in caves dug out of the hills")
    card = page.locator("#results article.hit").first
    expect(card).to_have_attribute("data-doc", "corpus/uploads/siege diary.pdf")
    page_number = int(card.get_attribute("data-page"))
    card.locator("footer button.read").click()
    reader = page.locator("#reader")
    image = reader.locator("img.reader-page-image")
    expect(image).to_be_visible()
    expect(reader.locator(".reader-pages")).to_contain_text(f"Page {page_number} of ")
    expect(reader.locator(".reader-note")).to_contain_text("marked in yellow")
    assert page.evaluate("img => img.complete && img.naturalWidth > 500", image.element_handle())
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reader-pdf.png"))
    reader.locator("button.reader-page", has_text="Page ›").click()
    expect(reader.locator(".reader-pages")).to_contain_text(f"Page {page_number + 1} of ")
    reader.locator("button.reader-page", has_text="‹ Page").click()
    expect(reader.locator(".reader-pages")).to_contain_text(f"Page {page_number} of ")
    reader.locator("button.reader-close").click()
    expect(reader).to_be_hidden()


def test_kept_passages_say_when_their_document_changed_or_went(page: Page, server: Server,
                                                               tmp_path: Path):
    note = tmp_path / "station-rota.txt"
    note.write_text("# Station rota\n\nEvery watch gets a quiet room for thirty minutes after "
                    "a fatal call, agreed with the union in March.\n", encoding="utf-8")
    upload(page, note)
    pack_id = fresh_pack(page, server, "Rota evidence")
    ask(page, "quiet room after a fatal call")
    card = page.locator("#results article.hit").first
    expect(card).to_have_attribute("data-doc", "corpus/uploads/station-rota.txt")
    card.locator("button.keep").click()
    expect(page.locator("#evidence-toast")).to_contain_text("Rota evidence")
    kept = server.corpus / "uploads" / "station-rota.txt"
    kept.write_text("# Station rota\n\nEvery watch gets a quiet room for ten minutes after a "
                    "fatal call.\n", encoding="utf-8")
    rescan(page)
    open_pack_tab(page)
    expect(page.locator(".pack-item .pack-status")).to_contain_text("Changed since kept")
    kept.unlink()
    rescan(page)
    open_pack_tab(page)
    item = page.locator(".pack-item").first
    expect(item.locator(".pack-status")).to_contain_text("Document removed")
    expect(item.locator("blockquote")).to_contain_text("thirty minutes")  # the text is kept
    assert api(server, "GET", f"/packs/{pack_id}")["items"][0]["status"] == "document removed"
    page.get_by_role("tab", name="Ask").click()


def rescan(page: Page) -> None:
    page.get_by_role("tab", name="Documents").click()
    before = summary_text(page)
    page.locator("#rescan").click()
    wait_for_new_summary(page, before)


def test_a_section_in_the_contents_searches_within_it(page: Page, server: Server):
    page.get_by_role("tab", name="Documents").click()
    entry = page.locator("#index-panel details.doc-contents").filter(
        has_text="Fire Committee")
    entry.locator("summary").click()
    link = entry.locator("a.section-link", has_text="London Ambulance Service").first
    heading = link.inner_text()
    link.click()
    cards = page.locator("#results article.hit")
    expect(cards.first).to_be_visible(timeout=30_000)
    for citation in cards.locator(".citation").all_inner_texts():
        assert heading in citation
    expect(page.locator("#section input, #section textarea")).to_have_value(heading)
    expect(page.locator("#results .summary")).to_contain_text(f"in sections headed “{heading}”")
    page.goto(server.url)


def test_three_tab_presses_reach_the_first_result(page: Page):
    ask(page, "Where can ambulance crews unwind between jobs?")
    page.locator("#question textarea").focus()
    presses, inside = 0, False
    while not inside and presses < 15:
        page.keyboard.press("Tab")
        presses += 1
        inside = page.evaluate("() => !!document.activeElement.closest('#results article.hit')")
    assert inside and presses <= 3, presses
    page.keyboard.press("Enter")  # the focused citation opens the reader
    expect(page.locator("#reader")).to_be_visible()
    page.keyboard.press("Escape")


def test_citations_render_in_one_font(page: Page):
    """Gradio's bundled semibold face holds only "A" and "B"; the page must not mix fonts."""
    ask(page, "London Assembly Fire Committee ambulance")
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    for selector in ("#results .citation", "#results .rank"):
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        assert len({f["familyName"] for f in fonts}) == 1, fonts


def test_the_pack_api_builds_a_pack_a_script_can_export(server: Server):
    """A script: search through the API, keep the hits with notes, download the Word file."""
    from gradio_client import Client

    pack = api(server, "POST", "/packs", {"name": "Scripted pack"})
    assert any(p["name"] == "Scripted pack" for p in api(server, "GET", "/packs"))
    found = Client(server.url, verbose=False).predict(
        "peer support after trauma", 3, "hybrid", None, api_name="/search")
    for hit in found["hits"]:
        api(server, "POST", f"/packs/{pack['id']}/items",
            {"doc_id": hit["doc_id"], "start": hit["start"], "end": hit["end"],
             "question": "peer support after trauma", "note": f"rank {hit['rank']}"})
    items = api(server, "GET", f"/packs/{pack['id']}")["items"]
    assert [i["text"] for i in items] == [h["text"] for h in found["hits"]]
    document = docx.Document(io.BytesIO(
        api(server, "GET", f"/packs/{pack['id']}/export?format=docx")))
    text = "\n".join(p.text for p in document.paragraphs)
    assert all(h["citation"] in text for h in found["hits"]) and "rank 3" in text
