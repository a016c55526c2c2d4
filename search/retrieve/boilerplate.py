"""How much of a passage is not content: the sentences that say nothing a question can be
answered by. Read from the text's shape alone, for any document:

- a *fragment*: a line too short to state anything, or one with no sentence punctuation whose
  words are mostly capitalised or figures (a signature, an address block, a contents line,
  "Yours sincerely");
- a *question*: the passage asks rather than tells (a list of the questions put to witnesses);
- an *echo*: the sentence repeats a heading of the same document (an introduction listing
  the sections that follow), so its words are the question's words and no answer.

Confidence reads the share of the passage's characters in such sentences (a passage that is
mostly boilerplate is never a strong match), and highlighting never marks one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from search.words import STOPWORDS, terms

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
MIN_WORDS = 4  # fewer than this, and a line states nothing ("Dear Steve", "Yours sincerely")
ECHO = 0.8  # share of a sentence's content stems found in one heading: it repeats it


def is_fragment(sentence: str) -> bool:
    words = _WORD.findall(sentence)
    if len(words) < MIN_WORDS:
        return True
    if sentence.rstrip()[-1:] in ".!?:;\"'”’)":
        return False
    content = [w for w in words if w.lower() not in STOPWORDS] or words
    capitalised = sum(1 for w in content if w[0].isupper() or w[0].isdigit())
    return capitalised >= 0.6 * len(content)


def is_question(sentence: str) -> bool:
    return sentence.rstrip().rstrip("\"'”’)").endswith("?")


def echoes(sentence: str, headings: Iterable[frozenset[str]]) -> bool:
    """Whether the sentence mostly repeats one of these headings' content stems."""
    stems = set(terms(sentence))
    if len(stems) < 3:
        return False
    return any(len(stems & heading) >= ECHO * len(stems) for heading in headings)


def heading_stems(sections: Iterable[Sequence[str]],
                  own: Sequence[str] = ()) -> list[frozenset[str]]:
    """The content stems of each distinct heading of these section paths, except the
    passage's own (a passage may of course restate its own heading)."""
    seen = set(own)
    out = []
    for path in sections:
        for heading in path:
            if heading in seen:
                continue
            seen.add(heading)
            stems = frozenset(terms(heading))
            if len(stems) >= 3:
                out.append(stems)
    return out


def not_content(sentence: str, headings: Iterable[frozenset[str]] = ()) -> bool:
    """A sentence no question is answered by: a fragment, a question, or an echo."""
    return is_fragment(sentence) or is_question(sentence) or echoes(sentence, headings)


def share(text: str, spans: Sequence[tuple[int, int]],
          headings: Sequence[frozenset[str]] = ()) -> float:
    """Share of the passage's sentence characters that are boilerplate (0: all content)."""
    total = sum(b - a for a, b in spans)
    if total <= 0:
        return 1.0
    waste = sum(b - a for a, b in spans if not_content(text[a:b], headings))
    return waste / total
