"""The pure signals behind labels and marks: expected answer types, boilerplate, keyword
searches and labels that agree with the order."""

from __future__ import annotations

import numpy as np
import pytest

from search.retrieve import answer_type, boilerplate
from search.retrieve.confidence import is_keyword_search, label, medians_of_others, monotone


@pytest.mark.parametrize(("question", "kind"), [
    ("How much does the Occupational Health contract cost each year?", "money"),
    ("How much money did the charity give?", "money"),
    ("How many officers are in psychological monitoring?", "number"),
    ("By how much did detentions fall?", "number"),
    ("What proportion of staff took part?", "number"),
    ("When will the debrief model be rolled out?", "date"),
    ("How long is the training day?", "date"),
    ("Who chairs the quarterly meeting?", "person"),
    ("What is the name of the provider?", "person"),
    ("How much progress has the Met made?", None),  # not an amount
    ("What peer support do Met officers get after a traumatic incident?", None),
    ("Why are specialist services being cut?", None),
])
def test_expected_answer_kind(question, kind):
    assert answer_type.expected(question) == kind


def test_a_sentence_holds_an_answer_of_the_kind_unless_the_question_named_it():
    q = "How much did the Trust win in 2025 to improve its debrief model?"
    assert answer_type.answers_kind(q, "money", ["In August 2025 the Trust won £50,000."])
    assert not answer_type.answers_kind(q, "money", ["The Trust won a bid in 2025."])
    when = "When was the model launched in London?"
    assert not answer_type.answers_kind(when, "date", ["The model was launched in London."])
    assert answer_type.answers_kind(when, "date", ["It was launched in March 2016."])
    count = "How many Blue Light Champions are there?"
    assert not answer_type.answers_kind(count, "number", ["A 24/7 line for Champions."])
    assert answer_type.answers_kind(count, "number", ["There are 40 Blue Light Champions."])
    assert answer_type.answers_kind(count, "number", ["Five vans run each week."])


@pytest.mark.parametrize("sentence", [
    "Yours sincerely,", "Sadiq Khan", "Mayor of London", "London SE1 2AA",
    "Chairman of the Police and Crime Committee", "Fire Committee 1",
    "Metropolitan Police Service 6",
])
def test_signatures_addresses_and_contents_lines_are_fragments(sentence):
    assert boilerplate.is_fragment(sentence)
    assert boilerplate.not_content(sentence)


def test_a_stated_sentence_is_content():
    s = "The Wellbeing Team operate five Wellbeing Support Vehicles across London."
    assert not boilerplate.not_content(s)
    assert not boilerplate.is_fragment("Training will run over an 8-hour day")


def test_questions_and_sentences_repeating_a_heading_are_not_content():
    headings = boilerplate.heading_stems(
        [("London Ambulance Service", "1. What cooperation exists between LAS and other "
          "blue light services in London?")])
    echo = "What cooperation exists between LAS and other blue light services in London"
    assert boilerplate.echoes(echo, headings)
    assert boilerplate.is_question("- Does the MPS have examples of effective approaches?")
    assert not boilerplate.echoes("Crews decompress in Wellbeing Cafes between jobs.",
                                  headings)
    own = boilerplate.heading_stems([("Peer support for officers after incidents",)],
                                    own=("Peer support for officers after incidents",))
    assert own == []  # a passage may restate its own heading


def test_boilerplate_share_counts_characters():
    text = "Crews rest in the Wellbeing Cafes between calls.\nYours sincerely,\nSadiq Khan"
    spans = [(0, 48), (49, 65), (66, len(text))]
    share = boilerplate.share(text, spans)
    assert share == pytest.approx((16 + 10) / (48 + 16 + 10))
    assert boilerplate.share("", []) == 1.0


@pytest.mark.parametrize(("query", "keyword"), [
    ("EMDR", True), ("section 136", True), ("peer support after trauma", True),
    ("counselling for paramedics now please", False),  # five words: a sentence
    ("What is TIPT?", False), ("how do crews unwind", False), ("Is EMDR offered", False),
])
def test_keyword_searches(query, keyword):
    assert is_keyword_search(query) is keyword


def test_confidence_never_rises_down_the_list_so_labels_follow_the_order():
    ordered = monotone([0.32, 0.36, 0.95, 0.98, 0.1])
    assert ordered == [0.32, 0.32, 0.32, 0.32, 0.1]
    labels = [label(c) for c in monotone([0.95, 0.98, 0.6, 0.85, 0.2])]
    rank = {"strong match": 2, "possible match": 1, "weak match": 0}
    assert [rank[x] for x in labels] == sorted((rank[x] for x in labels), reverse=True)


@pytest.mark.parametrize("size", [2, 3, 4, 7, 50, 51])
def test_medians_of_others_is_each_leave_one_out_median(size):
    """The `lift` signal reads each candidate against the median of the rest: the same as
    dropping it and taking the median, ties and odd and even counts alike."""
    rng = np.random.default_rng(size)
    for values in (rng.random(size), rng.integers(0, 3, size).astype(float)):
        want = [np.median(np.delete(values, n)) for n in range(size)]
        assert medians_of_others(values) == pytest.approx(want)
