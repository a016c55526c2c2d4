"""What kind of answer a question asks for, and whether a sentence holds one.

A how-much question wants a sum, a how-many question a number, a when question a date, a who
question a name. A passage about the right subject that holds no such thing in its best
sentences does not answer it, however close its meaning: "How much does the Occupational Health
contract cost?" against a passage that names the contract and no sum. This reads English
question words and the shapes of amounts, numbers, dates and names: nothing about any
document. (spaCy's small English NER was measured as the alternative: docs/EVALUATION.md.)
"""

from __future__ import annotations

import re

MONEY, NUMBER, DATE, PERSON = "money", "number", "date", "person"
# What each expected kind accepts: an amount of money is also a number, a percentage too.
ACCEPTS = {MONEY: (MONEY,), NUMBER: (NUMBER, MONEY), DATE: (DATE,), PERSON: (PERSON,)}

_MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|"
           "december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec")
_NUMBER_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
                 "fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|"
                 "fifty|sixty|seventy|eighty|ninety|hundred|hundreds|thousand|thousands|"
                 "million|millions|billion|dozen|dozens|half|quarter|third|double|twice|"
                 "single|several|majority|minority|none")
SHAPES = {
    MONEY: re.compile(r"[£$€¥]\s?\d|\d[\d,.]*\s?(?:k|m|bn|million|billion)?\s?"
                      r"(?:pounds|dollars|euros|gbp|usd|eur)\b|\b\d[\d,.]*\s?p\b",
                      re.IGNORECASE),
    # a figure, but not one that is part of a name or a phrase ("24/7", "999", "NHS 111")
    NUMBER: re.compile(rf"(?<![\w/])(?!24/7\b)(?!999\b)(?!111\b)\d|\b(?:{_NUMBER_WORDS})\b|"
                       r"per\s?cent|percent", re.IGNORECASE),
    DATE: re.compile(rf"\b(?:1[89]\d\d|20\d\d)s?\b|\b(?:{_MONTHS})\b|\b(?:monday|tuesday|"
                     r"wednesday|thursday|friday|saturday|sunday|today|tomorrow|yesterday|"
                     r"annually|weekly|monthly|daily|quarterly|spring|summer|autumn|winter)\b|"
                     r"\b(?:last|next|this|each|every|per|a|within|after|before|since|by)\s+"
                     r"(?:\w+\s+)?(?:year|years|month|months|week|weeks|day|days|hours?|"
                     r"minutes?|decade)\b|\b\d+[\s-]*(?:hours?|days?|weeks?|months?|years?)\b",
                     re.IGNORECASE),
    # A name: two or more capitalised words in a row, or a title before one ("Dr Smith").
    PERSON: re.compile(r"\b(?:Mr|Mrs|Ms|Dr|Prof|Sir|Dame|Lord|Lady|Baroness|Cllr|Rt Hon)\.?\s+"
                       r"[A-Z]|\b[A-Z][A-Za-z'’&-]+(?:\s+(?:of\s+|and\s+)?[A-Z][A-Za-z'’&-]+)+"),
}

_HOW_MUCH = re.compile(r"\bhow\s+much\b", re.IGNORECASE)
_MONEY_WORDS = re.compile(r"\b(?:cost|costs|spend|spent|spending|pay|paid|paying|fund|funds|"
                          r"funded|funding|budget|budgets|price|worth|money|grant|grants|"
                          r"invest|invested|investment|save|saved|savings|charge|charged|"
                          r"receive|received|raise|raised|given|give)\b", re.IGNORECASE)
_HOW_MANY = re.compile(r"\bhow\s+(?:many|often|big|large|far|high|low)\b|\bwhat\s+(?:number|"
                       r"proportion|percentage|share|fraction|rate|ratio|amount)\b|"
                       r"\b(?:number|proportion|percentage) of\b|\bby how much\b",
                       re.IGNORECASE)
_WHEN = re.compile(r"^\s*when\b|\bwhen (?:will|did|was|were|is|does|do|are)\b|\bwhat (?:year|"
                   r"date|month|day|time)\b|\bhow long\b|\bby when\b|\bsince when\b",
                   re.IGNORECASE)
_WHO = re.compile(r"^\s*who\b|\bwho (?:is|was|are|were|chairs|leads|runs|made|wrote|said|"
                  r"did|does)\b|\bwhat is the name\b|\bwhich (?:person|officer|minister|"
                  r"company|organisation|organization|charity|provider|firm)\b",
                  re.IGNORECASE)


def expected(question: str) -> str | None:
    """The kind of answer the question asks for, or None (why, how, what-does-X-say...)."""
    if _HOW_MUCH.search(question) and _MONEY_WORDS.search(question):
        return MONEY
    if _HOW_MANY.search(question):
        return NUMBER
    if _WHEN.search(question):
        return DATE
    if _WHO.search(question):
        return PERSON
    return None


def holds(text: str, kind: str) -> bool:
    """Whether the text holds something of that kind of answer."""
    return any(SHAPES[k].search(text) for k in ACCEPTS[kind])


def question_shapes(question: str, kind: str) -> set[str]:
    """What of that kind the question itself names ("in 2019", "£12 million"): a passage
    repeating it has not answered anything new, so it does not count as the answer."""
    return {m.group(0).lower() for k in ACCEPTS[kind] for m in SHAPES[k].finditer(question)}


def answers_kind(question: str, kind: str, sentences: list[str]) -> bool:
    """Whether any of these sentences holds an answer of the kind, other than what the
    question already names."""
    named = question_shapes(question, kind)
    for sentence in sentences:
        for k in ACCEPTS[kind]:
            if any(m.group(0).lower() not in named for m in SHAPES[k].finditer(sentence)):
                return True
    return False
