"""Fit the confidence model behind `Hit.confidence` and the weak flag.

    .venv/bin/python eval/calibrate.py [--beir ../shared/bench/scifact] [--write]

P(answerable | similarity, coverage) is a logistic model over one passage's cosine similarity
to the question and the share of the question's rare-word weight it contains. A result list is
weak when none of its passages reaches one half. Data, each group weighted equally:

  positives  corpus questions with answers (eval/corpus_queries.jsonl, corpus index)
             SciFact test claims (SciFact index)
  negatives  corpus questions without answers (corpus index)
             SciFact claims asked of the corpus index (off-topic)
             corpus questions asked of the SciFact index (off-topic)
             shuffled SciFact claims: on-domain word salad (SciFact index)

Features come from the passage in the top 10 hybrid hits that the model rates highest (fitted
in three rounds, since that choice depends on the model). `--write` stores the coefficients in
search/calibration.json under the model's name. The script also reports a held-out check:
fitted without the corpus questions, how accurate is the weak flag on them?
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from search import Index  # noqa: E402
from search.confidence import CALIBRATION_FILE  # noqa: E402
from search.config import Settings  # noqa: E402
from search.evaluate import beir_index, load_beir, load_questions, shuffled_queries  # noqa: E402
from search.lexical import coverage, term_weights, terms  # noqa: E402


def features(index: Index, questions: list[str]) -> list[np.ndarray]:
    """Per question, (similarity, coverage) of each of its top 10 hybrid hits."""
    snap = index.snapshot()
    out = []
    for q in questions:
        hits = index.search(q, k=10, highlight=False)
        qt = terms(q)
        weights = term_weights(qt, snap.doc_freq, max(1, snap.count))
        out.append(np.array([[h.similarity, coverage(qt, h.text, weights)] for h in hits]
                            or [[0.0, 0.0]]))
    return out


def fit(groups: list[tuple[list[np.ndarray], int]], rounds: int = 3) -> np.ndarray:
    """Weighted logistic regression (Newton steps, light L2); returns (bias, w_sim, w_cov)."""
    beta = np.array([-8.0, 14.0, 3.0])
    for _ in range(rounds):
        xs, ys, ws = [], [], []
        for feats, label in groups:
            for f in feats:
                logits = beta[0] + f @ beta[1:]
                xs.append(f[int(np.argmax(logits))])
                ys.append(label)
                ws.append(1.0 / len(feats))
        x = np.hstack([np.ones((len(xs), 1)), np.array(xs)])
        y, w = np.array(ys, dtype=float), np.array(ws)
        b = np.zeros(3)
        for _ in range(50):
            p = 1 / (1 + np.exp(-(x @ b)))
            grad = x.T @ (w * (p - y)) + 1e-3 * b
            hess = (x * (w * p * (1 - p))[:, None]).T @ x + 1e-3 * np.eye(3)
            b -= np.linalg.solve(hess, grad)
        beta = b
    return beta


def accuracy(beta: np.ndarray, groups: list[tuple[list[np.ndarray], int]]) -> float:
    right = total = 0
    for feats, label in groups:
        for f in feats:
            strong = bool(np.max(beta[0] + f @ beta[1:]) >= 0)
            right += strong == bool(label)
            total += 1
    return right / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--beir", type=Path, default=ROOT.parent / "shared/bench/scifact")
    parser.add_argument("--queries", type=Path, default=ROOT / "eval/corpus_queries.jsonl")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    settings = Settings()
    corpus_index = Index(ROOT / "index" / "calibration-corpus")
    corpus_index.refresh([args.corpus])
    questions = load_questions(args.queries, corpus_index)
    data = load_beir(args.beir)
    beir, _ = beir_index(data, args.beir, ROOT / "index", settings)
    claims = list(data.queries.values())
    asked = [q.question for q in questions]

    answerable = features(corpus_index, [q.question for q in questions if q.answerable])
    unanswerable = features(corpus_index, [q.question for q in questions if not q.answerable])
    groups = {
        "corpus answerable (+)": (answerable, 1),
        "corpus unanswerable (-)": (unanswerable, 0),
        "SciFact claims on SciFact (+)": (features(beir, claims), 1),
        "SciFact claims on corpus (-)": (features(corpus_index, claims), 0),
        "corpus questions on SciFact (-)": (features(beir, asked), 0),
        "shuffled claims on SciFact (-)": (features(beir, shuffled_queries(claims)), 0),
    }
    beta = fit(list(groups.values()))
    held_out = fit([g for name, g in groups.items() if not name.startswith("corpus ")])
    print(f"model: {settings.model}")
    print(f"coefficients: bias={beta[0]:.3f} similarity={beta[1]:.3f} coverage={beta[2]:.3f}")
    for name, group in groups.items():
        print(f"  {name:34} n={len(group[0]):3}  flag right: {accuracy(beta, [group]):.3f}")
    corpus_groups = [groups["corpus answerable (+)"], groups["corpus unanswerable (-)"]]
    print(f"weak-flag accuracy on the corpus questions: {accuracy(beta, corpus_groups):.3f} "
          f"(fitted with them), {accuracy(held_out, corpus_groups):.3f} (held out)")
    if args.write:
        table = json.loads(CALIBRATION_FILE.read_text()) if CALIBRATION_FILE.exists() else {}
        table[settings.model] = {"bias": round(float(beta[0]), 4),
                                 "similarity": round(float(beta[1]), 4),
                                 "coverage": round(float(beta[2]), 4),
                                 "fitted_on": list(groups)}
        CALIBRATION_FILE.write_text(json.dumps(table, indent=2) + "\n")
        print(f"written to {CALIBRATION_FILE}")


if __name__ == "__main__":
    main()
