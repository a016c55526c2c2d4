"""Measure search quality: BEIR folders (nDCG@10, Recall@100, MRR@10 via pytrec_eval) and the
product's own question files (gold answer spans: Recall@5, MRR@10, weak-flag accuracy)."""

from __future__ import annotations

import hashlib
import json
import random
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytrec_eval

from search.config import Settings
from search.embed.embedder import SENTENCE_VECTORS, get_embedder
from search.index import Index
from search.indexing.refresh import add_documents
from search.records import Block, Document, Hit, Page
from search.retrieve.confidence import results_weak
from search.retrieve.query import Fusion
from search.store import open_store


# -- BEIR ------------------------------------------------------------------------------------
@dataclass
class Beir:
    name: str
    documents: list[Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        for n, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{n}: not JSON ({exc.msg})") from exc


def beir_document(doc_id: str, title: str, body: str) -> Document:
    """A BEIR record as a Document: the title is its heading, the abstract its body."""
    title, body = " ".join(title.split()), " ".join(body.split())
    blocks, text = [], ""
    if title:
        blocks.append(Block("heading", 0, len(title), 1))
        text = title
    if body:
        start = len(text) + 2 if text else 0
        text = f"{text}\n\n{body}" if text else body
        blocks.append(Block("para", start, len(text)))
    return Document(doc_id=doc_id, path=f"beir:{doc_id}", title=title or doc_id, text=text,
                    pages=[Page(None, 0, len(text))], blocks=blocks)


def load_beir(folder: Path, split: str = "test") -> Beir:
    for need in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (folder / need).is_file():
            raise FileNotFoundError(f"{folder / need}: missing (a BEIR folder has corpus.jsonl, "
                                    f"queries.jsonl and qrels/{split}.tsv)")
    docs = [beir_document(str(r["_id"]), r.get("title", ""), r.get("text", ""))
            for r in _jsonl(folder / "corpus.jsonl")]
    qrels: dict[str, dict[str, int]] = {}
    for n, line in enumerate((folder / f"qrels/{split}.tsv").read_text().splitlines()):
        parts = line.split("\t")
        if n == 0 and not parts[-1].strip().lstrip("-").isdigit():
            continue  # header
        if len(parts) >= 3:
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    queries = {str(r["_id"]): r["text"] for r in _jsonl(folder / "queries.jsonl")
               if str(r["_id"]) in qrels}
    return Beir(folder.resolve().name, docs, queries, qrels)


def beir_index(data: Beir, folder: Path, cache_root: Path, settings: Settings,
               progress: bool = True) -> tuple[Index, bool]:
    """The cached index for this BEIR corpus and settings; built on first use."""
    stat = (folder / "corpus.jsonl").stat()
    key = hashlib.sha256(json.dumps([str(folder.resolve()), stat.st_size, stat.st_mtime_ns,
                                     settings.to_dict(), SENTENCE_VECTORS,
                                     get_embedder(settings.model, "index").runtime]
                                    ).encode()).hexdigest()[:12]
    directory = cache_root / f"beir-{data.name}-{key}"
    built = False
    store = open_store(directory)
    if store.peek_manifest() is None:
        add_documents(store, data.documents, settings, progress=progress)
        built = True
    return Index(store=store), built


def doc_ranking(hits: Sequence[Hit], depth: int) -> dict[str, float]:
    """Passages to documents: a document ranks where its best passage ranks."""
    ranking: dict[str, float] = {}
    for n, hit in enumerate(hits):
        if hit.doc_id not in ranking:
            ranking[hit.doc_id] = float(len(hits) - n)  # rank-preserving score
        if len(ranking) >= depth:
            break
    return ranking


def evaluate_beir(index: Index, data: Beir, mode: str, k: int = 10, depth: int = 100,
                  fusion: Fusion | None = None) -> dict[str, float]:
    """nDCG@k and MRR@k from the list a user gets (2k passages, ranked as for the page: the
    final stage over its usual depth); Recall@depth from a deep list of its own."""
    top: dict[str, dict[str, float]] = {}
    deep: dict[str, dict[str, float]] = {}
    index.search("warm up", k=1, mode=mode)  # model load is not query time
    started = time.perf_counter()
    for qid, text in data.queries.items():
        hits = index.search(text, k=2 * k, mode=mode, highlight=False, fusion=fusion)
        top[qid] = doc_ranking(hits, k)
    per_query_ms = (time.perf_counter() - started) * 1000 / max(1, len(data.queries))
    for qid, text in data.queries.items():
        hits = index.search(text, k=depth + depth // 5, mode=mode, highlight=False,
                            fusion=fusion)
        deep[qid] = doc_ranking(hits, depth)
    scores = pytrec_eval.RelevanceEvaluator(data.qrels, {f"ndcg_cut.{k}"}).evaluate(top)
    recall = pytrec_eval.RelevanceEvaluator(data.qrels, {f"recall.{depth}"}).evaluate(deep)
    rr = pytrec_eval.RelevanceEvaluator(data.qrels, {"recip_rank"}).evaluate(top)
    return {
        f"nDCG@{k}": statistics.mean(v[f"ndcg_cut_{k}"] for v in scores.values()),
        f"Recall@{depth}": statistics.mean(v[f"recall_{depth}"] for v in recall.values()),
        f"MRR@{k}": statistics.mean(v["recip_rank"] for v in rr.values()),
        "ms/query": per_query_ms,
        "queries": len(data.queries),
    }


# -- the product's own question files ---------------------------------------------------------
KINDS = ("everyday", "exact", "figure", "multi", "unanswerable", "keyword", "misspelt",
         "absent")


@dataclass
class Question:
    """A question with verbatim gold spans, or a keyword search with the term it is after
    (any passage holding the term answers it; an "absent" search's term is in no document)."""

    id: str
    question: str
    answers: list[str]
    kind: str = ""
    spans: list[tuple[str, int, int]] = field(default_factory=list)  # (doc_id, start, end)
    term: str | None = None  # keyword searches: what a right passage holds

    @property
    def answerable(self) -> bool:
        return bool(self.answers) or self.term is not None

    def relevant(self, hit: Hit) -> bool:
        if self.term is not None:
            return holds_term(hit.text, self.term)
        return any(covers(hit, s) for s in self.spans)

    @property
    def split(self) -> str:
        return split_of(self.question)


def holds_term(text: str, term: str) -> bool:
    """Whether the text holds the term, ignoring case and spacing."""
    return " ".join(term.split()).casefold() in " ".join(text.split()).casefold()


def split_of(question: str) -> str:
    """"dev" or "test", fixed by a hash of the question's text: tune on dev, report test."""
    digest = hashlib.sha256(" ".join(question.split()).lower().encode("utf-8")).digest()
    return "dev" if digest[0] % 2 == 0 else "test"


def _squash(text: str) -> tuple[str, list[int]]:
    """Whitespace-collapsed text with a map back to original offsets."""
    out, where, space = [], [], False
    for i, ch in enumerate(text):
        if ch.isspace():
            if not space and out:
                out.append(" ")
                where.append(i)
            space = True
        else:
            out.append(ch)
            where.append(i)
            space = False
    return "".join(out), where


def load_questions(path: Path, index: Index, split: str = "all") -> list[Question]:
    """Read a question file (the rows of one split, or all) and find every gold span in the
    indexed documents' text."""
    with index.snapshot() as snap:
        texts = {d.doc_id: snap.document_text(d.doc_id) or "" for d in snap.documents()}
    squashed = {d: _squash(t) for d, t in texts.items()}
    questions = []
    for n, row in enumerate(_jsonl(path), start=1):
        if "query" in row:  # a keyword search: {"query", "term", "kind"}
            kind = row.get("kind", "keyword")
            q = Question(str(row.get("id", n)), row["query"], [], kind,
                         term=None if kind == "absent" else row["term"])
            if split == "all" or q.split == split:
                if q.term is not None and not any(holds_term(t, q.term) for t in texts.values()):
                    raise ValueError(f"{path}:{n}: term of {q.id} is in no indexed document: "
                                     f"{q.term[:60]!r}")
                questions.append(q)
            continue
        q = Question(str(row.get("id", n)), row["question"], list(row.get("answers", [])),
                     row.get("kind", ""))
        if split != "all" and q.split != split:
            continue
        for answer in q.answers:
            needle = " ".join(answer.replace("**", "").split())
            found = [(d, where[pos], where[pos + len(needle) - 1] + 1)
                     for d, (flat, where) in squashed.items()
                     if (pos := flat.find(needle)) >= 0]
            if not found:
                raise ValueError(f"{path}:{n}: answer of {q.id} not found verbatim in any "
                                 f"indexed document: {answer[:60]!r}")
            q.spans.append(found[0])
        questions.append(q)
    return questions


def covers(hit: Hit, span: tuple[str, int, int]) -> bool:
    doc_id, start, end = span
    overlap = min(hit.end, end) - max(hit.start, start)
    return hit.doc_id == doc_id and overlap >= 0.5 * (end - start)


@dataclass(frozen=True)
class Outcome:
    """One question's result: found (every gold span in the top 5), reciprocal rank of the
    first gold passage in the top 10, and whether the weak flag told the truth."""

    question: Question
    found: bool
    reciprocal_rank: float
    weak_right: bool
    confidence: float  # of the best hit
    top_right: bool = False  # the first hit answers and is not labelled weak


def outcomes(index: Index, questions: Sequence[Question], mode: str,
             fusion: Fusion | None = None, k: int = 10) -> list[Outcome]:
    out = []
    for q in questions:
        hits = index.search(q.question, k=k, mode=mode, highlight=False, fusion=fusion)
        weak = results_weak(hits)
        top5 = hits[:5]
        if q.term is not None:
            found = any(q.relevant(h) for h in top5)
        else:
            found = bool(q.spans) and all(any(covers(h, s) for h in top5) for s in q.spans)
        first = next((n for n, h in enumerate(hits[:10], 1) if q.relevant(h)), None)
        out.append(Outcome(q, found, 1.0 / first if first else 0.0, weak != q.answerable,
                           max((h.confidence for h in hits), default=0.0),
                           first == 1 and not hits[0].weak))
    return out


def summarise(results: Sequence[Outcome]) -> dict[str, float]:
    answerable = [r for r in results if r.question.answerable]
    unanswerable = [r for r in results if not r.question.answerable]
    row: dict[str, float] = {"questions": float(len(results))}
    if answerable:
        row["success@5"] = statistics.mean(r.found for r in answerable)
        row["MRR@10"] = statistics.mean(r.reciprocal_rank for r in answerable)
        row["weak right (answerable)"] = statistics.mean(r.weak_right for r in answerable)
        row["#1 right, not weak"] = statistics.mean(r.top_right for r in answerable)
    if unanswerable:
        row["weak right (unanswerable)"] = statistics.mean(r.weak_right for r in unanswerable)
    return row


def evaluate_questions(index: Index, questions: Sequence[Question], mode: str,
                       k: int = 10, fusion: Fusion | None = None,
                       highlights: bool = True) -> dict[str, dict[str, float]]:
    """Per kind and over all questions: success@5, MRR@10, weak-flag accuracy; plus query
    time and (with `highlights`) how often the first highlight lands on the answer."""
    index.search("warm up", k=1, mode=mode)  # model load is not query time
    started = time.perf_counter()
    results = outcomes(index, questions, mode, fusion, k)
    elapsed = time.perf_counter() - started
    table = {"all": summarise(results)}
    table["all"]["ms/query"] = elapsed * 1000 / max(1, len(questions))
    if highlights:
        table["all"]["highlight on answer"] = highlight_accuracy(index, questions, mode, fusion)
    for kind in dict.fromkeys([*KINDS, *(q.kind for q in questions)]):
        group = [r for r in results if r.question.kind == kind]
        if group:
            table[kind] = summarise(group)
    return table


def highlight_accuracy(index: Index, questions: Sequence[Question], mode: str,
                       fusion: Fusion | None = None) -> float:
    """Of the top-5 hits that hold a gold answer, the share whose first highlighted sentence
    overlaps it: does the page point the reader at the answer?"""
    right = []
    for q in questions:
        if not q.answerable:
            continue
        for hit in index.search(q.question, k=5, mode=mode, fusion=fusion):
            if q.term is not None and q.relevant(hit) and hit.highlights:
                a, b = hit.highlights[0]
                right.append(holds_term(hit.text[a:b], q.term))
            for doc_id, start, end in q.spans:
                if hit.doc_id == doc_id and hit.start < end and start < hit.end \
                        and hit.highlights:
                    a, b = hit.highlights[0]
                    right.append(hit.start + a < end and start < hit.start + b)
    return float(statistics.mean(right)) if right else 0.0


def shuffled_queries(queries: Sequence[str], seed: int = 13) -> list[str]:
    """Word salad with the vocabulary of real queries: on-domain words, no question."""
    rng = random.Random(seed)
    words = [w for q in queries for w in q.split()]
    out = []
    for q in queries:
        out.append(" ".join(rng.sample(words, max(3, len(q.split())))))
    return out
