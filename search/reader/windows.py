"""Short reader inputs: a passage cut down to its best sentence or two.

The reader's latency budget only fits ~64-96 tokens per candidate, so the caller hands it a
window of the passage rather than the whole passage; training builds the same kind of window.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text` (a plain regex split: fast, good enough to
    pick windows; abbreviations like "Dr." may split a sentence, which only shortens one)."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        end = m.start()
        if text[start:end].strip():
            spans.append((start, end))
        start = m.end()
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return spans


def window(text: str, spans: Sequence[tuple[int, int]], max_sentences: int = 2) -> str:
    """The first `max_sentences` of the ranked `spans` (e.g. a hit's highlights, best first),
    put back in reading order; the whole text when there are no spans."""
    chosen = sorted({(int(s), int(e)) for s, e in list(spans)[:max_sentences] if e > s})
    if not chosen:
        return " ".join(text.split())
    return " ".join(" ".join(text[s:e].split()) for s, e in chosen)
