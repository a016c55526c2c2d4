"""Fit and measure the ranking weights (search/retrieve/ranking.py) on the dev split and SciFact.

    .venv/bin/python eval/tune.py [--split dev] [--beir ../shared/bench/scifact] [--search]

For every question it records, once, what the product's retrieval sees: the meaning list and
the word list (top 50 each, with scores) and, for each candidate, the passage's cosine, its
best sentence's cosine, its rare-word coverage and its headings' coverage. Ranking variants
are then replayed from these records in milliseconds through the same functions the product
calls (ranking.lexical_trust, ranking.weighted_rrf, ranking.final_scores). Without --search it
prints what each signal is worth (ablation from the shipped weights); with --search it also
runs a coordinate search over the weights, maximising the mean of dev MRR@10 and SciFact
nDCG@10, and prints the best. Collapse of overlapping passages is not replayed, so the numbers
here sit slightly off the `evidence-search eval` ones; the final numbers come from there.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from search import Index  # noqa: E402
from search.config import Settings, default_model  # noqa: E402
from search.embed.embedder import query_embedder  # noqa: E402
from search.evaluate import beir_index, load_beir, load_questions  # noqa: E402
from search.retrieve import fitted, ranking  # noqa: E402
from search.retrieve.pipeline import reader_window  # noqa: E402
from search.retrieve.query import QueryTerms  # noqa: E402

DEPTH = 50
READ_DEPTH = 12  # candidates given a reader logit: beyond the deepest reader_depth tried


@dataclass
class Record:
    """What retrieval saw for one question, and which candidates are relevant."""

    dense: list[tuple[int, float]]
    lexical: list[tuple[int, float]]
    passage: dict[int, float]
    sentence: dict[int, float]
    coverage: dict[int, float]
    heading: dict[int, float]
    relevant: dict[int, int]  # candidate -> gold group (span number, or doc id hash)
    groups: int  # gold groups there are (spans; relevant documents for BEIR)
    doc: dict[int, str]
    reader: dict[int, float] = field(default_factory=dict)  # logits, where one was read


def record(index: Index, question: str, label, reader=None,
           weights: ranking.Weights = ranking.WEIGHTS) -> Record:
    with index.snapshot() as snap:
        embedder = query_embedder(snap.manifest.model, snap.manifest.backend)
        vector = embedder.encode([question])[0]
        qt = QueryTerms.of(snap, question)
        dense = snap.search_vectors(vector, DEPTH)
        lexical = snap.search_lexical(qt.lexical_query(question, snap.count), DEPTH)
        ids = list(dict.fromkeys([i for i, _ in dense] + [i for i, _ in lexical]))
        rows = snap.chunks(ids)
        vectors = snap.vectors_of(ids)
        stored = snap.sentences(ids)
    passage = dict(zip(ids, (vectors @ vector).tolist(), strict=True))
    sentence = {i: float(np.max(stored[i].vectors @ vector)) if i in stored else passage[i]
                for i in ids}
    scores = {i: list(zip(stored[i].spans, (stored[i].vectors @ vector).tolist(), strict=True))
              if i in stored else [] for i in ids}
    coverage = {i: qt.coverage(rows[i].text) for i in ids if i in rows}
    heading = {i: qt.coverage(" ".join([rows[i].title, *rows[i].section])) for i in ids
               if i in rows}
    relevant, groups = label(rows)
    rec = Record(dense, lexical, passage, sentence, coverage, heading, relevant, groups,
                 {i: rows[i].doc_id for i in ids if i in rows})
    if reader is not None:  # the reader's logit for every candidate the replay may reach
        top = [i for i in rank(rec, weights)[:READ_DEPTH] if i in rows]
        logits = reader.score(question, [reader_window(rows[i].text, scores[i]) for i in top])
        rec.reader = dict(zip(top, logits.tolist(), strict=True))
    return rec


def rank(rec: Record, w: ranking.Weights, mode: str = "hybrid", rerank: bool = True) -> list[int]:
    if mode == "semantic":
        return [i for i, _ in rec.dense]
    if mode == "lexical":
        return [i for i, _ in rec.lexical]
    if mode == "rrf":
        return [i for i, _ in ranking.weighted_rrf(rec.dense, rec.lexical, 1.0, 1.0)]
    top_cov = rec.coverage.get(rec.lexical[0][0], 0.0) if rec.lexical else 0.0
    trust = ranking.lexical_trust(top_cov, ranking.agreement(
        [i for i, _ in rec.dense], [i for i, _ in rec.lexical]), w)
    fused = ranking.weighted_rrf(rec.dense, rec.lexical, 1.0, trust, w.rrf_k)
    if not rerank:
        return [i for i, _ in fused]
    top = [(i, s) for i, s in fused[:30] if i in rec.coverage]
    ids = [i for i, _ in top]
    scores = ranking.final_scores(
        np.array([rec.passage[i] for i in ids]), np.array([rec.sentence[i] for i in ids]),
        np.array([s for _, s in top]), np.array([rec.coverage[i] for i in ids]),
        np.array([rec.heading[i] for i in ids]), trust, w)
    order = sorted(range(len(ids)), key=lambda n: (-scores[n], ids[n]))
    ranked = [ids[n] for n in order] + [i for i, _ in fused[30:]]
    top = ranked[:w.reader_depth]
    if w.reader and rec.reader and len(top) > 1:
        bonus = ranking.standardise(np.array([rec.reader.get(i, 0.0) for i in top]))
        final = {i: float(scores[ids.index(i)]) + w.reader * b
                 for i, b in zip(top, bonus.tolist(), strict=True)}
        top = sorted(top, key=lambda i: (-final[i], i))
    return top + ranked[len(top):]


def question_scores(rec: Record, ranked: list[int]) -> tuple[float, float]:
    """(found: every gold span in the top 5, reciprocal rank of the first in the top 10)."""
    top5 = {rec.relevant[i] for i in ranked[:5] if i in rec.relevant}
    first = next((n for n, i in enumerate(ranked[:10], 1) if i in rec.relevant), None)
    return float(len(top5) == rec.groups), 1.0 / first if first else 0.0


def ndcg10(rec: Record, ranked: list[int]) -> float:
    """Documents rank where their best passage ranks; binary gains."""
    docs: list[str] = []
    for i in ranked:
        d = rec.doc.get(i)
        if d is not None and d not in docs:
            docs.append(d)
        if len(docs) == 10:
            break
    relevant_docs = {rec.doc[i] for i in rec.relevant}
    dcg = sum(1 / math.log2(n + 2) for n, d in enumerate(docs) if d in relevant_docs)
    ideal = sum(1 / math.log2(n + 2) for n in range(min(10, rec.groups)))
    return dcg / ideal if ideal else 0.0


def corpus_records(split: str, model: str, reader=None) -> tuple[list[Record], list[str]]:
    index = Index(ROOT / "index" / f"eval-corpus-{model}", model=model)
    index.refresh([ROOT / "corpus"])
    questions = [q for q in load_questions(ROOT / "eval" / "questions.jsonl", index, split)
                 if q.answerable]

    def labeller(spans):
        def label(rows):
            relevant = {}
            for i, row in rows.items():
                for n, (doc, start, end) in enumerate(spans):
                    if row.doc_id == doc and min(row.end, end) - max(row.start, start) \
                            >= 0.5 * (end - start):
                        relevant[i] = n
            return relevant, len(spans)
        return label

    w = ranking.weights_for(model)
    return ([record(index, q.question, labeller(q.spans), reader, w) for q in questions],
            [q.kind for q in questions])


def beir_records(folder: Path, model: str, reader=None) -> list[Record]:
    data = load_beir(folder)
    index, _ = beir_index(data, folder, ROOT / "index", Settings(model=model))
    out = []
    for qid, text in data.queries.items():
        gold = data.qrels[qid]

        def label(rows, gold=gold):
            return ({i: 0 for i, r in rows.items() if gold.get(r.doc_id, 0) > 0},
                    sum(1 for v in gold.values() if v > 0))
        out.append(record(index, text, label, reader, ranking.weights_for(model)))
    return out


def report(name: str, corpus: list[Record], kinds: list[str], beir: list[Record],
           w: ranking.Weights) -> float:
    rows = []
    for label, mode, rr in (("semantic", "semantic", False), ("lexical", "lexical", False),
                            ("rrf (old default)", "rrf", False),
                            ("adaptive fusion", "hybrid", False),
                            ("adaptive + final ranking", "hybrid", True)):
        found, mrr = zip(*(question_scores(r, rank(r, w, mode, rr)) for r in corpus),
                         strict=True)
        every = [f for f, k in zip(found, kinds, strict=True) if k == "everyday"]
        nd = statistics.mean(ndcg10(r, rank(r, w, mode, rr)) for r in beir) if beir else 0.0
        rows.append((label, statistics.mean(found), statistics.mean(every),
                     statistics.mean(mrr), nd))
    print(f"\n{name}")
    print("| ranking | success@5 | everyday success@5 | MRR@10 | SciFact nDCG@10 |")
    print("|---|---|---|---|---|")
    for label, f, e, m, nd in rows:
        print(f"| {label} | {f:.4f} | {e:.4f} | {m:.4f} | {nd:.4f} |")
    return rows[-1][3]


def objective(corpus: list[Record], beir: list[Record], w: ranking.Weights) -> float:
    mrr = statistics.mean(question_scores(r, rank(r, w))[1] for r in corpus)
    nd = statistics.mean(ndcg10(r, rank(r, w)) for r in beir) if beir else mrr
    return (mrr + nd) / 2


def search(corpus: list[Record], beir: list[Record], w: ranking.Weights) -> ranking.Weights:
    grid = {
        "rrf_k": [20, 40, 60, 100],
        "trust_bias": [-6, -4, -3, -2, -1, 0],
        "trust_coverage": [0, 2, 4, 6, 8, 10],
        "trust_agreement": [0, 2, 4, 6],
        "passage": [0, 0.5, 1, 1.5, 2],
        "sentence": [0, 0.25, 0.5, 0.75, 1, 1.5, 2],
        "fused": [0, 0.5, 1, 1.5, 2],
        "coverage": [0, 0.5, 1, 2, 3, 4, 6],
        "heading": [0, 0.5, 1, 2],
    }
    if any(r.reader for r in corpus):
        grid["reader"] = [0, 0.25, 0.5, 1, 1.5, 2, 3]
        grid["reader_depth"] = [4, 6, 8]  # deeper is over the latency budget
    best = objective(corpus, beir, w)
    for _ in range(3):
        improved = False
        for name, values in grid.items():
            for v in values:
                trial = replace(w, **{name: v})
                score = objective(corpus, beir, trial)
                if score > best + 1e-4:
                    best, w, improved = score, trial, True
        print(f"  round: objective {best:.4f} {w}")
        if not improved:
            break
    return w


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="dev", choices=["dev", "test", "all"])
    parser.add_argument("--beir", type=Path, default=ROOT.parent / "shared/bench/scifact")
    parser.add_argument("--no-beir", action="store_true")
    parser.add_argument("--search", action="store_true")
    parser.add_argument("--model", default=default_model(), help="fast, quality or a name")
    parser.add_argument("--reader", action="store_true",
                        help="replay with the reader model's logits (search/reader)")
    parser.add_argument("--write", action="store_true",
                        help="with --search: store the weights found for this model")
    args = parser.parse_args()
    model = Settings(model=args.model).model
    reader = None
    if args.reader:
        from search.reader import load_reader

        reader = load_reader()
    corpus, kinds = corpus_records(args.split, model, reader)
    beir = [] if args.no_beir else beir_records(args.beir, model, reader)
    name = reader.name if reader else None
    w = ranking.weights_for(model, name)
    report(f"shipped weights, {args.split} split ({len(corpus)} answerable)", corpus, kinds,
           beir, w)
    for signal in ("passage", "sentence", "fused", "coverage", "heading", "reader"):
        if getattr(w, signal):
            report(f"without {signal}", corpus, kinds, beir, replace(w, **{signal: 0.0}))
    if args.search:
        w = search(corpus, beir, w)
        report("searched weights", corpus, kinds, beir, w)
        print(w)
        if args.write:
            fitted.write(model, name, "ranking", asdict(w))
            print(f"written to {fitted.FITTED_FILE}")


if __name__ == "__main__":
    main()
