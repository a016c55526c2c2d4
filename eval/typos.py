"""Questions with a typo: each answerable question of a split with one misspelt word, to
measure typo tolerance (issue 21, item 12) on questions as people type them.

The misspelt word is the question's longest content word of six letters or more; the typo is
one of the four kinds spell-checkers model (a letter dropped, doubled, swapped with its
neighbour, or replaced by a keyboard neighbour), picked by a seeded generator so the set is
the same on every run. Writes JSON lines with the original split kept in `kind` order, for
`evidence-search eval --queries FILE --split all`.

    .venv/bin/python eval/typos.py --split dev > /tmp/typos-dev.jsonl
    .venv/bin/evidence-search eval --queries /tmp/typos-dev.jsonl --split all --mode hybrid
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

from search.evaluate import split_of
from search.words import STOPWORDS

NEIGHBOURS = {
    "a": "qsz", "b": "vghn", "c": "xdfv", "d": "serfcx", "e": "wsdr", "f": "drtgvc",
    "g": "ftyhbv", "h": "gyujnb", "i": "ujko", "j": "huikmn", "k": "jiolm", "l": "kop",
    "m": "njk", "n": "bhjm", "o": "iklp", "p": "ol", "q": "wa", "r": "edft", "s": "awedxz",
    "t": "rfgy", "u": "yhji", "v": "cfgb", "w": "qase", "x": "zsdc", "y": "tghu", "z": "asx",
}


def misspell(word: str, rng: random.Random) -> str:
    """One typo inside the word (never its first letter, which people rarely get wrong)."""
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(["drop", "double", "swap", "neighbour"])
    if kind == "drop":
        return word[:i] + word[i + 1:]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    if kind == "swap" and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    near = NEIGHBOURS.get(word[i].lower(), "")
    return word[:i] + (rng.choice(near) if near else word[i]) + word[i + 1:]


def with_typo(question: str, rng: random.Random) -> str | None:
    words = [m for m in re.finditer(r"[A-Za-z]+", question)
             if len(m.group()) >= 6 and m.group().lower() not in STOPWORDS]
    if not words:
        return None
    target = max(words, key=lambda m: (len(m.group()), -m.start()))
    wrong = misspell(target.group(), rng)
    return question[:target.start()] + wrong + question[target.end():]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", default=str(Path(__file__).with_name("questions.jsonl")))
    parser.add_argument("--split", choices=["dev", "test"], default="dev")
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    for line in Path(args.queries).read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if not row.get("answers") or split_of(row["question"]) != args.split:
            continue
        typo = with_typo(row["question"], rng)
        if typo is not None:
            sys.stdout.write(json.dumps({**row, "question": typo, "original": row["question"]})
                             + "\n")


if __name__ == "__main__":
    main()
