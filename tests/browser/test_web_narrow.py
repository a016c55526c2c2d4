"""The page as a researcher meets it on a phone (400 px) and on a laptop (1280 px): what fits,
what is in view, what is said (issue 21's page items)."""

from __future__ import annotations

import contextlib
import re
import shutil
import urllib.parse
from pathlib import Path

from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import Server, ask, open_options, upload
from tests.conftest import PDFS

QUESTION = "How many Met officers are in regular psychological monitoring?"


def new_page(browser: Browser, server: Server, width: int, height: int) -> Page:
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.goto(server.url)
    page.wait_for_selector("#question textarea")
    return page


def box(page: Page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def inside_width(b: dict, width: int) -> bool:
    return b["x"] >= 0 and b["x"] + b["width"] <= width + 0.5


def pdf_copy(tmp_path: Path, name: str) -> Path:
    pdf = tmp_path / name
    shutil.copy(PDFS / "pypdf-resources/Seige_of_Vicksburg_Sample_OCR.pdf", pdf)
    return pdf


def test_a_400_pixel_screen_fits_the_reader_the_table_the_pack_and_big_touch_targets(
        browser: Browser, server: Server):
    phone = new_page(browser, server, 400, 800)
    try:
        ask(phone, QUESTION)
        card = phone.locator("#results article.hit").first
        for control in ("button.keep", "button.read", "button.copy-cite", "a.source"):
            found = card.locator(f"footer {control}")
            size = found.bounding_box()
            assert size["height"] >= 44 and size["width"] >= 44, (control, size)
            assert float(found.evaluate("e => getComputedStyle(e).fontSize")[:-2]) >= 14
        card.locator("button.citation").click()
        reader = phone.locator("#reader")
        expect(reader.locator("mark.passage").first).to_be_visible()
        assert inside_width(reader.bounding_box(), 400), reader.bounding_box()
        for part in (".reader-title", "button.reader-hit", "button.reader-close"):
            assert inside_width(box(phone, f"#reader {part}"), 400), part
            if part.startswith("button"):
                assert box(phone, f"#reader {part}")["height"] >= 44, part
        lines = phone.evaluate("() => [...document.querySelectorAll('#reader .reader-text p')]"
                               ".flatMap(p => [...p.getClientRects()]).map(r => [r.left, r.right])")
        assert lines and all(left >= 0 and right <= 400.5 for left, right in lines)
        phone.keyboard.press("Escape")
        # the Documents table: an id reads in a line or two, not a few letters a line
        phone.get_by_role("tab", name="Documents").click()
        code = phone.locator("#index-panel td code").first
        expect(code).to_be_visible()
        assert code.evaluate("c => c.getClientRects().length") <= 3
        assert inside_width(code.bounding_box(), 400)
        # the pack's export controls: each on one line, whole, big enough to touch
        phone.evaluate("() => localStorage.removeItem('evidence-search-pack')")
        phone.get_by_role("tab", name="Ask").click()
        card.locator("button.keep").click()
        expect(phone.locator("#evidence-toast")).to_contain_text("Kept in")
        phone.get_by_role("tab", name="Evidence pack").click()
        exports = phone.locator("#pack-tab a.export")
        expect(exports.first).to_be_visible()
        # The tab fills itself from the server and again when selected, and a fill replaces
        # the links: wait until the links as shown fit, then measure them all in one go (a
        # link looked up and then measured in two steps can be replaced in between).
        with contextlib.suppress(PlaywrightTimeout):
            phone.wait_for_function(
                "() => { const links = [...document.querySelectorAll('#pack-tab a.export')];"
                " return links.length > 0 && links.every(a => { const r = a.getClientRects();"
                " return r.length === 1 && r[0].left >= 0 && r[0].right <= 400.5"
                " && r[0].height >= 44; }); }", timeout=10_000)
        shown = phone.evaluate(
            "() => [...document.querySelectorAll('#pack-tab a.export')].map(a => {"
            " const r = [...a.getClientRects()];"
            " return {text: a.innerText, lines: r.length, x: r[0]?.left, width: r[0]?.width,"
            " height: r[0]?.height}; })")
        assert shown
        for link in shown:
            assert link["lines"] == 1, link
            assert inside_width({"x": link["x"], "width": link["width"]}, 400), link
            assert link["height"] >= 44, link
    finally:
        phone.context.close()


def mark_in_view(page: Page, height: int) -> None:
    """The reader's first mark lies inside the window (text: the <mark>; PDF: the marked
    line on the page image)."""
    top = page.evaluate("""() => {
      const mark = document.querySelector('#reader #passage');
      if (mark) return mark.getClientRects()[0].top;
      const img = document.querySelector('#reader img.reader-page-image');
      const box = img.getBoundingClientRect();
      return box.top + box.height * Number(img.dataset.markTop);
    }""")
    assert 0 <= top <= height * 0.8, top


def test_next_hit_and_a_pdf_page_bring_the_mark_into_view(browser: Browser, server: Server,
                                                          tmp_path: Path):
    """On a phone the section around a passage is taller than the window: after opening and
    after each Next hit the mark must be scrolled into view, not left below the fold."""
    for width, height in ((400, 700), (1280, 900)):
        page = new_page(browser, server, width, height)
        try:
            ask(page, "mental health support for staff")
            cards = page.locator("#results article.hit")
            cards.first.locator("button.citation").click()
            reader = page.locator("#reader")
            for n in range(1, cards.count()):
                expect(reader.locator("mark.passage").first).to_be_visible()
                mark_in_view(page, height)
                reader.locator("button.reader-hit", has_text="Next hit").click()
                text = cards.nth(n).locator(".passage").inner_text().split("\n")[0][:30]
                expect(reader.locator("mark.passage").first).to_contain_text(text)
            mark_in_view(page, height)
            if width == 1280:
                page.keyboard.press("Escape")
                upload(page, pdf_copy(tmp_path, "vicksburg narrow.pdf"))
                ask(page, "inhabitants living in caves dug out of the hills")
                page.locator("#results article.hit").first.locator("footer button.read").click()
                expect(reader.locator("img.reader-page-image")).to_be_visible()
                expect(reader.locator(".reader-note")).to_contain_text("marked in yellow")
                mark_in_view(page, height)
        finally:
            page.context.close()


def test_kept_passages_show_kept_after_a_reload_and_keeping_again_says_so(page: Page,
                                                                          server: Server):
    from tests.browser.test_packs_reader import fresh_pack

    fresh_pack(page, server, "Reload keeps")
    ask(page, QUESTION)
    card = page.locator("#results article.hit").first
    card.locator("button.keep").click()
    expect(card.locator("button.keep")).to_have_text("Kept")
    page.reload()
    page.wait_for_selector("#question textarea")
    ask(page, QUESTION)
    card = page.locator("#results article.hit").first
    expect(card.locator("button.keep")).to_have_text("Kept")
    expect(page.locator("#results article.hit").nth(1).locator("button.keep")).to_have_text(
        "Keep")
    card.locator("button.citation").click()
    expect(page.locator("#reader button.reader-keep")).to_have_text("Kept")
    page.locator("#reader button.reader-keep").click()
    toast = page.locator("#evidence-toast")
    expect(toast).to_contain_text("Already in “Reload keeps”")
    expect(toast).to_contain_text("1 passage")
    page.keyboard.press("Escape")


def test_confidence_shows_in_words_and_percent_without_internal_scores(page: Page):
    ask(page, QUESTION)
    scores = page.locator("#results .score")
    expect(scores.first).to_be_visible()
    for text in scores.all_inner_texts():
        assert re.fullmatch(r"(strong|possible|weak) match · \d{1,3}\s%", text), text
    html = page.locator("#results").inner_html()
    assert "ranking score" not in html and "similarity" not in html
    help_text = page.locator("#help").inner_text()
    assert "--model" not in help_text and "percentage" in help_text


def test_example_chips_are_topics_cut_at_words(page: Page):
    chips = page.locator("button.gallery-item")
    expect(chips.first).to_be_visible()
    labels = chips.all_inner_texts()
    assert labels and not any(label.endswith("...") for label in labels), labels
    assert not any(re.fullmatch(r"(\S+ ){0,3}[A-Z]{2,4}", label) for label in labels), labels
    for n, label in enumerate(labels):
        if not label.endswith("…"):
            continue
        box = page.locator("#question textarea")
        box.fill("")
        chips.nth(n).click()
        expect(box).not_to_have_value("")
        value = box.input_value()
        shown = label[:-1].rstrip()
        assert value.startswith(shown) and value[len(shown)] in " ,;:?", (label, value)
    page.goto(page.url.split("?")[0])


def test_a_link_holds_grouping_and_the_section(page: Page, server: Server):
    open_options(page)
    page.locator("#group input[type=checkbox]").check()
    section = page.locator("#section textarea, #section input").first
    section.fill("Metropolitan Police Service")
    section.press("Enter")
    ask(page, "peer support after a traumatic incident")
    page.wait_for_function("() => location.search.includes('traumatic')")
    params = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
    assert params.get("section") == ["Metropolitan Police Service"], params
    assert params.get("group") == ["1"], params
    link = page.url
    other = page.context.new_page()
    try:
        other.goto(link)
        expect(other.locator("#results section.doc-group").first).to_be_visible(timeout=30_000)
        expect(other.locator("#group input[type=checkbox]")).to_be_checked()
        expect(other.locator("#section textarea, #section input").first).to_have_value(
            "Metropolitan Police Service")
        expect(other.locator("#results .summary")).to_contain_text(
            "in sections headed “Metropolitan Police Service”")
    finally:
        other.close()
    page.goto(server.url)


def test_uploads_say_unchanged_and_leave_the_box_empty(page: Page, tmp_path: Path):
    note = tmp_path / "rest-room-audit.txt"
    note.write_text("# Rest room audit\n\nEvery station now has a rest room with a sofa bed "
                    "for night crews.\n", encoding="utf-8")
    assert "Added (1)" in upload(page, note)
    page.get_by_role("tab", name="Documents").click()
    expect(page.locator("#upload")).not_to_contain_text("rest-room-audit.txt")
    again = upload(page, note)
    assert "Unchanged (1)" in again and "rest-room-audit.txt" in again, again


def test_the_reader_styles_its_buttons_names_the_page_and_shows_a_heading_once(
        page: Page, tmp_path: Path):
    ask(page, QUESTION)
    card = page.locator("#results article.hit").filter(has_text="Circa 11,000").first
    card.locator("button.citation").click()
    reader = page.locator("#reader")
    expect(reader.locator("mark.passage").first).to_be_visible()
    page_font = page.evaluate("getComputedStyle(document.querySelector('.gradio-container'))"
                              ".fontFamily")
    for button in reader.locator("button.reader-hit, button.reader-keep").all():
        assert button.evaluate("b => getComputedStyle(b).fontFamily") == page_font
    heading = reader.locator(".reader-text h4").first.inner_text()
    shown = reader.locator(".reader-section, .reader-text h4").all_inner_texts()
    assert sum(heading in text for text in shown) == 1, shown
    page.keyboard.press("Escape")
    upload(page, pdf_copy(tmp_path, "vicksburg pages.pdf"))
    ask(page, "inhabitants living in caves dug out of the hills")
    first = page.locator("#results article.hit").first
    number = int(first.get_attribute("data-page"))
    first.locator("footer button.read").click()
    expect(reader.locator(".reader-note")).to_contain_text("marked in yellow")
    reader.locator("button.reader-page", has_text="Page ›").click()
    expect(reader.locator(".reader-pages")).to_contain_text(f"Page {number + 1} of ")
    expect(reader.locator(".reader-note")).to_have_text(f"The passage is on p. {number}.")
    page.keyboard.press("Escape")


def test_the_kept_toast_never_takes_a_tap_meant_for_the_next_card(browser: Browser,
                                                                 server: Server):
    for width, height in ((1280, 900), (400, 800)):
        page = new_page(browser, server, width, height)
        try:
            ask(page, "mental health support for staff")
            # the next card's controls at the foot of the window, as when reading down
            page.evaluate("""() => {
              const foot = document.querySelectorAll('#results article.hit')[1]
                .querySelector('footer').getBoundingClientRect();
              window.scrollBy(0, foot.bottom - window.innerHeight + 24);
            }""")
            page.locator("#results article.hit").nth(0).locator("button.keep").click()
            expect(page.locator("#evidence-toast")).to_contain_text(
                re.compile("Kept in|Already in"))
            blocked = page.evaluate("""() => [...document.querySelectorAll(
                '#results footer button, #results footer a')].filter(e => {
              const r = e.getBoundingClientRect();
              if (r.bottom <= 0 || r.top >= window.innerHeight) return false;
              const hit = document.elementFromPoint(r.left + r.width / 2,
                                                    Math.min(r.top + r.height / 2,
                                                             window.innerHeight - 1));
              return hit && hit.closest('#evidence-toast');
            }).map(e => e.textContent)""")
            assert blocked == [], (width, blocked)
            if width > 640:  # and on a laptop it sits clear of them
                covered = page.evaluate("""() => {
                  const t = document.getElementById('evidence-toast').getBoundingClientRect();
                  return [...document.querySelectorAll('#results footer button,'
                                                       + ' #results footer a')]
                    .map(e => [e.textContent, e.getBoundingClientRect()])
                    .filter(([, r]) => r.left < t.right && t.left < r.right
                                       && r.top < t.bottom && t.top < r.bottom)
                    .map(([name]) => name); }""")
                assert covered == [], covered
        finally:
            page.context.close()
