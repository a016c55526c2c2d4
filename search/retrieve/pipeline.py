"""One pass from a question to hits, inside one read view:

    embed → retrieve (both lists, fusion) → rank (final stage) → reader → collapse
          → confidence → marks → hits

`Searcher` holds what a pass needs that outlives it (the question encoder, the reader, the
calibration, the ranking weights) and nothing else; `Index` opens the view, hands it over
and retries once when a re-index retired it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from search.reader import Reader
from search.records import Filters, Hit, StoredChunk
from search.retrieve import ranking
from search.retrieve.confidence import WEAK_BELOW, Calibration, is_keyword_search, label
from search.retrieve.highlight import answer_spans
from search.retrieve.query import (
    Candidate,
    Fusion,
    QueryTerms,
    Retrieved,
    collapse,
    retrieve,
)
from search.store import ReadView

SECTION_SEPARATOR = " › "
log = logging.getLogger(__name__)
DEFAULT_FUSION = Fusion()


class QueryEncoder(Protocol):
    """What embeds the question (search.embed.embedder.Embedder is one)."""

    name: str

    def encode(self, texts: Sequence[str], batch_size: int = 32,
               progress: bool = False) -> np.ndarray: ...


@dataclass(frozen=True)
class Query:
    """One search as asked: the question and how to run it."""

    text: str
    k: int = 5
    mode: str = "hybrid"
    filters: Filters | None = None
    highlight: bool = True
    fusion: Fusion = DEFAULT_FUSION


@dataclass
class Searched:
    """A pass's hits and the evidence behind them (calibration and tuning read it)."""

    hits: list[Hit]
    found: Retrieved  # the candidates behind the hits, in the same order
    confidences: list[float] = field(default_factory=list)
    corrected: str | None = None  # the question as searched, when a misspelt word was read
    # as the index's word


@dataclass
class Searcher:
    """Runs a Query over a view: every stage once, in order."""

    encoder: QueryEncoder
    calibration: Calibration
    reader: Reader | None = None
    weights: ranking.Weights = ranking.WEIGHTS

    def run(self, view: ReadView, query: Query) -> Searched:
        qt = QueryTerms.of(view, query.text)
        text = qt.corrected(query.text)  # every stage reads the question as searched
        vector = self.encoder.encode([text])[0]
        found = retrieve(view, vector, text, qt, query.k, query.mode, query.filters,
                         query.fusion, self.weights)
        ranked = found.candidates
        if self.reader is not None and query.mode == "hybrid" and query.fusion.rerank:
            ranked = read(self.reader, text, ranked, self.weights)
        found.candidates = collapse(ranked)[:query.k]
        confidences = self.calibration.confidences(found, text)
        marks: list[list[tuple[int, int]]] = [[] for _ in found.candidates]
        if query.highlight:
            marks = answer_spans(self.encoder, vector, qt.terms, qt.weights, found.candidates,
                                 [c < WEAK_BELOW for c in confidences], found.sections,
                                 is_keyword_search(text))
        hits = [hit_of(cand, rank, spans, conf) for rank, (cand, spans, conf)
                in enumerate(zip(found.candidates, marks, confidences, strict=True), start=1)]
        return Searched(hits, found, confidences, text if text != query.text else None)


def read(reader: Reader, question: str, ranked: list[Candidate],
         w: ranking.Weights) -> list[Candidate]:
    """The reader's say in the order: its logit for the top `w.reader_depth` candidates,
    standardised among them and added with weight `w.reader`."""
    top = ranked[:w.reader_depth]
    if len(top) < 2 or not w.reader:
        return ranked
    try:
        logits = np.asarray(reader.score(question, [reader_input(c) for c in top]),
                            dtype=np.float64)
        if logits.shape != (len(top),) or not np.isfinite(logits).all():
            raise ValueError(f"{len(logits)} scores for {len(top)} passages, or not finite")
    except Exception as exc:  # noqa: BLE001 - a failing reader must not fail the search
        log.warning("reader %s failed (%s: %s); ranked without it", reader.name,
                    type(exc).__name__, exc)
        return ranked
    for cand, logit in zip(top, logits.tolist(), strict=True):
        cand.reader = float(logit)
    boost = ranking.standardise(logits) * w.reader
    for cand, extra in zip(top, boost.tolist(), strict=True):
        cand.score += extra
    return sorted(top, key=lambda c: (-c.score, c.id)) + ranked[len(top):]


def reader_input(cand: Candidate) -> str:
    assert cand.row is not None
    return reader_window(cand.row.text, cand.sentence_scores)


def reader_window(text: str, sentence_scores: Sequence[tuple[tuple[int, int], float]],
                  sentences: int = 2) -> str:
    """What the reader reads of a passage: its best sentences for the question, in reading
    order (a short window keeps the model inside the latency budget), else the passage."""
    if not sentence_scores:
        return text
    best = sorted(sentence_scores, key=lambda item: -item[1])[:sentences]
    return " ".join(text[a:b] for (a, b), _ in sorted(best))


def hit_of(cand: Candidate, rank: int, spans: list[tuple[int, int]], conf: float) -> Hit:
    assert cand.row is not None
    hit = to_hit(cand.row, cand.score)
    hit.rank, hit.similarity, hit.highlights = rank, round(cand.similarity, 4), spans
    hit.confidence = round(conf, 4)
    hit.weak = conf < WEAK_BELOW
    hit.match = label(conf)
    return hit


def citation(title: str, page: str | None, page_end: str | None, section: Sequence[str]) -> str:
    """Title, the page numbers printed on the pages (labels, not positions) and the whole
    section path: what is pasted or exported is never cut (only the card shortens it, in
    CSS, with the whole text still there)."""
    text = title
    if page is not None:
        text += f", p. {page}" if page_end in (None, page) else f", pp. {page}–{page_end}"
    if section:
        text += f" — {SECTION_SEPARATOR.join(section)}"
    return text


def to_hit(row: StoredChunk, score: float) -> Hit:
    """A stored passage as a Hit, with its citation (rank and evidence filled in later)."""
    hit = Hit(text=row.text, score=round(score, 6), doc_id=row.doc_id, title=row.title,
              path=row.path, page=row.page_start, section=SECTION_SEPARATOR.join(row.section),
              start=row.start, end=row.end, citation="", page_end=row.page_end, ocr=row.ocr,
              page_label=row.page_label, page_end_label=row.page_end_label)
    # the Hit fills in labels a row lacks (its pages' positions): the citation prints those
    hit.citation = citation(row.title, hit.page_label, hit.page_end_label, row.section)
    return hit
