"""Citations in the browser: the card may shorten one to fit, in CSS only; what Copy citation
copies and what the reader shows is the whole citation."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import ask

LONG_HEADING = ("2. Does the MPS have examples of effective approaches it has adopted to support "
                "its staff experiencing mental health challenges, what worked and what has the "
                "impact of that been?")


def test_copy_citation_and_the_reader_give_the_whole_citation(page: Page):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.set_viewport_size({"width": 400, "height": 900})
    ask(page, "What is Trauma Informed Practical Techniques training?")
    card = page.locator("#results article.hit", has_text="Trauma Informed Practical").first
    cite = card.locator("button.citation")
    whole = cite.text_content() or ""
    assert whole.endswith(LONG_HEADING) and "…" not in whole
    clamped = cite.evaluate("b => b.scrollHeight > b.clientHeight + 1")
    assert clamped  # at 400 px the card shows it shortened, visually only
    card.locator("button.copy-cite").click()
    expect(card.locator("button.copy-cite")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == whole
    cite.click()
    title = page.locator("#reader .reader-title")
    expect(title).to_be_visible()
    assert title.text_content() == whole
