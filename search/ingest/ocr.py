"""Read scanned PDF pages with Tesseract: pypdfium2 renders a page, pytesseract reads it.

Runs inside the extraction sandbox (sandbox.py), so a page that hangs or explodes is bounded
like any other PDF. Tesseract is a Debian package (`tesseract-ocr`, `tesseract-ocr-eng`); when
it is missing, scanned pages are reported, not read, and the rest of the corpus indexes.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

MIN_TEXT_CHARS = 20  # a page with less text than this, and an image, is treated as scanned
MIN_WORD_CONFIDENCE = 60  # Tesseract's 0-100 word confidence for a word that counts as read
MIN_READ_WORDS = 3  # fewer confidently read words than this: the page is noise or a picture
INSTALL_HINT = "install it with: apt install tesseract-ocr tesseract-ocr-eng"


@dataclass(frozen=True)
class OcrPage:
    """One page read by Tesseract: its text, or why there is none."""

    index: int  # 0-based page index in the PDF
    text: str
    reason: str = ""  # set when the page gave no usable text


@functools.cache
def tesseract_version(command: str = "tesseract") -> str | None:
    """The installed Tesseract's version, or None when the binary or its English data is
    missing (then OCR is reported as unavailable instead of failing page by page)."""
    if shutil.which(command) is None:
        return None
    try:
        import pytesseract

        pytesseract.pytesseract.tesseract_cmd = command
        if "eng" not in pytesseract.get_languages(config=""):
            return None
        return str(pytesseract.get_tesseract_version())
    except Exception:  # noqa: BLE001 - any failure here means "no usable Tesseract"
        return None


def unavailable_reason() -> str:
    return f"Tesseract OCR is not installed ({INSTALL_HINT})"


def is_garbage(text: str) -> bool:
    """A text layer that cannot be the page's words: too short, mostly symbols, or the
    undecoded glyph codes a PDF without a font map yields ("(cid:12)", U+FFFD)."""
    visible = "".join(text.split())
    if len(visible) < MIN_TEXT_CHARS:
        return True
    if visible.count("\ufffd") + 5 * visible.count("(cid:") > 0.1 * len(visible):
        return True
    wordish = sum(c.isalnum() or c in ".,;:'\"()-%&/£$€" for c in visible)
    return wordish < 0.6 * len(visible)


def scanned_pages(pdf: Any, texts: Sequence[str]) -> list[int]:
    """Indices of pages whose text layer is missing or garbage and that hold an image: the
    pages worth reading with OCR (a blank page or a short heading page is left alone)."""
    import pypdfium2.raw as pdfium_c

    out = []
    for i, text in enumerate(texts):
        if not is_garbage(text):
            continue
        try:
            page = pdf[i]
            has_image = next(iter(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE],
                                                   max_depth=2)), None) is not None
        except Exception:  # noqa: BLE001 - a page pdfium cannot parse is not OCR'd
            continue
        if has_image:
            out.append(i)
    return out


def read_pages(pdf: Any, indices: Sequence[int], dpi: int, timeout: float,
               workers: int, command: str = "tesseract") -> list[OcrPage]:
    """OCR the given pages, `workers` at a time; each Tesseract run is killed after
    `timeout` seconds and that page reported, the others kept. Call it in the sandbox only:
    it limits OpenMP to one thread for this process and its children."""
    import pytesseract

    # One Tesseract thread per page, pages side by side: on 2 cores a page took 1.5 s this
    # way and 8.6 s with Tesseract's own OpenMP threads fighting (benchmarks/bench_formats.py).
    # Never in the indexing process: there the limit reaches torch, whose bf16 kernels then
    # return wrong vectors (tests/test_models.py).
    os.environ["OMP_THREAD_LIMIT"] = "1"

    pytesseract.pytesseract.tesseract_cmd = command
    images = []
    for i in indices:
        images.append(_render(pdf, i, dpi))
    with ThreadPoolExecutor(max(1, workers)) as pool:
        return list(pool.map(lambda job: _read(job[0], job[1], timeout),
                             zip(indices, images, strict=True)))


def _render(pdf: Any, index: int, dpi: int) -> Any:
    page = pdf[index]
    width, height = page.get_size()
    # Pages of odd size (a 4-point "page", a poster) render at most 5,000 px a side.
    scale = min(dpi / 72, 5000 / max(width, height, 1))
    return page.render(scale=scale, grayscale=True).to_pil()


def _read(index: int, image: Any, timeout: float) -> OcrPage:
    import pytesseract

    try:
        data = pytesseract.image_to_data(image, lang="eng", timeout=timeout,
                                         output_type=pytesseract.Output.DICT)
    except RuntimeError as exc:  # pytesseract's timeout
        if "timeout" in str(exc).lower():
            return OcrPage(index, "", f"OCR took over {timeout:.0f} s (limit)")
        return OcrPage(index, "", f"OCR failed ({exc})")
    except Exception as exc:  # noqa: BLE001 - Tesseract errors on odd images
        return OcrPage(index, "", f"OCR failed ({type(exc).__name__}: {exc})")
    text, confident = layout_words(data)
    if confident < MIN_READ_WORDS:
        return OcrPage(index, "", "OCR found no readable words (noise, a picture or a blank "
                                  "page?)")
    return OcrPage(index, text)


def layout_words(data: dict[str, list[Any]]) -> tuple[str, int]:
    """Tesseract's words back into lines and paragraphs (blank line between paragraphs), and
    how many were read with confidence."""
    lines: list[str] = []
    current: list[str] = []
    last_line: tuple[int, int, int] | None = None
    last_par: tuple[int, int] | None = None
    confident = 0
    for i, word in enumerate(data["text"]):
        word = (word or "").strip()
        if not word:
            continue
        line = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        if line != last_line and current:
            lines.append(" ".join(current))
            current = []
            if line[:2] != last_par:
                lines.append("")
        last_line, last_par = line, line[:2]
        current.append(word)
        if float(data["conf"][i]) >= MIN_WORD_CONFIDENCE and re.search(r"[A-Za-z]{2}", word):
            confident += 1
    if current:
        lines.append(" ".join(current))
    return "\n".join(lines).strip(), confident
