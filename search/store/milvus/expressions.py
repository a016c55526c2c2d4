"""User input as Milvus expressions and BM25 text: escaped literals, LIKE patterns, filters,
Snowball stems. Pure functions; this pymilvus has no expression templates."""

from __future__ import annotations

import re

import Stemmer

from search.records import Filters
from search.words import tokens

_stemmer = Stemmer.Stemmer("english")


def stems(text: str) -> list[str]:
    """Snowball English stems of a text's words, as the BM25 field holds them."""
    return _stemmer.stemWords(tokens(text))


def stem(word: str) -> str:
    """One word's stem, as `stems` makes it (for word counts)."""
    return _stemmer.stemWord(word.lower())


def literal(text: str) -> str:
    """A double-quoted Milvus string literal. Its lexer knows only the escapes \\" \\' \\\\ \\n
    \\r \\t and takes every other character as it is, so only those are escaped (and NUL,
    which no name holds, dropped): a doc id with a narrow space still matches itself."""
    text = text.replace("\x00", "")
    text = (text.replace("\\", "\\\\").replace('"', '\\"')
            .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{text}"'


def contains(needle: str) -> str:
    """A LIKE pattern for a case-insensitive substring of a lowercased field. The user's %, _
    and backslash match any one character: a little wider, never an error or an escape."""
    return literal("%" + re.sub(r"[%_\\]", "_", needle.lower()) + "%")


def filter_expression(filters: Filters | None) -> str:
    """Filters as a Milvus boolean expression over the chunks collection ('' lets all in);
    the same meaning as the local engine's SQL."""
    if filters is None or filters.is_empty():
        return ""
    parts = []
    if filters.documents:
        names = "[" + ", ".join(literal(d) for d in filters.documents) + "]"
        parts.append(f"(doc_id in {names} or path in {names})")
    if filters.title:
        parts.append(f"title_lc like {contains(filters.title)}")
    if filters.section:
        parts.append(f"section_lc like {contains(filters.section)}")
    if filters.pages:
        low, high = int(filters.pages[0]), int(filters.pages[1])
        parts.append(f"(page_end >= {low} and page_start <= {high})")
    if filters.date_from:
        parts.append(f'(date != "" and date >= {literal(filters.date_from)})')
    if filters.date_to:  # a prefix, inclusive: "2021" keeps 2021-12-31, so below "202:"
        bound = filters.date_to[:-1] + chr(ord(filters.date_to[-1]) + 1)
        parts.append(f'(date != "" and date < {literal(bound)})')
    return " and ".join(parts)
