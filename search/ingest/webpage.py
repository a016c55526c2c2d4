"""Saved web pages (.html, .htm): the main content only, as Markdown-like text. trafilatura
drops navigation, cookie banners, footers, scripts and styles; headings become `#` lines, so
sections work as for Markdown."""

from __future__ import annotations

from pathlib import Path

from search.ingest.errors import LoadError

MIN_WORDS = 8  # fewer, and what was left after stripping the page's furniture is furniture


def html_text(path: Path, data: bytes) -> tuple[str, str | None]:
    """The page's main text and its title, or a LoadError saying why there is none."""
    import trafilatura

    html = data.decode("utf-8", errors="replace")
    text = trafilatura.extract(html, output_format="markdown", include_tables=True,
                               include_formatting=True, include_comments=False,
                               favor_recall=True)
    if not text or len(text.split()) < MIN_WORDS:  # a lone "Home" link is not a document
        raise LoadError(path, "no main text found in the web page (only navigation, scripts "
                              "or markup)")
    meta = trafilatura.extract_metadata(html)
    title = (meta.title or "").strip() or None if meta is not None else None
    return text.replace("\r\n", "\n"), title
