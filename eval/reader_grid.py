"""The reader's say in the ranking, over a grid of weights and depths (dev split, SciFact).

    .venv/bin/python eval/reader_grid.py quality     # or fast

Replays eval/tune.py's records with the reader's logits for each (weight, depth) on top of
the model's fitted ranking weights; prints found@5, everyday found@5, MRR@10 and SciFact
nDCG@10 (docs/EVALUATION.md, "The reader").
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

import tune  # noqa: E402

from search.config import Settings  # noqa: E402
from search.reader import load_reader  # noqa: E402
from search.retrieve import ranking  # noqa: E402


def main() -> None:
    model = Settings(model=sys.argv[1] if len(sys.argv) > 1 else "quality").model
    reader = load_reader()
    corpus, kinds = tune.corpus_records("dev", model, reader)
    beir = tune.beir_records(ROOT.parent / "shared/bench/scifact", model, reader)
    base = ranking.weights_for(model)
    print(model, base)
    print("| reader weight | depth | dev found@5 | everyday found@5 | dev MRR@10 | "
          "SciFact nDCG@10 |")
    print("|---|---|---|---|---|---|")
    for depth in (4, 6, 8):
        for w in (0.0, 0.25, 0.5, 1.0):
            if w == 0 and depth != 4:
                continue
            trial = replace(base, reader=w, reader_depth=depth)
            scores = [tune.question_scores(rec, tune.rank(rec, trial)) for rec in corpus]
            every = [f for (f, _), k in zip(scores, kinds, strict=True) if k == "everyday"]
            nd = statistics.mean(tune.ndcg10(rec, tune.rank(rec, trial)) for rec in beir)
            print(f"| {w} | {depth if w else '-'} | "
                  f"{statistics.mean(f for f, _ in scores):.3f} | {statistics.mean(every):.3f} | "
                  f"{statistics.mean(m for _, m in scores):.3f} | {nd:.4f} |", flush=True)


if __name__ == "__main__":
    main()
