"""The web page in a real browser: ask, filter, cite, export, upload, stay safe."""

from __future__ import annotations

import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    ARTIFACTS,
    Server,
    ask,
    open_options,
    start_server,
    stop_server,
    upload,
)
from tests.conftest import PDFS


def test_ask_shows_ranked_cited_passages(page: Page):
    ask(page, "How many Met officers are in regular psychological monitoring?")
    cards = page.locator("#results article.hit")
    expect(cards.first).to_be_visible()
    citations = cards.locator(".citation").all_inner_texts()
    hit = next(i for i, t in enumerate(citations)
               if "p. 7 — Metropolitan Police Service › 2" in t)
    card = cards.nth(hit)
    expect(card.locator(".passage")).to_contain_text("Circa 11,000")
    expect(card.locator("mark.answer.best")).to_contain_text("Circa 11,000")
    # confidence in words, and only the answering sentences marked, not the whole passage
    expect(card.locator(".score")).to_have_text(
        re.compile(r"^(strong|possible) match · \d{1,3}\s%$"))
    assert 1 <= card.locator("mark.answer").count() <= 2
    expect(card.locator("a.source")).to_have_attribute("href", "/doc/corpus%2F2026-01_london-"
                                                       "assembly-fire-committee_written-"
                                                       "evidence-las-mps.txt")
    with page.expect_download() as download:
        page.locator("#download-md").click()
    markdown = Path(download.value.path()).read_text()
    assert "Circa 11,000" in markdown and "p. 7 — Metropolitan Police Service › 2" in markdown
    # the file says what it holds: its name has the question, its head the search made
    assert download.value.suggested_filename.startswith(
        "evidence-how-many-met-officers-are-in-regular-psychological")
    assert "- Search mode: hybrid; 5 passages" in markdown and "- Documents: all" in markdown
    with page.expect_download() as download:
        page.locator("#download-csv").click()
    rows = Path(download.value.path()).read_text()
    assert rows.startswith("rank,citation,title,page") and "Circa 11,000" in rows
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "results.png"))


def test_copy_citation_puts_it_on_the_clipboard(page: Page):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    ask(page, "What is TIPT?")
    button = page.locator("#results button.copy-cite").first
    expected = button.get_attribute("data-cite")
    button.click()
    expect(button).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == expected


def test_filter_by_document(page: Page):
    open_options(page)
    page.locator("#documents input").click()
    page.get_by_role("option", name="Mayor of London").first.click()
    page.keyboard.press("Escape")
    ask(page, "mental health training")
    docs = page.locator("#results article.hit").evaluate_all(
        "cards => cards.map(c => c.dataset.doc)")
    assert docs and all("mayor-of-london" in d for d in docs)


def test_picking_a_document_runs_the_question_again_within_it(page: Page):
    question = "mental health training"
    ask(page, question)
    before = current_stamp(page)
    open_options(page)
    page.locator("#documents input").click()
    page.get_by_role("option", name="Mayor of London").first.click()
    page.keyboard.press("Escape")
    wait_for_new_results(page, before, question)
    docs = page.locator("#results article.hit").evaluate_all(
        "cards => cards.map(c => c.dataset.doc)")
    assert docs and all("mayor-of-london" in d for d in docs)


def test_low_confidence_question_shows_the_notice(page: Page):
    ask(page, "Which planets in the solar system have rings?")
    expect(page.locator("#results .weak-notice")).to_contain_text("Nothing in the documents "
                                                                  "answers this question well")
    ask(page, "Where can ambulance crews unwind between jobs?")
    expect(page.locator("#results .weak-notice")).to_have_count(0)


def test_upload_a_pdf_and_find_a_passage_from_it(page: Page, server: Server, tmp_path: Path):
    pdf = tmp_path / "hydro model.pdf"
    shutil.copy(PDFS / "pypdf-resources/GeoBase_NHNC1_Data_Model_UML_EN.pdf", pdf)
    summary = upload(page, pdf)
    assert "Added (1)" in summary
    assert (server.corpus / "uploads" / "hydro model.pdf").exists()
    ask(page, "National Hydro Network data model")
    first = page.locator("#results article.hit").first
    expect(first).to_have_attribute("data-doc", "corpus/uploads/hydro model.pdf")
    # no title in its metadata: named by the largest type on its first page, not its file
    expect(first.locator(".citation")).to_contain_text(
        "National Hydro Network, Canada, Level 1 Data Model Edition 1.0, p. ")
    link = first.locator("a.source").get_attribute("href")
    assert link.startswith("/doc/") and "#page=" in link
    with urllib.request.urlopen(server.url.rstrip("/") + link.split("#")[0]) as response:
        assert response.headers["Content-Type"] == "application/pdf"
        assert response.read(5) == b"%PDF-"


def test_upload_a_scanned_letter_and_its_passage_says_from_ocr(page: Page, server: Server,
                                                               tmp_path: Path):
    from tests.scans import scanned_pdf

    pdf = scanned_pdf(tmp_path / "signed letter.pdf", [
        "Dear Chair,\n\nThe brigade now gives every watch a decompression hour after a "
        "fatal fire, led by a trained peer supporter.\n\nYours sincerely,\n\nChief Officer"])
    summary = upload(page, pdf)
    assert "Added (1)" in summary and "Failed" not in summary
    ask(page, "decompression hour after a fatal fire peer supporter")
    first = page.locator("#results article.hit").first
    expect(first).to_have_attribute("data-doc", "corpus/uploads/signed letter.pdf")
    expect(first.locator(".citation")).to_contain_text("p. 1")
    expect(first.locator(".ocr")).to_have_text("from OCR")
    assert "check the quote" in first.locator(".ocr").get_attribute("title")


def test_hostile_text_shows_literally_and_runs_nothing(page: Page, server: Server,
                                                       tmp_path: Path):
    base = f"http://127.0.0.1:{server.port}"
    hostile = tmp_path / "hostile notes.md"
    hostile.write_text(
        "# Quarantine zebra protocol\n\n"
        "The quarantine zebra protocol says <script>window.__pwned = 1</script> and "
        f'<img src="{base}/evil.png" onerror="window.__pwned = 2"> plus '
        f"![tracker]({base}/md-image.png) and [click me](javascript:window.__pwned=3).\n")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    assert "Added (1)" in upload(page, hostile)
    ask(page, "quarantine zebra protocol")
    passage = page.locator("#results article.hit .passage").first
    expect(passage).to_contain_text("<script>window.__pwned = 1</script>")
    expect(passage).to_contain_text('<img src="')
    expect(passage).to_contain_text("![tracker](")
    assert page.locator("#results script, #results img, #results .passage a").count() == 0
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    assert not dialogs
    assert not [u for u in requests if "evil.png" in u or "md-image.png" in u]


def test_api_endpoint_returns_the_same_hits(server: Server):
    from gradio_client import Client

    client = Client(server.url, verbose=False)
    result = client.predict("How many Met officers are in regular psychological monitoring?",
                            3, "hybrid", None, api_name="/search")
    assert result["weak"] is False
    assert any("Circa 11,000" in h["text"] and h["page"] == 7 for h in result["hits"])
    assert {"citation", "highlights", "confidence", "doc_id"} <= set(result["hits"][0])


def test_only_corpus_files_are_served(server: Server):
    for bad in ("..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "no-such-doc",
                "corpus%2F..%2Fapp.py"):
        try:
            urllib.request.urlopen(f"{server.url}doc/{bad}")
            raise AssertionError(f"served {bad}")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
    fire = "corpus%2F2026-01_london-assembly-fire-committee_written-evidence-las-mps.txt"
    ok = f"{server.url}doc/{fire}"
    with urllib.request.urlopen(ok) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_password_protects_reindex(tmp_path: Path, browser):
    srv = start_server(tmp_path, env={"EVIDENCE_SEARCH_PASSWORD": "s3cret"})
    try:
        context = browser.new_context()
        page = context.new_page()
        page.goto(srv.url)
        page.get_by_role("tab", name="Documents").click()
        note = tmp_path / "note.txt"
        note.write_text("Firefighters asked for decontamination showers at every station.\n")
        page.locator("#upload input[type=file]").set_input_files(str(note))
        expect(page.locator("#upload")).to_contain_text(note.stem)  # uploaded, not a fixed wait
        page.locator("#password input").fill("wrong")
        page.locator("#add-files").click()
        expect(page.locator("#reindex-summary")).to_contain_text("Wrong password")
        assert not (srv.corpus / "uploads").exists()
        page.locator("#password input").fill("s3cret")
        page.locator("#add-files").click()
        expect(page.locator("#reindex-summary")).to_contain_text("Added (1)", timeout=120_000)
        context.close()
    finally:
        stop_server(srv)


def test_non_loopback_without_password_disables_reindex(tmp_path: Path):
    from search.web.app import WebConfig, is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert not WebConfig(tmp_path, tmp_path, host="0.0.0.0").reindex_enabled
    assert WebConfig(tmp_path, tmp_path, host="0.0.0.0", password="x").reindex_enabled
    assert WebConfig(tmp_path, tmp_path).reindex_enabled


def test_searches_keep_working_during_a_rescan(page: Page, server: Server):
    for n in range(6):
        (server.corpus / f"bulk-{n}.txt").write_text("\n\n".join(
            f"Bulk note {n}.{p}: crews described shift patterns and rest breaks at length."
            for p in range(40)))
    page.get_by_role("tab", name="Documents").click()
    page.locator("#rescan").click()
    page.get_by_role("tab", name="Ask").click()
    started = time.monotonic()
    ask(page, "What peer support do Met officers get after a traumatic incident?")
    expect(page.locator("#results article.hit").first).to_contain_text("Peer")
    assert time.monotonic() - started < 60
    page.get_by_role("tab", name="Documents").click()
    expect(page.locator("#reindex-summary")).to_contain_text("Added (6)", timeout=180_000)
    panel = page.locator("#index-panel").inner_text()
    assert "bulk-5.txt" in panel


def test_the_page_searches_an_index_held_by_milvus(tmp_path: Path, browser):
    srv = start_server(tmp_path, store=f"milvus://{tmp_path}/index.db")
    try:
        context = browser.new_context(viewport={"width": 1200, "height": 1400})
        page = context.new_page()
        page.goto(srv.url)
        page.wait_for_selector("#question textarea")
        ask(page, "How many Met officers are in regular psychological monitoring?")
        cards = page.locator("#results article.hit")
        citations = cards.locator(".citation").all_inner_texts()
        hit = cards.nth(next(i for i, t in enumerate(citations)
                             if "p. 7 — Metropolitan Police Service › 2" in t))
        expect(hit.locator("mark.answer.best")).to_contain_text("Circa 11,000")
        source = hit.locator("a.source").get_attribute("href")
        with urllib.request.urlopen(srv.url.rstrip("/") + source, timeout=10) as response:
            assert b"Circa 11,000" in response.read()  # the cited file, served from the corpus
        open_options(page)
        page.locator("#documents input").click()
        page.get_by_role("option", name="Mayor of London").first.click()
        page.keyboard.press("Escape")
        ask(page, "mental health training")
        docs = cards.evaluate_all("cards => cards.map(c => c.dataset.doc)")
        assert docs and all("mayor-of-london" in d for d in docs)
        context.close()
    finally:
        stop_server(srv)


def current_stamp(page: Page) -> str:
    return page.evaluate(
        "() => document.querySelector('#results .results')?.dataset.stamp || ''")


def wait_for_new_results(page: Page, before: str, question: str) -> None:
    page.wait_for_function(
        "([q, before]) => { const r = document.querySelector('#results .results');"
        " return r && r.dataset.question === q && r.dataset.stamp !== before; }",
        arg=[question, before], timeout=60_000)


def test_changing_the_mode_runs_the_question_again(page: Page):
    question = "How many Met officers are in regular psychological monitoring?"
    ask(page, question)
    before = current_stamp(page)
    open_options(page)
    page.locator("#mode").get_by_text("lexical", exact=True).click()
    wait_for_new_results(page, before, question)  # no second Enter needed
    expect(page.locator("#results article.hit").first).to_be_visible()
    before = current_stamp(page)  # read before the click: the answer can beat a later read
    page.locator("#mode").get_by_text("hybrid", exact=True).click()
    wait_for_new_results(page, before, question)


def test_an_example_runs_its_search(page: Page):
    box = page.locator("#question textarea")
    box.fill("")
    box.press("Enter")  # an empty question: an error on screen
    expect(page.locator("#results .notice")).to_contain_text("query is empty")
    example = page.locator("button.gallery-item").first
    expect(example).to_contain_text("Does LAS have examples")  # from the corpus's headings
    before = current_stamp(page)
    example.click()
    expect(box).not_to_have_value("")
    asked = box.input_value()
    wait_for_new_results(page, before, " ".join(asked.split()))
    expect(page.locator("#results article.hit").first).to_be_visible()
    expect(page.locator("#results")).not_to_contain_text("query is empty")  # replaced


def test_the_documents_tab_shows_an_upload_after_a_reload(page: Page, server: Server,
                                                          tmp_path: Path):
    note = tmp_path / "canteen-survey.txt"
    note.write_text("# Canteen survey\n\nNight crews asked for hot food after 2 a.m. on "
                    "every station.\n", encoding="utf-8")
    summary = upload(page, note)
    assert "Added (1)" in summary and "1 passage embedded" in summary
    page.reload()
    page.get_by_role("tab", name="Documents").click()
    panel = page.locator("#index-panel")
    expect(panel).to_contain_text("corpus/uploads/canteen-survey.txt")
    expect(panel).to_contain_text("last updated")
    assert re.search(r"last updated \d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2}",
                     panel.inner_text())  # a time people read, not an ISO stamp
    page.get_by_role("tab", name="Ask").click()


def test_result_text_is_readable_against_its_background(page: Page):
    """Summary and confidence words meet WCAG AA contrast (4.5:1), not light grey on white."""
    ask(page, "Where can ambulance crews unwind between jobs?")
    ratios = page.evaluate("""() => {
      const lum = (c) => {
        const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map(Number).map(v => {
          v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
      const background = (el) => {
        for (; el; el = el.parentElement) {
          const c = getComputedStyle(el).backgroundColor;
          if (c && !c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') return c; }
        return 'rgb(255, 255, 255)'; };
      return [...document.querySelectorAll('#results .summary, #results .score')].map(el => {
        const a = lum(getComputedStyle(el).color), b = lum(background(el));
        return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); });
    }""")
    assert ratios and min(ratios) >= 4.5, ratios


def test_a_link_reproduces_a_search_and_the_address_follows_the_search(page: Page,
                                                                       server: Server):
    fire = "corpus/2026-01_london-assembly-fire-committee_written-evidence-las-mps.txt"
    query = urllib.parse.urlencode({"q": "wellbeing support vehicles", "k": 3,
                                    "mode": "lexical", "docs": fire})
    page.goto(f"{server.url}?{query}")
    cards = page.locator("#results article.hit")
    expect(cards).to_have_count(3, timeout=30_000)
    expect(page.locator("#question textarea")).to_have_value("wellbeing support vehicles")
    expect(page.locator("#mode input[value=lexical]")).to_be_checked()
    assert all(d == fire for d in cards.evaluate_all("els => els.map(e => e.dataset.doc)"))
    ask(page, "peer support after a traumatic incident")
    page.wait_for_function("() => location.search.includes('traumatic')")
    params = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
    assert params["q"] == ["peer support after a traumatic incident"]
    assert params["mode"] == ["lexical"] and params["k"] == ["3"] and params["docs"] == [fire]
    page.goto(server.url)  # leave the shared page as the other tests expect it


def test_grouping_by_document_puts_each_documents_passages_together(page: Page,
                                                                   server: Server):
    question = "mental health support for staff"
    page.goto(f"{server.url}?{urllib.parse.urlencode({'q': question, 'k': 12})}")
    expect(page.locator("#results article.hit")).to_have_count(12, timeout=30_000)
    searches: list[str] = []  # the page's searches sent from here on (each names its inputs)
    page.on("request", lambda r: searches.append(r.post_data or "")
            if "queue/join" in r.url and question in (r.post_data or "") else None)
    before = current_stamp(page)
    open_options(page)
    page.locator("#group input[type=checkbox]").check()
    wait_for_new_results(page, before, question)  # the toggle runs the question again
    # Unfolding the options runs nothing: a search it started would race the grouped one
    # and could finish after it, showing ungrouped results under a ticked box.
    assert len(searches) == 1, searches
    groups = page.locator("#results section.doc-group")
    expect(groups.first).to_be_visible()
    assert groups.count() == 2  # both documents answer
    for n in range(groups.count()):
        group = groups.nth(n)
        cards = group.locator("article.hit")
        count = cards.count()
        expect(group.locator("h3 .count")).to_have_text(
            f"{count} passage{'s' if count != 1 else ''}")
        docs = set(cards.evaluate_all("els => els.map(e => e.dataset.doc)"))
        assert docs == {group.get_attribute("data-doc")}
    expect(page.locator("#results .summary")).to_contain_text("from 2 documents")
    before = current_stamp(page)
    page.locator("#group input[type=checkbox]").uncheck()
    wait_for_new_results(page, before, question)
    expect(page.locator("#results section.doc-group")).to_have_count(0)
    page.goto(server.url)


def test_a_400_pixel_screen_keeps_the_question_wide_and_shows_the_results(browser,
                                                                          server: Server):
    phone = browser.new_page(viewport={"width": 400, "height": 800})
    try:
        phone.goto(server.url)
        box = phone.locator("#question textarea")
        expect(box).to_be_visible(timeout=30_000)
        assert box.bounding_box()["width"] >= 300  # not squeezed beside the button
        ask(phone, "Where can ambulance crews unwind between jobs?")
        phone.wait_for_function(
            "() => { const r = document.querySelector('#results .results');"
            " const top = r && r.getBoundingClientRect().top;"
            " return r && top >= -5 && top < window.innerHeight; }", timeout=10_000)
        phone.get_by_role("tab", name="Documents").click()
        cell = phone.locator("#index-panel td code").first
        expect(cell).to_be_visible()
        panel = phone.locator("#index-panel").bounding_box()
        assert cell.bounding_box()["x"] + cell.bounding_box()["width"] <= panel["x"] + \
            panel["width"] + 1  # the id column wraps inside the panel
    finally:
        phone.close()
