"""Split a Document into passages that respect its structure and the model's token budget.

Chunks never cross a section; paragraphs stay whole where they fit, and short neighbours join
until half the budget (a passage should answer one thing: small models embed long mixed
passages poorly); a bullet list stays with its lead-in line; long paragraphs split at
sentence boundaries with a small overlap. Every chunk is a contiguous span of the document's
clean text, so citations can be checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from search.ingest.text import sentence_spans
from search.records import Block, Chunk, Document

TokenCounter = Callable[[Sequence[str]], list[int]]
Span = tuple[int, int]


def section_paths(doc: Document) -> list[tuple[str, ...]]:
    """The heading path in force at each block (headings themselves get their parent's path)."""
    stack: list[tuple[int, str]] = []
    paths: list[tuple[str, ...]] = []
    for block in doc.blocks:
        if block.kind == "heading":
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            paths.append(tuple(t for _, t in stack))
            stack.append((block.level, doc.text[block.start:block.end]))
        else:
            paths.append(tuple(t for _, t in stack))
    return paths


Unit = tuple[tuple[str, ...], list[Block], bool]  # section path, blocks, follows a barrier


def _units(doc: Document) -> list[Unit]:
    """Group body blocks into units that should not be separated: lead-in + its list items.
    A heading or TOC line between units is a barrier: chunks are contiguous text, so no
    chunk may reach across one."""
    units: list[Unit] = []
    paths = section_paths(doc)
    previous_kind = ""
    barrier = False
    for block, path in zip(doc.blocks, paths, strict=True):
        if block.kind in ("heading", "toc"):
            previous_kind = block.kind
            barrier = True
            continue
        joins_list = block.kind == "item" and previous_kind in ("para", "item")
        if joins_list and units and units[-1][0] == path:
            units[-1][1].append(block)
        else:
            units.append((path, [block], barrier))
        previous_kind = block.kind
        barrier = False
    return units


def chunk_document(doc: Document, count_tokens: TokenCounter, max_tokens: int = 200,
                   overlap_sentences: int = 1) -> list[Chunk]:
    """Chunks of at most `max_tokens` word-pieces (by the model's own tokenizer)."""
    spans: list[tuple[tuple[str, ...], Span]] = []
    current: list[Span] = []
    current_tokens = 0
    current_path: tuple[str, ...] | None = None

    def flush() -> None:
        nonlocal current, current_tokens
        if current:
            spans.append((current_path or (), (current[0][0], current[-1][1])))
        current, current_tokens = [], 0

    units = _units(doc)
    unit_tokens = count_tokens([doc.text[b[0].start:b[-1].end] for _, b, _ in units])
    for (path, blocks, barrier), tokens in zip(units, unit_tokens, strict=True):
        if path != current_path or barrier:
            flush()
            current_path = path
        if tokens > max_tokens:
            flush()
            for piece in _split_unit(doc.text, blocks, count_tokens, max_tokens,
                                     overlap_sentences):
                spans.append((path, piece))
            continue
        tiny_tail = tokens < max_tokens // 8  # a closing one-liner stays with what it follows
        if current_tokens + tokens > max_tokens or (current_tokens >= max_tokens // 2
                                                    and not tiny_tail):
            flush()  # small paragraphs join up to half the budget; larger ones stand alone
        current.append((blocks[0].start, blocks[-1].end))
        current_tokens += tokens
    flush()
    return [_make_chunk(doc, n, path, span) for n, (path, span) in enumerate(spans)]


def _split_unit(text: str, blocks: list[Block], count_tokens: TokenCounter, max_tokens: int,
                overlap: int) -> list[Span]:
    """A unit over budget: a long list. Its items each describe one thing, so each becomes a
    passage (very short items join up to a quarter of the budget); long items split."""
    out: list[Span] = []
    group: list[Span] = []
    group_tokens = 0
    block_tokens = count_tokens([text[b.start:b.end] for b in blocks])
    for block, tokens in zip(blocks, block_tokens, strict=True):
        if tokens > max_tokens:
            if group:
                out.append((group[0][0], group[-1][1]))
                group, group_tokens = [], 0
            out.extend(_split_sentences(text, block.start, block.end, count_tokens, max_tokens,
                                        overlap))
            continue
        if group and (group_tokens + tokens > max_tokens or group_tokens >= max_tokens // 4):
            out.append((group[0][0], group[-1][1]))
            group, group_tokens = [], 0
        group.append((block.start, block.end))
        group_tokens += tokens
    if group:
        out.append((group[0][0], group[-1][1]))
    return out


def _split_sentences(text: str, start: int, end: int, count_tokens: TokenCounter,
                     max_tokens: int, overlap: int) -> list[Span]:
    """Pack sentences up to the budget; each new piece repeats the last `overlap` sentences."""
    sentences: list[Span] = []
    for s in sentence_spans(text, start, end):
        sentences.extend(_split_words(text, s, count_tokens, max_tokens))
    tokens = count_tokens([text[a:b] for a, b in sentences])
    out: list[Span] = []
    i = 0
    while i < len(sentences):
        j, total = i, 0
        while j < len(sentences) and (j == i or total + tokens[j] <= max_tokens):
            total += tokens[j]
            j += 1
        out.append((sentences[i][0], sentences[j - 1][1]))
        if j >= len(sentences):
            break
        back = min(overlap, j - i - 1)  # never restart where we began: always move forward
        if back and sum(tokens[j - back:j]) + tokens[j] > max_tokens:
            back = 0
        i = j - back
    return out


def _split_words(text: str, span: Span, count_tokens: TokenCounter, max_tokens: int) -> list[Span]:
    """A single sentence over budget (tables, lists without punctuation): cut between words,
    in windows sized from the measured tokens per word, so even a 20 MB line costs one pass."""
    start, end = span
    if count_tokens([text[start:end]])[0] <= max_tokens:
        return [span]
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text[start:end])]
    words = [(start + a, start + b) for a, b in words]
    out: list[Span] = []
    i = 0
    while i < len(words):
        size = max(1, min(len(words) - i, max_tokens))
        while True:
            piece = (words[i][0], words[i + size - 1][1])
            tokens = count_tokens([text[piece[0]:piece[1]]])[0]
            if tokens <= max_tokens or size == 1:
                break
            size = max(1, int(size * max_tokens / tokens * 0.95))
        out.append(piece)
        i += size
    return out


def _make_chunk(doc: Document, ordinal: int, path: tuple[str, ...], span: Span) -> Chunk:
    start, end = span
    return Chunk(doc_id=doc.doc_id, ordinal=ordinal, text=doc.text[start:end], start=start,
                 end=end, page_start=_page_at(doc, start), page_end=_page_at(doc, end - 1),
                 section=path)


def _page_at(doc: Document, offset: int) -> int | None:
    number = None
    for page in doc.pages:
        if page.start <= offset:
            number = page.number
        else:
            break
    return number
