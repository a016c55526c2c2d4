"""Read one file into page texts. Knows file formats, nothing about structure or indexing."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search.config import SIDECAR_SUFFIX, SUPPORTED_SUFFIXES, limits
from search.ingest.errors import LoadError
from search.ingest.odt import odt_text
from search.ingest.pdf import PdfHeading
from search.ingest.sandbox import OcrProgress, default_extractor
from search.ingest.webpage import html_text
from search.ingest.word import docx_text


@dataclass
class RawFile:
    """What a loader returns: page texts (page numbers known for PDFs) and sidecar metadata."""

    path: Path
    kind: str  # "pdf" | "txt" | "md"
    pages: list[str]  # PDFs: one entry per page; text files: one entry, pages unknown
    paged: bool
    sha256: str
    meta: dict[str, Any] = field(default_factory=dict)
    ocr_pages: list[int] = field(default_factory=list)  # 1-based pages whose text is OCR's
    notes: list[str] = field(default_factory=list)  # what could not be read, file still indexed
    page_labels: list[str] = field(default_factory=list)  # PDFs: the number printed per page
    headings: list[PdfHeading] = field(default_factory=list)  # PDFs: lines set as headings


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


# Bumped when a format's reader changes what it makes of the same bytes (PDF 2: printed page
# labels and headings from the type), so the next refresh reads those files again.
READER_VERSIONS = {".pdf": 2}


def fingerprint(path: Path) -> str:
    """Content hash of the file and its sidecar (and its reader's version): a change to any
    means re-indexing."""
    digest = hashlib.sha256(path.read_bytes())
    version = READER_VERSIONS.get(path.suffix.lower())
    if version is not None:
        digest.update(f"\0reader {version}\0".encode())
    side = sidecar_path(path)
    if side.exists():
        digest.update(b"\0sidecar\0" + side.read_bytes())
    return digest.hexdigest()


def load_file(path: Path, on_ocr: OcrProgress | None = None) -> RawFile:
    """Read a supported file or raise LoadError naming the file and the reason; `on_ocr`
    follows the scanned pages of a PDF as they are read."""
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
        pdf = default_extractor().pdf_pages(path, data, on_ocr)
        if pdf.title and "title" not in meta:
            meta["title"] = pdf.title
        raw = RawFile(path, "pdf", pdf.pages, True, sha, meta, pdf.ocr_pages, pdf.notes,
                      pdf.labels, pdf.headings)
    elif suffix in (".docx", ".odt", ".html", ".htm"):
        read = {".docx": docx_text, ".odt": odt_text}.get(suffix, html_text)
        text, title = read(path, data)
        if title and "title" not in meta:
            meta["title"] = title
        raw = RawFile(path, "md", [text], False, sha, meta)  # Markdown-like: # headings
    else:
        raw = RawFile(path, suffix[1:], [_decode_text(path, data)], False, sha, meta)
    size = sum(len(p) for p in raw.pages)
    max_chars = limits().max_chars
    if size > max_chars:
        raise LoadError(path, f"too much text ({size:,} characters; the limit is "
                              f"{max_chars:,}): split the file, or raise "
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
