"""What a page address asks for and what a page offers from the corpus itself: the search a
link holds, example questions from the documents' headings, and download names."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from search.retrieve.query import MODES

EXAMPLE_COUNT = 5


LABEL_CHARS = 59  # of an example's chip, "…" aside: Gradio cuts anything over 60 mid-word

# Words that open or close a person's name on a letter ("Dr", "AM", "OBE"): English usage in
# general, not any one corpus's people.
_TITLES = {"mr", "mrs", "ms", "miss", "dr", "prof", "professor", "sir", "dame", "lord", "lady",
           "cllr", "councillor", "rt", "hon", "baroness", "baron", "rev", "revd"}
_POSTNOMINAL = re.compile(r"^(?:[A-Z]{2,4}|[A-Z][a-z]?[A-Z]{1,3})$")  # AM, MP, OBE, QC, PhD
_ADDRESS = re.compile(r"\b(?=[A-Za-z]*\d)(?=\d*[A-Za-z])[A-Za-z\d]{2,4}\b|@|www\.|https?:|,$")


def names_a_person_or_place(text: str) -> bool:
    """A letter's addressee, signature or address line rather than a topic: capitalised words
    opened by a title or closed by a post-nominal, or a line holding a postcode-like token,
    an e-mail or web address."""
    if _ADDRESS.search(text):
        return True
    words = text.replace(",", " ").split()
    if not words or any(w[0].islower() for w in words):
        return False
    return words[0].rstrip(".").lower() in _TITLES or bool(_POSTNOMINAL.match(words[-1]))


def reads_as_a_name(text: str) -> bool:
    """A few words, each capitalised ("London Ambulance Service"): likelier a name than a
    topic, so offered only when nothing reads better."""
    words = text.split()
    return len(words) <= 4 and all(w[0].isupper() or not w[0].isalpha() for w in words)


def example_label(text: str, limit: int = LABEL_CHARS) -> str:
    """What an example's chip shows: the whole text when it fits, else its words up to
    `limit` characters and "…" (never a cut inside a word)."""
    if len(text) <= limit:
        return text
    cut = text[:limit + 1].rsplit(None, 1)[0] if " " in text[:limit + 1] else text[:limit]
    return cut.rstrip(" ,;:–-") + "…"


def example_questions(headings: Sequence[tuple[str, str]],
                      count: int = EXAMPLE_COUNT) -> list[str]:
    """Example searches from the corpus itself: its section headings (doc id, heading), the
    numbering dropped, headings phrased as questions first, then topics of several words,
    then capitalised names (a person, an address line or a shouted heading is never offered),
    taken in turn from each document. Nothing about any particular corpus is written in code."""
    questions: dict[str, list[str]] = {}
    topics: dict[str, list[str]] = {}
    names: dict[str, list[str]] = {}
    for doc_id, heading in headings:
        text = re.sub(r"^\s*(?:\d+[.)]|[A-Z][.)]|[ivx]+[.)])\s+", "", " ".join(heading.split()))
        if text.endswith("?") and len(text.split()) > 16:  # a long question: its first clause
            text = text.split(",")[0].rstrip("?") + "?"
        words = text.split()
        if text.endswith("?") and 4 <= len(words) <= 20:
            questions.setdefault(doc_id, []).append(text)
        elif (3 <= len(words) <= 8 and not text.isupper() and not re.search(r"\d{3,}", text)
              and not names_a_person_or_place(text)):
            (names if reads_as_a_name(text) else topics).setdefault(doc_id, []).append(text)
    out: list[str] = []
    for pool in (questions, topics, names):
        lists = [list(dict.fromkeys(v)) for v in pool.values()]
        while len(out) < count and any(lists):
            for items in lists:
                while items and items[0] in out:
                    items.pop(0)
                if items and len(out) < count:
                    out.append(items.pop(0))
    return out


def link_search(params: dict[str, Any],
                known: list[str]) -> tuple[str, int, str, list[str], str] | None:
    """The search a page address asks for, checked: a question, 1-20 results, a known mode,
    known documents (unknown ones are dropped) and a section's words; None when there is no
    question."""
    question = " ".join((params.get("q") or "").split())[:2000]
    if not question:
        return None
    try:
        k = min(20, max(1, int(params.get("k") or 5)))
    except ValueError:
        k = 5
    mode = params.get("mode") if params.get("mode") in MODES else "hybrid"
    given = params.get("docs") or []
    values = [given] if isinstance(given, str) else list(given)
    wanted: list[str] = []
    for value in values:  # docs=a&docs=b, or the older docs=a,b (an id may hold a comma)
        for doc in [value] if value in known else value.split(","):
            if doc in known and doc not in wanted:
                wanted.append(doc)
    section = " ".join((params.get("section") or "").split())[:300]
    return question, k, mode, wanted, section


def export_name(question: str, stamp: str) -> str:
    """A download's file name that says what it holds: evidence-<question words>-<time>."""
    words = re.findall(r"[a-z0-9]+", question.lower())[:8]
    slug = "-".join(words)[:60].rstrip("-") or "search"
    return f"evidence-{slug}-{stamp[-9:]}"
