"""Real scanned PDFs for tests and benchmarks: text set on page images, wrapped as a PDF with
no text layer, the way a scanner or a fax-to-PDF service produces them."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

LETTER = (8.5, 11.0)  # inches


def page_image(text: str, dpi: int = 300, columns: int = 80) -> Image.Image:
    """One page of text at 11 pt, as a greyscale scan at `dpi` (paragraphs split on blank
    lines, wrapped at `columns` characters)."""
    width, height = int(LETTER[0] * dpi), int(LETTER[1] * dpi)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=round(11 / 72 * dpi))
    y, step, margin = dpi, round(16 / 72 * dpi), dpi
    for paragraph in text.split("\n\n"):
        for line in textwrap.wrap(" ".join(paragraph.split()), columns) or [""]:
            draw.text((margin, y), line, fill=0, font=font)
            y += step
        y += step // 2
    return image


def noise_image(dpi: int = 150, seed: int = 0) -> Image.Image:
    """A page of random grey noise: what a bad scan of nothing looks like."""
    width, height = int(LETTER[0] * dpi), int(LETTER[1] * dpi)
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)
    return Image.fromarray(pixels, mode="L")


def write_pdf(path: Path, images: Sequence[Image.Image], dpi: int = 300) -> Path:
    """Images as the pages of an image-only PDF."""
    first, *rest = images
    first.save(path, "PDF", save_all=True, append_images=rest, resolution=dpi)
    return path


def scanned_pdf(path: Path, pages: Sequence[str], dpi: int = 300) -> Path:
    """A scanned PDF whose pages show `pages` (one text per page)."""
    return write_pdf(path, [page_image(text, dpi) for text in pages], dpi)


def page_texts(source: str, pages: int, lines_per_page: int = 34,
               columns: int = 80) -> list[str]:
    """Split a document's paragraphs into texts that fit one page each (`page_image` sets
    about 36 wrapped lines), Markdown marks removed; a paragraph longer than a page is cut
    at a line."""
    paragraphs = [" ".join(p.replace("**", "").replace("#", "").split())
                  for p in source.split("\n\n") if p.strip()]
    out: list[str] = []
    current: list[str] = []
    used = 0
    for paragraph in paragraphs:
        lines = textwrap.wrap(paragraph, columns)
        while lines:
            room = lines_per_page - used
            if room <= 1:
                out.append("\n\n".join(current))
                current, used = [], 0
                if len(out) == pages:
                    return out
                continue
            take = lines[:room - 1] if len(lines) > room - 1 else lines
            current.append(" ".join(take))
            used += len(take) + 1  # the gap after a paragraph
            lines = lines[len(take):]
    if current and len(out) < pages:
        out.append("\n\n".join(current))
    return out
