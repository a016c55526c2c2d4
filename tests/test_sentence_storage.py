"""Sentence vectors as stored for highlighting: float16, or int8 with a scale per row for
big archives; both read back by the same function, told apart by the blob's length."""

from __future__ import annotations

import numpy as np
import pytest

from search.store.local.catalogue import pack_sentences, unpack_sentences


def _unit(rng: np.random.Generator, n: int, dimension: int) -> np.ndarray:
    v = rng.standard_normal((n, dimension)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("dimension", [384, 768, 7])
def test_both_formats_read_back_and_int8_keeps_cosines(dimension):
    rng = np.random.default_rng(dimension)
    vectors = _unit(rng, 5, dimension)
    half = unpack_sentences(pack_sentences(vectors, int8=False), dimension)
    assert np.allclose(half, vectors, atol=1e-3)
    blob = pack_sentences(vectors, int8=True)
    assert len(blob) % 2 == 1 and len(blob) < len(pack_sentences(vectors, int8=False))
    small = unpack_sentences(blob, dimension)
    assert small.shape == vectors.shape
    query = _unit(rng, 1, dimension)[0]
    assert np.abs(small @ query - vectors @ query).max() < 0.01
    assert np.allclose(np.sum(small * vectors, axis=1), 1.0, atol=2e-3)


def test_int8_is_half_the_size_of_float16_for_real_dimensions():
    vectors = _unit(np.random.default_rng(0), 4, 384)
    assert len(pack_sentences(vectors, int8=True)) == 1 + 4 * (4 + 384)
    assert len(pack_sentences(vectors, int8=False)) == 4 * 384 * 2
