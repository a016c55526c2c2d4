"""The pure parts of ranking, highlighting, confidence words and the question checker."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from search.evaluate import split_of
from search.retrieve import ranking
from search.retrieve.confidence import label
from search.retrieve.highlight import pick

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "eval"))
import check_questions  # noqa: E402


def test_agreement_counts_shared_top_places():
    assert ranking.agreement([1, 2, 3], [3, 2, 9], top=3) == pytest.approx(2 / 3)
    assert ranking.agreement([1, 2], []) == 0.0


def test_lexical_trust_rises_with_rare_word_coverage():
    low = ranking.lexical_trust(0.1, 0.0)
    high = ranking.lexical_trust(0.9, 0.0)
    assert 0.0 < low < 0.5 < high < 1.0


def test_weighted_rrf_with_no_lexical_weight_keeps_dense_order():
    dense = [(1, 0.9), (2, 0.8), (3, 0.7)]
    lexical = [(3, 12.0), (2, 9.0)]
    assert [i for i, _ in ranking.weighted_rrf(dense, lexical, 1.0, 0.0)] == [1, 2, 3]
    # full weight on both: the passage both lists rank well wins
    assert ranking.weighted_rrf(dense, lexical, 1.0, 1.0)[0][0] in (2, 3)


def test_standardise_is_scale_free_and_safe_on_constants():
    x = np.array([0.2, 0.4, 0.6])
    assert np.allclose(ranking.standardise(x), ranking.standardise(10 * x + 3))
    assert np.allclose(ranking.standardise(np.array([0.5, 0.5])), 0.0)
    assert np.allclose(ranking.standardise(np.array([0.5])), 0.0)


def test_final_scores_prefer_rare_word_coverage_only_when_lexical_is_trusted():
    same = np.array([0.5, 0.5])
    coverage = np.array([0.0, 1.0])
    trusted = ranking.final_scores(same, same, same, coverage, np.zeros(2), trust=1.0)
    ignored = ranking.final_scores(same, same, same, coverage, np.zeros(2), trust=0.0)
    assert trusted[1] > trusted[0]
    assert ignored[0] == ignored[1]


def test_final_scores_follow_the_best_sentence():
    passage = np.array([0.40, 0.41])
    sentence = np.array([0.70, 0.30])  # the first passage holds one sentence that answers
    w = ranking.Weights(passage=1.0, sentence=2.0, fused=0.0, coverage=0.0, heading=0.0)
    scores = ranking.final_scores(passage, sentence, np.zeros(2), np.zeros(2), np.zeros(2),
                                  0.0, w)
    assert scores[0] > scores[1]


def test_pick_marks_one_or_two_sentences_never_all():
    spans = [((0, 10), 0.60), ((11, 20), 0.59), ((21, 30), 0.20)]
    assert pick(spans) == [(0, 10), (11, 20)]
    assert pick([((0, 10), 0.6), ((11, 20), 0.3)]) == [(0, 10)]
    assert pick([((0, 10), 0.6), ((11, 20), 0.6)]) == [(0, 10)]  # two of two: only the best
    assert pick([]) == []


def test_confidence_words():
    assert label(0.1) == "weak match"
    assert label(0.6) == "possible match"
    assert label(0.95) == "strong match"


def test_split_is_fixed_by_the_question_text():
    assert split_of("Where can crews rest?") == split_of("  where can   crews rest? ")
    splits = {split_of(f"question number {n}") for n in range(20)}
    assert splits == {"dev", "test"}


def test_checker_refuses_shared_words_and_repeated_spans(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Crews can decompress in wellbeing cafes. Cafes open daily. "
                                  "Cafes open daily.", encoding="utf-8")
    rows = [
        {"id": "ok", "kind": "everyday", "question": "Where do ambulance staff unwind?",
         "answers": ["Crews can decompress in wellbeing cafes."]},
        {"id": "shares", "kind": "everyday", "question": "Where can crews relax?",
         "answers": ["Crews can decompress in wellbeing cafes."]},
        {"id": "twice", "kind": "exact", "question": "When are the cafes open?",
         "answers": ["Cafes open daily."]},
        {"id": "trap", "kind": "unanswerable", "question": "Who runs the cafes?",
         "answers": []},
    ]
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    problems = [str(p) for p in check_questions.check(
        check_questions.read_rows([questions]), check_questions.corpus_texts(corpus), True)]
    assert any("(shares)" in p and "crew" in p for p in problems)
    assert any("(twice)" in p and "2 times" in p for p in problems)
    assert not any("(ok)" in p or "(trap)" in p for p in problems)


def test_shipped_question_set_passes_its_checker():
    rows = check_questions.read_rows([ROOT / "eval" / "questions.jsonl"])
    assert check_questions.check(rows, check_questions.corpus_texts(ROOT / "corpus"),
                                 partial=False) == []
