"""Fit the confidence model behind `Hit.confidence`, its labels and the weak flag.

    .venv/bin/python eval/calibrate.py [--model fast|quality] [--write] [--test]

P(the passage answers | features) is a logistic model over the signals of
search/retrieve/confidence.py (FEATURES), computed by the product's own search pass
(Index.run) for the top 10 hits of each query. Each hit is labelled by whether it answers:

  dev questions      hits that cover a gold span (eval/questions.jsonl, corpus index); the
                     dev traps (questions nothing answers) have none
  dev keyword        hits holding the searched term (eval/keyword_queries.jsonl); "absent"
    searches         searches, whose term no document holds, have none
  SciFact claims     hits from a relevant abstract (SciFact index), when one is built
  off-topic          SciFact claims asked of the corpus, corpus questions asked of SciFact,
                     shuffled claims (on-domain word salad): none

The first hit of each query weighs most (it sets the result list's label: confidence never
rises down the list), each group weighs the same in total. `--write` stores the coefficients
in search/retrieve/calibration.json under the model (and reader) name. The report gives, per
group, how often the weak flag is right and how often a keyword search's first hit is right
and not weak; `--test` reports the test split instead of dev (once, after fitting).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from search import Index  # noqa: E402
from search.config import Settings, default_model  # noqa: E402
from search.evaluate import (  # noqa: E402
    Question,
    beir_index,
    load_beir,
    load_questions,
    shuffled_queries,
)
from search.retrieve import fitted  # noqa: E402
from search.retrieve.confidence import (  # noqa: E402
    FEATURES,
    WEAK_BELOW,
    features,
    probabilities,
)

FIRST_WEIGHT = 1.0  # the first hit's label decides the list's label
OTHER_WEIGHT = 0.05  # each further hit
L2 = 1e-3


@dataclass
class Record:
    """One query's top hits: their features, and which of them answer."""

    query: str
    x: np.ndarray  # hits x FEATURES
    relevant: np.ndarray  # bool per hit
    answerable: bool
    kind: str


def records(index: Index, queries: list[tuple[str, str, object]]) -> list[Record]:
    """(query, kind, judge) triples, judge(hit) -> bool or None for a query nothing answers."""
    out = []
    for text, kind, judge in queries:
        searched = index.run(index.query(text, k=10, highlight=False))
        x = features(searched.found, text)
        rel = np.array([bool(judge(h)) if judge else False for h in searched.hits], dtype=bool)
        out.append(Record(text, x if len(x) else np.zeros((0, len(FEATURES))), rel,
                          judge is not None, kind))
    return out


def question_queries(questions: list[Question]) -> list[tuple[str, str, object]]:
    return [(q.question, q.kind, q.relevant if q.answerable else None) for q in questions]


def fit(groups: dict[str, list[Record]], l2: float = L2, first: str = "answerable",
        scale: dict[str, float] | None = None, unused: tuple[str, ...] = ("reader",)
        ) -> np.ndarray:
    """Weighted logistic regression by Newton steps; returns (bias, *weights). The first
    hit is labelled by whether the query has an answer in the documents (`first`
    "answerable": its label is the list's), or like the others by whether it answers
    ("hit")."""
    xs, ys, ws = [], [], []
    for name, recs in groups.items():
        weight = (scale or {}).get(name, 1.0)
        if not weight:
            continue  # reported, not fitted
        total = sum(FIRST_WEIGHT + OTHER_WEIGHT * max(0, len(r.x) - 1) for r in recs) / weight
        for r in recs:
            for n, (row, rel) in enumerate(zip(r.x, r.relevant, strict=True)):
                xs.append(row)
                ys.append(float(r.answerable if n == 0 and first == "answerable" else rel))
                ws.append((FIRST_WEIGHT if n == 0 else OTHER_WEIGHT) / (total or 1.0))
    x = np.hstack([np.ones((len(xs), 1)), np.array(xs)])
    y, w = np.array(ys), np.array(ws)
    # features held at 0: those not used (the reader's logit measured no help as an
    # answerability signal: docs/EVALUATION.md), and those that took the wrong sign
    fixed: set[int] = {1 + FEATURES.index(n) for n in unused}
    while True:
        beta = _newton(x, y, w, l2, fixed)
        wrong = [1 + FEATURES.index(n) for n in AT_MOST_ZERO if beta[1 + FEATURES.index(n)] > 0]
        if not wrong:
            return beta
        fixed.update(wrong)


# Signals that can only count against a passage: boilerplate and a missing answer type never
# make it likelier to answer, and a lower rank never makes it likelier than a higher one. A
# fit that gives one a positive weight (a quirk of the groups) holds it at zero instead.
AT_MOST_ZERO = ("boilerplate", "type_miss", "position")


def _newton(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float,
            fixed: set[int]) -> np.ndarray:
    free = [j for j in range(x.shape[1]) if j not in fixed]
    xf = x[:, free]
    beta = np.zeros(len(free))
    penalty = l2 * np.eye(len(free))
    penalty[0, 0] = 0.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-(xf @ beta)))
        grad = xf.T @ (w * (p - y)) + penalty @ beta
        hess = (xf * (w * p * (1 - p))[:, None]).T @ xf + penalty + 1e-9 * np.eye(len(free))
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    out = np.zeros(x.shape[1])
    out[free] = beta
    return out


def confidences(beta: np.ndarray, r: Record) -> list[float]:
    return probabilities(r.x, float(beta[0]), beta[1:])


@dataclass
class Scores:
    n: int
    weak_right: float  # list weak exactly when nothing in it answers the query
    top_right: float | None  # answerable: first hit answers and is not weak
    labels_right: float  # hits: weak where they do not answer, not weak where they do


def score(beta: np.ndarray, recs: list[Record]) -> Scores:
    weak_right, top, labels = [], [], []
    for r in recs:
        conf = confidences(beta, r)
        weak = not conf or conf[0] < WEAK_BELOW
        weak_right.append(weak != r.answerable)
        if r.answerable:
            top.append(bool(len(r.relevant) and r.relevant[0] and not weak))
        labels += [(c >= WEAK_BELOW) == bool(rel) for c, rel in zip(conf, r.relevant,
                                                                        strict=True)]
    return Scores(len(recs), statistics.mean(weak_right) if weak_right else 0.0,
                  statistics.mean(top) if top else None,
                  statistics.mean(labels) if labels else 0.0)


def report(beta: np.ndarray, groups: dict[str, list[Record]]) -> None:
    print("| group | n | weak flag right | #1 right, not weak | hit labels right |")
    print("|---|---|---|---|---|")
    for name, recs in groups.items():
        s = score(beta, recs)
        top = f"{s.top_right:.3f}" if s.top_right is not None else ""
        print(f"| {name} | {s.n} | {s.weak_right:.3f} | {top} | {s.labels_right:.3f} |")


def reliability(beta: np.ndarray, recs: list[Record]) -> None:
    """Per confidence band: hits there and the share that answer."""
    rows = [(c, bool(rel)) for r in recs for c, rel in zip(confidences(beta, r), r.relevant,
                                                              strict=True)]
    print("| confidence | label | hits | share that answer |")
    print("|---|---|---|---|")
    for low, high, name in ((0, .25, "weak match"), (.25, .5, "weak match"),
                            (.5, .8, "possible match"), (.8, 1.01, "strong match")):
        band = [rel for c, rel in rows if low <= c < high]
        share = f"{sum(band) / len(band):.2f}" if band else "-"
        print(f"| {low:.2f}–{min(high, 1):.2f} | {name} | {len(band)} | {share} |")


def split_groups(index: Index, split: str) -> dict[str, list[Record]]:
    questions = load_questions(ROOT / "eval/questions.jsonl", index, split)
    keywords = load_questions(ROOT / "eval/keyword_queries.jsonl", index, split)
    return {
        f"{split} questions with answers": records(index, question_queries(
            [q for q in questions if q.answerable])),
        f"{split} traps (nothing answers)": records(index, question_queries(
            [q for q in questions if not q.answerable])),
        f"{split} keyword searches": records(index, question_queries(
            [q for q in keywords if q.kind == "keyword"])),
        f"{split} misspelt keyword searches": records(index, question_queries(
            [q for q in keywords if q.kind == "misspelt"])),
        f"{split} absent-term searches": records(index, question_queries(
            [q for q in keywords if q.kind == "absent"])),
    }


def sweep(groups: dict[str, list[Record]], traps: str, first: str) -> None:
    """How answers, traps and keyword searches fare as the traps weigh more in the fit."""
    names = [n for n in groups if "questions with answers" in n or n == traps
             or "keyword searches" in n or "SciFact claims on SciFact" in n]
    print("| trap weight | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for weight in (0.0, 0.1, 0.25, 0.5, 1.0, 2.0):
        beta = fit(groups, first=first, scale={traps: weight})
        cells = []
        for name in names:
            s = score(beta, groups[name])
            cells.append(f"{s.weak_right:.3f}" if s.top_right is None
                         else f"{s.weak_right:.3f} / {s.top_right:.3f}")
        print(f"| {weight} | " + " | ".join(cells) + " |")
    print("(weak flag right; for answerable groups also: #1 right and not weak)\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--beir", type=Path, default=ROOT.parent / "shared/bench/scifact")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--model", default=default_model(), help="fast, quality or a name")
    parser.add_argument("--no-beir-index", action="store_true",
                        help="fit without a SciFact index of this model (slow to build)")
    parser.add_argument("--trap-weight", type=float, default=1.0,
                        help="weight of the dev traps against each other group (0: left out)")
    parser.add_argument("--first", choices=["answerable", "hit"], default="answerable",
                        help="what the first hit's label is: the query's, or its own")
    parser.add_argument("--reader-feature", action="store_true",
                        help="let the reader's logit into the confidence model")
    parser.add_argument("--sweep", action="store_true",
                        help="first print the trade-off over trap weights 0 to 2")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--test", action="store_true",
                        help="report on the test split (once, after fitting), not dev")
    args = parser.parse_args()

    settings = Settings(model=args.model)
    corpus = Index(ROOT / "index" / f"eval-corpus-{settings.model}", model=settings.model)
    corpus.refresh([args.corpus])
    with corpus.snapshot() as view:
        reader = corpus.searcher(view.manifest).reader
    dev = split_groups(corpus, "dev")
    data = load_beir(args.beir)
    claims = list(data.queries.values())
    asked = [q.question for q in load_questions(ROOT / "eval/questions.jsonl", corpus, "dev")]
    groups = dict(dev)
    traps = "dev traps (nothing answers)"
    groups["SciFact claims on the corpus (off-topic)"] = records(
        corpus, [(c, "off-topic", None) for c in claims])
    if not args.no_beir_index:
        beir, _ = beir_index(data, args.beir, ROOT / "index", settings)
        docs = {qid: {d for d, v in rel.items() if v > 0} for qid, rel in data.qrels.items()}
        groups["SciFact claims on SciFact"] = records(
            beir, [(data.queries[q], "scifact", lambda h, d=docs[q]: h.doc_id in d)
                   for q in data.queries])
        groups["corpus questions on SciFact (off-topic)"] = records(
            beir, [(q, "off-topic", None) for q in asked])
        groups["shuffled claims on SciFact (word salad)"] = records(
            beir, [(q, "salad", None) for q in shuffled_queries(claims)])
    if args.sweep:
        sweep(groups, traps, args.first)
    beta = fit(groups, first=args.first, scale={traps: args.trap_weight},
               unused=() if args.reader_feature else ("reader",))
    print(f"model: {settings.model}; reader: {reader.name if reader else 'none'}")
    print(f"coefficients: bias={beta[0]:.3f} " +
          " ".join(f"{n}={v:.3f}" for n, v in zip(FEATURES, beta[1:], strict=True)))
    print("\nfitted groups")
    report(beta, groups)
    if args.test:
        test = split_groups(corpus, "test")
        print("\ntest split (not fitted)")
        report(beta, test)
        reliability(beta, [r for g in test.values() for r in g])
    else:
        print("\ndev split reliability (fitted)")
        reliability(beta, [r for g in dev.values() for r in g])
    if args.write:
        fitted.write(settings.model, reader.name if reader else None, "confidence", {
            "bias": round(float(beta[0]), 4),
            "weights": {n: round(float(v), 4) for n, v in zip(FEATURES, beta[1:], strict=True)},
            "fitted_on": list(groups)})
        print(f"written to {fitted.FITTED_FILE}")


if __name__ == "__main__":
    main()
