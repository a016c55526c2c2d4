"""Sentence boundaries as character spans; shared by the chunker (and, later, highlighting)."""

from __future__ import annotations

import re

# A boundary: terminal punctuation, optional closing quotes/brackets, space, then something
# that can open a sentence. Abbreviations and initials ("e.g. ", "Dr. ", "J. Smith") are not.
_BOUNDARY = re.compile(r"[.!?][\"'”’)\]]*(?:\s+)(?=[\"'“‘(\[]?[A-Z0-9£$€•\-])|\n+")
_ABBREVIATIONS = {
    "e.g", "i.e", "etc", "dr", "mr", "mrs", "ms", "no", "nos", "vs", "v", "st", "prof", "inc",
    "ltd", "co", "fig", "figs", "al", "approx", "para", "paras", "ref", "cf", "s", "ss", "vol",
    "p", "pp", "ch", "sec", "art", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "gov", "dept", "est", "op", "rev", "hon", "rt", "sgt", "insp",
    "supt", "cllr", "cc",
}


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Split text[start:end] into sentences; spans exclude the whitespace between them."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _BOUNDARY.finditer(text, start, end):
        if match.group(0)[0] != "\n":
            before = text[cursor:match.start()].rsplit(None, 1)
            word = before[-1].lower().lstrip("([\"'“‘") if before else ""
            if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue
        cut = match.start() + len(match.group(0).rstrip())
        if text[cursor:cut].strip():
            spans.append(_trim(text, cursor, cut))
        cursor = match.end()
    if text[cursor:end].strip():
        spans.append(_trim(text, cursor, end))
    return spans


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


MIN_SENTENCE_WORDS = 3  # shorter fragments ("Yes.", a lone heading) say too little to score
MAX_SCORED_SENTENCES = 24  # per chunk; a 200 word-piece chunk rarely has more


def scoring_sentences(text: str) -> list[tuple[int, int]]:
    """The sentences of a chunk that get their own vector: spans into `text`."""
    spans = [(a, b) for a, b in sentence_spans(text)
             if len(text[a:b].split()) >= MIN_SENTENCE_WORDS]
    return spans[:MAX_SCORED_SENTENCES]
