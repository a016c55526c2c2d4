"""Check a question file before it is used to measure anything.

    .venv/bin/python eval/check_questions.py [eval/questions.jsonl ...] [--corpus corpus]

Refuses (exit 1, one line per problem, naming the question):
- a row without id / question / kind, a kind not in KINDS, a duplicate id or question;
- an answerable question without a gold span, an unanswerable one with one, a `multi`
  question with fewer than two spans;
- a gold span that does not occur exactly once in the corpus text (whitespace collapsed);
- an `everyday` question that shares a content word with any of its gold spans, after
  stop words are dropped and words are stemmed (Porter): such a question tests word matching,
  not meaning.
With the full set it also checks the counts the set promises (--partial skips that).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import Stemmer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from search.evaluate import split_of  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval" / "questions.jsonl"
KINDS = ("everyday", "exact", "figure", "multi", "unanswerable")
MINIMUM = {"total": 150, "everyday": 60, "unanswerable": 25}

# A broad English stop list (function words, auxiliaries, question words): a question may share
# these with its answer; any other word, once stemmed, must differ for `everyday` questions.
STOP = frozenset("""
a about above after again against all am an and any are aren as at be because been before being
below between both but by can cannot could did didn do does doesn doing don down during each
few for from further get gets got had has hasn have haven having he her here hers herself him
himself his how i if in into is isn it its itself just let me more most my myself no nor not
now of off on once only or other ought our ours ourselves out over own same she should so some
such than that the their theirs them themselves then there these they this those through to too
under until up very was wasn we were weren what when where which while who whom why will with
won would you your yours yourself yourselves also any anything something many much ever every
one ones thing things way ways s t d ll m o re ve y
""".split())  # noqa: SIM905 - a word list reads better as text
_WORD = re.compile(r"[a-z0-9]+")
_stemmer = Stemmer.Stemmer("porter")


@dataclass(frozen=True)
class Problem:
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


def content_stems(text: str) -> set[str]:
    return {_stemmer.stemWord(w) for w in _WORD.findall(text.lower()) if w not in STOP}


def squash(text: str) -> str:
    return " ".join(text.split())


def corpus_texts(corpus: Path) -> dict[str, str]:
    return {p.name: squash(p.read_text(encoding="utf-8"))
            for p in sorted(corpus.glob("*")) if p.suffix in (".txt", ".md")}


def check(rows: list[tuple[str, dict]], texts: dict[str, str], partial: bool) -> list[Problem]:
    problems: list[Problem] = []
    ids: Counter[str] = Counter()
    questions: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for where, row in rows:
        qid, question, kind = row.get("id"), row.get("question"), row.get("kind")
        answers = row.get("answers", [])
        if not qid or not isinstance(question, str) or not question.strip():
            problems.append(Problem(where, "needs a non-empty id and question"))
            continue
        where = f"{where} ({qid})"
        ids[qid] += 1
        questions[squash(question).lower()] += 1
        if kind not in KINDS:
            problems.append(Problem(where, f"kind must be one of {', '.join(KINDS)}, not {kind!r}"))
            continue
        kinds[kind] += 1
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            problems.append(Problem(where, "answers must be a list of text spans"))
            continue
        if kind == "unanswerable" and answers:
            problems.append(Problem(where, "an unanswerable question has no gold span"))
        if kind != "unanswerable" and not answers:
            problems.append(Problem(where, "an answerable question needs a gold span"))
        if kind == "multi" and len(answers) < 2:
            problems.append(Problem(where, "a multi question needs two or more gold spans"))
        for answer in answers:
            needle = squash(answer)
            found = sum(text.count(needle) for text in texts.values())
            if found != 1:
                problems.append(Problem(where, f"gold span occurs {found} times in the corpus, "
                                               f"not once: {needle[:60]!r}"))
            if kind == "everyday":
                shared = content_stems(question) & content_stems(answer)
                if shared:
                    problems.append(Problem(where, "everyday question shares words with its "
                                                   f"gold span: {', '.join(sorted(shared))}"))
    problems += [Problem(f"id {q}", f"used {n} times") for q, n in ids.items() if n > 1]
    problems += [Problem(f"question {q[:50]!r}", f"asked {n} times")
                 for q, n in questions.items() if n > 1]
    if not partial:
        if len(rows) < MINIMUM["total"]:
            problems.append(Problem("set", f"{len(rows)} questions, needs {MINIMUM['total']}"))
        for kind in KINDS:
            need = MINIMUM.get(kind, 1)
            if kinds[kind] < need:
                problems.append(Problem("set", f"{kinds[kind]} {kind} questions, needs {need}"))
    return problems


def read_rows(paths: list[Path]) -> list[tuple[str, dict]]:
    rows = []
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((f"{path.name}:{n}", json.loads(line)))
                except json.JSONDecodeError as exc:
                    rows.append((f"{path.name}:{n}", {"error": exc.msg}))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, default=[QUESTIONS])
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--partial", action="store_true", help="skip the set-size checks")
    args = parser.parse_args(argv)
    rows = read_rows(args.files)
    problems = check(rows, corpus_texts(args.corpus), args.partial)
    for p in problems:
        print(p)
    kinds = Counter(r.get("kind") for _, r in rows)
    splits = Counter(split_of(r.get("question", "")) for _, r in rows)
    print(f"{len(rows)} questions ({', '.join(f'{k} {kinds[k]}' for k in KINDS)}); "
          f"dev {splits['dev']}, test {splits['test']}; {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
