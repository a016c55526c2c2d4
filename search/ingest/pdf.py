"""Page texts and title of a PDF with pypdf, in this process (sandbox.py runs it in a child)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from search.ingest.errors import LoadError


def pdf_pages_unsandboxed(path: Path, data: bytes) -> tuple[list[str], str | None]:
    """Page texts and title of a PDF, in this process: call it through sandbox.Extractor.
    Pages without a text layer come back empty; the sandbox decides which to OCR."""
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if b"%PDF" not in data[:1024]:
        raise LoadError(path, "not a PDF (no %PDF header)")
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception as exc:  # unsupported crypto, broken encryption dict
                raise LoadError(path, f"encrypted PDF that cannot be opened ({exc})") from exc
            if not ok:
                raise LoadError(path, "encrypted PDF: needs a password")
        n_pages = len(reader.pages)
        title = _pdf_title(reader)
    except LoadError:
        raise
    except (PdfReadError, Exception) as exc:  # pypdf raises many types on broken files
        raise LoadError(path, f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})") from exc
    if n_pages == 0:
        raise LoadError(path, "PDF has no pages")
    pages: list[str] = []
    for i in range(n_pages):
        try:
            text = reader.pages[i].extract_text() or ""
        except Exception:  # one bad page must not lose the rest of the document
            text = ""
        pages.append(text.replace("\x00", ""))
    return pages, title


def _pdf_title(reader: object) -> str | None:
    """The document's own title, unless it is a placeholder a word processor left behind."""
    try:
        title = (reader.metadata or {}).get("/Title")  # type: ignore[attr-defined]
    except Exception:
        return None
    if not isinstance(title, str):
        return None
    title = re.sub(r"^Microsoft (Word|PowerPoint) - ", "", title.strip())
    if len(title) < 3 or title.lower() in {"untitled", "title", "document", "slide 1"} \
            or re.fullmatch(r"[\w\- ]+\.(docx?|pdf|pptx?|odt|tex|dvi)", title, re.I):
        return None
    return title
