"""Sentence vectors from the passage's own forward pass: pooled over the right tokens, the
passage vector unchanged, and close to what embedding each sentence alone gives."""

from __future__ import annotations

import numpy as np

from search.embed.embedder import Embedder, get_embedder, pool_spans
from search.ingest.text import scoring_sentences


def test_pool_spans_averages_the_heading_and_the_span_tokens():
    hidden = np.array([[9, 9], [1, 0], [3, 0], [0, 2], [0, 4], [7, 7]], dtype=np.float32)
    mask = np.array([1, 1, 1, 1, 1, 0])
    # [CLS], heading "Care" (0-4), passage "Peer help" at 5-9 and 10-14, padding
    offsets = np.array([[0, 0], [0, 4], [5, 9], [10, 14], [15, 19], [0, 0]])
    out = pool_spans(hidden, mask, offsets, [(0, 4), (5, 14)], head=5,
                     fallback=np.array([1, 0], np.float32))
    first = np.array([2, 0]) / 2  # heading (1,0) and "Peer" (3,0): mean (2,0)
    second = np.array([1, 6]) / np.linalg.norm([1, 6])  # heading, (0,2), (0,4): mean (1/3, 2)
    assert np.allclose(out[0], first) and np.allclose(out[1], second, atol=1e-6)
    missing = pool_spans(hidden, mask, offsets, [(40, 50)], 5, np.array([0, 1], np.float32))
    assert np.allclose(missing[0], [0, 1])  # no tokens: the fallback


def test_one_pass_gives_the_passage_vector_and_sentences_near_their_own(embedder: Embedder):
    index = get_embedder(embedder.name, "index")
    text = ("Officers involved in a fatal shooting are offered trauma risk management "
            "within 72 hours. Peer supporters are trained volunteers from the same unit. "
            "Counselling through occupational health can be booked without a manager's "
            "referral.")
    section = ("Wellbeing support after traumatic incidents",)
    passage = index.passage_input(text, section)
    spans = scoring_sentences(text)
    assert len(spans) == 3
    head = len(passage) - len(text)
    vectors, sentences = index.encode_with_sentences([passage, "short"], [head, 0],
                                                     [spans, []])
    alone = embedder.encode([passage, "short"])
    assert np.min(np.sum(vectors * alone, axis=1)) > 0.999
    assert sentences[1].shape == (0, embedder.dimension)
    own = embedder.encode([index.passage_input(text[a:b], section) for a, b in spans])
    cosines = np.sum(sentences[0] * own, axis=1)
    assert cosines.min() > 0.6, cosines  # SciFact: mean 0.91, min 0.65
    # a question about one sentence finds that sentence (what highlighting relies on)
    questions = embedder.encode(["how soon after a shooting is trauma risk management offered?",
                                 "who are the peer supporters?",
                                 "can I book counselling without asking my manager?"])
    assert list(np.argmax(questions @ sentences[0].T, axis=1)) == [0, 1, 2]
    assert np.allclose(np.linalg.norm(sentences[0], axis=1), 1.0, atol=1e-5)
