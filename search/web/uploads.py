"""Files arriving from the web page: named safely, typed by content, bounded in size, and
written only inside the corpus folder."""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from search.config import SUPPORTED_SUFFIXES

DEFAULT_MAX_BYTES = 50_000_000  # 50 MB, as the page and the README say
UPLOAD_FOLDER = "uploads"


@dataclass
class Saved:
    name: str  # what the user called it
    path: Path | None  # where it was written, inside the corpus
    reason: str = ""  # why it was refused


def safe_name(name: str) -> str:
    """A plain file name: no folders, no control characters, no leading dots."""
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFKC", base)
    base = "".join(ch for ch in base if ch.isprintable())
    base = re.sub(r"[^\w.\- ()]+", "_", base).strip(" .")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = stem[:100] or "upload"
    return f"{stem}.{suffix.lower()}" if suffix else stem


def content_problem(data: bytes, suffix: str) -> str | None:
    """Why these bytes are not what their extension claims, or None."""
    if suffix == ".pdf":
        return None if data[:1024].lstrip().startswith(b"%PDF-") else \
            "not a PDF (content does not start with %PDF-)"
    if suffix in (".docx", ".odt"):
        kind = "a Word document" if suffix == ".docx" else "an OpenDocument text"
        return None if data.startswith(b"PK") else f"not {kind} (not a zip file)"
    if suffix in (".html", ".htm"):
        return None if b"\x00" not in data[:4096] else "not a web page (contains NUL bytes)"
    if b"\x00" in data:
        return "not a text file (contains NUL bytes)"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8 text"
    return None


def save_upload(source: Path, original_name: str, corpus: Path,
                max_bytes: int = DEFAULT_MAX_BYTES) -> Saved:
    name = safe_name(original_name)
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        kinds = ", ".join(s.lstrip(".").upper() for s in SUPPORTED_SUFFIXES)
        return Saved(original_name, None, f"unsupported file type '{suffix or name}' "
                                          f"({kinds} only)")
    size = source.stat().st_size
    if size > max_bytes:
        return Saved(original_name, None, f"too large ({size / 1e6:.1f} MB; the limit is "
                                          f"{max_bytes / 1e6:.0f} MB)")
    data = source.read_bytes()
    if not data.strip():
        return Saved(original_name, None, "empty file")
    if problem := content_problem(data, suffix):
        return Saved(original_name, None, problem)
    folder = (corpus / UPLOAD_FOLDER).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, name, data)
    if not target.resolve().is_relative_to(corpus.resolve()):
        return Saved(original_name, None, "refused: would be written outside the corpus")
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    return Saved(original_name, target)


def _free_name(folder: Path, name: str, data: bytes) -> Path:
    """`name`, or `name-2`, ... — unless a file of that name already holds the same bytes."""
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 1
    while True:
        candidate = folder / (name if n == 1 else f"{stem}-{n}{suffix}")
        if not candidate.exists() or candidate.read_bytes() == data:
            return candidate
        n += 1
