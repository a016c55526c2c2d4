"""Fit the confidence model behind `Hit.confidence` and the weak flag.

    .venv/bin/python eval/calibrate.py [--beir ../shared/bench/scifact] [--write]

P(answerable | features) is a logistic model over signals relative to the result list
(search/retrieve/confidence.py: best cosine, its lift over the rest of the list, rare-word coverage,
agreement of the two lists). A result list is weak when no passage reaches one half. Data,
each group weighted equally:

  positives  dev-split questions with answers (eval/questions.jsonl, corpus index)
             SciFact test claims (SciFact index)
  negatives  SciFact claims asked of the corpus index (off-topic)
             corpus questions asked of the SciFact index (off-topic)
             shuffled SciFact claims: on-domain word salad (SciFact index)

The dev split's unanswerable questions are traps that name a real service or year of the
documents; no signal here tells them from answerable questions (docs/EVALUATION.md shows the
overlap), and fitting on them only made the flag wrong on real answers. They are reported,
not fitted: the weak flag means "nothing in the documents is about this".

Features come from the passage in the top 10 default hits that the model rates highest
(fitted in three rounds, since that choice depends on the model). `--write` stores the
coefficients in search/calibration.json under the model's name. The script ends with a
reliability table on the test split (never used in fitting): for each confidence band, how
many test questions' best hits fall there and how many of those questions are answerable.
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
from search.config import Settings, default_model  # noqa: E402
from search.evaluate import beir_index, load_beir, load_questions, shuffled_queries  # noqa: E402
from search.retrieve.confidence import CALIBRATION_FILE, FEATURES  # noqa: E402
from search.retrieve.confidence import features as candidate_features  # noqa: E402


def features(index: Index, questions: list[str]) -> list[np.ndarray]:
    """Per question, the confidence features of each of its top 10 default hits."""
    out = []
    for q in questions:
        found = index.run(index.query(q, k=10, highlight=False)).found
        x = candidate_features(found)
        out.append(x if len(x) else np.zeros((1, len(FEATURES))))
    return out


def fit(groups: list[tuple[list[np.ndarray], int]], rounds: int = 3) -> np.ndarray:
    """Weighted logistic regression (Newton steps, light L2); returns (bias, w_sim, w_cov)."""
    dims = groups[0][0][0].shape[1]
    beta = np.zeros(dims + 1)
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
        b = np.zeros(dims + 1)
        for _ in range(50):
            p = 1 / (1 + np.exp(-(x @ b)))
            grad = x.T @ (w * (p - y)) + 1e-3 * b
            hess = (x * (w * p * (1 - p))[:, None]).T @ x + 1e-3 * np.eye(dims + 1)
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


def reliability(beta: np.ndarray, answerable: list[np.ndarray],
                unanswerable: list[np.ndarray]) -> None:
    """Per confidence band of the best hit: questions there, and the share answerable."""
    rows = [(float(1 / (1 + np.exp(-np.max(beta[0] + f @ beta[1:])))), 1) for f in answerable]
    rows += [(float(1 / (1 + np.exp(-np.max(beta[0] + f @ beta[1:])))), 0) for f in unanswerable]
    print("| confidence of best hit | label | questions | answerable |")
    print("|---|---|---|---|")
    for low, high, name in ((0, .25, "weak match"), (.25, .5, "weak match"),
                            (.5, .8, "possible match"), (.8, 1.01, "strong match")):
        band = [y for c, y in rows if low <= c < high]
        share = f"{sum(band) / len(band):.2f}" if band else "-"
        print(f"| {low:.2f}–{min(high, 1):.2f} | {name} | {len(band)} | {share} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--beir", type=Path, default=ROOT.parent / "shared/bench/scifact")
    parser.add_argument("--queries", type=Path, default=ROOT / "eval/questions.jsonl")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--model", default=default_model(), help="fast, quality or a name")
    parser.add_argument("--no-beir-index", action="store_true",
                        help="fit without a SciFact index of this model (it takes long to build)")
    parser.add_argument("--test", action="store_true",
                        help="report on the test split (once, after fitting), not dev")
    args = parser.parse_args()

    settings = Settings(model=args.model)
    corpus_index = Index(ROOT / "index" / f"calibration-corpus-{settings.model}",
                         model=settings.model)
    corpus_index.refresh([args.corpus])
    dev = load_questions(args.queries, corpus_index, "dev")
    test = load_questions(args.queries, corpus_index, "test")
    data = load_beir(args.beir)
    claims = list(data.queries.values())
    asked = [q.question for q in dev]
    traps = features(corpus_index, [q.question for q in dev if not q.answerable])
    groups = {
        "dev answerable (+)": (features(corpus_index, [q.question for q in dev
                                                       if q.answerable]), 1),
        "SciFact claims on corpus (-)": (features(corpus_index, claims), 0),
    }
    if args.no_beir_index:  # no SciFact index for this model: on-domain salad of the corpus
        groups["shuffled dev questions on corpus (-)"] = (
            features(corpus_index, shuffled_queries(asked)), 0)
    else:
        beir, _ = beir_index(data, args.beir, ROOT / "index", settings)
        groups["SciFact claims on SciFact (+)"] = (features(beir, claims), 1)
        groups["corpus questions on SciFact (-)"] = (features(beir, asked), 0)
        groups["shuffled claims on SciFact (-)"] = (features(beir, shuffled_queries(claims)), 0)
    beta = fit(list(groups.values()))
    print(f"model: {settings.model}")
    print(f"coefficients: bias={beta[0]:.3f} " +
          " ".join(f"{n}={v:.3f}" for n, v in zip(FEATURES, beta[1:], strict=True)))
    for name, group in {**groups, "dev unanswerable, not fitted (-)": (traps, 0)}.items():
        print(f"  {name:34} n={len(group[0]):3}  flag right: {accuracy(beta, [group]):.3f}")
    split = test if args.test else dev
    pos = features(corpus_index, [q.question for q in split if q.answerable])
    neg = features(corpus_index, [q.question for q in split if not q.answerable])
    name = "test" if args.test else "dev"
    print(f"{name} split: weak flag right on {accuracy(beta, [(pos, 1)]):.3f} of answerable, "
          f"{accuracy(beta, [(neg, 0)]):.3f} of unanswerable questions")
    reliability(beta, pos, neg)
    if args.write:
        table = json.loads(CALIBRATION_FILE.read_text()) if CALIBRATION_FILE.exists() else {}
        table[settings.model] = {"bias": round(float(beta[0]), 4),
                                 **{n: round(float(v), 4)
                                    for n, v in zip(FEATURES, beta[1:], strict=True)},
                                 "fitted_on": list(groups)}
        CALIBRATION_FILE.write_text(json.dumps(table, indent=2) + "\n")
        print(f"written to {CALIBRATION_FILE}")


if __name__ == "__main__":
    main()
