"""Read one file into page texts. Knows file formats, nothing about structure or indexing."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import SIDECAR_SUFFIX, SUPPORTED_SUFFIXES

MAX_CHARS = int(os.environ.get("EVIDENCE_SEARCH_MAX_CHARS", "5000000"))


class LoadError(Exception):
    """A file that cannot be indexed; str() is the one-line reason shown to the user."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass
class RawFile:
    """What a loader returns: page texts (page numbers known for PDFs) and sidecar metadata."""

    path: Path
    kind: str  # "pdf" | "txt" | "md"
    pages: list[str]  # PDFs: one entry per page; text files: one entry, pages unknown
    paged: bool
    sha256: str
    meta: dict[str, Any] = field(default_factory=dict)


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def read_sidecar(path: Path) -> dict[str, Any]:
    """Optional `<file>.meta.json` beside a document: title, date, publisher, ..."""
    side = sidecar_path(path)
    if not side.exists():
        return {}
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LoadError(side, f"bad sidecar metadata ({exc})") from exc
    if not isinstance(meta, dict):
        raise LoadError(side, "bad sidecar metadata (expected a JSON object)")
    return meta


def fingerprint(path: Path) -> str:
    """Content hash of the file and its sidecar: a change to either means re-indexing."""
    digest = hashlib.sha256(path.read_bytes())
    side = sidecar_path(path)
    if side.exists():
        digest.update(b"\0sidecar\0" + side.read_bytes())
    return digest.hexdigest()


def load_file(path: Path) -> RawFile:
    """Read a supported file or raise LoadError naming the file and the reason."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(path, f"unsupported file type '{suffix or path.name}' "
                              f"(supported: {', '.join(SUPPORTED_SUFFIXES)})")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(path, f"cannot read file ({exc.strerror or exc})") from exc
    if not data.strip():
        raise LoadError(path, "empty file")
    meta = read_sidecar(path)
    sha = fingerprint(path)
    if suffix == ".pdf":
        from .sandbox import default_extractor

        pages, title = default_extractor().pdf_pages(path, data)
        if title and "title" not in meta:
            meta["title"] = title
        raw = RawFile(path, "pdf", pages, True, sha, meta)
    else:
        raw = RawFile(path, suffix[1:], [_decode_text(path, data)], False, sha, meta)
    size = sum(len(p) for p in raw.pages)
    if size > MAX_CHARS:
        raise LoadError(path, f"too much text ({size:,} characters; the limit is "
                              f"{MAX_CHARS:,}): split the file, or raise "
                              "EVIDENCE_SEARCH_MAX_CHARS")
    return raw


def _decode_text(path: Path, data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(path, f"not UTF-8 text (invalid byte at offset {exc.start}); "
                              "save it as UTF-8 and re-index") from exc
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if not text.strip():
        raise LoadError(path, "empty file (only whitespace)")
    return text


def pdf_pages_unsandboxed(path: Path, data: bytes) -> tuple[list[str], str | None]:
    """Page texts and title of a PDF, in this process: call it through sandbox.Extractor."""
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
    if not any(p.strip() for p in pages):
        raise LoadError(path, "no extractable text (scanned images? run OCR first)")
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
